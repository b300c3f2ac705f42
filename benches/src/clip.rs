//! The clip the simulated cameras play: the simulator's built-in 720p clip, a given file, or a
//! 1080p-style test clip generated once with ffmpeg for a requested bitrate and frame rate and
//! cached (never committed: megabytes of video do not belong in git).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use vms_sim::Clip;

/// Where the clip comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClipSource {
    /// The simulator's committed 10 s 1280x720 30 fps clip.
    Builtin,
    File(PathBuf),
}

impl ClipSource {
    /// The spelling the `--clip` flag takes (`builtin` or a path).
    pub fn parse(s: &str) -> ClipSource {
        if s == "builtin" {
            ClipSource::Builtin
        } else {
            ClipSource::File(PathBuf::from(s))
        }
    }

    pub fn to_arg(&self) -> OsString {
        match self {
            ClipSource::Builtin => OsString::from("builtin"),
            ClipSource::File(p) => p.clone().into_os_string(),
        }
    }

    pub fn label(&self) -> String {
        match self {
            ClipSource::Builtin => "builtin".to_owned(),
            ClipSource::File(p) => p.display().to_string(),
        }
    }

    pub fn load(&self) -> anyhow::Result<Arc<Clip>> {
        match self {
            ClipSource::Builtin => Ok(Clip::builtin()),
            ClipSource::File(p) => {
                let bytes =
                    std::fs::read(p).with_context(|| format!("reading clip {}", p.display()))?;
                Ok(Arc::new(Clip::from_mp4(&bytes).with_context(|| {
                    format!("loading clip {}", p.display())
                })?))
            }
        }
    }
}

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClipSpec {
    pub width: u16,
    pub height: u16,
    pub fps: u32,
    pub bitrate_bps: u64,
    pub seconds: u32,
}

impl ClipSpec {
    pub fn file_name(&self) -> String {
        format!(
            "testsrc2-{}x{}-{}fps-{}-{}s.mp4",
            self.width,
            self.height,
            self.fps,
            crate::units::format_bitrate(self.bitrate_bps),
            self.seconds
        )
    }

    /// The ffmpeg arguments: x264 Main profile, one keyframe per second, no B-frames (as
    /// partner cameras are configured), constant-ish bitrate.
    pub fn ffmpeg_args(&self, out: &Path) -> Vec<OsString> {
        let b = self.bitrate_bps;
        let mut a: Vec<OsString> = [
            "-hide_banner".to_owned(),
            "-loglevel".into(),
            "error".into(),
            "-nostdin".into(),
            "-y".into(),
            "-f".into(),
            "lavfi".into(),
            "-i".into(),
            format!(
                "testsrc2=size={}x{}:rate={}",
                self.width, self.height, self.fps
            ),
            "-t".into(),
            self.seconds.to_string(),
            "-an".into(),
            "-c:v".into(),
            "libx264".into(),
            "-profile:v".into(),
            "main".into(),
            "-x264-params".into(),
            format!("keyint={0}:min-keyint={0}:scenecut=0:bframes=0", self.fps),
            "-b:v".into(),
            b.to_string(),
            "-maxrate".into(),
            b.to_string(),
            "-bufsize".into(),
            (2 * b).to_string(),
            "-pix_fmt".into(),
            "yuv420p".into(),
            "-f".into(),
            "mp4".into(),
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        a.push(out.as_os_str().to_owned());
        a
    }
}

/// Returns the cached clip for `spec` under `cache_dir`, generating it with `ffmpeg` first if
/// needed (about 10–20 s of CPU for 10 s of 1080p).
pub fn generated(cache_dir: &Path, spec: &ClipSpec, ffmpeg: &Path) -> anyhow::Result<PathBuf> {
    let path = cache_dir.join(spec.file_name());
    if path.exists() {
        return Ok(path);
    }
    std::fs::create_dir_all(cache_dir)
        .with_context(|| format!("creating {}", cache_dir.display()))?;
    let tmp = cache_dir.join(format!("{}.{}.tmp", spec.file_name(), std::process::id()));
    tracing::info!(clip = %path.display(), "generating test clip with ffmpeg");
    eprintln!("generating {} with ffmpeg (once; cached)", path.display());
    let status = std::process::Command::new(ffmpeg)
        .args(spec.ffmpeg_args(&tmp))
        .stdin(std::process::Stdio::null())
        .status()
        .with_context(|| format!("running {}", ffmpeg.display()))?;
    if !status.success() {
        let _ = std::fs::remove_file(&tmp);
        anyhow::bail!("ffmpeg failed to generate the clip ({status})");
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_names_and_args() {
        let s = ClipSpec {
            width: 1920,
            height: 1080,
            fps: 30,
            bitrate_bps: 4_000_000,
            seconds: 10,
        };
        assert_eq!(s.file_name(), "testsrc2-1920x1080-30fps-4M-10s.mp4");
        let args: Vec<String> = s
            .ffmpeg_args(Path::new("/x/out.mp4"))
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("keyint=30:min-keyint=30:scenecut=0:bframes=0"));
        assert!(joined.contains("-b:v 4000000 -maxrate 4000000 -bufsize 8000000"));
        assert!(joined.ends_with("/x/out.mp4"));
        assert_eq!(ClipSource::parse("builtin"), ClipSource::Builtin);
        assert_eq!(
            ClipSource::parse("a.mp4"),
            ClipSource::File(PathBuf::from("a.mp4"))
        );
    }
}
