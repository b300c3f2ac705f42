//! GStreamer's RTSP server (x264/x265) as an independent camera: a child process running
//! `peers/gst_rtsp_server.py` with Debian's `/usr/bin/python3` (the GObject bindings live
//! there; `scripts/install-deps --test` installs them).

use std::io;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// Video a [`GstCamera`] sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GstCodec {
    /// H.264 Main, no B-frames.
    H264,
    /// H.264 High with 2 B-frames and B-pyramid (frames arrive out of presentation order).
    H264BFrames,
    H265,
    /// H.265 with 3 B-frames.
    H265BFrames,
    /// H.264 Main with one keyframe every 8 s.
    H264Gop8,
    /// H.264 Main, 1920x1080 at 4 Mbit/s.
    H264Full,
}

/// A running GStreamer RTSP server on 127.0.0.1; killed on drop.
#[derive(Debug)]
pub struct GstCamera {
    child: Child,
    port: u16,
}

impl GstCamera {
    /// Starts the server on `port` and waits (up to 20 s) until it serves.
    pub async fn start(port: u16, codec: GstCodec) -> io::Result<GstCamera> {
        // Embedded rather than found by path: a build shared between checkouts (the CI clone
        // and a work tree) must not run another checkout's copy.
        let script = include_str!("../peers/gst_rtsp_server.py");
        let codec = match codec {
            GstCodec::H264 => "h264",
            GstCodec::H264BFrames => "h264-bframes",
            GstCodec::H265 => "h265",
            GstCodec::H265BFrames => "h265-bframes",
            GstCodec::H264Gop8 => "h264-gop8",
            GstCodec::H264Full => "h264-1080p",
        };
        let mut child = Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(script)
            .arg(port.to_string())
            .arg(codec)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "Debian python3 with GStreamer's RTSP server bindings \
                         (scripts/install-deps --test): {e}"
                    ),
                )
            })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .map_err(|_| io::Error::other("GStreamer did not start in 20 s"))??;
        if ready.as_deref() != Some("READY") {
            return Err(io::Error::other(format!("GStreamer said {ready:?}")));
        }
        Ok(GstCamera { child, port })
    }

    /// The stream's URL.
    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/test", self.port)
    }

    /// Kills the server at once (a camera losing power).
    /// Whether the server process has ended by itself (GStreamer's RTSP server aborts on an
    /// internal assertion now and then when two clients start at once).
    pub fn died(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}
