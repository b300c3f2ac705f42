//! Sweep mode: one full run per camera count, each in a fresh child process of this binary, so
//! every step starts from a clean heap and its idle RSS (and therefore RSS per stream) is not
//! skewed by what earlier steps left in the allocator. Stops at the first failing step unless
//! told to keep going, and rewrites the plot after every step so a long sweep that is
//! interrupted still leaves a picture.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;

use crate::plot;
use crate::report::{RunReport, SweepReport};

#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub steps: Vec<usize>,
    pub keep_going: bool,
    pub plot: PathBuf,
    pub self_exe: PathBuf,
    /// Arguments every step gets (duration, clip, sync, ...); `--cameras N --json` is added.
    pub step_args: Vec<OsString>,
    /// Dashed reference line on the CPU panel.
    pub cpu_target: Option<f64>,
}

fn write_plot(path: &Path, steps: &[RunReport], target: Option<f64>) -> anyhow::Result<()> {
    std::fs::write(path, plot::sweep_svg(steps, target))
        .with_context(|| format!("writing {}", path.display()))
}

pub async fn sweep(o: &SweepOptions) -> anyhow::Result<SweepReport> {
    let mut steps = Vec::new();
    let mut first_failure = None;
    for &n in &o.steps {
        eprintln!("== sweep step: {n} cameras");
        let out = tokio::process::Command::new(&o.self_exe)
            .args(&o.step_args)
            .arg("--cameras")
            .arg(n.to_string())
            .arg("--json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .output()
            .await
            .with_context(|| format!("running step {n}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let report: RunReport = match serde_json::from_str(text.trim()) {
            Ok(r) => r,
            Err(e) => {
                // The step could not run at all (e.g. out of file descriptors): that is
                // where the sweep ends.
                eprintln!("step {n} produced no report ({}): {e}", out.status);
                first_failure.get_or_insert(n);
                break;
            }
        };
        let ok = report.ok;
        steps.push(report);
        write_plot(&o.plot, &steps, o.cpu_target)?;
        if !ok {
            first_failure.get_or_insert(n);
            if !o.keep_going {
                break;
            }
        }
    }
    let plot = (!steps.is_empty()).then(|| o.plot.display().to_string());
    Ok(SweepReport {
        steps,
        first_failure,
        plot,
    })
}
