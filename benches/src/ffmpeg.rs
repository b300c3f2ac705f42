//! The baseline: one `ffmpeg -rtsp_transport tcp -i URL -c copy -f segment -segment_time 60`
//! process per camera, the common "just use ffmpeg" recorder, run in the same benchmark so
//! both see the same machine load.
//!
//! CPU (utime+stime) and memory (VmHWM, Pss) are read from `/proc/PID/*` just before the
//! processes are stopped, at the end of the same measurement window as the recorder's.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::process::{Child, Command};

use crate::procfs::{self, Pid};

/// Running ffmpeg recorders.
#[derive(Debug)]
pub struct Fleet {
    procs: Vec<Child>,
    dir: PathBuf,
}

/// CPU and memory of the fleet at one moment.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    pub alive: usize,
    pub cpu_s: f64,
    /// Each process's CPU seconds (`None`: not alive), in start order.
    #[serde(skip)]
    pub cpu_by_process: Vec<Option<f64>>,
    /// Mean over processes of VmHWM (peak resident set, shared libraries included).
    pub hwm_mean_bytes: f64,
    /// Mean over processes of Pss (shared pages divided among the processes sharing them).
    pub pss_mean_bytes: f64,
}

/// How the fleet ended.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stopped {
    /// Exited by themselves (end of stream) or on SIGINT, with status 0 or 255 (ffmpeg's
    /// "interrupted by signal").
    pub clean: usize,
    pub killed: usize,
    pub failed: usize,
}

impl Sample {
    /// CPU seconds used between `start` and `self` by the processes alive at both, and how
    /// many those are (a process that died in between is left out rather than counted as
    /// having given CPU back).
    pub fn cpu_since(&self, start: &Sample) -> (f64, usize) {
        let mut cpu = 0.0;
        let mut n = 0;
        for (end, begin) in self.cpu_by_process.iter().zip(&start.cpu_by_process) {
            if let (Some(end), Some(begin)) = (end, begin) {
                cpu += (end - begin).max(0.0);
                n += 1;
            }
        }
        (cpu, n)
    }
}

impl Fleet {
    /// Starts one ffmpeg per URL, writing `dir/cam{i}_NNN.mp4` and `dir/cam{i}.log`.
    pub fn start(ffmpeg: &Path, urls: &[url::Url], dir: &Path) -> anyhow::Result<Fleet> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut procs = Vec::new();
        for (i, url) in urls.iter().enumerate() {
            let log = std::fs::File::create(dir.join(format!("cam{i}.log")))?;
            let child = Command::new(ffmpeg)
                .args(["-hide_banner", "-nostdin", "-loglevel", "error"])
                .args(["-rtsp_transport", "tcp", "-i", url.as_str()])
                .args(["-c", "copy", "-f", "segment", "-segment_time", "60"])
                .arg(dir.join(format!("cam{i}_%03d.mp4")))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log))
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting {}", ffmpeg.display()))?;
            procs.push(child);
        }
        Ok(Fleet {
            procs,
            dir: dir.to_path_buf(),
        })
    }

    pub fn len(&self) -> usize {
        self.procs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    pub fn sample(&mut self) -> Sample {
        let mut s = Sample::default();
        let (mut hwm, mut pss) = (0u64, 0u64);
        for c in &mut self.procs {
            s.cpu_by_process.push(None);
            if matches!(c.try_wait(), Ok(Some(_))) {
                continue;
            }
            let Some(pid) = c.id() else { continue };
            let pid = Pid::Other(pid);
            let (Ok(cpu), Ok(mem)) = (procfs::cpu_seconds(pid), procfs::mem(pid)) else {
                continue;
            };
            if let Some(last) = s.cpu_by_process.last_mut() {
                *last = Some(cpu);
            }
            s.alive += 1;
            s.cpu_s += cpu;
            hwm += mem.hwm;
            pss += procfs::pss(pid).unwrap_or(0);
        }
        if s.alive > 0 {
            s.hwm_mean_bytes = hwm as f64 / s.alive as f64;
            s.pss_mean_bytes = pss as f64 / s.alive as f64;
        }
        s
    }

    /// SIGINT to all (ffmpeg then finishes its files), up to 15 s to exit, then SIGKILL.
    pub async fn stop(mut self) -> Stopped {
        for c in &self.procs {
            if let Some(pid) = c.id().and_then(|p| i32::try_from(p).ok())
                && let Some(pid) = rustix::process::Pid::from_raw(pid)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
            }
        }
        let mut st = Stopped::default();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        for c in &mut self.procs {
            match tokio::time::timeout_at(deadline, c.wait()).await {
                Ok(Ok(status)) if status.success() || status.code() == Some(255) => st.clean += 1,
                Ok(_) => st.failed += 1,
                Err(_) => {
                    let _ = c.kill().await;
                    st.killed += 1;
                }
            }
        }
        st
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Video packets in the fleet's output files, counted by ffprobe (decoding nothing).
pub fn count_frames(dir: &Path, ffprobe: &Path) -> anyhow::Result<u64> {
    let mut total = 0u64;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
        .collect();
    files.sort();
    for f in files {
        let out = std::process::Command::new(ffprobe)
            .args(["-v", "error", "-select_streams", "v:0", "-count_packets"])
            .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
            .arg(&f)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", ffprobe.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let n: u64 = text
            .trim()
            .trim_end_matches(',')
            .parse()
            .with_context(|| format!("ffprobe on {}: {:?}", f.display(), text.trim()))?;
        total += n;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_cpu_counts_only_processes_alive_throughout() {
        let at = |cpu: &[Option<f64>]| Sample {
            cpu_by_process: cpu.to_vec(),
            ..Sample::default()
        };
        let start = at(&[Some(1.0), Some(2.0), None]);
        // The second died in the window (its 2 s must not be "given back"); the third was
        // not alive at the start.
        let end = at(&[Some(1.5), None, Some(9.0)]);
        assert_eq!(end.cpu_since(&start), (0.5, 1));
    }
}
