//! The camera supervisor's rules — reconnect, jittered exponential backoff, stalls that RTCP
//! alone cannot hold off — against scripted cameras on a paused clock (issue 15): each test
//! covers tens of seconds of camera time in milliseconds of wall time, and the times it
//! checks are exact, not "within a second on a loaded machine".
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::time::Instant;
use vms_ingest::source::{Opener, SourceItem, SourceStream};
use vms_ingest::{CameraConfig, Codec, SessionError, VideoParams, spawn_camera_with};

/// What one session of the scripted camera does.
#[derive(Clone, Copy, Debug)]
enum Script {
    /// The connection is refused.
    Refuse,
    /// `frames` frames at 30 fps, then only RTCP every 100 ms (a frozen encoder).
    FramesThenFreeze { frames: u32 },
    /// Frames at 30 fps for ever.
    Stream,
}

/// A camera that follows its scripts in order (the last repeats) and notes when each session
/// was opened.
struct Scripted {
    scripts: Mutex<VecDeque<Script>>,
    opened: Mutex<Vec<Instant>>,
}

impl Scripted {
    fn new(scripts: &[Script]) -> Arc<Self> {
        Arc::new(Scripted {
            scripts: Mutex::new(scripts.iter().copied().collect()),
            opened: Mutex::default(),
        })
    }

    fn opened(&self) -> Vec<Instant> {
        self.opened.lock().unwrap().clone()
    }
}

fn params() -> VideoParams {
    VideoParams {
        codec: Codec::H264,
        rfc6381: "avc1.4D401F".into(),
        width: 64,
        height: 64,
        sample_entry: Bytes::new(),
        extra_data: Bytes::new(),
        clock_offset_us: None,
    }
}

impl Opener for Scripted {
    fn open<'a>(
        &'a self,
        _cfg: &'a CameraConfig,
        _url: &'a url::Url,
    ) -> BoxFuture<'a, Result<SourceStream, SessionError>> {
        Box::pin(async move {
            self.opened.lock().unwrap().push(Instant::now());
            let script = {
                let mut s = self.scripts.lock().unwrap();
                if s.len() > 1 {
                    s.pop_front().unwrap()
                } else {
                    *s.front().unwrap()
                }
            };
            let limit = match script {
                Script::Refuse => return Err(SessionError::Timeout("connecting")),
                Script::FramesThenFreeze { frames } => u64::from(frames),
                Script::Stream => u64::MAX,
            };
            let items = futures::stream::unfold(0u64, move |n| async move {
                if n < limit {
                    tokio::time::sleep(Duration::from_millis(33)).await;
                    let item = SourceItem::Video {
                        params: (n == 0).then(params),
                        pts_90k: n as i64 * 3000,
                        keyframe: n % 30 == 0,
                        data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
                    };
                    Some((Ok(item), n + 1))
                } else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((Ok(SourceItem::Other), n))
                }
            });
            Ok(Box::pin(items) as SourceStream)
        })
    }
}

fn config() -> CameraConfig {
    let mut c = CameraConfig::new(
        "scripted",
        url::Url::parse("rtsp://camera.invalid/").unwrap(),
    );
    c.stall_timeout = Duration::from_secs(4);
    c.backoff_initial = Duration::from_secs(1);
    c.backoff_max = Duration::from_secs(8);
    c.port_probe = Duration::ZERO;
    c.read_batch = Duration::ZERO;
    c
}

/// Starts the supervisor on `camera`, with a recorder that takes every frame.
fn start(camera: &Arc<Scripted>) -> vms_ingest::CameraHandle {
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    spawn_camera_with(config(), tx, camera.clone())
}

/// Lets camera time pass (the paused clock jumps when every task waits).
async fn advance(secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

#[tokio::test(start_paused = true)]
async fn a_frozen_encoder_is_a_stall_within_its_timeout_and_reconnects() {
    let camera = Scripted::new(&[Script::FramesThenFreeze { frames: 60 }, Script::Stream]);
    let wall = std::time::Instant::now();
    let h = start(&camera);
    advance(20).await;
    let opened = camera.opened();
    assert_eq!(opened.len(), 2, "one stall, one reconnect");
    // Frames for 2 s, then RTCP only: the stall is noticed between the timeout (4 s) and
    // 1.25 × it, and the next session opens after the first backoff (0.8–1 s).
    let gap = opened[1] - opened[0];
    assert!(
        gap >= Duration::from_millis(1_980 + 4_000 + 800)
            && gap <= Duration::from_millis(1_980 + 5_000 + 1_000),
        "reconnected {gap:?} after the first session opened"
    );
    let s = h.health.snapshot();
    assert_eq!(
        h.health.stalls.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert!(s.frames > 60, "{s:?}");
    assert!(
        wall.elapsed() < Duration::from_secs(5),
        "{:?} of wall time",
        wall.elapsed()
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn refused_connections_back_off_doubling_with_jitter_up_to_the_cap() {
    let refuse = Script::Refuse;
    let camera = Scripted::new(&[refuse, refuse, refuse, refuse, refuse, Script::Stream]);
    let h = start(&camera);
    advance(40).await;
    let opened = camera.opened();
    assert_eq!(
        opened.len(),
        6,
        "five refusals, then a session that streams"
    );
    // Waits of 1, 2, 4, 8 and 8 s (the cap), each shortened by up to 20 % of jitter.
    for (i, nominal) in [1u64, 2, 4, 8, 8].into_iter().enumerate() {
        let gap = opened[i + 1] - opened[i];
        let max = Duration::from_secs(nominal);
        assert!(
            gap >= max.mul_f64(0.8) && gap <= max + Duration::from_millis(5),
            "wait {i}: {gap:?}, expected 0.8–1 × {max:?}"
        );
    }
    assert!(h.health.snapshot().frames > 0);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_session_that_streamed_resets_the_backoff() {
    let camera = Scripted::new(&[
        Script::Refuse,
        Script::Refuse,
        Script::Refuse,
        Script::FramesThenFreeze { frames: 30 },
        Script::Refuse,
        Script::Stream,
    ]);
    let h = start(&camera);
    advance(40).await;
    let opened = camera.opened();
    assert_eq!(opened.len(), 6);
    // Waits 1, 2, 4 s; the session that streamed (then stalled) starts the sequence afresh,
    // so the refusal after it waits 2 s, not the 8 s that continuing the sequence would give.
    let gap = opened[5] - opened[4];
    assert!(
        gap >= Duration::from_millis(1_600) && gap <= Duration::from_millis(2_005),
        "{gap:?}"
    );
    h.stop().await;
}
