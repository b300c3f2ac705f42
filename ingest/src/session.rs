//! The camera session supervisor: holds one RTSP session per camera through `retina`,
//! reconnecting forever with jittered exponential backoff, ending stalled sessions, and fanning
//! frames out to the one recorder (lossless, back-pressured) and to live viewers (lossy).
//!
//! A camera that is down at startup is retried like any other: there is no "first connect"
//! special case that could give up.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::batch::ReadBatch;
use crate::camera::{CameraConfig, Frame, Health, SessionState, Transport, VideoParams};
use crate::live::LiveFeed;
use crate::source::{Opener, Rtsp, SourceItem};

pub use crate::error::SessionError;

/// An ONVIF camera's stream URI is asked of the device again after this many sessions in a
/// row that got no frame: cameras change URIs (and profile tokens) when they reboot.
pub const RESOLVE_AFTER_FAILURES: u32 = 3;

/// A running camera: its health, live frames and the handle to stop it.
#[derive(Debug)]
pub struct CameraHandle {
    pub name: String,
    pub health: Arc<Health>,
    live: LiveFeed,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl CameraHandle {
    /// The camera's live frames (for live view). A slow viewer misses frames rather than
    /// slowing the camera or the recorder.
    pub fn live(&self) -> &LiveFeed {
        &self.live
    }

    /// Stops the session and waits for it to end. The recorder channel closes afterwards, so
    /// the recorder sees the end and commits what it has.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

/// Starts supervising one camera. Frames go to `recorder` (awaited: a slow disk slows reading
/// from the camera instead of dropping video) and to live subscribers.
pub fn spawn_camera(cfg: CameraConfig, recorder: mpsc::Sender<Frame>) -> CameraHandle {
    spawn_camera_with(cfg, recorder, Arc::new(Rtsp))
}

/// As [`spawn_camera`], opening sessions with `opener` (tests give scripted cameras).
pub fn spawn_camera_with(
    cfg: CameraConfig,
    recorder: mpsc::Sender<Frame>,
    opener: Arc<dyn Opener>,
) -> CameraHandle {
    let health = Arc::new(Health::default());
    let live = LiveFeed::default();
    let cancel = CancellationToken::new();
    let span = tracing::info_span!("camera", camera = %cfg.name);
    let name = cfg.name.clone();
    let task = tokio::spawn(
        supervise(
            cfg,
            opener,
            recorder,
            live.clone(),
            health.clone(),
            cancel.clone(),
        )
        .instrument(span),
    );
    CameraHandle {
        name,
        health,
        live,
        cancel,
        task,
    }
}

async fn supervise(
    cfg: CameraConfig,
    opener: Arc<dyn Opener>,
    recorder: mpsc::Sender<Frame>,
    live: LiveFeed,
    health: Arc<Health>,
    cancel: CancellationToken,
) {
    let mut backoff = cfg.backoff_initial;
    let mut session_no = 0u64;
    // An ONVIF camera's URL is unknown until the device is asked.
    let mut url = cfg.onvif.is_none().then(|| cfg.url.clone());
    let mut locator: Option<crate::onvif::StreamLocator> = None;
    let mut failures = 0u32;
    loop {
        session_no += 1;
        health.set_state(SessionState::Connecting);
        let started = Instant::now();
        let frames_before = health.frames.load(Ordering::Relaxed);
        if let Some(src) = &cfg.onvif
            && (url.is_none() || failures >= RESOLVE_AFTER_FAILURES)
        {
            let resolved = tokio::select! {
                _ = cancel.cancelled() => break,
                r = resolve_onvif(src, cfg.credentials.clone(), locator.as_ref()) => r,
            };
            health.onvif_resolves.fetch_add(1, Ordering::Relaxed);
            match resolved {
                Ok((u, l, offset_us)) => {
                    if url.as_ref() != Some(&u) {
                        tracing::info!(url = %crate::onvif::redact_url(&u), "ONVIF stream URI resolved");
                    }
                    url = Some(u);
                    locator = Some(l);
                    health.set_clock_offset(offset_us);
                    failures = 0;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "asking the ONVIF device for its stream failed");
                    health.set_error(format!("ONVIF: {e}"));
                }
            }
        }
        let result = match url.clone() {
            Some(u) => tokio::select! {
                _ = cancel.cancelled() => break,
                r = run_session(&cfg, &*opener, &u, session_no, &recorder, &live, &health)
                    .instrument(tracing::info_span!("session", n = session_no)) => r,
            },
            None => Err(SessionError::Onvif("stream URI not resolved yet".into())),
        };
        live.session_ended();
        // No session, no rate: a camera that stalled must not go on showing its last fps.
        health.set_rates(0.0, 0.0);
        let streamed = health.frames.load(Ordering::Relaxed) > frames_before;
        failures = if streamed { 0 } else { failures + 1 };
        match result {
            Err(SessionError::RecorderGone) => break,
            Err(e) => {
                if matches!(e, SessionError::Stalled(_)) {
                    health.stalls.fetch_add(1, Ordering::Relaxed);
                }
                tracing::warn!(error = %e, after = ?started.elapsed(), "camera session ended");
                health.set_error(e.to_string());
            }
            Ok(()) => {}
        }
        health.reconnects.fetch_add(1, Ordering::Relaxed);
        if streamed {
            backoff = cfg.backoff_initial;
        }
        // Jitter keeps a hundred cameras behind one dead switch from reconnecting in lockstep.
        let delay = backoff.mul_f64(rand::rng().random_range(0.8..=1.0));
        backoff = (backoff * 2).min(cfg.backoff_max);
        health.set_state(SessionState::Backoff);
        let probe = url
            .as_ref()
            .and_then(crate::destinations::url_target)
            .filter(|_| !cfg.port_probe.is_zero());
        tokio::select! {
            _ = cancel.cancelled() => break,
            back = wait_before_retry(probe, delay, cfg.port_probe, &cfg.destinations) => {
                if back {
                    tracing::info!("camera accepts connections again; reconnecting now");
                }
            }
        }
    }
    health.set_state(SessionState::Stopped);
    live.close();
}

/// Whether `target` accepts a TCP connection within `limit`, connecting only where
/// `destinations` allow. The connection is closed at once.
async fn port_accepts(
    target: &(String, u16),
    limit: Duration,
    destinations: &crate::destinations::Destinations,
) -> bool {
    let Ok(addrs) = destinations.resolve(&target.0, target.1, limit).await else {
        return false;
    };
    for a in addrs {
        if let Ok(Ok(_)) = tokio::time::timeout(limit, tokio::net::TcpStream::connect(a)).await {
            return true;
        }
    }
    false
}

/// Waits out the backoff `delay` before the next session, except that a camera whose port is
/// closed now (a reboot, a power cut) is probed with bare TCP connects every `every`, and the
/// wait ends as soon as it accepts again: full RTSP attempts back off, a SYN need not, and a
/// rebooted camera is recording again within about `every` of its return rather than
/// seconds later. A camera that accepts connections but failed for another reason (404, 401,
/// bad stream) just waits out the backoff, so it is not hammered. Returns whether the wait
/// ended because the camera came back. Probes go only where `destinations` allow.
pub async fn wait_before_retry(
    target: Option<(String, u16)>,
    delay: Duration,
    every: Duration,
    destinations: &crate::destinations::Destinations,
) -> bool {
    let deadline = tokio::time::Instant::now() + delay;
    let Some(target) = target else {
        tokio::time::sleep_until(deadline).await;
        return false;
    };
    let limit = every.max(Duration::from_millis(50));
    let probing = async {
        if port_accepts(&target, limit, destinations).await {
            // Up, so the failure was something else: a plain backoff.
            std::future::pending::<()>().await;
        }
        loop {
            tokio::time::sleep(every).await;
            if port_accepts(&target, limit, destinations).await {
                return;
            }
        }
    };
    tokio::select! {
        () = tokio::time::sleep_until(deadline) => false,
        () = probing => true,
    }
}

/// Asks an ONVIF device for the stream: the full enrollment walk the first time, the saved
/// locator afterwards. Returns the URI, the locator to keep, and the measured clock offset.
async fn resolve_onvif(
    src: &crate::camera::OnvifSource,
    credentials: Option<crate::camera::Credentials>,
    locator: Option<&crate::onvif::StreamLocator>,
) -> Result<(url::Url, crate::onvif::StreamLocator, i64), crate::onvif::OnvifError> {
    match locator {
        Some(l) => crate::onvif::resolve_stream_uri(l, credentials, &src.options)
            .await
            .map(|r| (r.uri, r.locator, r.clock.offset_ms * 1000)),
        None => crate::onvif::enroll(&src.address, credentials, &src.options)
            .await
            .map(|e| (e.main.uri, e.main.locator, e.clock.offset_ms * 1000)),
    }
}

/// Ends the session if no video frame came for `timeout` since `last_item`.
fn check_stall(last_item: Instant, timeout: Duration) -> Result<(), SessionError> {
    if last_item.elapsed() >= timeout {
        return Err(SessionError::Stalled(timeout));
    }
    Ok(())
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

async fn run_session(
    cfg: &CameraConfig,
    opener: &dyn Opener,
    url: &url::Url,
    session_no: u64,
    recorder: &mpsc::Sender<Frame>,
    live: &LiveFeed,
    health: &Health,
) -> Result<(), SessionError> {
    let mut demuxed = opener.open(cfg, url).await?;
    let mut params: Option<Arc<VideoParams>> = None;
    let mut window_start = Instant::now();
    let (mut window_frames, mut window_bytes) = (0u64, 0u64);
    // Stalls are found by a coarse tick checking when the last item came, not by a timeout
    // armed and cancelled around every frame (a timer-wheel insert and removal per frame per
    // camera). A stall is noticed between `stall_timeout` and 1.25 × `stall_timeout`.
    let mut stall_check = tokio::time::interval_at(
        tokio::time::Instant::now() + cfg.stall_timeout / 4,
        (cfg.stall_timeout / 4).max(Duration::from_millis(10)),
    );
    stall_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_item = Instant::now();
    let mut batch = match cfg.transport {
        // A batch longer than a quarter of the stall timeout would delay stall detection.
        Transport::Tcp if !cfg.read_batch.is_zero() => {
            Some(ReadBatch::new(cfg.read_batch.min(cfg.stall_timeout / 4)))
        }
        _ => None,
    };
    loop {
        let batched = batch.is_some() && live.receivers() == 0;
        let next = match batch.as_mut().filter(|_| batched) {
            // Batched: take whatever is buffered or readable right now without waiting; when
            // nothing complete is, sleep to the next boundary of the shared grid.
            Some(b) => match demuxed.next().now_or_never() {
                Some(next) => next,
                None => {
                    check_stall(last_item, cfg.stall_timeout)?;
                    // Out of tokio's cooperative budget, "nothing ready" may not be true:
                    // let others run and look again instead of waiting a whole period.
                    if !tokio::task::coop::has_budget_remaining() {
                        tokio::task::yield_now().await;
                        continue;
                    }
                    if !b.wait().await {
                        batch = None;
                    }
                    continue;
                }
            },
            None => tokio::select! {
                biased;
                next = demuxed.next() => next,
                _ = stall_check.tick() => {
                    check_stall(last_item, cfg.stall_timeout)?;
                    continue;
                }
            },
        };
        let item = match next {
            None => return Err(SessionError::Eof),
            Some(item) => item?,
        };
        let SourceItem::Video {
            params: new,
            pts_90k,
            keyframe,
            data,
        } = item
        else {
            continue;
        };
        // Only video proves the camera is alive: a frozen encoder keeps RTCP sender reports
        // (and audio) flowing over a healthy connection (issue 21).
        last_item = Instant::now();
        let mut new_params = None;
        if let Some(p) = new {
            let p = Arc::new(VideoParams {
                clock_offset_us: health.clock_offset_us(),
                ..p
            });
            tracing::info!(codec = %p.rfc6381, width = p.width, height = p.height, "stream parameters");
            health.set_codec(&p.rfc6381);
            new_params = Some(p.clone());
            params = Some(p);
        }
        let Some(current) = params.clone() else {
            continue;
        };
        let wall_us = now_us();
        let frame = Frame {
            session: session_no,
            new_params,
            params: current,
            pts_90k,
            wall_us,
            keyframe,
            data,
        };
        let len = frame.data.len() as u64;
        if let Some(b) = batch.as_mut() {
            if batched {
                b.took(frame.data.len());
            } else {
                b.reset();
            }
        }
        live.publish(frame.clone());
        recorder
            .send(frame)
            .await
            .map_err(|_| SessionError::RecorderGone)?;
        health.frames.fetch_add(1, Ordering::Relaxed);
        if window_frames == 0 {
            // First frame of the session or of a rate window: cheap to (re)assert.
            health.set_state(SessionState::Streaming);
        }
        health.bytes.fetch_add(len, Ordering::Relaxed);
        health
            .last_frame_us
            .store(wall_us as u64, Ordering::Relaxed);
        window_frames += 1;
        window_bytes += len;
        let elapsed = window_start.elapsed();
        if elapsed >= Duration::from_secs(1) {
            let secs = elapsed.as_secs_f64();
            health.set_rates(
                window_frames as f64 / secs,
                window_bytes as f64 * 8.0 / secs,
            );
            window_start = Instant::now();
            window_frames = 0;
            window_bytes = 0;
        }
    }
}
