//! Media files examined and converted with real media tools, never a hand-written parser for
//! every format. Submitted files are identified by their content, never by their name or
//! declared type ([`identify`], FFmpeg's `ffprobe`), and a file a browser cannot play gets a
//! derived H.264 working copy ([`make_working_copy`], FFmpeg with x264). Each tool runs as a
//! child process under limits — a wall-clock timeout, an address-space and a CPU-time limit
//! (`prlimit`), a lower priority (`nice`) — and is killed past them. Nothing submitted is
//! executed: the tools only read the file. ZIP archives are listed and extracted within bounds
//! ([`archive`]).

pub mod archive;
mod probe;
mod working_copy;

pub use probe::{Identified, ProbeError, ProbeLimits, from_probe, identify};
pub use working_copy::{TranscodeError, TranscodeLimits, make_working_copy};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod test_clips {
    use std::path::Path;

    /// A one-second test picture made by FFmpeg with `args` (codec, container options).
    pub fn ffmpeg(dir: &Path, name: &str, args: &[&str]) -> std::path::PathBuf {
        let path = dir.join(name);
        let ok = std::process::Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=160x120:rate=10:duration=1",
            ])
            .args(args)
            .arg("-y")
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success());
        path
    }
}
