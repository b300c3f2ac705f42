//! Live-view load benchmark: one simulated camera (1080p30 at 4 Mbit/s by default, in a child
//! process) recorded by the real ingest session in this process, watched by 1, 10 and 50 WebRTC
//! viewers (str0m WHEP clients in another child process, so their CPU is not booked to the
//! server) through the real HTTP API. Reports the server's forward latency (frame received from
//! the camera → its last packet sent to a viewer, p50/p99) and CPU per viewer, against the same
//! server watched by nobody, measured in the same run.
//!
//! ```text
//! cargo run --release -p vms-benches --bin live-load -- --viewers 1,10,50 --secs 15
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};
use vms_benches::clip::{self, ClipSource, ClipSpec};
use vms_benches::procfs::{self, Pid};
use vms_benches::sim_child::{self, SimChild};
use vms_ingest::{CameraConfig, spawn_camera};
use vms_storage::{
    CameraInfo, CameraSource, PartnerRow, PartnerStatus, Role, SecretBox, SharingMode, Store,
    StoreOptions,
};
use vms_web::live::client::WhepClient;
use vms_web::{AppState, CameraView, Settings};

#[derive(Parser, Debug)]
#[command(about = "Live-view load benchmark: WebRTC viewers of one camera")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Viewer counts to measure, comma separated.
    #[arg(long, default_value = "1,10,50", value_delimiter = ',')]
    viewers: Vec<usize>,
    /// Seconds measured per viewer count (after 3 s of warm-up).
    #[arg(long, default_value_t = 15)]
    secs: u64,
    /// Camera bitrate of the generated clip, bits/s.
    #[arg(long, default_value_t = 4_000_000)]
    bitrate: u64,
    /// Use this clip instead of generating 1080p30 with ffmpeg.
    #[arg(long)]
    clip: Option<String>,
    #[arg(long, default_value = "ffmpeg")]
    ffmpeg: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// (internal) the camera simulator child.
    #[command(hide = true)]
    SimServe {
        #[arg(long)]
        cameras: usize,
        #[arg(long)]
        clip: String,
    },
    /// (internal) the viewers child: N WHEP clients for `secs` seconds.
    #[command(hide = true)]
    Clients {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long)]
        path: String,
        #[arg(long)]
        cookie: String,
        #[arg(long)]
        csrf: String,
        #[arg(long)]
        viewers: usize,
        #[arg(long)]
        secs: u64,
    },
}

/// What the viewers child reports.
#[derive(Serialize, Deserialize, Debug, Default)]
struct ClientReport {
    frames: Vec<u64>,
    first_frame_ms: Vec<f64>,
    errors: Vec<String>,
}

#[derive(Serialize, Debug)]
struct Row {
    viewers: usize,
    server_cpu_percent: f64,
    cpu_ms_per_viewer_second: f64,
    cpu_ratio_vs_unwatched: f64,
    forward_p50_us: Option<u64>,
    forward_p99_us: Option<u64>,
    frames_per_viewer_per_s: f64,
    first_frame_ms_median: Option<f64>,
    dropped_slow: u64,
    errors: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Cmd::SimServe { cameras, clip }) => {
            sim_child::serve(cameras.max(1), &ClipSource::parse(&clip)).await
        }
        Some(Cmd::Clients {
            addr,
            path,
            cookie,
            csrf,
            viewers,
            secs,
        }) => {
            let r = clients(addr, &path, &cookie, &csrf, viewers, secs).await;
            println!("{}", serde_json::to_string(&r)?);
            Ok(())
        }
        None => run(&cli).await,
    }
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let clip = match &cli.clip {
        Some(c) => ClipSource::parse(c),
        None => {
            let spec = ClipSpec {
                width: 1920,
                height: 1080,
                fps: 30,
                bitrate_bps: cli.bitrate,
                seconds: 20,
            };
            let cache = std::env::temp_dir().join("vms-bench-clips");
            ClipSource::File(clip::generated(&cache, &spec, &cli.ffmpeg)?)
        }
    };
    let sim = SimChild::spawn(&exe, 1, &clip).await?;
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreOptions::default())?;
    let secrets = Arc::new(SecretBox::new(&[7; 32]));
    let now = store.clock().now_utc_micros();
    let partner = store.create_partner(PartnerRow {
        id: 0,
        pseudonym: "P-BENCH".into(),
        contact_name: "bench".into(),
        contact_email: String::new(),
        contact_phone: String::new(),
        address: String::new(),
        terms_version: Some("2026-1".into()),
        terms_accepted_us: Some(now),
        status: PartnerStatus::Active,
        created_us: now,
    })?;
    let settings = Settings {
        secure_cookie: false,
        live: vms_web::live::LiveSettings {
            max_viewers: 1000,
            ..Default::default()
        },
        ..Settings::default()
    };
    let state = AppState::new(store.clone(), secrets.clone(), settings);
    // One camera session feeds every run; each viewer count gets its own camera id (same
    // feed) so its metrics start from zero.
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let cam = spawn_camera(CameraConfig::new("bench", sim.url(0)?), tx);
    let mut ids = Vec::new();
    for (i, _) in cli.viewers.iter().enumerate() {
        let c = store.enroll_camera(CameraInfo {
            id: 0,
            name: format!("bench-{i}"),
            partner: partner.id,
            source: CameraSource::Rtsp {
                url: sim.url(0)?.to_string(),
            },
            credentials: None,
            sharing: SharingMode::Live,
            retention_days: 1,
            address: String::new(),
            placed: None,
            kind: None,
            owner_keeps_days: None,
            paused: false,
            masks: vec![],
            created_us: now,
        })?;
        state
            .cameras
            .write()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .push(CameraView {
                name: format!("bench-{i}"),
                id: c.id,
                health: cam.health.clone(),
                stats: Arc::default(),
                live: cam.live().clone(),
            });
        ids.push(c.id);
    }
    let (row, secret) = vms_program::auth::new_user(
        "bench-viewer",
        Role::Viewer,
        None,
        "bench password 1234",
        true,
        &secrets,
        now,
    )
    .map_err(|e| anyhow::anyhow!("creating the benchmark viewer: {e}"))?;
    store.put_user(&row)?;
    let secret = secret.context("viewers have a second factor")?.0;
    let (addr, _server) = vms_web::serve(
        "127.0.0.1:0".parse()?,
        state.clone(),
        std::future::pending(),
    )
    .await?;
    let (cookie, csrf) = login(addr, &secret).await?;

    // Wait for the camera, then measure the unwatched server as the baseline.
    let until = Instant::now() + Duration::from_secs(30);
    while cam.live().current_params().is_none() {
        if Instant::now() > until {
            bail!("the simulated camera never streamed");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let me = Pid::OwnProcess;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let c0 = procfs::cpu_seconds(me)?;
    tokio::time::sleep(Duration::from_secs(cli.secs)).await;
    let idle_cpu = (procfs::cpu_seconds(me)? - c0) / cli.secs as f64;

    let mut rows = Vec::new();
    for (n, id) in cli.viewers.iter().zip(&ids) {
        let child = tokio::process::Command::new(&exe)
            .arg("clients")
            .args(["--addr", &addr.to_string()])
            .args([
                "--path",
                &format!("/api/cameras/{id}/whep?reason=benchmark"),
            ])
            .args(["--cookie", &cookie, "--csrf", &csrf])
            .args(["--viewers", &n.to_string()])
            .args(["--secs", &(cli.secs + 5).to_string()])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        // Warm-up: connections, DTLS, first GOPs.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let m = state.live.camera_metrics(*id);
        let c0 = procfs::cpu_seconds(me)?;
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(cli.secs)).await;
        let cpu = (procfs::cpu_seconds(me)? - c0) / t0.elapsed().as_secs_f64();
        let out = child.wait_with_output().await?;
        let report: ClientReport = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "viewers child said {:?}",
                String::from_utf8_lossy(&out.stdout)
            )
        })?;
        let mut firsts = report.first_frame_ms.clone();
        firsts.sort_by(f64::total_cmp);
        let extra = (cpu - idle_cpu).max(0.0);
        rows.push(Row {
            viewers: *n,
            server_cpu_percent: cpu * 100.0,
            cpu_ms_per_viewer_second: extra * 1000.0 / *n as f64,
            cpu_ratio_vs_unwatched: cpu / idle_cpu.max(1e-9),
            forward_p50_us: m.forward_latency.quantile(0.5),
            forward_p99_us: m.forward_latency.quantile(0.99),
            frames_per_viewer_per_s: report.frames.iter().sum::<u64>() as f64
                / (*n as f64 * (cli.secs + 5) as f64),
            first_frame_ms_median: firsts.get(firsts.len() / 2).copied(),
            dropped_slow: m.dropped_slow.load(std::sync::atomic::Ordering::Relaxed),
            errors: report.errors.len(),
        });
        for e in report.errors.iter().take(3) {
            eprintln!("viewer error: {e}");
        }
    }
    if cli.json {
        println!(
            "{}",
            serde_json::json!({"unwatched_cpu_percent": idle_cpu * 100.0, "rows": rows})
        );
    } else {
        println!(
            "camera: {}x{} {:.0} fps {:.1} Mbit/s; unwatched server (ingest + idle web) CPU {:.2} %",
            sim.info.width,
            sim.info.height,
            sim.info.fps,
            sim.info.bitrate_bps / 1e6,
            idle_cpu * 100.0
        );
        println!(
            "viewers  server CPU %  ×unwatched  CPU ms/viewer·s  fwd p50 µs  fwd p99 µs  fps/viewer  first frame ms  dropped  errors"
        );
        for r in &rows {
            println!(
                "{:>7}  {:>12.2}  {:>10.2}  {:>15.3}  {:>10}  {:>10}  {:>10.1}  {:>14}  {:>7}  {:>6}",
                r.viewers,
                r.server_cpu_percent,
                r.cpu_ratio_vs_unwatched,
                r.cpu_ms_per_viewer_second,
                r.forward_p50_us.map_or("-".into(), |v| v.to_string()),
                r.forward_p99_us.map_or("-".into(), |v| v.to_string()),
                r.frames_per_viewer_per_s,
                r.first_frame_ms_median
                    .map_or("-".into(), |v| format!("{v:.0}")),
                r.dropped_slow,
                r.errors
            );
        }
    }
    cam.stop().await;
    sim.stop().await?;
    if rows.iter().any(|r| r.errors > 0) {
        bail!("some viewers failed");
    }
    Ok(())
}

/// Signs the benchmark viewer in; returns the cookie and CSRF token.
async fn login(addr: SocketAddr, secret: &[u8]) -> anyhow::Result<(String, String)> {
    let code = vms_program::auth::totp(secret, vms_storage::clock::system_now_micros() / 1_000_000);
    let body = serde_json::json!({"username": "bench-viewer", "password": "bench password 1234", "totp": code}).to_string();
    let (status, headers, text) = http(
        addr,
        "POST",
        "/api/login",
        "",
        "",
        "application/json",
        body.as_bytes(),
    )
    .await?;
    if status != 200 {
        bail!("login: {status} {text}");
    }
    let cookie = headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .and_then(|(_, v)| v.split(';').next())
        .context("no session cookie")?
        .to_owned();
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let csrf = v["csrf"].as_str().context("no CSRF token")?.to_owned();
    Ok((cookie, csrf))
}

/// One HTTP/1.1 request with the session's cookie and CSRF token.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    csrf: &str,
    content_type: &str,
    body: &[u8],
) -> anyhow::Result<(u16, Vec<(String, String)>, String)> {
    let h = [
        ("cookie", cookie),
        ("x-csrf-token", csrf),
        ("content-type", content_type),
    ];
    let r = vms_web::live::client::http1(addr, method, path, &h, body).await?;
    Ok((r.status, r.headers, r.body))
}

/// The viewers child: opens `n` WHEP sessions and counts frames for `secs`.
async fn clients(
    addr: SocketAddr,
    path: &str,
    cookie: &str,
    csrf: &str,
    n: usize,
    secs: u64,
) -> ClientReport {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (path, cookie, csrf) = (path.to_owned(), cookie.to_owned(), csrf.to_owned());
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let (mut c, offer) = WhepClient::offer(std::net::Ipv4Addr::LOCALHOST.into(), true)
                .await
                .map_err(|e| e.to_string())?;
            let (status, _, answer) = http(
                addr,
                "POST",
                &path,
                &cookie,
                &csrf,
                "application/sdp",
                offer.as_bytes(),
            )
            .await
            .map_err(|e| e.to_string())?;
            if status != 201 {
                return Err(format!("offer: {status} {answer}"));
            }
            c.accept_answer(&answer).map_err(|e| e.to_string())?;
            let until = start + Duration::from_secs(secs);
            let (mut frames, mut first) = (0u64, None);
            while Instant::now() < until {
                match c.next_frame(until - Instant::now()).await {
                    Ok(Some(_)) => {
                        frames += 1;
                        first.get_or_insert(start.elapsed().as_secs_f64() * 1000.0);
                    }
                    Ok(None) => break,
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok((frames, first))
        }));
    }
    let mut r = ClientReport::default();
    for t in tasks {
        match t.await {
            Ok(Ok((f, first))) => {
                r.frames.push(f);
                r.first_frame_ms.extend(first);
            }
            Ok(Err(e)) => r.errors.push(e),
            Err(e) => r.errors.push(e.to_string()),
        }
    }
    r
}
