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
    /// The WebRTC stack or the socket failed.
    Failed,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Stopped => "stopped",
            EndReason::ConnectTimeout => "connect-timeout",
            EndReason::PeerGone => "peer-gone",
            EndReason::CameraGone => "camera-gone",
            EndReason::NotH264 => "not-h264",
            EndReason::Failed => "failed",
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
    /// Set by [`Viewer::drain`] when str0m reports ICE and DTLS done.
    pub connected: bool,
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
    last: Option<(u64, i64)>,
    out_ticks: i64,
    sets: Option<(Arc<VideoParams>, ParameterSets)>,
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
        loop {
            let deadline = match self.drain().await {
                Ok(d) => d,
                Err(r) => return r,
            };
            if self.connected && !connected {
                connected = true;
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
                r = self.socket.recv_from(&mut buf) => {
                    let Ok((n, source)) = r else { return EndReason::Failed };
                    let Some(data) = buf.get(..n) else { continue };
                    last_heard = Instant::now();
                    match Receive::new(Protocol::Udp, source, self.local, data) {
                        Ok(recv) => {
                            if self.rtc.handle_input(Input::Receive(Instant::now(), recv)).is_err() {
                                return EndReason::Failed;
                            }
                        }
                        // Not STUN/DTLS/RTP: someone else's datagram; ignore it.
                        Err(_) => continue,
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
        let new_session = c.last.is_some_and(|(s, _)| s != f.session);
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
        let step = match c.last {
            _ if burst => BURST_TICKS,
            Some((s, pts)) if s == f.session => {
                let d = f.pts_90k - pts;
                if (1..=MAX_STEP_TICKS).contains(&d) {
                    d
                } else {
                    NOMINAL_STEP_TICKS
                }
            }
            _ => NOMINAL_STEP_TICKS,
        };
        c.last = Some((f.session, f.pts_90k));
        c.out_ticks += step;
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
            let now = super::now_us();
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
