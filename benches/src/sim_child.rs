//! The camera simulator in a child process, so its CPU and memory are not booked to the
//! recorder under test.
//!
//! The child is this same binary (`ingest-load sim-serve`) running the project's simulator
//! ([`vms_sim::SimServer`], the code behind `vms sim`). It is not `vms sim` itself
//! because loss accounting needs the simulator's per-camera "frames sent" counters, which only
//! the library API exposes. Protocol, one line each way over stdin/stdout:
//!
//! * child → `READY {json SimInfo}` once listening;
//! * parent → `stats`, child → `{json SimStats}`;
//! * parent → `stop`: every camera goes offline (open sessions close after the frame in hand,
//!   new ones get 503), the child waits until no session plays, answers with the final
//!   `{json SimStats}` and exits. A closed stdin (parent gone) also stops it, so a killed
//!   benchmark never leaves a simulator running.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use vms_sim::{SimOptions, SimServer};

use crate::clip::ClipSource;

/// What the simulator serves.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SimInfo {
    pub addr: SocketAddr,
    pub cameras: usize,
    pub width: u16,
    pub height: u16,
    pub fps: f64,
    /// Average bitrate of the clip's video payload (what goes on the wire, minus RTP).
    pub bitrate_bps: f64,
}

/// Per-camera counters of the simulator.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SimStats {
    /// Access units fully handed to the kernel.
    pub frames_sent: Vec<u64>,
    pub connections: Vec<u64>,
    pub active_sessions: Vec<u64>,
}

fn snapshot(sim: &SimServer, cameras: usize) -> SimStats {
    let mut s = SimStats::default();
    for i in 0..cameras {
        let c = sim.stats(i);
        s.frames_sent.push(c.frames_sent);
        s.connections.push(c.connections);
        s.active_sessions.push(c.active_sessions);
    }
    s
}

/// The child side: serve `cameras` cameras on an ephemeral loopback port until told to stop.
pub async fn serve(cameras: usize, clip: &ClipSource) -> anyhow::Result<()> {
    let clip = clip.load()?;
    let mut opts = SimOptions::new(cameras);
    opts.clip = clip.clone();
    let sim = SimServer::start(opts)
        .await
        .context("starting the camera simulator")?;
    let frames: u64 = clip.frames().iter().map(|f| f.data.len() as u64).sum();
    let secs = clip.duration_90k() as f64 / 90_000.0;
    let info = SimInfo {
        addr: sim.local_addr(),
        cameras,
        width: clip.width(),
        height: clip.height(),
        fps: clip.fps(),
        bitrate_bps: frames as f64 * 8.0 / secs.max(1e-9),
    };
    let mut out = tokio::io::stdout();
    out.write_all(format!("READY {}\n", serde_json::to_string(&info)?).as_bytes())
        .await?;
    out.flush().await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        match lines.next_line().await? {
            Some(l) if l.trim() == "stats" => {
                let s = serde_json::to_string(&snapshot(&sim, cameras))?;
                out.write_all(format!("{s}\n").as_bytes()).await?;
                out.flush().await?;
            }
            Some(l) if l.trim() == "stop" => break,
            Some(other) => tracing::warn!(command = other, "unknown simulator command"),
            None => break,
        }
    }
    for i in 0..cameras {
        sim.set_online(i, false);
    }
    // Sessions notice at their next frame or write; bounded in case one is wedged.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while snapshot(&sim, cameras)
        .active_sessions
        .iter()
        .any(|&a| a > 0)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let s = serde_json::to_string(&snapshot(&sim, cameras))?;
    out.write_all(format!("{s}\n").as_bytes()).await?;
    out.flush().await?;
    sim.shutdown().await;
    Ok(())
}

/// The parent side: a running simulator child.
#[derive(Debug)]
pub struct SimChild {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    pub info: SimInfo,
}

impl SimChild {
    /// Starts `exe sim-serve` and waits (up to a minute: a large clip takes a while to parse)
    /// until it listens.
    pub async fn spawn(exe: &Path, cameras: usize, clip: &ClipSource) -> anyhow::Result<Self> {
        let mut child = Command::new(exe)
            .arg("sim-serve")
            .arg("--cameras")
            .arg(cameras.to_string())
            .arg("--clip")
            .arg(clip.to_arg())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting simulator {}", exe.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("simulator child has no pipes");
        };
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .context("simulator did not start within 60 s")??
            .context("simulator exited before listening")?;
        let json = first
            .strip_prefix("READY ")
            .with_context(|| format!("unexpected simulator output {first:?}"))?;
        let info: SimInfo = serde_json::from_str(json).context("parsing simulator info")?;
        Ok(SimChild {
            child,
            stdin,
            lines,
            info,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// `rtsp://127.0.0.1:PORT/cam/{i}`.
    pub fn url(&self, i: usize) -> anyhow::Result<url::Url> {
        Ok(url::Url::parse(&format!(
            "rtsp://{}/cam/{i}",
            self.info.addr
        ))?)
    }

    async fn request(&mut self, cmd: &str, timeout: Duration) -> anyhow::Result<SimStats> {
        self.stdin.write_all(format!("{cmd}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        let line = tokio::time::timeout(timeout, self.lines.next_line())
            .await
            .with_context(|| format!("simulator did not answer {cmd:?}"))??
            .context("simulator exited")?;
        serde_json::from_str(&line).with_context(|| format!("parsing simulator reply {line:?}"))
    }

    pub async fn stats(&mut self) -> anyhow::Result<SimStats> {
        self.request("stats", Duration::from_secs(10)).await
    }

    /// Takes every camera offline, returns the final counters and waits for the child to exit.
    pub async fn stop(mut self) -> anyhow::Result<SimStats> {
        let stats = self.request("stop", Duration::from_secs(30)).await?;
        drop(self.stdin);
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(Ok(status)) if status.success() => {}
            Ok(Ok(status)) => tracing::warn!(%status, "simulator exited with failure"),
            Ok(Err(e)) => tracing::warn!(error = %e, "waiting for simulator"),
            Err(_) => {
                tracing::warn!("simulator did not exit; killing it");
                let _ = self.child.kill().await;
            }
        }
        Ok(stats)
    }
}
