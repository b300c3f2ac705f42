//! One live viewer: a sans-IO `str0m` WebRTC session driven by one task that owns its UDP
//! socket, feeding it the camera's access units (H.264 passthrough, no decoding).
//!
//! The viewer starts from the camera's held GOP (instant start), with those frames' RTP times
//! squeezed together so the browser decodes them at once and shows the current picture instead
//! of replaying the last seconds. A viewer that falls behind the broadcast skips to the next
//! keyframe; one that stops answering (no datagram for `peer_timeout`) is ended and freed.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use str0m::media::{MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, oneshot};
use vms_ingest::{Codec, Frame, LiveFeed, VideoParams};

use super::h264::{ParameterSets, parse_avcc, to_annex_b};
use super::metrics::CameraLiveMetrics;

/// RTP time between squeezed GOP frames (1 ms at 90 kHz).
const BURST_TICKS: i64 = 90;
/// Largest RTP time step between two frames; a larger jump (camera clock reset, restart) is
/// sent as one nominal frame interval so the browser's jitter buffer is not confused.
const MAX_STEP_TICKS: i64 = 90_000;
const NOMINAL_STEP_TICKS: i64 = 3_000;
/// Largest step taken from arrival times (a long camera outage is not replayed as waiting).
const MAX_GAP_TICKS: i64 = 90_000 * 60;

/// How a viewer's session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `DELETE` on the session, or the server is shutting down.
    Stopped,
    /// ICE/DTLS never completed.
    ConnectTimeout,
    /// The peer stopped sending anything (tab closed, network gone).
    PeerGone,
    /// The camera stopped being recorded.
    CameraGone,
    /// The camera switched to a codec live view cannot pass through.
    NotH264,
    /// The camera's frames arrive out of presentation order (B-frames).
    BFrames,
    /// The WebRTC stack or the socket failed.
    Failed,
    /// The policy no longer allows the view (sharing changed, camera paused).
    Revoked,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Stopped => "stopped",
            EndReason::ConnectTimeout => "connect-timeout",
            EndReason::PeerGone => "peer-gone",
            EndReason::CameraGone => "camera-gone",
            EndReason::NotH264 => "not-h264",
            EndReason::BFrames => "b-frames",
            EndReason::Failed => "failed",
            EndReason::Revoked => "revoked",
        }
    }
}

/// Everything a viewer task needs, built by the WHEP handler after the offer was accepted.
pub struct Viewer {
    pub rtc: Rtc,
    pub socket: UdpSocket,
    /// The address the socket is bound to (and advertised as the host candidate).
    pub local: SocketAddr,
    pub mid: Mid,
    pub pt: str0m::format::PayloadParams,
    pub feed: LiveFeed,
    pub metrics: Arc<CameraLiveMetrics>,
    pub connect_timeout: Duration,
    pub peer_timeout: Duration,
    /// Sends frames out of presentation order (B-frames) anyway (browser tests only).
    pub pass_b_frames: bool,
    /// Set by [`Viewer::drain`] when str0m reports ICE and DTLS done.
    pub connected: bool,
    /// Told once, when the viewer connects (the view is audited then).
    pub on_connect: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("local", &self.local)
            .field("mid", &self.mid)
            .finish_non_exhaustive()
    }
}

/// Finds the video section the answer will send on and the H.264 payload type to use: the
/// first the browser accepted with packetization mode 1 (non-interleaved, which FU-A needs).
pub fn pick_video(rtc: &mut Rtc, mids: &[Mid]) -> Option<(Mid, str0m::format::PayloadParams)> {
    for mid in mids {
        if rtc.media(*mid).is_none_or(|m| m.kind() != MediaKind::Video) {
            continue;
        }
        let Some(w) = rtc.writer(*mid) else {
            continue;
        };
        let best = w
            .payload_params()
            .filter(|p| p.spec().codec == str0m::format::Codec::H264)
            .max_by_key(|p| p.spec().format.packetization_mode == Some(1))
            .cloned();
        if let Some(p) = best {
            return Some((*mid, p));
        }
    }
    None
}

/// Per-viewer stream state: where in the camera's stream the viewer is.
#[derive(Debug, Default)]
struct Cursor {
    waiting_keyframe: bool,
    /// Session, 90 kHz time and receive time (µs) of the last frame sent.
    last: Option<(u64, i64, i64)>,
    out_ticks: i64,
    sets: Option<(Arc<VideoParams>, ParameterSets)>,
}

/// RTP ticks between the last frame sent and `f`: the camera's own step within a session;
/// across a restart or a skip (no usable camera step), the time between their arrivals, so
/// the browser's jitter buffer sees real time pass. Squeezed for the instant-start burst.
fn step_ticks(last: Option<(u64, i64, i64)>, f: &Frame, burst: bool) -> i64 {
    if burst {
        return BURST_TICKS;
    }
    let Some((session, pts, wall_us)) = last else {
        return NOMINAL_STEP_TICKS;
    };
    let camera_step = f.pts_90k - pts;
    if session == f.session && (1..=MAX_STEP_TICKS).contains(&camera_step) {
        return camera_step;
    }
    let wall_step = (f.wall_us - wall_us) * 9 / 100;
    if (1..=MAX_GAP_TICKS).contains(&wall_step) {
        wall_step
    } else {
        NOMINAL_STEP_TICKS
    }
}

impl Viewer {
    /// Runs the session until it ends; returns why.
    pub async fn run(mut self, mut stop: oneshot::Receiver<()>) -> EndReason {
        let started = Instant::now();
        let mut last_heard = Instant::now();
        let mut connected = false;
        let mut backlog: VecDeque<Frame> = VecDeque::new();
        let mut live: Option<broadcast::Receiver<Frame>> = None;
        let mut cursor = Cursor::default();
        let mut buf = vec![0u8; 2000];
        let feed = self.feed.clone();
        loop {
            let deadline = match self.drain().await {
                Ok(d) => d,
                Err(r) => return r,
            };
            if self.connected && !connected {
                connected = true;
                if let Some(tx) = self.on_connect.take() {
                    let _ = tx.send(());
                }
                tracing::info!(
                    after_ms = started.elapsed().as_millis() as u64,
                    "viewer connected"
                );
                // Subscribing only now keeps a session that never connects from holding frames.
                let (gop, rx) = self.feed.subscribe();
                if gop.is_empty() {
                    self.metrics.keyframe_waits.fetch_add(1, Ordering::Relaxed);
                    cursor.waiting_keyframe = true;
                }
                backlog = gop.into();
                live = Some(rx);
            }
            if !self.rtc.is_alive() {
                return EndReason::PeerGone;
            }
            if !connected && started.elapsed() > self.connect_timeout {
                return EndReason::ConnectTimeout;
            }
            if last_heard.elapsed() > self.peer_timeout {
                return EndReason::PeerGone;
            }
            // Instant start: the held GOP goes out before anything live.
            if let Some(f) = backlog.pop_front() {
                if let Err(r) = self.forward(&f, &mut cursor, true).await {
                    return r;
                }
                continue;
            }
            let wake = deadline
                .min(Instant::now() + Duration::from_millis(500))
                .max(Instant::now());
            tokio::select! {
                biased;
                _ = &mut stop => return EndReason::Stopped,
                () = feed.closed() => return EndReason::CameraGone,
                r = self.socket.recv_from(&mut buf) => {
                    let Ok((n, source)) = r else { return EndReason::Failed };
                    let Some(data) = buf.get(..n) else { continue };
                    // Only datagrams of this session count: junk sent to the port neither keeps
                    // a dead view alive nor ends a live one.
                    let Ok(recv) = Receive::new(Protocol::Udp, source, self.local, data) else {
                        continue;
                    };
                    let input = Input::Receive(Instant::now(), recv);
                    if !self.rtc.accepts(&input) {
                        continue;
                    }
                    last_heard = Instant::now();
                    if let Err(e) = self.rtc.handle_input(input) {
                        tracing::debug!(error = %e, %source, "datagram rejected");
                    }
                }
                f = recv_live(&mut live) => match f {
                    Ok(f) => {
                        if let Err(r) = self.forward(&f, &mut cursor, false).await {
                            return r;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        self.metrics.dropped_slow.fetch_add(n, Ordering::Relaxed);
                        self.metrics.keyframe_waits.fetch_add(1, Ordering::Relaxed);
                        cursor.waiting_keyframe = true;
                    }
                    Err(broadcast::error::RecvError::Closed) => return EndReason::CameraGone,
                },
                _ = tokio::time::sleep_until(wake.into()) => {
                    if self.rtc.handle_input(Input::Timeout(Instant::now())).is_err() {
                        return EndReason::Failed;
                    }
                }
            }
        }
    }

    /// Sends one access unit to the viewer and flushes its packets.
    async fn forward(&mut self, f: &Frame, c: &mut Cursor, burst: bool) -> Result<(), EndReason> {
        if f.params.codec != Codec::H264 {
            return Err(EndReason::NotH264);
        }
        // A view that started before the feed noticed reordering ends once it has (the offer
        // of a new view is refused from then on).
        if !self.pass_b_frames && self.feed.reorders() {
            return Err(EndReason::BFrames);
        }
        let new_session = c.last.is_some_and(|(s, _, _)| s != f.session);
        if new_session && !f.keyframe {
            c.waiting_keyframe = true;
            self.metrics.keyframe_waits.fetch_add(1, Ordering::Relaxed);
        }
        if c.waiting_keyframe {
            if !f.keyframe {
                return Ok(());
            }
            c.waiting_keyframe = false;
        }
        c.out_ticks += step_ticks(c.last, f, burst);
        c.last = Some((f.session, f.pts_90k, f.wall_us));
        if c.sets
            .as_ref()
            .is_none_or(|(p, _)| !Arc::ptr_eq(p, &f.params))
        {
            match parse_avcc(&f.params.extra_data) {
                Ok(s) => c.sets = Some((f.params.clone(), s)),
                Err(e) => {
                    tracing::warn!(error = %e, "camera's H.264 configuration unusable for live view");
                    return Err(EndReason::Failed);
                }
            }
        }
        let Some((_, sets)) = &c.sets else {
            return Err(EndReason::Failed);
        };
        let data = match to_annex_b(&f.data, f.keyframe, sets) {
            Ok(d) => d,
            Err(e) => {
                // One bad access unit: skip to the next keyframe rather than end the view.
                tracing::warn!(error = %e, "skipping malformed access unit");
                c.waiting_keyframe = true;
                return Ok(());
            }
        };
        let Some(w) = self.rtc.writer(self.mid) else {
            return Err(EndReason::Failed);
        };
        let t = MediaTime::from_90khz(c.out_ticks as u64);
        if let Err(e) = w.write(self.pt.pt(), Instant::now(), t, data) {
            tracing::warn!(error = %e, "writing to the viewer failed");
            return Err(EndReason::Failed);
        }
        self.drain().await?;
        self.metrics.frames.fetch_add(1, Ordering::Relaxed);
        if !burst {
            let now = vms_storage::clock::system_now_micros();
            self.metrics
                .forward_latency
                .record(u64::try_from(now - f.wall_us).unwrap_or(0));
        }
        Ok(())
    }

    /// Sends everything str0m has queued and collects its events; returns when it next wants
    /// a timeout. A full socket buffer (a GOP burst) waits for room: this task and socket are
    /// this viewer's alone, so only this viewer slows down, and if it falls behind the
    /// broadcast it skips to the next keyframe.
    async fn drain(&mut self) -> Result<Instant, EndReason> {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return Ok(t),
                Ok(Output::Transmit(t)) => {
                    match self.socket.send_to(&t.contents, t.destination).await {
                        Ok(n) => {
                            self.metrics.packets.fetch_add(1, Ordering::Relaxed);
                            self.metrics.bytes.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        // ICMP unreachable and the like: the peer may be gone; silence decides.
                        Err(e) => tracing::debug!(error = %e, "datagram to viewer not sent"),
                    }
                }
                Ok(Output::Event(e)) => match e {
                    Event::Connected => self.connected = true,
                    // ICE state alone does not end a view: a lite agent sees only the peer's
                    // checks, so silence (`peer_timeout`) is what decides a peer is gone.
                    Event::IceConnectionStateChange(s) => tracing::debug!(state = ?s, "ICE"),
                    Event::KeyframeRequest(_) => {
                        self.metrics
                            .keyframe_requests
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                },
                Err(e) => {
                    tracing::warn!(error = %e, "WebRTC session failed");
                    return Err(EndReason::Failed);
                }
            }
        }
    }
}

async fn recv_live(
    rx: &mut Option<broadcast::Receiver<Frame>>,
) -> Result<Frame, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn frame(session: u64, pts_90k: i64, wall_us: i64) -> Frame {
        Frame {
            session,
            new_params: None,
            params: Arc::new(VideoParams {
                codec: Codec::H264,
                rfc6381: String::new(),
                width: 0,
                height: 0,
                sample_entry: Bytes::new(),
                extra_data: Bytes::new(),
                clock_offset_us: None,
            }),
            pts_90k,
            wall_us,
            keyframe: true,
            data: Bytes::new(),
        }
    }

    #[test]
    fn rtp_steps_follow_the_camera_then_real_time_across_gaps() {
        assert_eq!(step_ticks(None, &frame(1, 0, 0), false), NOMINAL_STEP_TICKS);
        let last = Some((1, 9_000, 1_000_000));
        // The camera's own step.
        assert_eq!(step_ticks(last, &frame(1, 12_000, 1_033_000), false), 3_000);
        // The burst is squeezed whatever the camera says.
        assert_eq!(
            step_ticks(last, &frame(1, 12_000, 1_033_000), true),
            BURST_TICKS
        );
        // A restart 4 s later: arrival times decide (4 s = 360 000 ticks).
        assert_eq!(step_ticks(last, &frame(2, 0, 5_000_000), false), 360_000);
        // Timestamps jumping backwards within a session: arrival times again.
        assert_eq!(step_ticks(last, &frame(1, 0, 1_100_000), false), 9_000);
        // Nonsense arrival times fall back to one nominal frame.
        assert_eq!(step_ticks(last, &frame(2, 0, 0), false), NOMINAL_STEP_TICKS);
    }
}
