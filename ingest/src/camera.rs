//! What a camera session produces and what it is configured with: [`Frame`]s, their
//! [`VideoParams`], per-camera [`Health`], and the [`CameraConfig`] a supervisor runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

/// Video codecs the recorder takes (no transcoding, so only what MP4 and browsers carry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    H264,
    H265,
}

/// Parameters of a video stream, as the RTSP client learned them from SDP or in-band
/// parameter sets. Shared (`Arc`) by every frame of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoParams {
    pub codec: Codec,
    /// RFC 6381 codec string, e.g. `avc1.4D401F`.
    pub rfc6381: String,
    pub width: u16,
    pub height: u16,
    /// The MP4 `VisualSampleEntry` (`avc1`/`hvc1` box).
    pub sample_entry: Bytes,
    /// `AVCDecoderConfigurationRecord` / `HEVCDecoderConfigurationRecord` (SPS/PPS inside).
    pub extra_data: Bytes,
    /// Camera clock minus server clock in microseconds, as last measured for this camera
    /// (ONVIF `GetSystemDateAndTime`), for the evidence record of the run; `None` if unknown.
    pub clock_offset_us: Option<i64>,
}

/// One access unit from a camera. Cloning is cheap (the data is reference-counted), so one
/// session feeds the recorder and any number of live viewers without copying.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Counts this camera's sessions; a new value means a new connection.
    pub session: u64,
    /// Set on a session's first frame and whenever the codec parameters change.
    pub new_params: Option<Arc<VideoParams>>,
    /// The parameters in force for this frame.
    pub params: Arc<VideoParams>,
    /// RTP timestamp in 90 kHz units, extended to 64 bits.
    pub pts_90k: i64,
    /// Server wall-clock time the frame was received, microseconds since the Unix epoch.
    pub wall_us: i64,
    pub keyframe: bool,
    /// Length-prefixed (4-byte) NAL units, without in-band parameter sets.
    pub data: Bytes,
}

/// RTP transport requested from the camera.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Transport {
    /// Interleaved on the RTSP TCP connection: works through NAT and firewalls, no loss.
    #[default]
    Tcp,
    Udp,
}

impl std::str::FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tcp" => Ok(Transport::Tcp),
            "udp" => Ok(Transport::Udp),
            _ => Err(format!(
                "unknown transport {s:?}; expected \"tcp\" or \"udp\""
            )),
        }
    }
}

/// A secret string whose `Debug` and `Display` never show it, so it cannot leak into logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

/// How a camera is reached and how hard the supervisor tries.
#[derive(Clone, Debug)]
pub struct CameraConfig {
    pub name: String,
    /// `rtsp://host:port/path`, never with credentials inside (rejected by config parsing).
    pub url: url::Url,
    pub credentials: Option<Credentials>,
    pub transport: Transport,
    /// First retry delay after a failure; doubles (with jitter) up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// No frame for this long ends the session (then it reconnects).
    pub stall_timeout: Duration,
    /// Bound on connecting, DESCRIBE, SETUP and PLAY together.
    pub connect_timeout: Duration,
    /// While nobody watches the camera live, a TCP session reads it at most once per this
    /// period (on a grid every camera shares) and takes everything that arrived in one go:
    /// one read round per period instead of one or two per frame (500 cameras at 2 Mbit/s:
    /// 21–40 % less recorder CPU, see docs/performance.md). Costs at most this much extra
    /// latency before a frame reaches the recorder (a fragment is a GOP, about a second
    /// anyway); a live viewer switches it off. UDP is never batched (datagrams would overflow
    /// the socket buffer). Zero disables it.
    pub read_batch: Duration,
    /// For a camera enrolled by ONVIF address: `url` is asked of the device before the first
    /// session and again after [`crate::session::RESOLVE_AFTER_FAILURES`] sessions in a row
    /// that got no frame (cameras change stream URIs when they reboot or are reconfigured).
    pub onvif: Option<OnvifSource>,
    /// While backing off from a camera that did not accept connections (rebooting, unplugged),
    /// a bare TCP connect to its RTSP port every this often, so recording resumes within about
    /// this long of the camera coming back instead of at the next full attempt (issue 21).
    /// Zero disables the probe.
    pub port_probe: Duration,
    /// Where the session may connect: unrestricted for config-file cameras, the partner rules
    /// for enrolled ones (issue 22 F3). Checked after DNS before every session.
    pub destinations: crate::destinations::Destinations,
}

/// Where an ONVIF camera is: its device address (host, host:port or device-service URL).
#[derive(Clone, Debug)]
pub struct OnvifSource {
    pub address: String,
    pub options: crate::onvif::ClientOptions,
}

/// Default [`CameraConfig::port_probe`]: a SYN every 200 ms to a camera that is down costs it
/// nothing it notices, and puts the first frame ≤ 0.5 s after its return.
pub const DEFAULT_PORT_PROBE: Duration = Duration::from_millis(200);

/// Default [`CameraConfig::read_batch`].
pub const DEFAULT_READ_BATCH: Duration = Duration::from_millis(100);

/// The `url` of an ONVIF camera's config until the device has been asked for the real one.
const UNRESOLVED: &str = "rtsp://onvif-stream-not-yet-resolved.invalid/";

impl CameraConfig {
    pub fn new(name: impl Into<String>, url: url::Url) -> Self {
        CameraConfig {
            name: name.into(),
            url,
            credentials: None,
            transport: Transport::Tcp,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5),
            stall_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            read_batch: DEFAULT_READ_BATCH,
            onvif: None,
            port_probe: DEFAULT_PORT_PROBE,
            destinations: crate::destinations::Destinations::unrestricted(),
        }
    }

    /// A camera enrolled by ONVIF address; its stream URI is resolved by the session.
    pub fn onvif(name: impl Into<String>, address: impl Into<String>) -> Self {
        let placeholder = url::Url::parse(UNRESOLVED).unwrap_or_else(|_| unreachable!());
        CameraConfig {
            onvif: Some(OnvifSource {
                address: address.into(),
                options: crate::onvif::ClientOptions::default(),
            }),
            ..CameraConfig::new(name, placeholder)
        }
    }
}

/// Where a camera's session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SessionState {
    #[default]
    Connecting,
    Streaming,
    Backoff,
    Stopped,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Connecting => "connecting",
            SessionState::Streaming => "streaming",
            SessionState::Backoff => "backoff",
            SessionState::Stopped => "stopped",
        }
    }
}

/// Live health of one camera, updated by its session and read by `vms` and the web API.
#[derive(Debug, Default)]
pub struct Health {
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
    /// Sessions that ended (error, stall or camera gone) and were retried.
    pub reconnects: AtomicU64,
    pub stalls: AtomicU64,
    /// Last frame's arrival, microseconds since the epoch (0 = never).
    pub last_frame_us: AtomicU64,
    /// Times an ONVIF camera's stream URI was asked of the device.
    pub onvif_resolves: AtomicU64,
    inner: Mutex<HealthInner>,
}

#[derive(Debug, Default, Clone)]
struct HealthInner {
    state: SessionState,
    last_error: Option<String>,
    fps: f64,
    bitrate_bps: f64,
    codec: Option<String>,
    clock_offset_us: Option<i64>,
}

/// A copy of [`Health`] at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthSnapshot {
    pub state: SessionState,
    pub frames: u64,
    pub bytes: u64,
    pub reconnects: u64,
    pub stalls: u64,
    pub last_frame_us: Option<i64>,
    pub fps: f64,
    pub bitrate_bps: f64,
    pub last_error: Option<String>,
    pub codec: Option<String>,
    /// Camera clock minus server clock, microseconds, when measured (ONVIF).
    pub clock_offset_us: Option<i64>,
}

impl Health {
    pub fn snapshot(&self) -> HealthSnapshot {
        let inner = self.inner.lock().map(|g| g.clone()).unwrap_or_default();
        let last = self.last_frame_us.load(Ordering::Relaxed);
        HealthSnapshot {
            state: inner.state,
            frames: self.frames.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            stalls: self.stalls.load(Ordering::Relaxed),
            last_frame_us: (last != 0).then_some(last as i64),
            fps: inner.fps,
            bitrate_bps: inner.bitrate_bps,
            last_error: inner.last_error,
            codec: inner.codec,
            clock_offset_us: inner.clock_offset_us,
        }
    }

    /// Camera clock minus server clock, microseconds, when measured.
    pub fn clock_offset_us(&self) -> Option<i64> {
        self.inner.lock().ok().and_then(|g| g.clock_offset_us)
    }

    pub(crate) fn set_clock_offset(&self, us: i64) {
        if let Ok(mut g) = self.inner.lock() {
            g.clock_offset_us = Some(us);
        }
    }

    pub(crate) fn set_state(&self, state: SessionState) {
        if let Ok(mut g) = self.inner.lock() {
            g.state = state;
        }
    }

    pub(crate) fn set_error(&self, error: String) {
        if let Ok(mut g) = self.inner.lock() {
            g.last_error = Some(error);
        }
    }

    pub(crate) fn set_rates(&self, fps: f64, bitrate_bps: f64) {
        if let Ok(mut g) = self.inner.lock() {
            g.fps = fps;
            g.bitrate_bps = bitrate_bps;
        }
    }

    pub(crate) fn set_codec(&self, codec: &str) {
        if let Ok(mut g) = self.inner.lock() {
            g.codec = Some(codec.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let c = Credentials {
            username: "admin".into(),
            password: Secret::new("hunter2"),
        };
        let shown = format!("{c:?} {}", c.password);
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
