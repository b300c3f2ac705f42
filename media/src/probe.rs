//! Identification: what a file is, by what `ffprobe` reads in it.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Bounds on one examination.
#[derive(Clone, Copy, Debug)]
pub struct ProbeLimits {
    pub wall: Duration,
    /// Address space, bytes.
    pub memory: u64,
    /// CPU time, seconds.
    pub cpu_secs: u64,
}

impl Default for ProbeLimits {
    fn default() -> Self {
        ProbeLimits {
            wall: Duration::from_secs(60),
            memory: 1 << 30,
            cpu_secs: 30,
        }
    }
}

/// What a file turned out to be.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identified {
    /// ffprobe's format name (`mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`, `mpegts`, …), or
    /// `unknown` when it could not read the file.
    pub format: String,
    /// The first video stream's codec, size, and the duration, when there are.
    pub video_codec: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub audio_codec: Option<String>,
    /// A browser can play (or show) it as it is; otherwise a derived working copy is needed.
    pub browser_playable: bool,
    /// One line for people: what it is, or why it cannot be played here.
    pub summary: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("ffprobe could not be started: {0}")]
    Spawn(std::io::Error),
    #[error("ffprobe took longer than {0:?} and was stopped")]
    Timeout(Duration),
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    format: Option<Format>,
    #[serde(default)]
    streams: Vec<Stream>,
}

#[derive(Deserialize)]
struct Format {
    format_name: Option<String>,
    duration: Option<String>,
}

#[derive(Deserialize)]
struct Stream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
}

/// Identifies `path` with ffprobe under `limits`. A file ffprobe cannot read is not an error:
/// it is identified as `unknown` (kept, hashed, flagged "not playable here").
pub async fn identify(path: &Path, limits: ProbeLimits) -> Result<Identified, ProbeError> {
    let mut cmd = tokio::process::Command::new("prlimit");
    cmd.arg(format!("--as={}", limits.memory))
        .arg(format!("--cpu={}", limits.cpu_secs))
        .args(["--", "nice", "-n", "10", "ffprobe", "-v", "error"])
        .args(["-show_format", "-show_streams", "-of", "json", "--"])
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(ProbeError::Spawn)?;
    let out = tokio::time::timeout(limits.wall, child.wait_with_output())
        .await
        .map_err(|_| ProbeError::Timeout(limits.wall))?
        .map_err(ProbeError::Spawn)?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        tracing::info!(file = %path.display(), error = %why.trim(), "ffprobe could not read a file");
        return Ok(unknown("FFmpeg cannot read it"));
    }
    Ok(from_probe(&out.stdout))
}

fn unknown(why: &str) -> Identified {
    Identified {
        format: "unknown".into(),
        summary: format!("not playable here: {why}; kept exactly as received"),
        ..Identified::default()
    }
}

/// What ffprobe's JSON says about a file.
pub fn from_probe(json: &[u8]) -> Identified {
    let Ok(p) = serde_json::from_slice::<Probe>(json) else {
        return unknown("FFmpeg's answer could not be read");
    };
    let Some(format) = p
        .format
        .and_then(|f| f.format_name.map(|n| (n, f.duration)))
    else {
        return unknown("FFmpeg found no format");
    };
    let (format, duration) = format;
    let video = p
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video"));
    let audio = p
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"));
    let duration_ms = duration
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d >= 0.0)
        .map(|d| (d * 1000.0) as u64);
    let vcodec = video.and_then(|v| v.codec_name.clone());
    let acodec = audio.and_then(|a| a.codec_name.clone());
    let still = matches!(
        format.as_str(),
        "image2" | "png_pipe" | "jpeg_pipe" | "webp_pipe"
    );
    let mp4 = format.split(',').any(|f| f == "mp4" || f == "mov");
    let webm = format.split(',').any(|f| f == "webm");
    let playable = still
        || (mp4
            && matches!(vcodec.as_deref(), Some("h264") | None)
            && matches!(acodec.as_deref(), Some("aac" | "mp3") | None)
            && video.is_some())
        || (webm
            && matches!(vcodec.as_deref(), Some("vp8" | "vp9" | "av1"))
            && matches!(acodec.as_deref(), Some("opus" | "vorbis") | None));
    let size = match video {
        Some(Stream {
            width: Some(w),
            height: Some(h),
            ..
        }) => format!(" {w}×{h}"),
        _ => String::new(),
    };
    let what = if still {
        format!("still image{size}")
    } else if let Some(v) = &vcodec {
        let secs = duration_ms.map(|d| format!(", {:.1} s", d as f64 / 1000.0));
        format!("{v} video{size}{}", secs.unwrap_or_default())
    } else if let Some(a) = &acodec {
        format!("{a} audio only")
    } else {
        "no video or audio stream".into()
    };
    Identified {
        summary: if playable {
            what
        } else {
            format!("{what}; not playable in a browser as it is")
        },
        browser_playable: playable,
        width: video.and_then(|v| v.width),
        height: video.and_then(|v| v.height),
        video_codec: vcodec,
        audio_codec: acodec,
        duration_ms,
        format,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_clips::ffmpeg;

    /// Real files made by FFmpeg, and files that only pretend: identified by content.
    #[tokio::test]
    async fn files_are_identified_by_their_content() {
        let dir = tempfile::tempdir().unwrap();
        let mp4 = ffmpeg(
            dir.path(),
            "a.mp4",
            &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
        );
        let mkv = ffmpeg(
            dir.path(),
            "b.mkv",
            &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
        );
        let ts = ffmpeg(
            dir.path(),
            "c.ts",
            &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
        );
        let limits = ProbeLimits::default();

        let a = identify(&mp4, limits).await.unwrap();
        assert!(a.browser_playable, "{a:?}");
        assert_eq!(a.video_codec.as_deref(), Some("h264"));
        assert_eq!((a.width, a.height), (Some(160), Some(120)));
        assert!(
            a.duration_ms.is_some_and(|d| (900..=1100).contains(&d)),
            "{a:?}"
        );

        for p in [&mkv, &ts] {
            let i = identify(p, limits).await.unwrap();
            assert_eq!(i.video_codec.as_deref(), Some("h264"), "{i:?}");
            assert!(!i.browser_playable, "{i:?}");
            assert!(i.summary.contains("not playable in a browser"), "{i:?}");
        }

        // An MP4 cut off in the middle (an interrupted export): read as far as it goes, or
        // unknown; never an error, never playable as if whole.
        let bytes = std::fs::read(&mp4).unwrap();
        let cut = dir.path().join("cut.mp4");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let i = identify(&cut, limits).await.unwrap();
        assert!(!i.summary.is_empty(), "{i:?}");

        // An HTML page renamed .mp4, and random bytes: unknown, never an error.
        let html = dir.path().join("evil.mp4");
        std::fs::write(&html, "<html><script>alert(1)</script></html>").unwrap();
        let junk = dir.path().join("junk.dav");
        std::fs::write(
            &junk,
            (0..5000u32)
                .map(|i| (i * 31 % 256) as u8)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        for p in [&html, &junk] {
            let i = identify(p, limits).await.unwrap();
            assert!(!i.browser_playable, "{i:?}");
            assert!(
                i.summary.starts_with("not playable here") || i.summary.contains("not playable"),
                "{i:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_probe_past_its_time_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let mp4 = ffmpeg(
            dir.path(),
            "a.mp4",
            &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
        );
        let limits = ProbeLimits {
            wall: Duration::from_millis(1),
            ..ProbeLimits::default()
        };
        assert!(matches!(
            identify(&mp4, limits).await,
            Err(ProbeError::Timeout(_))
        ));
    }

    #[test]
    fn answers_that_say_nothing_are_unknown() {
        for json in [&b"not json"[..], b"{}", b"{\"format\": {}}"] {
            assert_eq!(from_probe(json).format, "unknown");
        }
    }
}
