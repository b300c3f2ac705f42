//! What a camera session reads, and how it is opened: the one seam between the supervisor's
//! rules (reconnect, backoff, stalls, fan-out) and the RTSP client. Production opens cameras
//! with [`Rtsp`] (retina); tests give the supervisor scripted cameras and a paused clock, so
//! reconnect, backoff and stall rules run in milliseconds (the shape of moonfire-nvr's
//! streamer).

use std::pin::Pin;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use retina::client::{PlayOptions, SessionOptions, SetupOptions};
use retina::codec::{CodecItem, FrameFormat, ParametersRef, VideoParametersCodec};

use crate::camera::{CameraConfig, Codec, Transport, VideoParams};
use crate::error::SessionError;

/// One thing a camera sent.
#[derive(Debug)]
pub enum SourceItem {
    /// A video access unit. `params` is set on the session's first frame and whenever the
    /// stream's parameters change.
    Video {
        params: Option<VideoParams>,
        /// RTP timestamp in 90 kHz units, extended to 64 bits.
        pts_90k: i64,
        keyframe: bool,
        /// Length-prefixed (4-byte) NAL units.
        data: Bytes,
    },
    /// Anything else (RTCP, audio, other streams): proof of a connection, not of video, so
    /// it does not hold off a stall (issue 21: a frozen encoder keeps RTCP flowing).
    Other,
}

/// A playing session's items, until it ends (`None`) or fails.
pub type SourceStream = Pin<Box<dyn Stream<Item = Result<SourceItem, SessionError>> + Send>>;

/// Opens camera sessions.
pub trait Opener: Send + Sync + 'static {
    /// Connects to the camera at `url` and starts it playing.
    fn open<'a>(
        &'a self,
        cfg: &'a CameraConfig,
        url: &'a url::Url,
    ) -> BoxFuture<'a, Result<SourceStream, SessionError>>;
}

/// Real cameras over RTSP, through retina.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rtsp;

impl Opener for Rtsp {
    fn open<'a>(
        &'a self,
        cfg: &'a CameraConfig,
        url: &'a url::Url,
    ) -> BoxFuture<'a, Result<SourceStream, SessionError>> {
        Box::pin(open_rtsp(cfg, url))
    }
}

async fn open_rtsp(cfg: &CameraConfig, url: &url::Url) -> Result<SourceStream, SessionError> {
    if !cfg.destinations.unrestricted {
        cfg.destinations
            .resolve_url(url, cfg.connect_timeout)
            .await?;
    }
    let setup = async {
        let creds = cfg
            .credentials
            .as_ref()
            .map(|c| retina::client::Credentials {
                username: c.username.clone(),
                password: c.password.expose().to_owned(),
            });
        let mut session = retina::client::Session::describe(
            url.clone(),
            SessionOptions::default()
                .creds(creds)
                .user_agent(concat!("vms/", env!("CARGO_PKG_VERSION")).to_owned()),
        )
        .await?;
        let stream_i = session
            .streams()
            .iter()
            .position(|s| s.media() == "video" && matches!(s.encoding_name(), "h264" | "h265"))
            .ok_or(SessionError::NoVideo)?;
        let transport = match cfg.transport {
            Transport::Tcp => retina::client::Transport::Tcp(Default::default()),
            Transport::Udp => retina::client::Transport::Udp(Default::default()),
        };
        session
            .setup(
                stream_i,
                SetupOptions::default()
                    .transport(transport)
                    .frame_format(FrameFormat::MP4),
            )
            .await?;
        let playing = session.play(PlayOptions::default()).await?;
        Ok::<_, SessionError>((playing.demuxed()?, stream_i))
    };
    let (demuxed, stream_i) = tokio::time::timeout(cfg.connect_timeout, setup)
        .await
        .map_err(|_| SessionError::Timeout("connecting"))??;
    // Some cameras take credentials in the query string: never log it (issue 22 C6).
    tracing::info!(url = %crate::onvif::redact_url(url), "session playing");
    // The state travels with the stream, so a `next()` dropped while pending (the read
    // batching polls with `now_or_never`) loses nothing.
    let items = futures::stream::unfold(
        (demuxed, true),
        move |(mut demuxed, mut first)| async move {
            let item = match demuxed.next().await? {
                Err(e) => Err(SessionError::from(e)),
                Ok(CodecItem::VideoFrame(vf)) if vf.stream_id() == stream_i => {
                    let params = if first || vf.has_new_parameters() {
                        first = false;
                        match demuxed.streams()[stream_i].parameters() {
                            Some(ParametersRef::Video(p)) => match video_params(p) {
                                Ok(p) => Some(p),
                                Err(e) => return Some((Err(e), (demuxed, first))),
                            },
                            _ => {
                                let e = SessionError::BadParameters("no video parameters".into());
                                return Some((Err(e), (demuxed, first)));
                            }
                        }
                    } else {
                        None
                    };
                    Ok(SourceItem::Video {
                        params,
                        pts_90k: vf.timestamp().timestamp(),
                        keyframe: vf.is_random_access_point(),
                        data: Bytes::from(vf.into_data()),
                    })
                }
                Ok(_) => Ok(SourceItem::Other),
            };
            Some((item, (demuxed, first)))
        },
    );
    Ok(Box::pin(items))
}

fn video_params(p: &retina::codec::VideoParameters) -> Result<VideoParams, SessionError> {
    let codec = match p.codec_params() {
        VideoParametersCodec::H264 { .. } => Codec::H264,
        VideoParametersCodec::H265 { .. } => Codec::H265,
        _ => return Err(SessionError::NoVideo),
    };
    let sample_entry = p
        .mp4_sample_entry()
        .build()
        .map_err(|e| SessionError::BadParameters(e.to_string()))?;
    let (w, h) = p.pixel_dimensions();
    Ok(VideoParams {
        codec,
        rfc6381: p.rfc6381_codec().to_owned(),
        width: u16::try_from(w).map_err(|_| SessionError::BadParameters(format!("width {w}")))?,
        height: u16::try_from(h).map_err(|_| SessionError::BadParameters(format!("height {h}")))?,
        sample_entry: Bytes::from(sample_entry),
        extra_data: Bytes::copy_from_slice(p.extra_data()),
        clock_offset_us: None,
    })
}
