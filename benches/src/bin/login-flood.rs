//! `login-flood`: what a burst of unauthenticated sign-ins costs the server (issue 22 F11).
//!
//! ```text
//! cargo run --release -p vms-benches --bin login-flood -- --attempts 150
//! ```
//!
//! Each configuration runs in a fresh child process (this binary with `--child`), so peak RSS
//! (`VmHWM`) and thread counts are its own: a real store and the real HTTP server on loopback,
//! and `--attempts` concurrent `POST /api/login` with wrong passwords for nonexistent accounts
//! (each still costs a full Argon2id check), sent over TCP from the same process. Configurations:
//! the product's admission control (2 checks at once, 32 waiting, per-account and per-source
//! budgets) and, as the baseline, no admission control (every attempt hashed at once on the
//! blocking pool, as before the fix). Prints both and the ratios. Exits 2 if it could not run.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vms_program::login_guard::LoginLimits;
use vms_storage::{SecretBox, Store, StoreOptions};

#[derive(Parser, Debug)]
#[command(
    name = "login-flood",
    about = "Cost of a burst of unauthenticated sign-ins"
)]
struct Cli {
    /// Concurrent sign-in attempts.
    #[arg(long, default_value_t = 150)]
    attempts: usize,
    /// (internal) Run one configuration: `capped` or `uncapped`.
    #[arg(long, hide = true)]
    child: Option<String>,
}

/// What one configuration measured.
#[derive(Debug, Serialize, Deserialize)]
struct Outcome {
    rss_before_mib: f64,
    peak_rss_mib: f64,
    peak_threads: u64,
    wall_ms: f64,
    denied_401: usize,
    busy_503: usize,
    limited_429: usize,
    other: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match &cli.child {
        Some(mode) => child(mode, cli.attempts),
        None => parent(cli.attempts),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("login-flood: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn parent(attempts: usize) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut results = Vec::new();
    for mode in ["uncapped", "capped"] {
        let out = std::process::Command::new(&exe)
            .args(["--child", mode, "--attempts", &attempts.to_string()])
            .output()
            .with_context(|| format!("running the {mode} child"))?;
        if !out.status.success() {
            bail!(
                "{mode} child failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let o: Outcome = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "{mode} child said {:?}",
                String::from_utf8_lossy(&out.stdout)
            )
        })?;
        results.push((mode, o));
    }
    println!("| configuration | RSS before | peak RSS | peak threads | wall | 401 | 503 | 429 |");
    println!("|---|---|---|---|---|---|---|---|");
    for (mode, o) in &results {
        println!(
            "| {} | {:.0} MiB | {:.0} MiB | {} | {:.0} ms | {} | {} | {} |",
            if *mode == "capped" {
                "admission control (default)"
            } else {
                "no admission control (baseline)"
            },
            o.rss_before_mib,
            o.peak_rss_mib,
            o.peak_threads,
            o.wall_ms,
            o.denied_401,
            o.busy_503,
            o.limited_429,
        );
    }
    if let [(_, base), (_, capped)] = &results[..] {
        println!(
            "ratios capped/baseline: peak RSS growth {:.3}, peak threads {:.2}",
            (capped.peak_rss_mib - capped.rss_before_mib)
                / (base.peak_rss_mib - base.rss_before_mib).max(1.0),
            capped.peak_threads as f64 / base.peak_threads.max(1) as f64
        );
    }
    Ok(())
}

fn child(mode: &str, attempts: usize) -> anyhow::Result<()> {
    let limits = match mode {
        "capped" => LoginLimits::default(),
        "uncapped" => LoginLimits {
            max_hashing: 100_000,
            max_waiting: 100_000,
            per_account_per_minute: 0,
            per_source_per_minute: 0,
        },
        m => bail!("unknown mode {m:?}"),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let o = rt.block_on(flood(limits, attempts))?;
    println!("{}", serde_json::to_string(&o)?);
    Ok(())
}

async fn flood(limits: LoginLimits, attempts: usize) -> anyhow::Result<Outcome> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreOptions::default())?;
    let secrets = Arc::new(SecretBox::new(&[9; 32]));
    let settings = vms_web::Settings {
        secure_cookie: false,
        login: limits,
        ..vms_web::Settings::default()
    };
    let state = vms_web::AppState::new(store, secrets, settings);
    let (addr, _server) =
        vms_web::serve("127.0.0.1:0".parse()?, state, std::future::pending()).await?;
    let rss_before = status_field("VmRSS:").unwrap_or(0);

    // Sample threads while the flood runs (VmHWM keeps the RSS peak by itself).
    let done = Arc::new(AtomicBool::new(false));
    let peak_threads = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, peak) = (done.clone(), peak_threads.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Some(t) = status_field("Threads:") {
                    peak.fetch_max(t, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let started = Instant::now();
    let tasks: Vec<_> = (0..attempts)
        .map(|i| tokio::spawn(attempt(addr, format!("nobody{i}"))))
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await??);
    }
    let wall = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let count = |c: u16| statuses.iter().filter(|s| **s == c).count();
    Ok(Outcome {
        rss_before_mib: rss_before as f64 / 1024.0,
        peak_rss_mib: status_field("VmHWM:").unwrap_or(0) as f64 / 1024.0,
        peak_threads: peak_threads.load(Ordering::Relaxed),
        wall_ms: wall.as_secs_f64() * 1000.0,
        denied_401: count(401),
        busy_503: count(503),
        limited_429: count(429),
        other: statuses
            .iter()
            .filter(|s| ![401, 503, 429].contains(*s))
            .count(),
    })
}

/// One sign-in over its own connection; the response's status code.
async fn attempt(addr: std::net::SocketAddr, user: String) -> anyhow::Result<u16> {
    let body = serde_json::json!({"username": user, "password": "guess"}).to_string();
    let req = format!(
        "POST /api/login HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(req.as_bytes()).await?;
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), s.read_to_end(&mut resp)).await??;
    let head = String::from_utf8_lossy(&resp[..resp.len().min(16)]).into_owned();
    head.get(9..12)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no status in {head:?}"))
}

/// A `kB` (or count) field of `/proc/self/status`.
fn status_field(name: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}
