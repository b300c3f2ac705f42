//! Working copies: an H.264/AAC MP4 with its index at the front (`faststart`), derived from a
//! submitted file a browser cannot play as it is (Matroska, MPEG-TS, AVI, H.265, raw
//! elementary streams, DVR exports FFmpeg reads). The copy is for viewing; the original stays
//! the evidence and is only read.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// Bounds on one conversion.
#[derive(Clone, Copy, Debug)]
pub struct TranscodeLimits {
    pub wall: Duration,
    /// Address space, bytes.
    pub memory: u64,
    /// CPU time, seconds.
    pub cpu_secs: u64,
}

impl Default for TranscodeLimits {
    /// Two hours of wall and CPU time: an hour of 1080p footage converts in well under that on
    /// two cores at `veryfast`; a file that takes longer is not worth a copy.
    fn default() -> Self {
        TranscodeLimits {
            wall: Duration::from_secs(2 * 3600),
            memory: 4 << 30,
            cpu_secs: 2 * 3600,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error("FFmpeg could not be started: {0}")]
    Spawn(std::io::Error),
    #[error("the conversion took longer than {0:?} and was stopped")]
    Timeout(Duration),
    #[error("FFmpeg could not convert the file: {0}")]
    Failed(String),
}

/// The encoder settings, as recorded with every copy (a copy must say how it was made).
const SETTINGS: &str = "libx264 preset veryfast crf 20 yuv420p, AAC 128 kb/s, MP4 faststart";

/// Makes a working copy of `src` at `dst` (replaced if there) under `limits`, calling
/// `progress` with the media time converted so far, in milliseconds. Returns the tool and
/// settings that made it, for the copy's label.
pub async fn make_working_copy(
    src: &Path,
    dst: &Path,
    limits: TranscodeLimits,
    mut progress: impl FnMut(u64),
) -> Result<String, TranscodeError> {
    match std::fs::remove_file(dst) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(TranscodeError::Spawn(e)),
    }
    let mut cmd = tokio::process::Command::new("prlimit");
    cmd.arg(format!("--as={}", limits.memory))
        .arg(format!("--cpu={}", limits.cpu_secs))
        .args([
            "--",
            "nice",
            "-n",
            "10",
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
        ])
        .args(["-v", "error", "-nostats", "-progress", "pipe:1", "-i"])
        .arg(src)
        // The first video stream and, if there is one, the first audio stream.
        .args(["-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn"])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "20"])
        // 4:2:0 with even sizes: what every browser's H.264 decoder takes.
        .args([
            "-pix_fmt",
            "yuv420p",
            "-vf",
            "scale=trunc(iw/2)*2:trunc(ih/2)*2",
        ])
        .args(["-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart"])
        .args(["-f", "mp4", "-n"])
        .arg(dst)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(TranscodeError::Spawn)?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(TranscodeError::Failed("no pipes to FFmpeg".into()));
    };
    // What FFmpeg says went wrong: the first 4 KiB are plenty, and bounded.
    let errors = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stderr.take(4096).read_to_end(&mut buf).await;
        String::from_utf8_lossy(&buf).trim().to_owned()
    });
    let run = async {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            // `out_time_us` is in microseconds despite FFmpeg also printing `out_time_ms`
            // with the same value.
            if let Some(us) = line
                .strip_prefix("out_time_us=")
                .and_then(|v| v.parse::<u64>().ok())
            {
                progress(us / 1000);
            }
        }
        child.wait().await
    };
    let status = tokio::time::timeout(limits.wall, run)
        .await
        .map_err(|_| TranscodeError::Timeout(limits.wall))?
        .map_err(TranscodeError::Spawn)?;
    if !status.success() {
        let why = errors.await.unwrap_or_default();
        let _ = std::fs::remove_file(dst);
        return Err(TranscodeError::Failed(if why.is_empty() {
            format!("FFmpeg ended with {status}")
        } else {
            why.lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect()
        }));
    }
    Ok(format!("{} ({SETTINGS})", ffmpeg_version().await))
}

/// `FFmpeg <version>` as the installed `ffmpeg` reports it.
async fn ffmpeg_version() -> String {
    let out = tokio::process::Command::new("ffmpeg")
        .arg("-version")
        .stdin(std::process::Stdio::null())
        .output()
        .await;
    let version = out.ok().and_then(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("ffmpeg version "))
            .and_then(|l| l.split_whitespace().next())
            .map(str::to_owned)
    });
    format!(
        "FFmpeg {}",
        version.as_deref().unwrap_or("(version unknown)")
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_clips::ffmpeg;
    use crate::{ProbeLimits, identify};

    /// An H.265 Matroska file and an MPEG-TS one become MP4s a browser plays, with the same
    /// length; the originals are not touched.
    #[tokio::test]
    async fn unplayable_files_get_playable_copies() {
        let dir = tempfile::tempdir().unwrap();
        let mkv = ffmpeg(
            dir.path(),
            "a.mkv",
            &["-c:v", "libx265", "-x265-params", "log-level=error"],
        );
        let ts = ffmpeg(dir.path(), "b.ts", &["-c:v", "mpeg2video"]);
        for src in [mkv, ts] {
            let before = std::fs::read(&src).unwrap();
            let dst = dir.path().join("copy.mp4");
            let mut seen = Vec::new();
            let tool =
                make_working_copy(&src, &dst, TranscodeLimits::default(), |ms| seen.push(ms))
                    .await
                    .unwrap();
            assert!(
                tool.starts_with("FFmpeg ") && tool.contains("libx264"),
                "{tool}"
            );
            assert!(seen.last().is_some_and(|ms| *ms >= 500), "{seen:?}");
            assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
            let i = identify(&dst, ProbeLimits::default()).await.unwrap();
            assert!(i.browser_playable, "{i:?}");
            assert_eq!(i.video_codec.as_deref(), Some("h264"));
            assert!(
                i.duration_ms.is_some_and(|d| (900..=1100).contains(&d)),
                "{i:?}"
            );
            assert_eq!(
                std::fs::read(&src).unwrap(),
                before,
                "the original is only read"
            );
        }
    }

    #[tokio::test]
    async fn what_ffmpeg_cannot_read_is_a_clear_failure_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("x.dav");
        std::fs::write(&junk, b"<html>not video</html>").unwrap();
        let dst = dir.path().join("copy.mp4");
        let e = make_working_copy(&junk, &dst, TranscodeLimits::default(), |_| {})
            .await
            .unwrap_err();
        assert!(matches!(e, TranscodeError::Failed(_)), "{e}");
        assert!(!dst.exists());
    }

    #[tokio::test]
    async fn a_conversion_past_its_time_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let ts = ffmpeg(dir.path(), "b.ts", &["-c:v", "mpeg2video"]);
        let limits = TranscodeLimits {
            wall: Duration::from_millis(1),
            ..TranscodeLimits::default()
        };
        let e = make_working_copy(&ts, &dir.path().join("c.mp4"), limits, |_| {})
            .await
            .unwrap_err();
        assert!(matches!(e, TranscodeError::Timeout(_)), "{e}");
    }
}
