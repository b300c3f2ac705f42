//! `vms`: the partner-camera video management system.
//!
//! Subcommands: `run` (the real thing, from a config file), `demo` (records simulated cameras
//! on embedded defaults), `check` (verify the index against segment files), `init`, `user`,
//! `token`, `audit verify`, and `sim` (serve simulated cameras). Business logic lives in the
//! library crates; this file parses arguments and wires things together.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use vms::admin;
use vms::config;
use vms::recording::{Recording, follow_enrollment};

mod onvif_cmd;
use vms_ingest::CameraConfig;
use vms_sim::{Clip, SimOptions, SimServer};
use vms_storage::{
    RecorderOptions, RetentionPolicy, Role, SecretBox, Store, StoreOptions, SyncPolicy,
};

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

/// Where a command finds the store: a data directory or the config that names one.
#[derive(clap::Args, Debug)]
struct StoreArgs {
    #[arg(long, required_unless_present = "config")]
    data_dir: Option<PathBuf>,
    #[arg(long, short)]
    config: Option<PathBuf>,
}

impl StoreArgs {
    /// The data directory and the secret key file.
    fn resolve(&self) -> anyhow::Result<(PathBuf, PathBuf)> {
        match (&self.data_dir, &self.config) {
            (Some(d), _) => Ok((d.clone(), admin::secret_key_path(d, None))),
            (None, Some(c)) => {
                let (cfg, _) = config::Config::load(c)?;
                let key =
                    admin::secret_key_path(&cfg.storage.data_dir, cfg.secret_key_file.as_deref());
                Ok((cfg.storage.data_dir, key))
            }
            (None, None) => anyhow::bail!("give --data-dir or --config"),
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Record the cameras of a config file and enrolled cameras, and serve the web UI and API.
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Record simulated cameras on embedded defaults and serve the web UI.
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
        #[command(flatten)]
        store: StoreArgs,
        /// Fix what can be fixed without inventing data.
        #[arg(long)]
        repair: bool,
    },
    /// Create the first administrator (password read from standard input).
    Init {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, default_value = "admin")]
        admin: String,
    },
    /// Manage user accounts (passwords are read from standard input).
    User {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        action: UserAction,
    },
    /// Create a bearer token for an API client (printed once).
    Token {
        #[command(flatten)]
        store: StoreArgs,
        username: String,
        #[arg(long, default_value = "api")]
        label: String,
    },
    /// Audit log tools.
    Audit {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        action: AuditAction,
    },
    /// ONVIF: find partner cameras and inspect one before enrolling it.
    Onvif {
        #[command(subcommand)]
        command: onvif_cmd::OnvifCommand,
    },
    /// Verify an evidence export package offline: the signature over its manifest, every
    /// file's SHA-256, and that each video's frames match the manifest. Exit 0 only if all pass.
    Verify {
        /// The package directory.
        package: PathBuf,
        /// The agency's public key (64 hex digits) to require; without it, the key shipped in
        /// the package is used and printed for comparison with the published one.
        #[arg(long)]
        key: Option<String>,
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

#[derive(Subcommand, Debug)]
enum UserAction {
    /// Add a user. Its owner enrols their second factor and chooses their own password at
    /// first sign-in.
    Add {
        username: String,
        #[arg(long)]
        role: Role,
        #[arg(long)]
        partner: Option<u64>,
    },
    /// Set a new password (and clear a lockout).
    Passwd { username: String },
    /// Change a user's role.
    Role { username: String, role: Role },
    /// Forget a user's second factor (a lost phone); they enrol a new one at next sign-in.
    ResetTotp { username: String },
    /// Disable (or with --enable, re-enable) a user.
    Disable {
        username: String,
        #[arg(long)]
        enable: bool,
    },
}

#[derive(Subcommand, Debug)]
enum AuditAction {
    /// Verify the hash chain; exits non-zero and names the first bad event if it was altered.
    Verify,
}

fn main() -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
    let ok = std::process::ExitCode::SUCCESS;
    match cli.command {
        Command::Run { config } => run(&config).await,
        Command::Demo {
            data_dir,
            cameras,
            listen,
            duration_secs,
        } => demo(&data_dir, cameras, listen, duration_secs).await,
        Command::Check { store, repair } => check(&store.resolve()?.0, repair),
        Command::Init { store, admin: name } => {
            let (dir, key) = store.resolve()?;
            std::fs::create_dir_all(&dir)?;
            let st = admin::open(&dir)?;
            let secrets = SecretBox::load_or_create(&key)?;
            if st.users()?.iter().any(|u| u.role == Role::Admin) {
                anyhow::bail!("an administrator already exists; use `vms user add`");
            }
            admin::user_add(
                &st,
                &secrets,
                &name,
                Role::Admin,
                None,
                &admin::read_password()?,
            )?;
            println!("administrator {name:?} created");
            // Administrators sign in with a second factor too (issue 22 F5).
            println!("{}", admin::FIRST_SIGN_IN);
            Ok(ok)
        }
        Command::User { store, action } => {
            let (dir, key) = store.resolve()?;
            let st = admin::open(&dir)?;
            let secrets = SecretBox::load_or_create(&key)?;
            match action {
                UserAction::Add {
                    username,
                    role,
                    partner,
                } => {
                    admin::user_add(
                        &st,
                        &secrets,
                        &username,
                        role,
                        partner,
                        &admin::read_password()?,
                    )?;
                    println!("user {username:?} created");
                    println!("{}", admin::FIRST_SIGN_IN);
                }
                UserAction::Passwd { username } => {
                    admin::user_passwd(&st, &username, &admin::read_password()?)?;
                    println!("password changed");
                }
                UserAction::Role { username, role } => {
                    admin::user_role(&st, &username, role)?;
                    println!("role changed");
                }
                UserAction::ResetTotp { username } => {
                    admin::user_reset_second_factor(&st, &username)?;
                    println!(
                        "second factor forgotten; {username:?} enrols a new one at next sign-in"
                    );
                }
                UserAction::Disable { username, enable } => {
                    admin::user_disable(&st, &username, !enable)?;
                    println!("{}", if enable { "enabled" } else { "disabled" });
                }
            }
            Ok(ok)
        }
        Command::Token {
            store,
            username,
            label,
        } => {
            let st = admin::open(&store.resolve()?.0)?;
            println!("{}", admin::token_add(&st, &username, &label)?);
            Ok(ok)
        }
        Command::Audit {
            store,
            action: AuditAction::Verify,
        } => {
            let st = admin::open(&store.resolve()?.0)?;
            let v = st.audit_verify()?;
            match v.first_bad {
                None => {
                    println!("audit chain intact: {} events", v.events);
                    Ok(ok)
                }
                Some((seq, why)) => {
                    println!(
                        "AUDIT CHAIN BROKEN at event {seq}: {why} ({} events verified before it)",
                        v.events
                    );
                    Ok(std::process::ExitCode::from(3))
                }
            }
        }
        Command::Verify { package, key } => {
            let trusted = match key.as_deref() {
                Some(k) => Some(
                    vms_storage::export::parse_public_key(k)
                        .context("--key must be 64 hex digits (an Ed25519 public key)")?,
                ),
                None => None,
            };
            println!("verifying {}", package.display());
            let report = vms_storage::export::verify_package(&package, trusted.as_ref());
            for line in &report.lines {
                println!("{line}");
            }
            if report.ok() {
                println!("PACKAGE VERIFIED");
                Ok(ok)
            } else {
                println!(
                    "PACKAGE FAILED VERIFICATION: {} problem(s)",
                    report.failures
                );
                Ok(std::process::ExitCode::from(3))
            }
        }
        Command::Onvif { command } => onvif_cmd::run(command).await,
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
    let secrets = Arc::new(SecretBox::load_or_create(&admin::secret_key_path(
        &cfg.storage.data_dir,
        cfg.secret_key_file.as_deref(),
    ))?);
    let mut max_age = HashMap::new();
    for c in &cameras {
        // Listed, owned by the agency and played back under the same policy as enrolled
        // cameras (issue 21).
        let row = store.register_config_camera(&c.config.name, &c.location, c.retention_days)?;
        max_age.insert(row.id, i64::from(c.retention_days) * 86_400);
    }
    let policy = RetentionPolicy {
        default_max_age_secs: i64::from(cfg.defaults.retention_days) * 86_400,
        max_age_secs: max_age,
        quota_bytes: cfg.storage.quota.map(|q| q.0),
        low_watermark_bytes: cfg.storage.low_watermark.map(|l| l.0).or(cfg
            .storage
            .quota
            .map(|q| RetentionPolicy::default_low_watermark(q.0))),
    };
    let opts = RecorderOptions {
        segment_target_secs: cfg.storage.segment_secs,
        ..RecorderOptions::default()
    };
    let configs: Vec<CameraConfig> = cameras.into_iter().map(|c| c.config).collect();
    tracing::info!(cameras = configs.len(), data_dir = %cfg.storage.data_dir.display(), "recording");
    let mut rec = Recording::start(store.clone(), configs, opts)?;
    rec.start_retention(
        policy,
        Duration::from_secs(cfg.storage.retention_interval_secs.max(1)),
    );
    let mut settings = cfg.web.settings()?;
    settings.live = cfg.live.settings()?;
    settings.program.submissions = cfg.submissions.limits()?;
    cfg.map.apply(&mut settings)?;
    settings.mail = cfg
        .mail
        .as_ref()
        .map(vms::config::MailConfig::settings)
        .transpose()?;
    settings.submission_requests_per_minute = cfg.submissions.requests_per_source_per_minute;
    settings.public_submissions_per_hour = cfg.submissions.public_submissions_per_source_per_hour;
    settings.requests_per_link_per_minute = cfg.submissions.requests_per_link_per_minute;
    settings.destinations = cfg.partner_network.destinations()?;
    let state = vms_web::AppState::new(store, secrets, settings);
    serve_until_signal(rec, state, cfg.web.listen, None, |_| {}).await
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

/// Serves the web side, follows enrollment changes, waits for a signal (or `limit`), then
/// shuts down in order: web, enrollment follower, cameras (committing their fragments).
async fn serve_until_signal(
    rec: Recording,
    state: vms_web::AppState,
    listen: std::net::SocketAddr,
    limit: Option<Duration>,
    tweak: fn(&mut CameraConfig),
) -> anyhow::Result<std::process::ExitCode> {
    let store = rec.store.clone();
    let rec = Arc::new(tokio::sync::Mutex::new(rec));
    let stop = CancellationToken::new();
    let follower = tokio::spawn(follow_enrollment(
        rec.clone(),
        state.secrets.clone(),
        state.cameras.clone(),
        state.changes.clone(),
        state.settings.destinations.clone(),
        tweak,
        stop.clone(),
    ));
    let stop2 = stop.clone();
    let (addr, web) = vms_web::serve(
        listen,
        state.clone(),
        async move { stop2.cancelled().await },
    )
    .await
    .with_context(|| format!("listening on {listen}"))?;
    tracing::info!(%addr, "web server listening");
    println!("web UI: http://{addr}/");
    let status = tokio::spawn(print_status(state.cameras.clone(), store));
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
    let _ = follower.await;
    match Arc::try_unwrap(rec) {
        Ok(rec) => rec.into_inner().shutdown().await,
        Err(_) => tracing::error!("recording still shared at shutdown"),
    }
    println!("stopped cleanly");
    Ok(std::process::ExitCode::SUCCESS)
}

async fn print_status(cams: Arc<std::sync::RwLock<Vec<vms_web::CameraView>>>, store: Arc<Store>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.tick().await;
    loop {
        tick.tick().await;
        println!(
            "{:<16} {:<11} {:>6} {:>10} {:>9} {:>9} {:>10}",
            "camera", "state", "fps", "frames rec", "segments", "MB", "reconnects"
        );
        let views = cams.read().map(|c| c.clone()).unwrap_or_default();
        for c in &views {
            let hs = c.health.snapshot();
            let s = &c.stats;
            println!(
                "{:<16} {:<11} {:>6.1} {:>10} {:>9} {:>9.1} {:>10}",
                c.name,
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
    std::fs::create_dir_all(data_dir)?;
    println!(
        "recording into {}",
        std::fs::canonicalize(data_dir)
            .unwrap_or(data_dir.to_path_buf())
            .display()
    );
    let store = open_store(data_dir, SyncPolicy::Always, 2)?;
    let secrets = Arc::new(SecretBox::load_or_create(&data_dir.join("secret.key"))?);
    let urls: Vec<url::Url> = (0..cameras).map(|i| sim.url(i)).collect();
    let logins = admin::seed_demo(&store, &secrets, &urls)?;
    println!("demo accounts (staff sign in with a TOTP code from the secret shown):");
    for l in &logins.lines {
        println!("  {l}");
    }
    let opts = RecorderOptions {
        segment_target_secs: 60,
        ..RecorderOptions::default()
    };
    let mut rec = Recording::start(store.clone(), Vec::new(), opts)?;
    rec.start_retention(
        RetentionPolicy {
            default_max_age_secs: 86_400,
            max_age_secs: HashMap::new(),
            quota_bytes: Some(2 << 30),
            low_watermark_bytes: Some(1 << 30),
        },
        Duration::from_secs(60),
    );
    let settings = vms_web::Settings {
        // The demo serves plain HTTP on loopback.
        secure_cookie: false,
        // Its partner cameras are the simulator, on loopback.
        destinations: vms_ingest::destinations::Destinations::loopback_allowed(),
        ..vms_web::Settings::default()
    };
    let state = vms_web::AppState::new(store, secrets, settings);
    let code = serve_until_signal(
        rec,
        state,
        listen,
        duration_secs.map(Duration::from_secs),
        |_| {},
    )
    .await?;
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
