//! The one driver that starts things: a simulator child, the real recording spine in this
//! process ([`vms::recording::Recording`] over a [`vms_storage::Store`] in a temporary
//! directory, exactly what `vms run` wires up), optionally an ffmpeg fleet, then measures a
//! fixed window and tears down in the order that makes loss accounting exact:
//!
//! 0. ffmpeg (if any) starts first and gets a warm-up to itself, so its start-up (ten
//!    processes probing streams take seconds of CPU) does not land on the recorder's; the
//!    recorder then gets the same warm-up before the window opens. CPU, rates and latency are
//!    steady-state figures over the window; frames lost are counted over the whole run;
//! 1. figures are taken at the end of the window (CPU, RSS, rates, latency, counters);
//! 2. ffmpeg gets SIGINT (it finalises its files);
//! 3. the simulator takes every camera offline and reports its final "frames sent";
//! 4. the recorder drains what is in flight, then shuts down (committing open fragments);
//! 5. frames sent = received = recorded is checked per camera.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context as LayerContext;
use vms::recording::Recording;
use vms_ingest::{CameraConfig, Health, SessionState};
use vms_storage::{
    CameraId, RecorderOptions, RecorderStats, RetentionPolicy, Store, StoreOptions, SyncPolicy,
};

use crate::clip::ClipSource;
use crate::ffmpeg::{self, Fleet};
use crate::latency::{Counters, Histogram, Sampler, SendClock, now_utc_us};
use crate::procfs::{self, Pid};
use crate::report::{ClipInfo, Ffmpeg, Ratios, Recorder, RunReport};
use crate::sim_child::SimChild;

/// ffmpeg costs ~60 MB per process; more than this would exhaust a 24 GiB machine.
pub const MAX_FFMPEG: usize = 200;
/// Count ffmpeg's output frames with ffprobe only up to this many processes (it is slow).
const MAX_FFPROBE: usize = 50;
/// How often retention runs under `--quota`.
const RETENTION_EVERY: Duration = Duration::from_secs(5);

/// How progress is shown on stderr while a run goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Off,
    /// A line every 5 s (logs, CI).
    Lines,
    /// One line rewritten every second (a terminal).
    Tty,
}

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub cameras: usize,
    pub duration: Duration,
    /// Running time before the window opens (with a baseline: before the recorder starts too).
    pub warmup: Duration,
    pub clip: ClipSource,
    pub baseline_ffmpeg: bool,
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    pub sync: SyncPolicy,
    pub writer_threads: usize,
    /// [`CameraConfig::read_batch`] of every camera.
    pub read_batch: Duration,
    pub segment_secs: u32,
    /// Disk quota: retention deletes the oldest sealed segments above it (as `vms run` does).
    pub quota: Option<u64>,
    /// Parent of the temporary data directory (put it on the disk under test).
    pub work_dir: PathBuf,
    pub keep: bool,
    pub poll: Duration,
    pub progress: Progress,
    /// This binary, re-run as `sim-serve` for the simulator child.
    pub self_exe: PathBuf,
    /// A send → indexed p99 above this fails the run.
    pub max_p99: Duration,
    /// A camera further behind its schedule than this at the end of the window fails the run.
    pub max_behind: Duration,
}

/// A tracing layer counting WARN and ERROR events, so a run with logged trouble fails even
/// when no counter caught it.
#[derive(Clone, Debug, Default)]
pub struct EventCounts {
    warnings: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
}

impl EventCounts {
    pub fn warnings(&self) -> u64 {
        self.warnings.load(Ordering::Relaxed)
    }
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

impl<S: Subscriber> Layer<S> for EventCounts {
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        match *event.metadata().level() {
            Level::ERROR => self.errors.fetch_add(1, Ordering::Relaxed),
            Level::WARN => self.warnings.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }
}

/// What the monitor thread knows about one camera's timing.
#[derive(Clone, Copy, Debug)]
struct CamClock {
    send: SendClock,
    /// Index start of the camera's run (its first frame's arrival), once committed.
    run_start_utc: Option<i64>,
}

impl CamClock {
    fn index_late_us(&self) -> Option<i64> {
        self.run_start_utc
            .and_then(|r| self.send.run_start_late_us(r))
    }
}

/// What the monitor thread shares with the driver.
#[derive(Debug)]
struct Monitor {
    sampler: Mutex<Sampler>,
    clocks: Mutex<Vec<CamClock>>,
    /// Set when the measurement window opens (the monitor's own CPU is counted from then).
    open: AtomicBool,
    stop: AtomicBool,
}

/// What the monitor thread watches.
struct Watched {
    store: Arc<Store>,
    ids: Vec<CameraId>,
    stats: Vec<Arc<RecorderStats>>,
    health: Vec<Arc<Health>>,
}

/// (frames received, last arrival) read twice and accepted only if both reads agree, so a read
/// that falls between the session's two updates is not mistaken for an early frame.
fn consistent_arrivals(h: &Health) -> Option<(u64, i64)> {
    let read = || {
        (
            h.frames.load(Ordering::Acquire),
            h.last_frame_us.load(Ordering::Acquire) as i64,
        )
    };
    let a = read();
    (read() == a).then_some(a)
}

/// Polls the recorder counters on its own thread, so a busy async runtime cannot delay (and
/// thereby inflate) the latency samples. The interval is jittered (±50 %) so that polls do not
/// stay phase-locked to the cameras' once-a-second commits, which would bias the
/// send → indexed estimate by up to half an interval. Returns the CPU seconds the thread
/// itself used in the window (including its few index reads), which are not the recorder's.
fn monitor_loop(m: &Monitor, w: &Watched, poll: Duration) -> f64 {
    let mut last = Instant::now();
    let mut jitter = Jitter::new();
    let mut cpu_at_open = None;
    while !m.stop.load(Ordering::Relaxed) {
        if cpu_at_open.is_none() && m.open.load(Ordering::Relaxed) {
            cpu_at_open = procfs::cpu_seconds(Pid::OwnThread).ok();
        }
        std::thread::sleep(poll.mul_f64(0.5 + jitter.next_unit()));
        let now = Instant::now();
        let half = i64::try_from((now - last).as_micros() / 2).unwrap_or(i64::MAX);
        last = now;
        let now_utc = now_utc_us();
        let (Ok(mut sampler), Ok(mut clocks)) = (m.sampler.lock(), m.clocks.lock()) else {
            continue;
        };
        for (i, clock) in clocks.iter_mut().enumerate() {
            if let Some((frames, arrival)) = w.health.get(i).and_then(|h| consistent_arrivals(h)) {
                clock.send.observe(frames, arrival);
            }
            let Some(stats) = w.stats.get(i) else {
                continue;
            };
            let c = Counters::read(stats);
            if clock.run_start_utc.is_none()
                && c.fragments > 0
                && let Some(&id) = w.ids.get(i)
            {
                // Once per camera: where its run starts in index time.
                clock.run_start_utc = w
                    .store
                    .segments(id, i64::MIN + 1, i64::MAX)
                    .ok()
                    .and_then(|s| s.first().map(|(_, row)| row.start_utc));
            }
            sampler.observe(i, c, now_utc, half, clock.index_late_us());
        }
    }
    let end = procfs::cpu_seconds(Pid::OwnThread).unwrap_or(0.0);
    (end - cpu_at_open.unwrap_or(0.0)).max(0.0)
}

/// A tiny xorshift generator: poll jitter needs no quality and no dependency.
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let seed = now_utc_us() as u64 | 1;
        Jitter(seed)
    }

    /// Uniform in [0, 1).
    fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn sum(stats: &[Arc<RecorderStats>], f: impl Fn(&RecorderStats) -> &AtomicU64) -> u64 {
    stats.iter().map(|s| f(s).load(Ordering::Relaxed)).sum()
}

/// Work done, as counted at one moment; the window's figures are differences.
#[derive(Clone, Copy, Debug)]
struct WindowCounts {
    fragments: u64,
    bytes: u64,
    rows: u64,
}

impl WindowCounts {
    fn read(stats: &[Arc<RecorderStats>], store: &Store) -> Self {
        let fragments = sum(stats, |s| &s.fragments);
        WindowCounts {
            fragments,
            // Not `total_bytes`: retention (`--quota`) takes from that.
            bytes: store.written_bytes(),
            // A fragment row and its segment row's update, plus sealed segments and new runs.
            rows: 2 * fragments + sum(stats, |s| &s.segments_closed) + sum(stats, |s| &s.runs),
        }
    }

    fn since(self, start: &Self) -> Self {
        WindowCounts {
            fragments: self.fragments.saturating_sub(start.fragments),
            bytes: self.bytes.saturating_sub(start.bytes),
            rows: self.rows.saturating_sub(start.rows),
        }
    }
}

fn frames_received(health: &[Arc<Health>]) -> Vec<u64> {
    health
        .iter()
        .map(|h| h.frames.load(Ordering::Relaxed))
        .collect()
}

struct ProgressState {
    t: Instant,
    cpu: f64,
}

fn progress_line(
    elapsed: Duration,
    total: Duration,
    health: &[Arc<Health>],
    stats: &[Arc<RecorderStats>],
    monitor: &Monitor,
    prev: &mut ProgressState,
) -> String {
    let now = Instant::now();
    let cpu = procfs::cpu_seconds(Pid::OwnProcess).unwrap_or(prev.cpu);
    let pct = 100.0 * (cpu - prev.cpu) / (now - prev.t).as_secs_f64().max(1e-3);
    *prev = ProgressState { t: now, cpu };
    let rss = procfs::mem(Pid::OwnProcess).map(|m| m.rss).unwrap_or(0);
    let streaming = health
        .iter()
        .filter(|h| h.snapshot().state == SessionState::Streaming)
        .count();
    let rx: u64 = frames_received(health).iter().sum();
    let rec = sum(stats, |s| &s.frames);
    let (a, c) = monitor
        .sampler
        .lock()
        .map(|s| {
            (
                s.arrival_to_indexed.percentiles().p99_ms,
                s.send_to_indexed.percentiles().p99_ms,
            )
        })
        .unwrap_or_default();
    format!(
        "[{:>4.0}/{:.0} s] streaming {}/{}  rx {} rec {} frames  CPU {:.0}%  RSS {:.1} MiB  p99 arrival→indexed {:.0} ms, send→indexed {:.0} ms",
        elapsed.as_secs_f64(),
        total.as_secs_f64(),
        streaming,
        health.len(),
        rx,
        rec,
        pct,
        rss as f64 / (1024.0 * 1024.0),
        a,
        c
    )
}

/// Runs one benchmark and returns its figures (also when the run failed its checks: see
/// [`RunReport::problems`]). Errors are for a benchmark that could not run at all.
pub async fn run(opts: &RunOptions, events: &EventCounts) -> anyhow::Result<RunReport> {
    let n = opts.cameras;
    if n == 0 {
        bail!("need at least one camera");
    }
    if opts.baseline_ffmpeg && n > MAX_FFMPEG {
        bail!("--baseline ffmpeg takes at most {MAX_FFMPEG} cameras (~60 MB per ffmpeg process)");
    }
    let work = tempfile::Builder::new()
        .prefix("vms-ingest-load-")
        .tempdir_in(&opts.work_dir)
        .with_context(|| format!("creating a work directory in {}", opts.work_dir.display()))?;
    let sim_cameras = if opts.baseline_ffmpeg { 2 * n } else { n };
    let sim = SimChild::spawn(&opts.self_exe, sim_cameras, &opts.clip).await?;
    let info = sim.info.clone();
    let fps = info.fps.max(1.0);
    let store = Store::open(
        &work.path().join("data"),
        StoreOptions {
            sync: opts.sync,
            writer_threads: opts.writer_threads,
            ..StoreOptions::default()
        },
    )
    .context("opening the store")?;
    // Let RocksDB's background threads settle before taking the idle figure.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = procfs::mem(Pid::OwnProcess)?;

    if opts.progress != Progress::Off && !opts.warmup.is_zero() {
        let what = if opts.baseline_ffmpeg {
            "ffmpeg, then the recorder,"
        } else {
            "the recorder"
        };
        eprintln!("warming up {what} for {:?} each", opts.warmup);
    }
    let mut fleet = if opts.baseline_ffmpeg {
        let urls = (n..2 * n)
            .map(|i| sim.url(i))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let fleet = Fleet::start(&opts.ffmpeg, &urls, &work.path().join("ffmpeg"))?;
        tokio::time::sleep(opts.warmup).await;
        Some(fleet)
    } else {
        None
    };
    let (warn0, err0) = (events.warnings(), events.errors());

    let configs = (0..n)
        .map(|i| {
            let mut c = CameraConfig::new(format!("cam-{i}"), sim.url(i)?);
            c.read_batch = opts.read_batch;
            Ok(c)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut rec = Recording::start(
        store.clone(),
        configs,
        RecorderOptions {
            segment_target_secs: opts.segment_secs,
            ..RecorderOptions::default()
        },
    )?;
    if let Some(quota) = opts.quota {
        rec.start_retention(
            RetentionPolicy {
                // Only the quota deletes: nothing here is old.
                default_max_age_secs: i64::MAX,
                quota_bytes: Some(quota),
                low_watermark_bytes: Some(RetentionPolicy::default_low_watermark(quota)),
                max_age_secs: std::collections::HashMap::new(),
            },
            RETENTION_EVERY,
        );
    }
    let stats: Vec<Arc<RecorderStats>> = rec.cameras.iter().map(|c| c.stats.clone()).collect();
    let health: Vec<Arc<Health>> = rec.cameras.iter().map(|c| c.health.clone()).collect();
    let monitor = Arc::new(Monitor {
        sampler: Mutex::new(Sampler::new(n)),
        clocks: Mutex::new(vec![
            CamClock {
                send: SendClock::new(fps),
                run_start_utc: None,
            };
            n
        ]),
        open: AtomicBool::new(false),
        stop: AtomicBool::new(false),
    });
    let mon_thread = {
        let m = monitor.clone();
        let w = Watched {
            store: store.clone(),
            ids: rec.cameras.iter().map(|c| c.id).collect(),
            stats: stats.clone(),
            health: health.clone(),
        };
        let poll = opts.poll;
        std::thread::Builder::new()
            .name("ingest-load-monitor".into())
            .spawn(move || monitor_loop(&m, &w, poll))?
    };

    tokio::time::sleep(opts.warmup).await;

    // The window opens.
    let sim_pid = sim.pid().map(Pid::Other);
    let sim_cpu0 = sim_pid
        .and_then(|p| procfs::cpu_seconds(p).ok())
        .unwrap_or(0.0);
    let ff0 = fleet.as_mut().map(Fleet::sample);
    let counts0 = WindowCounts::read(&stats, &store);
    if let Ok(mut s) = monitor.sampler.lock() {
        s.clear_percentiles();
    }
    let cpu0 = procfs::cpu_seconds(Pid::OwnProcess)?;
    monitor.open.store(true, Ordering::Relaxed);
    let t0 = Instant::now();

    let end = t0 + opts.duration;
    let every = match opts.progress {
        Progress::Tty => Duration::from_secs(1),
        _ => Duration::from_secs(5),
    };
    let mut next = t0;
    let mut prev = ProgressState { t: t0, cpu: cpu0 };
    loop {
        next = (next + every).min(end);
        tokio::time::sleep_until(next.into()).await;
        if opts.progress != Progress::Off {
            let line = progress_line(
                t0.elapsed(),
                opts.duration,
                &health,
                &stats,
                &monitor,
                &mut prev,
            );
            if opts.progress == Progress::Tty {
                eprint!("\r{line}\x1b[K");
            } else {
                eprintln!("{line}");
            }
        }
        if next >= end {
            break;
        }
    }
    if opts.progress == Progress::Tty {
        eprintln!();
    }

    // 1. Figures at the end of the window.
    let window = t0.elapsed().as_secs_f64();
    let cpu = procfs::cpu_seconds(Pid::OwnProcess)? - cpu0;
    let mem = procfs::mem(Pid::OwnProcess)?;
    let sim_cpu = sim_pid
        .and_then(|p| procfs::cpu_seconds(p).ok())
        .map_or(0.0, |c| c - sim_cpu0);
    let ff_sample = fleet.as_mut().map(Fleet::sample);
    let received_at_end = frames_received(&health);
    let now_us = now_utc_us();
    monitor.stop.store(true, Ordering::Relaxed);
    let Ok(monitor_cpu) = mon_thread.join() else {
        bail!("monitor thread panicked");
    };
    // The benchmark's own polling is not the recorder's cost.
    let cpu = (cpu - monitor_cpu).max(0.0);
    let (arrival, send) = monitor
        .sampler
        .lock()
        .map(|s| {
            (
                s.arrival_to_indexed.percentiles(),
                s.send_to_indexed.percentiles(),
            )
        })
        .unwrap_or_default();
    let clocks = monitor.clocks.lock().map(|c| c.clone()).unwrap_or_default();
    let mut late = Histogram::default();
    for c in &clocks {
        if let Some(l) = c.index_late_us() {
            late.record(l.max(0) as u64, 1);
        }
    }
    let snaps: Vec<_> = health.iter().map(|h| h.snapshot()).collect();
    let streaming = snaps
        .iter()
        .filter(|s| s.state == SessionState::Streaming)
        .count();
    let reconnects: u64 = snaps.iter().map(|s| s.reconnects).sum();
    let stalls: u64 = snaps.iter().map(|s| s.stalls).sum();
    let WindowCounts {
        fragments,
        bytes,
        rows,
    } = WindowCounts::read(&stats, &store).since(&counts0);
    let write_errors = sum(&stats, |s| &s.write_errors);
    let anomalies = sum(&stats, |s| &s.timestamp_anomalies);
    let (warnings, errors) = (events.warnings() - warn0, events.errors() - err0);
    let mut frames_behind = 0u64;
    let batch_frames = (opts.read_batch.as_secs_f64() * fps).ceil() as u64;
    let mut worst_behind = 0.0f64;
    let mut never_streamed = 0;
    for (c, rx) in clocks.iter().zip(&received_at_end) {
        let Some(start) = c.send.start_us() else {
            never_streamed += 1;
            continue;
        };
        let due = ((now_us - start).max(0) as f64 * fps / 1e6).floor() as u64 + 1;
        let behind = due.saturating_sub(*rx);
        // A frame or two is the resolution of the schedule estimate; read batching holds
        // back up to a batch period's frames more.
        if behind > 2 + batch_frames {
            frames_behind += behind;
        }
        worst_behind = worst_behind.max(behind as f64 / fps);
    }

    // 2.–4. Teardown in loss-accounting order.
    let ff_stopped = match fleet.take() {
        Some(f) => Some((f.dir().to_path_buf(), f.len(), f.stop().await)),
        None => None,
    };
    let sent = sim.stop().await?;
    let drain_until =
        Instant::now() + Duration::from_secs(30) + Duration::from_secs_f64(worst_behind);
    loop {
        let rx = frames_received(&health);
        let done = (0..n).all(|i| rx[i] >= sent.frames_sent.get(i).copied().unwrap_or(0));
        if done || Instant::now() >= drain_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = frames_received(&health);
    rec.shutdown().await;
    let recorded: Vec<u64> = stats
        .iter()
        .map(|s| s.frames.load(Ordering::Relaxed))
        .collect();
    let write_lost = sum(&stats, |s| &s.frames_lost);
    let (deleted_segments, deleted_bytes) = match store.deletions() {
        Ok(rows) => (rows.len() as u64, rows.iter().map(|d| d.bytes).sum()),
        Err(e) => bail!("reading the retention deletions: {e}"),
    };
    let store_bytes_at_end = store.total_bytes();
    drop(store);

    // 5. Accounting.
    let sent_ours: Vec<u64> = (0..n)
        .map(|i| sent.frames_sent.get(i).copied().unwrap_or(0))
        .collect();
    let lost: u64 = sent_ours
        .iter()
        .zip(&recorded)
        .map(|(s, r)| s.saturating_sub(*r))
        .sum::<u64>()
        + write_lost;
    let total_sent: u64 = sent_ours.iter().sum();
    let total_rx: u64 = received.iter().sum();
    let total_rec: u64 = recorded.iter().sum();
    let stream_minutes = n as f64 * window / 60.0;
    let rss_per_stream = mem.rss.saturating_sub(idle.rss) as f64 / n as f64;
    let recorder = Recorder {
        cpu_s: cpu,
        cpu_s_per_stream_minute: cpu / stream_minutes,
        rss_idle_bytes: idle.rss,
        rss_bytes: mem.rss,
        rss_hwm_bytes: mem.hwm,
        rss_per_stream_bytes: rss_per_stream,
        frames_sent: total_sent,
        frames_received: total_rx,
        frames_recorded: total_rec,
        frames_lost: lost,
        frames_behind,
        max_behind_s: worst_behind,
        fragments,
        fragments_per_s: fragments as f64 / window,
        bytes_written: bytes,
        bytes_per_s: bytes as f64 / window,
        index_rows_per_s: rows as f64 / window,
        latency_arrival_to_indexed: arrival,
        latency_send_to_indexed: send,
        index_time_late: late.percentiles(),
        reconnects,
        stalls,
        write_errors,
        timestamp_anomalies: anomalies,
        log_warnings: warnings,
        log_errors: errors,
        retention_deleted_segments: deleted_segments,
        retention_deleted_bytes: deleted_bytes,
        store_bytes_at_end,
    };

    let mut problems = Vec::new();
    if lost > 0 {
        problems.push(format!("{lost} frames lost (sent but not recorded)"));
    }
    if total_rx != total_rec {
        problems.push(format!(
            "frames received {total_rx} != recorded {total_rec}"
        ));
    }
    if total_sent != total_rx {
        problems.push(format!("frames sent {total_sent} != received {total_rx}"));
    }
    if never_streamed > 0 || streaming < n {
        problems.push(format!(
            "{} of {n} cameras streaming at the end ({never_streamed} never did)",
            streaming
        ));
    }
    if worst_behind > opts.max_behind.as_secs_f64() {
        problems.push(format!(
            "recorder fell behind the cameras: worst {:.2} s, {} frames overdue (a real camera would drop them)",
            worst_behind, frames_behind
        ));
    }
    if send.samples > 0 && send.p99_ms > opts.max_p99.as_secs_f64() * 1000.0 {
        problems.push(format!(
            "p99 send→indexed latency {:.0} ms above {:.0} ms",
            send.p99_ms,
            opts.max_p99.as_secs_f64() * 1000.0
        ));
    }
    for (what, v) in [
        ("reconnects", reconnects),
        ("stalls", stalls),
        ("write errors", write_errors),
        ("timestamp anomalies", anomalies),
        ("logged errors", errors),
    ] {
        if v > 0 {
            problems.push(format!("{v} {what}"));
        }
    }

    let (ffmpeg, ratios) = match (ff_sample, ff_stopped) {
        (Some(mut sample), Some((dir, procs, stopped))) => {
            // Only the window, and only processes alive through all of it (one that died is
            // reported below as a problem).
            let (cpu, alive_through) = ff0
                .as_ref()
                .map_or((sample.cpu_s, sample.alive), |s0| sample.cpu_since(s0));
            sample.cpu_s = cpu;
            let frames_sent: u64 = (n..2 * n)
                .map(|i| sent.frames_sent.get(i).copied().unwrap_or(0))
                .sum();
            let frames_recorded = if procs <= MAX_FFPROBE {
                match ffmpeg::count_frames(&dir, &opts.ffprobe) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        tracing::warn!(error = %e, "counting ffmpeg's frames");
                        None
                    }
                }
            } else {
                None
            };
            if sample.alive < procs {
                problems.push(format!(
                    "ffmpeg baseline: only {} of {procs} processes alive at the end (see {}/cam*.log)",
                    sample.alive,
                    dir.display()
                ));
            }
            let per_min = if alive_through > 0 {
                sample.cpu_s / (alive_through as f64 * window / 60.0)
            } else {
                0.0
            };
            let f = Ffmpeg {
                processes: procs,
                cpu_s: sample.cpu_s,
                cpu_s_per_stream_minute: per_min,
                rss_hwm_per_stream_bytes: sample.hwm_mean_bytes,
                pss_per_stream_bytes: sample.pss_mean_bytes,
                alive_at_end: sample.alive,
                stopped,
                frames_sent,
                frames_recorded,
            };
            let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
            let r = Ratios {
                cpu: ratio(recorder.cpu_s_per_stream_minute, per_min),
                rss: ratio(rss_per_stream, sample.hwm_mean_bytes),
                rss_vs_pss: ratio(rss_per_stream, sample.pss_mean_bytes),
            };
            (Some(f), Some(r))
        }
        _ => (None, None),
    };

    if opts.keep {
        let kept = work.keep();
        eprintln!("kept the work directory: {}", kept.display());
    }
    let sync = match opts.sync {
        SyncPolicy::Always => "always",
        SyncPolicy::Os => "os",
    };
    Ok(RunReport {
        cameras: n,
        duration_s: window,
        warmup_s: opts.warmup.as_secs_f64(),
        clip: ClipInfo {
            source: opts.clip.label(),
            width: info.width,
            height: info.height,
            fps: info.fps,
            bitrate_bps: info.bitrate_bps,
        },
        sync: sync.to_owned(),
        writer_threads: opts.writer_threads,
        read_batch_ms: opts.read_batch.as_secs_f64() * 1000.0,
        recorder,
        sim_cpu_s: sim_cpu,
        ffmpeg,
        ratios,
        ok: problems.is_empty(),
        problems,
    })
}
