//! The load benchmark must not rot: a small real run (5 simulated cameras for 10 s through the
//! whole ingest → storage path, simulator in its own process) asserting that nothing was lost
//! and the figures are sane. Thresholds are loose on purpose (debug build, loaded CI box);
//! the figures that matter come from release runs, see `docs/performance.md`.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use vms_benches::report::{RunReport, SweepReport};

fn ingest_load() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ingest-load"))
}

/// Runs the builtin clip with `args` into `work`, and returns the JSON report of a run that
/// passed (exit status 0, no problems).
fn run_ok(args: &[&str], work: &std::path::Path) -> RunReport {
    let out = ingest_load()
        .args(args)
        .args(["--clip", "builtin"])
        .args(["--json", "--progress", "off", "--max-p99", "10s"])
        .arg("--work-dir")
        .arg(work)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: RunReport = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "JSON report: {e}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(r.ok, "problems: {:?}", r.problems);
    assert!(out.status.success(), "exit status {}", out.status);
    r
}

#[test]
fn five_cameras_ten_seconds_lose_nothing() {
    let work = tempfile::tempdir().unwrap();
    let args = ["--cameras", "5", "--duration", "10s", "--warmup", "2s"];
    let r = run_ok(&args, work.path());

    let rec = &r.recorder;
    assert_eq!(rec.frames_lost, 0);
    assert_eq!(rec.frames_sent, rec.frames_received);
    assert_eq!(rec.frames_received, rec.frames_recorded);
    // Frames are counted over the whole run: 5 cameras × 30 fps × (2 s warm-up + 10 s) =
    // 1800 due; allow for a slow start on a busy machine.
    assert!(
        (900..=2000).contains(&rec.frames_recorded),
        "frames {}",
        rec.frames_recorded
    );
    assert_eq!(r.cameras, 5);
    assert!((r.duration_s - 10.0).abs() < 1.0, "{}", r.duration_s);
    assert_eq!((r.clip.width, r.clip.height), (1280, 720));
    assert!(
        rec.cpu_s > 0.0 && rec.cpu_s_per_stream_minute < 60.0,
        "{rec:?}"
    );
    assert!(rec.rss_idle_bytes > 1 << 20 && rec.rss_bytes >= rec.rss_idle_bytes);
    assert!(rec.rss_per_stream_bytes < 64.0 * 1024.0 * 1024.0, "{rec:?}");
    // One fragment per 1 s GOP per camera, give or take the edges of the window.
    assert!(rec.fragments >= 20 && rec.fragments_per_s <= 7.0, "{rec:?}");
    assert!(rec.bytes_written > 0 && rec.index_rows_per_s > 0.0);
    // A fragment is committed when the next GOP's keyframe arrives: ≥ 1 s after its first
    // frame, and not absurdly later.
    for p in [
        &rec.latency_arrival_to_indexed,
        &rec.latency_send_to_indexed,
    ] {
        assert!(p.samples > 0, "{p:?}");
        assert!(
            p.p50_ms >= 900.0 && p.p50_ms <= p.p99_ms && p.p99_ms <= p.max_ms,
            "{p:?}"
        );
        assert!(p.max_ms < 10_000.0, "{p:?}");
    }
    // Every camera's send clock and run start were found.
    assert_eq!(rec.index_time_late.samples, 5, "{:?}", rec.index_time_late);
    assert!(rec.index_time_late.max_ms < 5_000.0);
    assert_eq!(rec.reconnects + rec.write_errors + rec.log_errors, 0);
    assert!(r.ffmpeg.is_none() && r.ratios.is_none());
    // Nothing left behind in the work directory.
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);
}

/// With `--quota`, retention deletes sealed segments while recording goes on, as in `vms run`,
/// and no frame counts as lost for it.
#[test]
fn quota_retention_deletes_while_recording_and_loses_nothing() {
    let work = tempfile::tempdir().unwrap();
    let quota = ["--segment-secs", "2", "--quota", "1MB"];
    let args = ["--cameras", "3", "--duration", "8s", "--warmup", "1s"];
    let r = run_ok(&[&args[..], &quota].concat(), work.path());
    let rec = &r.recorder;
    assert_eq!(rec.frames_lost, 0);
    assert_eq!(rec.frames_received, rec.frames_recorded);
    // 2 s segments sealed over ~9 s of three cameras, well over 1 MB: some must have gone.
    assert!(rec.retention_deleted_segments > 0, "{rec:?}");
    assert!(rec.retention_deleted_bytes > 0, "{rec:?}");
    // What was written counts whatever retention deleted since: the cameras' bitrate, give or
    // take a fragment at each edge of the window (counting only what is left reads ~⅔ here).
    let expected = 3.0 * r.clip.bitrate_bps / 8.0;
    assert!(
        (0.8 * expected..1.25 * expected).contains(&rec.bytes_per_s),
        "{} B/s written, cameras send {expected}",
        rec.bytes_per_s
    );
    assert_eq!(rec.log_errors, 0);
}

#[test]
fn bad_arguments_are_rejected_before_anything_starts() {
    let out = ingest_load().args(["--bitrate", "4X"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bitrate"));
    for quota in [
        &["--quota", "12 parsecs"][..],
        &["--quota", "0"],
        &["--quota", "1GB"],
    ] {
        // The last is well-formed, but the default 60 s segments never seal in a 10 s run.
        let out = ingest_load()
            .args(quota)
            .args(["--duration", "10s"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{quota:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("quota"), "{quota:?}: {stderr}");
    }
}

#[test]
fn sweep_report_schema_round_trips() {
    // Sweep mode's parent reads its children's JSON back; keep the schema self-consistent.
    let s = SweepReport {
        steps: vec![],
        first_failure: Some(100),
        plot: None,
    };
    let back: SweepReport = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
}
