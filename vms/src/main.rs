//! `vms`: the partner-camera video management system.
//!
//! Subcommands: `run` (the real thing, from a config file), `demo` (records simulated cameras
//! on embedded defaults), `check` (verify the index against segment files), `sim` (serve
//! simulated cameras, e.g. for load tests). Business logic lives in the library crates.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use vms_ingest::CameraConfig;
use vms_ingest::sim::{Clip, SimOptions, SimServer};
use vms_storage::{RecorderOptions, RetentionPolicy, Store, StoreOptions, SyncPolicy};

use vms::config;
use vms::recording::Recording;

#[derive(Parser, Debug)]
#[command(
    name = "vms",
    version,
    about = "Partner-camera video management system"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Record the cameras of a config file and serve the web API.
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Record simulated cameras on embedded defaults and serve the status page.
    Demo {
        /// Where recordings go.
        #[arg(long, default_value = "vms-data")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 3)]
        cameras: usize,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        duration_secs: Option<u64>,
    },
    /// Verify the index against the segment files.
    Check {
        /// The data directory (or use --config).
        #[arg(long, required_unless_present = "config")]
        data_dir: Option<PathBuf>,
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Fix what can be fixed without inventing data.
        #[arg(long)]
        repair: bool,
    },
    /// Serve simulated RTSP cameras (for load tests and trying things out).
    Sim {
        #[arg(long, default_value_t = 1)]
        cameras: usize,
        #[arg(long, default_value = "127.0.0.1:8554")]
        listen: std::net::SocketAddr,
        /// An H.264 MP4 to serve instead of the built-in 720p clip (e.g. a 1080p clip for
        /// load tests). It must start with a keyframe.
        #[arg(long)]
        clip: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Run { config } => run(&config).await,
        Command::Demo {
            data_dir,
            cameras,
            listen,
            duration_secs,
        } => demo(&data_dir, cameras, listen, duration_secs).await,
        Command::Check {
            data_dir,
            config,
            repair,
        } => {
            let dir = match (data_dir, config) {
                (Some(d), _) => d,
                (None, Some(c)) => config::Config::load(&c)?.0.storage.data_dir,
                (None, None) => anyhow::bail!("give --data-dir or --config"),
            };
            check(&dir, repair)
        }
        Command::Sim {
            cameras,
            listen,
            clip,
        } => sim(cameras, listen, clip.as_deref()).await,
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

async fn run(config_path: &Path) -> anyhow::Result<std::process::ExitCode> {
    let (cfg, cameras) = config::Config::load(config_path)?;
    let sync: SyncPolicy = cfg.storage.sync.parse().map_err(anyhow::Error::msg)?;
    let store = open_store(&cfg.storage.data_dir, sync, cfg.storage.writer_threads)?;
    let mut max_age = HashMap::new();
    for c in &cameras {
        max_age.insert(
            store.camera_id(&c.config.name)?,
            i64::from(c.retention_days) * 86_400,
        );
    }
    let policy = RetentionPolicy {
        default_max_age_secs: i64::from(cfg.defaults.retention_days) * 86_400,
        max_age_secs: max_age,
        quota_bytes: cfg.storage.quota.map(|q| q.0),
        low_watermark_bytes: cfg
            .storage
            .low_watermark
            .map(|l| l.0)
            .or(cfg.storage.quota.map(|q| q.0 / 10 * 9)),
    };
    let opts = RecorderOptions {
        segment_target_secs: cfg.storage.segment_secs,
        ..RecorderOptions::default()
    };
    let configs: Vec<CameraConfig> = cameras.into_iter().map(|c| c.config).collect();
    tracing::info!(cameras = configs.len(), data_dir = %cfg.storage.data_dir.display(), "recording");
    let mut rec = Recording::start(store, configs, opts)?;
    rec.start_retention(
        policy,
        Duration::from_secs(cfg.storage.retention_interval_secs.max(1)),
    );
    serve_until_signal(rec, cfg.web.listen, None).await
}

fn open_store(dir: &Path, sync: SyncPolicy, writer_threads: usize) -> anyhow::Result<Arc<Store>> {
    Store::open(
        dir,
        StoreOptions {
            sync,
            writer_threads,
            ..StoreOptions::default()
        },
    )
    .with_context(|| format!("opening store in {}", dir.display()))
}

/// Serves the web side, waits for a signal (or `limit`), then shuts down in order.
async fn serve_until_signal(
    rec: Recording,
    listen: std::net::SocketAddr,
    limit: Option<Duration>,
) -> anyhow::Result<std::process::ExitCode> {
    let state = vms_web::AppState {
        cameras: Arc::new(
            rec.cameras
                .iter()
                .map(|c| vms_web::CameraView {
                    name: c.name.clone(),
                    id: c.id,
                    health: c.health.clone(),
                    stats: c.stats.clone(),
                })
                .collect(),
        ),
        store: rec.store.clone(),
    };
    let stop = CancellationToken::new();
    let stop2 = stop.clone();
    let (addr, web) = vms_web::serve(listen, state, async move { stop2.cancelled().await })
        .await
        .with_context(|| format!("listening on {listen}"))?;
    tracing::info!(%addr, "web server listening");
    println!("web UI: http://{addr}/");
    let status = tokio::spawn(print_status(
        rec.cameras
            .iter()
            .map(|c| (c.name.clone(), c.health.clone(), c.stats.clone()))
            .collect(),
        rec.store.clone(),
    ));
    match limit {
        Some(d) => {
            tokio::select! {
                _ = shutdown_signal() => {}
                _ = tokio::time::sleep(d) => {}
            }
        }
        None => shutdown_signal().await,
    }
    tracing::info!("shutting down: committing open fragments");
    status.abort();
    stop.cancel();
    let _ = web.await;
    rec.shutdown().await;
    println!("stopped cleanly");
    Ok(std::process::ExitCode::SUCCESS)
}

type StatusRow = (
    String,
    Arc<vms_ingest::Health>,
    Arc<vms_storage::RecorderStats>,
);

async fn print_status(cams: Vec<StatusRow>, store: Arc<Store>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.tick().await;
    loop {
        tick.tick().await;
        println!(
            "{:<16} {:<11} {:>6} {:>10} {:>9} {:>9} {:>10}",
            "camera", "state", "fps", "frames rec", "segments", "MB", "reconnects"
        );
        for (name, h, s) in &cams {
            let hs = h.snapshot();
            println!(
                "{:<16} {:<11} {:>6.1} {:>10} {:>9} {:>9.1} {:>10}",
                name,
                hs.state.as_str(),
                hs.fps,
                s.frames.load(Ordering::Relaxed),
                s.segments_closed.load(Ordering::Relaxed),
                s.bytes.load(Ordering::Relaxed) as f64 / 1e6,
                hs.reconnects,
            );
        }
        println!(
            "store: {:.1} MB in {}",
            store.total_bytes() as f64 / 1e6,
            store.root().display()
        );
    }
}

async fn demo(
    data_dir: &Path,
    cameras: usize,
    listen: std::net::SocketAddr,
    duration_secs: Option<u64>,
) -> anyhow::Result<std::process::ExitCode> {
    let cameras = cameras.clamp(1, 64);
    let sim = SimServer::start(SimOptions::new(cameras))
        .await
        .context("starting the camera simulator")?;
    println!(
        "simulated cameras: rtsp://{}/cam/0 .. cam/{}",
        sim.local_addr(),
        cameras - 1
    );
    println!(
        "recording into {}",
        std::fs::canonicalize(data_dir)
            .unwrap_or(data_dir.to_path_buf())
            .display()
    );
    std::fs::create_dir_all(data_dir)?;
    let store = open_store(data_dir, SyncPolicy::Always, 2)?;
    let configs = (0..cameras)
        .map(|i| CameraConfig::new(format!("sim-{i}"), sim.url(i)))
        .collect();
    let opts = RecorderOptions {
        segment_target_secs: 60,
        ..RecorderOptions::default()
    };
    let mut rec = Recording::start(store, configs, opts)?;
    rec.start_retention(
        RetentionPolicy {
            default_max_age_secs: 86_400,
            max_age_secs: HashMap::new(),
            quota_bytes: Some(2 << 30),
            low_watermark_bytes: Some(1 << 30),
        },
        Duration::from_secs(60),
    );
    let code = serve_until_signal(rec, listen, duration_secs.map(Duration::from_secs)).await?;
    sim.shutdown().await;
    Ok(code)
}

fn check(dir: &Path, repair: bool) -> anyhow::Result<std::process::ExitCode> {
    if !dir.join("index").exists() {
        anyhow::bail!("{} holds no VMS index", dir.display());
    }
    let store = Store::open(
        dir,
        StoreOptions {
            recover: false,
            writer_threads: 1,
            ..StoreOptions::default()
        },
    )
    .with_context(|| format!("opening store in {} (is vms running?)", dir.display()))?;
    let report = store.check(repair)?;
    println!(
        "checked {} segments, {} fragments, {:.1} MB",
        report.segments,
        report.fragments,
        report.bytes as f64 / 1e6
    );
    for p in &report.problems {
        let tag = if p.repaired {
            "repaired"
        } else if p.note_only {
            "note"
        } else {
            "PROBLEM"
        };
        println!("{tag}: {}", p.what);
    }
    if report.ok() {
        println!("ok");
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        println!("index and segment files disagree; see above");
        Ok(std::process::ExitCode::from(2))
    }
}

async fn sim(
    cameras: usize,
    listen: std::net::SocketAddr,
    clip: Option<&Path>,
) -> anyhow::Result<std::process::ExitCode> {
    let clip = match clip {
        None => Clip::builtin(),
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            Arc::new(
                Clip::from_mp4(&bytes).with_context(|| format!("loading clip {}", p.display()))?,
            )
        }
    };
    let mut opts = SimOptions::new(cameras.max(1));
    opts.bind = listen;
    opts.clip = clip;
    let sim = SimServer::start(opts)
        .await
        .context("starting the camera simulator")?;
    println!(
        "serving {} simulated cameras at rtsp://{}/cam/N",
        cameras.max(1),
        sim.local_addr()
    );
    shutdown_signal().await;
    sim.shutdown().await;
    Ok(std::process::ExitCode::SUCCESS)
}
