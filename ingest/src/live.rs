//! A camera's frames for live viewers: a lossy broadcast plus the current group of pictures.
//!
//! A viewer that joins mid-GOP would otherwise wait up to a GOP length (often 2–4 s on partner
//! cameras) for the next keyframe. Keeping the frames since the last keyframe lets a new viewer
//! start decoding at once ("instant start"). Snapshot and subscription happen under one lock, so
//! a viewer sees every frame after the snapshot exactly once.

use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::camera::{Frame, VideoParams};

/// Frames the broadcast buffers per viewer before a slow viewer starts missing frames
/// (~8 s at 30 fps). A viewer that lags this far skips to the next keyframe.
const BROADCAST_FRAMES: usize = 256;

/// A GOP longer than this (bytes) is not kept: such a camera's viewers wait for a keyframe
/// instead of the server holding an unbounded picture history per camera.
const MAX_GOP_BYTES: usize = 16 << 20;

/// Cloneable handle to one camera's live frames.
#[derive(Clone, Debug)]
pub struct LiveFeed {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: broadcast::Sender<Frame>,
    gop: Mutex<Gop>,
    /// Cancelled when the camera stops being recorded. Viewers hold clones of the feed (and so
    /// of `tx`), so the broadcast itself never reports "closed".
    closed: CancellationToken,
    /// This session's frames arrive out of presentation order (B-frames).
    reorders: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Default)]
struct Gop {
    frames: Vec<Frame>,
    bytes: usize,
    /// Set when the GOP outgrew [`MAX_GOP_BYTES`]: nothing is kept until the next keyframe.
    overflowed: bool,
    /// Session and presentation time of the last frame published.
    last: Option<(u64, i64)>,
}

impl Default for LiveFeed {
    fn default() -> Self {
        LiveFeed {
            inner: Arc::new(Inner {
                tx: broadcast::channel(BROADCAST_FRAMES).0,
                gop: Mutex::default(),
                closed: CancellationToken::new(),
                reorders: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }
}

impl LiveFeed {
    /// Publishes a frame from the camera session (never blocks on viewers).
    pub fn publish(&self, frame: Frame) {
        let Ok(mut gop) = self.inner.gop.lock() else {
            return;
        };
        if gop
            .last
            .is_some_and(|(s, pts)| s == frame.session && frame.pts_90k < pts)
        {
            self.inner
                .reorders
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        gop.last = Some((frame.session, frame.pts_90k));
        if frame.keyframe {
            let last = gop.last;
            *gop = Gop {
                last,
                ..Gop::default()
            };
        }
        // Frames before the first keyframe (or after an overflow) cannot start a decoder.
        let keep = frame.keyframe || (!gop.overflowed && !gop.frames.is_empty());
        if keep {
            gop.bytes += frame.data.len();
            if gop.bytes > MAX_GOP_BYTES {
                gop.frames.clear();
                gop.overflowed = true;
            } else {
                gop.frames.push(frame.clone());
            }
        }
        let _ = self.inner.tx.send(frame);
    }

    /// Forgets the current GOP (the camera session ended): a viewer joining now must not be
    /// shown an old picture as live.
    pub fn session_ended(&self) {
        if let Ok(mut gop) = self.inner.gop.lock() {
            *gop = Gop::default();
        }
        self.inner
            .reorders
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the current session's frames arrive out of presentation order (B-frames):
    /// browsers' WebRTC players do not present such a stream in order, so live view refuses
    /// it (see `docs/design/live-view.md`).
    pub fn reorders(&self) -> bool {
        self.inner
            .reorders
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Marks the feed finished (the camera is no longer recorded); its viewers end.
    pub fn close(&self) {
        self.session_ended();
        self.inner.closed.cancel();
    }

    /// Resolves once [`LiveFeed::close`] was called.
    pub async fn closed(&self) {
        self.inner.closed.cancelled().await
    }

    /// The frames since the last keyframe (empty if none is held) and a receiver for every
    /// frame after them.
    pub fn subscribe(&self) -> (Vec<Frame>, broadcast::Receiver<Frame>) {
        match self.inner.gop.lock() {
            Ok(gop) => (gop.frames.clone(), self.inner.tx.subscribe()),
            Err(_) => (Vec::new(), self.inner.tx.subscribe()),
        }
    }

    /// Parameters of the stream now being received, if a keyframe is held.
    pub fn current_params(&self) -> Option<Arc<VideoParams>> {
        let gop = self.inner.gop.lock().ok()?;
        gop.frames.last().map(|f| f.params.clone())
    }

    /// Receivers subscribed now (viewers, including ones about to end).
    pub fn receivers(&self) -> usize {
        self.inner.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::Codec;
    use bytes::Bytes;

    fn frame(n: i64, keyframe: bool) -> Frame {
        let params = Arc::new(VideoParams {
            codec: Codec::H264,
            rfc6381: "avc1.42E01F".into(),
            width: 64,
            height: 64,
            sample_entry: Bytes::new(),
            extra_data: Bytes::new(),
            clock_offset_us: None,
        });
        Frame {
            session: 1,
            new_params: None,
            params,
            pts_90k: n * 3000,
            wall_us: n,
            keyframe,
            data: Bytes::from(vec![0u8; 10]),
        }
    }

    #[test]
    fn snapshot_starts_at_the_last_keyframe_and_subscription_continues_it() {
        let feed = LiveFeed::default();
        feed.publish(frame(0, false)); // before any keyframe: not kept
        assert!(feed.subscribe().0.is_empty());
        for n in 1..=10 {
            feed.publish(frame(n, n % 4 == 1)); // keyframes at 1, 5, 9
        }
        let (gop, mut rx) = feed.subscribe();
        let pts: Vec<i64> = gop.iter().map(|f| f.wall_us).collect();
        assert_eq!(pts, [9, 10]);
        feed.publish(frame(11, false));
        assert_eq!(rx.try_recv().map(|f| f.wall_us).ok(), Some(11));
        assert!(rx.try_recv().is_err(), "nothing twice");
        feed.session_ended();
        assert!(feed.subscribe().0.is_empty());
        assert!(feed.current_params().is_none());
    }

    #[tokio::test]
    async fn closing_wakes_viewers() {
        let feed = LiveFeed::default();
        let viewer = feed.clone();
        let waiter = tokio::spawn(async move { viewer.closed().await });
        feed.close();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("joined");
    }

    #[test]
    fn an_oversized_gop_is_dropped_until_the_next_keyframe() {
        let feed = LiveFeed::default();
        let mut big = frame(1, true);
        big.data = Bytes::from(vec![0u8; MAX_GOP_BYTES + 1]);
        feed.publish(big);
        feed.publish(frame(2, false));
        assert!(feed.subscribe().0.is_empty());
        feed.publish(frame(3, true));
        assert_eq!(feed.subscribe().0.len(), 1);
    }

    #[test]
    fn frames_out_of_presentation_order_mark_the_session_until_it_ends() {
        let feed = LiveFeed::default();
        for n in [0, 1, 2, 3] {
            feed.publish(frame(n, n == 0));
        }
        assert!(!feed.reorders(), "in order");
        // I P B B: the B-frames present before the P-frame decoded ahead of them.
        for n in [4, 7, 5, 6] {
            feed.publish(frame(n, false));
        }
        assert!(feed.reorders());
        feed.session_ended();
        assert!(!feed.reorders(), "a new session is judged afresh");
        let mut next = frame(0, true);
        next.session = 2;
        feed.publish(next);
        assert!(!feed.reorders());
    }
}
