//! `reboot-recovery`: how long after a rebooted camera accepts connections again is it
//! recording? (issue 21)
//!
//! ```text
//! cargo run --release -p vms-benches --bin reboot-recovery -- --reboots 20
//! ```
//!
//! The camera is GStreamer's RTSP server (x264, 30 fps, 1 s GOP) run by Debian's python3 from
//! `testkit/peers/gst_rtsp_server.py`; a reboot is `SIGKILL` (the connection dies with the
//! process), a random down time, and a fresh server on the same port. "Back" is when the server
//! prints READY (its port accepts); "recording" is the first frame the recorder's session
//! receives after that. Each reboot is measured twice in one run, alternating: with the
//! port probe (the product default, 200 ms) and with the probe off (the backoff alone, the
//! baseline). Prints p50/p95/max for both and their ratio. Exits 2 if it could not run.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use rand::Rng;
use vms::recording::Recording;
use vms_ingest::{CameraConfig, Health};
use vms_storage::{RecorderOptions, Store, StoreOptions};
use vms_testkit::gst::{GstCamera, GstCodec};

#[derive(Parser, Debug)]
#[command(
    name = "reboot-recovery",
    about = "Time from a rebooted camera's return to recording"
)]
struct Cli {
    /// Reboots per configuration.
    #[arg(long, default_value_t = 20)]
    reboots: usize,
    /// Shortest down time, milliseconds.
    #[arg(long, default_value_t = 300)]
    down_min_ms: u64,
    /// Longest down time, milliseconds.
    #[arg(long, default_value_t = 4000)]
    down_max_ms: u64,
}

/// One configuration under test.
struct Mode {
    name: &'static str,
    port_probe: Duration,
    samples: Vec<Duration>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reboot-recovery: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let port = vms_testkit::free_port();
    let mut modes = [
        Mode {
            name: "port probe (200 ms)",
            port_probe: vms_ingest::camera::DEFAULT_PORT_PROBE,
            samples: Vec::new(),
        },
        Mode {
            name: "backoff only (baseline)",
            port_probe: Duration::ZERO,
            samples: Vec::new(),
        },
    ];
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreOptions::default())?;
    let mut rng = rand::rng();
    for i in 0..cli.reboots {
        for m in &mut modes {
            let down = Duration::from_millis(rng.random_range(cli.down_min_ms..=cli.down_max_ms));
            let took = one_reboot(&store, port, m.port_probe, down, i).await?;
            eprintln!(
                "{:>3} {:<24} down {down:>8.1?} → recording {took:>8.1?}",
                i + 1,
                m.name
            );
            m.samples.push(took);
        }
    }
    println!("| configuration | reboots | p50 | p95 | max |");
    println!("|---|---|---|---|---|");
    let mut p95s = Vec::new();
    for m in &mut modes {
        m.samples.sort();
        let (p50, p95, max) = (
            pct(&m.samples, 50),
            pct(&m.samples, 95),
            pct(&m.samples, 100),
        );
        println!(
            "| {} | {} | {:.2} s | {:.2} s | {:.2} s |",
            m.name,
            m.samples.len(),
            p50.as_secs_f64(),
            p95.as_secs_f64(),
            max.as_secs_f64()
        );
        p95s.push(p95);
    }
    if let [probe, baseline] = p95s[..] {
        println!(
            "p95 ratio probe/baseline: {:.2}",
            probe.as_secs_f64() / baseline.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}

/// Records the camera, kills it, waits `down`, starts it again and returns the time from its
/// READY to the first frame received.
async fn one_reboot(
    store: &Arc<Store>,
    port: u16,
    port_probe: Duration,
    down: Duration,
    n: usize,
) -> anyhow::Result<Duration> {
    let mut camera = GstCamera::start(port, GstCodec::H264).await?;
    let url = url::Url::parse(&format!("rtsp://127.0.0.1:{port}/test"))?;
    let mut cfg = CameraConfig::new(format!("reboot-{n}-{}", port_probe.as_millis()), url);
    cfg.port_probe = port_probe;
    let rec = Recording::start(store.clone(), vec![cfg], RecorderOptions::default())?;
    let health = rec.cameras[0].health.clone();
    wait_frames(&health, 1, Duration::from_secs(30))
        .await
        .context("the camera never streamed")?;
    camera.kill().await;
    tokio::time::sleep(down).await;
    let before = health.snapshot().frames;
    camera = GstCamera::start(port, GstCodec::H264).await?;
    let back = Instant::now();
    wait_frames(&health, before + 1, Duration::from_secs(30))
        .await
        .context("not recording 30 s after the reboot")?;
    let took = back.elapsed();
    rec.shutdown().await;
    camera.kill().await;
    Ok(took)
}

async fn wait_frames(health: &Health, at_least: u64, limit: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + limit;
    while health.snapshot().frames < at_least {
        if Instant::now() > until {
            bail!("timed out");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// The `p`th percentile (nearest rank) of sorted `v`.
fn pct(v: &[Duration], p: usize) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * v.len()).div_ceil(100).clamp(1, v.len());
    v[rank - 1]
}
