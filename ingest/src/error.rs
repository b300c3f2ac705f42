//! Why a camera session ends.

use std::time::Duration;

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("RTSP: {0}")]
    Rtsp(#[from] retina::Error),
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error("no frame for {0:?} (stalled)")]
    Stalled(Duration),
    #[error("camera offers no H.264 or H.265 video stream")]
    NoVideo,
    #[error("stream parameters unusable: {0}")]
    BadParameters(String),
    #[error("camera closed the stream")]
    Eof,
    #[error("recorder is gone")]
    RecorderGone,
    #[error("ONVIF: {0}")]
    Onvif(String),
    #[error("{0}")]
    Destination(#[from] crate::destinations::DestinationError),
}
