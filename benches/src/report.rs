//! What a run measured, as JSON for dashboards (`--json`) and as a table for people. The
//! structs are the JSON schema; sweep mode reads them back from its per-step child runs.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::ffmpeg;
use crate::latency::Percentiles;

const MIB: f64 = 1024.0 * 1024.0;

/// One benchmark run: N cameras for a duration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunReport {
    pub cameras: usize,
    /// Length of the measurement window (after the warm-up → figures taken).
    pub duration_s: f64,
    /// Running time before the window (each, for the recorder and for the ffmpeg baseline).
    /// Absent in reports written before the warm-up existed (their window began at start).
    #[serde(default)]
    pub warmup_s: f64,
    pub clip: ClipInfo,
    /// Storage durability policy (`always` = fdatasync + synced index commit per fragment).
    pub sync: String,
    pub writer_threads: usize,
    /// Read batching period of the camera sessions (0: every frame read as it arrives;
    /// reports from before batching existed read 0, which is what they did).
    #[serde(default)]
    pub read_batch_ms: f64,
    pub recorder: Recorder,
    /// CPU seconds the simulator child used in the window (it shares the machine).
    pub sim_cpu_s: f64,
    pub ffmpeg: Option<Ffmpeg>,
    /// Recorder ÷ ffmpeg, per stream.
    pub ratios: Option<Ratios>,
    /// Everything that makes the run fail (lost frames, errors, targets missed).
    pub problems: Vec<String>,
    pub ok: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClipInfo {
    pub source: String,
    pub width: u16,
    pub height: u16,
    pub fps: f64,
    pub bitrate_bps: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Recorder {
    /// User + system CPU of this process (sessions, recorders, writer threads, RocksDB) in
    /// the window.
    pub cpu_s: f64,
    pub cpu_s_per_stream_minute: f64,
    /// RSS before any camera started (runtime, open store, RocksDB).
    pub rss_idle_bytes: u64,
    pub rss_bytes: u64,
    pub rss_hwm_bytes: u64,
    /// (RSS − idle RSS) / cameras.
    pub rss_per_stream_bytes: f64,
    /// Final simulator counters after every camera went offline.
    pub frames_sent: u64,
    pub frames_received: u64,
    pub frames_recorded: u64,
    /// Σ per camera max(0, sent − recorded), plus frames a failed write dropped.
    pub frames_lost: u64,
    /// At the end of the window: frames the cameras' schedules had due but the recorder had
    /// not yet received (beyond one frame), summed, and the worst camera in seconds.
    pub frames_behind: u64,
    pub max_behind_s: f64,
    pub fragments: u64,
    pub fragments_per_s: f64,
    pub bytes_written: u64,
    pub bytes_per_s: f64,
    /// RocksDB rows committed per second (fragment + segment row per fragment, runs, seals).
    pub index_rows_per_s: f64,
    /// First frame leaves retina → fragment fdatasynced and indexed (exact, per fragment).
    pub latency_arrival_to_indexed: Percentiles,
    /// The camera sends the fragment's first frame → fragment indexed (± poll/2).
    pub latency_send_to_indexed: Percentiles,
    /// Per camera: how much later than the camera's send time the index timestamps run (the
    /// run is anchored at its first frame's arrival, which start-up can delay).
    pub index_time_late: Percentiles,
    pub reconnects: u64,
    pub stalls: u64,
    pub write_errors: u64,
    pub timestamp_anomalies: u64,
    /// WARN / ERROR events logged in the window.
    pub log_warnings: u64,
    pub log_errors: u64,
    /// Segments and bytes retention deleted for `--quota` during the run (0 without one).
    #[serde(default)]
    pub retention_deleted_segments: u64,
    #[serde(default)]
    pub retention_deleted_bytes: u64,
    /// What the store held when the recorder had shut down.
    #[serde(default)]
    pub store_bytes_at_end: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Ffmpeg {
    pub processes: usize,
    pub cpu_s: f64,
    pub cpu_s_per_stream_minute: f64,
    pub rss_hwm_per_stream_bytes: f64,
    pub pss_per_stream_bytes: f64,
    pub alive_at_end: usize,
    pub stopped: ffmpeg::Stopped,
    pub frames_sent: u64,
    /// Packets in its output files (ffprobe), when counted.
    pub frames_recorded: Option<u64>,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Ratios {
    pub cpu: f64,
    /// Our RSS per additional stream ÷ ffmpeg's VmHWM per process.
    pub rss: f64,
    /// Our RSS per additional stream ÷ ffmpeg's Pss per process.
    pub rss_vs_pss: f64,
}

/// Sweep mode's result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SweepReport {
    pub steps: Vec<RunReport>,
    /// The first camera count that lost frames, fell behind or missed a target.
    pub first_failure: Option<usize>,
    pub plot: Option<String>,
}

fn mib(b: f64) -> String {
    format!("{:.2}", b / MIB)
}

fn lat(p: &Percentiles) -> String {
    if p.samples == 0 {
        return "n/a".to_owned();
    }
    format!(
        "{:.0} / {:.0} / {:.0} ms (n={})",
        p.p50_ms, p.p99_ms, p.max_ms, p.samples
    )
}

/// The human-readable table of one run.
pub fn render(r: &RunReport) -> String {
    let mut s = String::new();
    let c = &r.clip;
    let rec = &r.recorder;
    let _ = writeln!(
        s,
        "ingest load: {} cameras × {}x{} {:.0} fps {:.2} Mbit/s ({}), {:.0} s after {:.0} s warm-up, sync={}, {} writer threads, read batch {:.0} ms",
        r.cameras,
        c.width,
        c.height,
        c.fps,
        c.bitrate_bps / 1e6,
        c.source,
        r.duration_s,
        r.warmup_s,
        r.sync,
        r.writer_threads,
        r.read_batch_ms
    );
    let ff = r.ffmpeg.as_ref();
    let _ = writeln!(
        s,
        "{:<44} {:>14} {:>14} {:>9}",
        "", "recorder", "ffmpeg", "ratio"
    );
    let row =
        |s: &mut String, name: &str, ours: String, theirs: Option<String>, ratio: Option<f64>| {
            let _ = writeln!(
                s,
                "{:<44} {:>14} {:>14} {:>9}",
                name,
                ours,
                theirs.unwrap_or_default(),
                ratio.map(|x| format!("{x:.3}")).unwrap_or_default()
            );
        };
    row(
        &mut s,
        "CPU s per stream-minute",
        format!("{:.4}", rec.cpu_s_per_stream_minute),
        ff.map(|f| format!("{:.4}", f.cpu_s_per_stream_minute)),
        r.ratios.map(|x| x.cpu),
    );
    row(
        &mut s,
        "CPU s total in window",
        format!("{:.2}", rec.cpu_s),
        ff.map(|f| format!("{:.2}", f.cpu_s)),
        None,
    );
    row(
        &mut s,
        "RSS per stream, MiB (ffmpeg: VmHWM/process)",
        mib(rec.rss_per_stream_bytes),
        ff.map(|f| mib(f.rss_hwm_per_stream_bytes)),
        r.ratios.map(|x| x.rss),
    );
    row(
        &mut s,
        "  ffmpeg Pss per process, MiB",
        String::new(),
        ff.map(|f| mib(f.pss_per_stream_bytes)),
        r.ratios.map(|x| x.rss_vs_pss),
    );
    row(
        &mut s,
        "RSS idle / with streams / peak, MiB",
        format!(
            "{} / {} / {}",
            mib(rec.rss_idle_bytes as f64),
            mib(rec.rss_bytes as f64),
            mib(rec.rss_hwm_bytes as f64)
        ),
        None,
        None,
    );
    row(
        &mut s,
        "frames sent / received / recorded",
        format!(
            "{} / {} / {}",
            rec.frames_sent, rec.frames_received, rec.frames_recorded
        ),
        ff.map(|f| {
            format!(
                "{} / {}",
                f.frames_sent,
                f.frames_recorded.map_or("-".to_owned(), |n| n.to_string())
            )
        }),
        None,
    );
    row(
        &mut s,
        "frames lost",
        rec.frames_lost.to_string(),
        None,
        None,
    );
    row(
        &mut s,
        "behind schedule at end (frames, worst s)",
        format!("{} / {:.2}", rec.frames_behind, rec.max_behind_s),
        None,
        None,
    );
    row(
        &mut s,
        "fragments/s, MB/s written",
        format!("{:.1}, {:.2}", rec.fragments_per_s, rec.bytes_per_s / 1e6),
        None,
        None,
    );
    row(
        &mut s,
        "index rows/s",
        format!("{:.1}", rec.index_rows_per_s),
        None,
        None,
    );
    let _ = writeln!(
        s,
        "{:<44} {}",
        "latency arrival→indexed p50/p99/max",
        lat(&rec.latency_arrival_to_indexed)
    );
    let _ = writeln!(
        s,
        "{:<44} {}",
        "latency send→indexed p50/p99/max",
        lat(&rec.latency_send_to_indexed)
    );
    let _ = writeln!(
        s,
        "{:<44} {}",
        "index time behind send time p50/p99/max",
        lat(&rec.index_time_late)
    );
    let _ = writeln!(
        s,
        "{:<44} {} / {} / {} / {} / {} / {}",
        "reconnects/stalls/write err/ts anom/warn/err",
        rec.reconnects,
        rec.stalls,
        rec.write_errors,
        rec.timestamp_anomalies,
        rec.log_warnings,
        rec.log_errors
    );
    if rec.retention_deleted_segments > 0 {
        let _ = writeln!(
            s,
            "{:<44} {} segments, {:.2} GB; store at end {:.2} GB",
            "retention deleted (--quota)",
            rec.retention_deleted_segments,
            rec.retention_deleted_bytes as f64 / 1e9,
            rec.store_bytes_at_end as f64 / 1e9
        );
    }
    let _ = writeln!(
        s,
        "{:<44} {:.2} CPU s ({:.0}% of one core)",
        "simulator (child process, not counted)",
        r.sim_cpu_s,
        100.0 * r.sim_cpu_s / r.duration_s.max(1e-9)
    );
    if let Some(f) = ff {
        let _ = writeln!(
            s,
            "{:<44} {} processes, {} alive at end, stopped: {} clean {} killed {} failed",
            "ffmpeg",
            f.processes,
            f.alive_at_end,
            f.stopped.clean,
            f.stopped.killed,
            f.stopped.failed
        );
    }
    if r.ok {
        let _ = writeln!(s, "OK: no frame lost, no error");
    } else {
        for p in &r.problems {
            let _ = writeln!(s, "PROBLEM: {p}");
        }
    }
    s
}

/// RSS per *additional* stream between two sweep steps a and b: (RSS_b − RSS_a) ÷ (N_b − N_a).
/// Unlike (RSS − idle) ÷ N it leaves out the fixed cost that does not grow with N (writer
/// threads' buffers, allocator arenas), which a small N spreads over few streams. `None`
/// unless `b` has more cameras than `a`.
pub fn marginal_rss_per_stream(a: &RunReport, b: &RunReport) -> Option<f64> {
    let dn = b.cameras.checked_sub(a.cameras).filter(|&d| d > 0)?;
    Some((b.recorder.rss_bytes as f64 - a.recorder.rss_bytes as f64) / dn as f64)
}

/// One line per step of a sweep.
pub fn render_sweep(sw: &SweepReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>6} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>8} {:>9} {:>8}  result",
        "N",
        "CPU/s·min",
        "CPU %",
        "RSS/str",
        "RSS Δ/str",
        "RSS MiB",
        "MB/s",
        "lost",
        "behind s",
        "p99 ms"
    );
    let mut prev: Option<&RunReport> = None;
    for r in &sw.steps {
        let rec = &r.recorder;
        let marginal = prev
            .and_then(|p| marginal_rss_per_stream(p, r))
            .map_or_else(|| "-".to_owned(), mib);
        prev = Some(r);
        let _ = writeln!(
            s,
            "{:>6} {:>9.4} {:>8.0} {:>8} {:>9} {:>9.1} {:>9.1} {:>8} {:>9.2} {:>8.0}  {}",
            r.cameras,
            rec.cpu_s_per_stream_minute,
            100.0 * rec.cpu_s / r.duration_s.max(1e-9),
            mib(rec.rss_per_stream_bytes),
            marginal,
            rec.rss_bytes as f64 / MIB,
            rec.bytes_per_s / 1e6,
            rec.frames_lost,
            rec.max_behind_s,
            rec.latency_send_to_indexed.p99_ms,
            if r.ok {
                "ok".to_owned()
            } else {
                r.problems.join("; ")
            }
        );
    }
    match sw.first_failure {
        Some(n) => {
            let _ = writeln!(s, "first failing step: {n} cameras");
        }
        None => {
            let _ = writeln!(s, "no step failed");
        }
    }
    if let Some(p) = &sw.plot {
        let _ = writeln!(s, "plot: {p}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(cameras: usize, rss_mib: f64) -> RunReport {
        RunReport {
            cameras,
            duration_s: 30.0,
            warmup_s: 5.0,
            clip: ClipInfo {
                source: "test".into(),
                width: 1920,
                height: 1080,
                fps: 30.0,
                bitrate_bps: 2e6,
            },
            sync: "always".into(),
            writer_threads: 8,
            read_batch_ms: 100.0,
            recorder: Recorder {
                rss_bytes: (rss_mib * MIB) as u64,
                ..Recorder::default()
            },
            sim_cpu_s: 1.0,
            ffmpeg: None,
            ratios: None,
            problems: vec![],
            ok: true,
        }
    }

    #[test]
    fn marginal_rss_is_the_slope_between_steps() {
        let m = marginal_rss_per_stream(&step(10, 28.0), &step(100, 100.0));
        assert_eq!(m, Some(72.0 * MIB / 90.0));
        assert_eq!(
            marginal_rss_per_stream(&step(100, 100.0), &step(100, 90.0)),
            None
        );
        assert_eq!(
            marginal_rss_per_stream(&step(100, 100.0), &step(10, 28.0)),
            None
        );
        let table = render_sweep(&SweepReport {
            steps: vec![step(10, 28.0), step(100, 100.0)],
            first_failure: None,
            plot: None,
        });
        assert!(table.contains("RSS Δ/str"), "{table}");
        assert!(table.contains(" 0.80 "), "{table}");
    }
}
