//! Helpers shared by the integration tests: ffprobe, polling with a deadline, free ports.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// What ffprobe says about a file's video stream.
#[derive(Debug)]
pub struct Probe {
    pub codec: String,
    pub frames: u64,
    /// Sum of packet durations, seconds.
    pub duration: f64,
    pub first_pts: f64,
}

/// Runs ffprobe on `path`, counting frames by decoding and summing packet durations. Panics
/// (failing the test) with ffprobe's own message if the file does not parse.
pub fn ffprobe(path: &Path) -> Probe {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=codec_name,nb_read_frames"])
        .args(["-show_entries", "packet=pts_time,duration_time"])
        .args(["-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe runs (apt-get install ffmpeg)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["streams"][0];
    let packets = v["packets"].as_array().cloned().unwrap_or_default();
    let f = |p: &serde_json::Value, k: &str| {
        p[k].as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Probe {
        codec: s["codec_name"].as_str().unwrap_or_default().to_owned(),
        frames: s["nb_read_frames"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        duration: packets.iter().map(|p| f(p, "duration_time")).sum(),
        first_pts: packets.first().map(|p| f(p, "pts_time")).unwrap_or(0.0),
    }
}

/// Polls `cond` every 50 ms until it holds or `limit` passes.
pub async fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
