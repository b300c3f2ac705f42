//! `upload-load`: what taking a large submitted file costs (issue 17), against copying it.
//!
//! ```text
//! cargo run --release -p vms-benches --bin upload-load -- --size 1GiB --work-dir /var/tmp
//! ```
//!
//! In one run, on the same disk (`--work-dir`), `--runs` times each, alternating: the baseline
//! `cp` of a file followed by `sync` of the copy, then the same file uploaded over loopback through the product's tus endpoint (the real store,
//! router and HTTP server: a submission link with its statement, `POST /api/uploads`, then the
//! bytes in PATCHes of `--patch` each, streamed from the file) — with the intake SHA-256, an
//! `fsync` per acknowledged PATCH, and the read-only original placed on completion. Prints both
//! throughputs, their ratio, and the server's RSS before and at its peak while the bytes arrive
//! (sampled every 20 ms; the client streams from the file a few 1 MiB buffers ahead). The stored
//! hash is checked against the source's. Exits 1 if the hash differs, 2 if it could not run.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use sha2::Digest as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use vms_benches::units::parse_bytes;
use vms_storage::intake::LinkRow;
use vms_storage::{SecretBox, Store, StoreOptions};

#[derive(Parser, Debug)]
#[command(
    name = "upload-load",
    about = "A large tus upload against cp + sync of the same file"
)]
struct Cli {
    /// File size (e.g. 1GiB, 64MiB).
    #[arg(long, default_value = "1GiB", value_parser = parse_bytes)]
    size: u64,
    /// Bytes per PATCH request (tus clients send a file in one or in chunks).
    #[arg(long, default_value = "256MiB", value_parser = parse_bytes)]
    patch: u64,
    /// Directory on the disk under test (default: the temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Runs of each path, alternating; the medians are reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("upload-load: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(&cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("upload-load: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: &Cli) -> anyhow::Result<bool> {
    if cli.size == 0 || cli.patch == 0 || cli.runs == 0 {
        bail!("--size, --patch and --runs must be more than 0");
    }
    let base = cli.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(&base).with_context(|| format!("{}", base.display()))?;
    let src = dir.path().join("source.bin");
    let want = write_source(&src, cli.size)?;

    // The product: a store on the same disk, the real server on loopback.
    let store = Store::open(&dir.path().join("data"), StoreOptions::default())?;
    let state = vms_web::AppState::new(
        store.clone(),
        Arc::new(SecretBox::new(&[9; 32])),
        vms_web::Settings {
            secure_cookie: false,
            ..vms_web::Settings::default()
        },
    );
    let token = vms_program::auth::random_token();
    let now = store.clock().now_utc_micros();
    let link = store.create_link(LinkRow {
        id: 0,
        token_hash: vms_program::auth::token_hash(&token),
        case_number: "bench".into(),
        request_id: None,
        recipient: "bench".into(),
        created_by: "bench".into(),
        created_us: now,
        expires_us: now + 3_600_000_000,
        revoked_us: None,
        statement: None,
    })?;
    state.program.make_statement(
        &link,
        vms_program::submissions::NewStatement {
            camera_location: "bench".into(),
            shows: "bench".into(),
            recorded_when: "now".into(),
            attest: true,
            ..Default::default()
        },
    )?;
    let (addr, _server) =
        vms_web::serve("127.0.0.1:0".parse()?, state, std::future::pending()).await?;

    let rss_before = status_field("VmRSS:").unwrap_or(0);
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(rss_before));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Some(r) = status_field("VmRSS:") {
                    peak.fetch_max(r, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let (mut cp_runs, mut tus_runs, mut hash_ok) = (Vec::new(), Vec::new(), true);
    for run in 0..cli.runs {
        // Baseline: cp, then sync of the copy (its bytes made durable on the same disk, as
        // the upload's are), not a system-wide sync that would also flush others' writes.
        let copy = dir.path().join("copy.bin");
        let t = Instant::now();
        let ok = std::process::Command::new("cp")
            .arg(&src)
            .arg(&copy)
            .status()?
            .success()
            && std::process::Command::new("sync")
                .arg(&copy)
                .status()?
                .success();
        if !ok {
            bail!("cp + sync failed (run {run})");
        }
        cp_runs.push(t.elapsed().as_secs_f64());
        std::fs::remove_file(&copy)?;

        let t = Instant::now();
        let id = upload(addr, &token, &src, cli.size, cli.patch).await?;
        tus_runs.push(t.elapsed().as_secs_f64());
        let got = store
            .upload(id)?
            .and_then(|u| u.received)
            .context("the upload was not received")?;
        hash_ok &= got.sha256 == want;
    }
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let (cp_secs, tus_secs) = (median(&mut cp_runs), median(&mut tus_runs));
    let mib = cli.size as f64 / MIB;
    println!("| path ({} runs, median) | time | throughput |", cli.runs);
    println!("|---|---|---|");
    println!(
        "| cp + sync (baseline) | {cp_secs:.2} s | {:.0} MiB/s |",
        mib / cp_secs
    );
    println!(
        "| tus upload over loopback, SHA-256, fsync per PATCH | {tus_secs:.2} s | {:.0} MiB/s |",
        mib / tus_secs
    );
    println!(
        "ratio tus/baseline throughput: {:.2}; server RSS {:.0} MiB before, {:.0} MiB at peak \
         (growth {:.0} MiB for a {:.0} MiB file); stored SHA-256 {}",
        cp_secs / tus_secs,
        rss_before as f64 / MIB,
        peak.load(Ordering::Relaxed) as f64 / MIB,
        (peak.load(Ordering::Relaxed).saturating_sub(rss_before)) as f64 / MIB,
        mib,
        if hash_ok {
            "matches the source"
        } else {
            "DIFFERS from the source"
        }
    );
    Ok(hash_ok)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Writes `size` pseudo-random bytes (incompressible, so no layer can shortcut them), synced;
/// returns their SHA-256.
fn write_source(path: &Path, size: u64) -> anyhow::Result<[u8; 32]> {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut h = sha2::Sha256::new();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for w in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n])?;
        h.update(&buf[..n]);
        left -= n as u64;
    }
    f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(h.finalize().into())
}

/// Creates the upload and sends the file in PATCHes of `patch` bytes over one keep-alive
/// connection; returns the upload's id.
async fn upload(
    addr: std::net::SocketAddr,
    token: &str,
    src: &Path,
    size: u64,
    patch: u64,
) -> anyhow::Result<u64> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let head = format!(
        "POST /api/uploads HTTP/1.1\r\nHost: bench\r\nTus-Resumable: 1.0.0\r\n\
         Submission-Token: {token}\r\nUpload-Length: {size}\r\n\
         Upload-Metadata: filename YmVuY2guYmlu\r\nContent-Length: 0\r\n\r\n"
    );
    w.write_all(head.as_bytes()).await?;
    let (status, headers) = response(&mut r).await?;
    if status != 201 {
        bail!("POST /api/uploads: {status}");
    }
    let at = headers
        .iter()
        .find(|(k, _)| k == "location")
        .map(|(_, v)| v.clone())
        .context("no Location")?;
    let id: u64 = at.rsplit('/').next().unwrap_or_default().parse()?;
    // The file is read on a thread of its own, 1 MiB at a time, a few buffers ahead.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    let path = src.to_path_buf();
    std::thread::spawn(move || {
        use std::io::Read as _;
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => return drop(tx.blocking_send(Err(e))),
        };
        loop {
            let mut buf = vec![0u8; 1 << 20];
            match f.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.blocking_send(Ok(buf)).is_err() {
                        return;
                    }
                }
                Err(e) => return drop(tx.blocking_send(Err(e))),
            }
        }
    });
    let mut pending: Vec<u8> = Vec::new();
    let mut offset = 0u64;
    while offset < size {
        let len = patch.min(size - offset);
        let head = format!(
            "PATCH {at} HTTP/1.1\r\nHost: bench\r\nTus-Resumable: 1.0.0\r\n\
             Submission-Token: {token}\r\nUpload-Offset: {offset}\r\n\
             Content-Type: application/offset+octet-stream\r\nContent-Length: {len}\r\n\r\n"
        );
        w.write_all(head.as_bytes()).await?;
        let mut left = len;
        while left > 0 {
            if pending.is_empty() {
                pending = rx.recv().await.context("the source ended early")??;
            }
            let n = left.min(pending.len() as u64) as usize;
            w.write_all(&pending[..n]).await?;
            pending.drain(..n);
            left -= n as u64;
        }
        let (status, _) = response(&mut r).await?;
        if status != 204 {
            bail!("PATCH at {offset}: {status}");
        }
        offset += len;
    }
    Ok(id)
}

/// Reads one HTTP/1.1 response: its status and headers (lower-case names); skips its body.
async fn response<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
) -> anyhow::Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    r.read_line(&mut line).await?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .context("no status line")?
        .parse()?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).await?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).await?;
    Ok((status, headers))
}

const MIB: f64 = 1024.0 * 1024.0;

/// A `/proc/self/status` field in bytes.
fn status_field(name: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    vms_benches::procfs::kib_field(&s, name)
}
