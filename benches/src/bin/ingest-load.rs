//! `ingest-load`: how many partner cameras can one recorder take, and what does each cost?
//!
//! ```text
//! cargo run --release -p vms-benches --bin ingest-load -- --cameras 10 --bitrate 4M --fps 30 --duration 60s --baseline ffmpeg
//! cargo run --release -p vms-benches --bin ingest-load -- --sweep 10,100,300,1000 --bitrate 2M --duration 30s
//! ```
//!
//! Starts N simulated cameras in a child process (this binary as `sim-serve`), records them
//! through the real ingest → storage path into a temporary data directory, optionally next to
//! N ffmpeg recorders, and prints a table (or `--json`). Exits 1 if a frame was lost, an error
//! occurred or a threshold was missed; 2 if the benchmark could not run. See
//! `docs/performance.md`.

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};
use vms_benches::clip::{self, ClipSource, ClipSpec};
use vms_benches::report;
use vms_benches::run::{self, EventCounts, Progress, RunOptions};
use vms_benches::sim_child;
use vms_benches::sweep::{self, SweepOptions};
use vms_benches::units;
use vms_storage::SyncPolicy;

#[derive(Parser, Debug)]
#[command(
    name = "ingest-load",
    version,
    about = "Ingest load benchmark: N simulated cameras through the real recorder, optionally next to ffmpeg",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// (internal) Serve simulated cameras for a parent benchmark; line protocol on stdio.
    #[command(hide = true)]
    SimServe {
        #[arg(long)]
        cameras: usize,
        #[arg(long, default_value = "builtin")]
        clip: String,
    },
}

/// Camera counts of a sweep (a newtype so clap takes `10,100` as one value).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Steps(Vec<usize>);

fn parse_steps(s: &str) -> Result<Steps, String> {
    units::parse_list(s).map(Steps)
}

/// A disk quota; zero would delete every segment as soon as it seals.
fn parse_quota(s: &str) -> Result<u64, String> {
    match vms::config::parse_bytes(s)? {
        0 => Err("a quota of 0 would delete all video; give e.g. 8GiB".to_owned()),
        q => Ok(q),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Baseline {
    Ffmpeg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ProgressArg {
    Auto,
    Tty,
    Lines,
    Off,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Simulated cameras recorded at once.
    #[arg(long, default_value_t = 10)]
    cameras: usize,
    /// Measurement window, e.g. 60s, 10m.
    #[arg(long, default_value = "60s", value_parser = units::parse_duration)]
    duration: Duration,
    /// Warm-up before the window (twice with --baseline: ffmpeg starts first, then the
    /// recorder), so both are measured in steady state and neither's start-up lands on the
    /// other. Lost frames are counted over the whole run.
    #[arg(long, default_value = "5s", value_parser = units::parse_duration)]
    warmup: Duration,
    /// Per-camera video bitrate of the generated clip, e.g. 4M, 2M, 500k.
    #[arg(long, default_value = "4M", value_parser = units::parse_bitrate)]
    bitrate: u64,
    /// Frame rate of the generated clip (one keyframe per second).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=120))]
    fps: u32,
    /// Picture size of the generated clip.
    #[arg(long, default_value = "1920x1080", value_parser = units::parse_size)]
    size: (u16, u16),
    /// Play this H.264 MP4 (keyframe first, no B-frames) or `builtin` (the simulator's 720p
    /// clip) instead of generating one from --bitrate/--fps/--size.
    #[arg(long)]
    clip: Option<String>,
    /// Where generated clips are cached [default: $TMPDIR/vms-bench-clips].
    #[arg(long)]
    clip_cache: Option<PathBuf>,
    /// Also record the same number of streams with one ffmpeg process each, and give ratios.
    #[arg(long, value_enum)]
    baseline: Option<Baseline>,
    /// Sweep mode: run each camera count in turn (fresh process each), stop at the first
    /// failing one, and plot CPU, RSS and p99 latency per stream against N.
    #[arg(long, value_parser = parse_steps)]
    sweep: Option<Steps>,
    /// Keep sweeping after a failing step.
    #[arg(long)]
    keep_going: bool,
    /// Where sweep mode writes its SVG plot.
    #[arg(long, default_value = "ingest-sweep.svg")]
    plot: PathBuf,
    /// Only redraw the plot (to --plot) from a saved sweep JSON (--json / --json-out).
    #[arg(long)]
    replot: Option<PathBuf>,
    /// Print JSON (one object; sweep: {steps, first_failure, plot}) instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the JSON to this file (with the table on stdout).
    #[arg(long)]
    json_out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "auto")]
    progress: ProgressArg,
    /// Storage durability: `always` (fdatasync + synced index commit per fragment, the
    /// production default) or `os`.
    #[arg(long, default_value = "always")]
    sync: SyncPolicy,
    /// Read batching of the camera sessions (see `read_batch_ms` in docs/config.md); 0 reads
    /// every frame as it arrives.
    #[arg(long, default_value = "100ms", value_parser = units::parse_duration)]
    read_batch: Duration,
    /// Disk writer threads (default: the store's default).
    #[arg(long, default_value_t = vms_storage::StoreOptions::default().writer_threads)]
    writer_threads: usize,
    #[arg(long, default_value_t = 60)]
    segment_secs: u32,
    /// Disk quota of the recordings, e.g. 8GiB: every 5 s retention deletes the oldest sealed
    /// segments above it, as `[storage] quota` does in `vms run`. Lets a run go on longer than
    /// the disk holds (and measures deletion with it); pair it with a --segment-secs well under
    /// the run so segments seal.
    #[arg(long, value_parser = parse_quota)]
    quota: Option<u64>,
    /// Parent of the temporary data directory: put it on the disk you want to measure
    /// [default: $TMPDIR].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the temporary data directory (recordings, index, ffmpeg output) for inspection.
    #[arg(long)]
    keep: bool,
    /// How often (on average; jittered ±50 %) recorder counters are polled for latency
    /// samples; send→indexed latency is known to ± half of this.
    #[arg(long, default_value = "20ms", value_parser = units::parse_duration)]
    poll: Duration,
    /// Fail the run if p99 send→indexed latency is above this.
    #[arg(long, default_value = "3s", value_parser = units::parse_duration)]
    max_p99: Duration,
    /// Fail the run if any camera is further behind its schedule than this at the end.
    #[arg(long, default_value = "1s", value_parser = units::parse_duration)]
    max_behind: Duration,
    #[arg(long, default_value = "ffmpeg")]
    ffmpeg: PathBuf,
    #[arg(long, default_value = "ffprobe")]
    ffprobe: PathBuf,
}

/// The CPU target drawn on sweep plots: 0.2 × ffmpeg's ≈ 0.37 CPU-s per stream-minute (#6).
const CPU_TARGET: f64 = 0.2 * 0.37;

fn main() -> ExitCode {
    let counts = EventCounts::default();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("error"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_filter(filter),
        )
        .with(counts.clone().with_filter(LevelFilter::WARN))
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(dispatch(cli, counts)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(cli: Cli, counts: EventCounts) -> anyhow::Result<ExitCode> {
    if let Some(Command::SimServe { cameras, clip }) = cli.command {
        sim_child::serve(cameras.max(1), &ClipSource::parse(&clip)).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let a = cli.bench;
    if let Some(from) = &a.replot {
        let text =
            std::fs::read_to_string(from).with_context(|| format!("reading {}", from.display()))?;
        let sw: report::SweepReport =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", from.display()))?;
        std::fs::write(
            &a.plot,
            vms_benches::plot::sweep_svg(&sw.steps, Some(CPU_TARGET)),
        )
        .with_context(|| format!("writing {}", a.plot.display()))?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.quota.is_some() && Duration::from_secs(a.segment_secs.into()) >= a.warmup + a.duration {
        anyhow::bail!(
            "--quota deletes sealed segments, and {} s segments do not seal in a {:?} run; \
             give a shorter --segment-secs",
            a.segment_secs,
            a.warmup + a.duration
        );
    }
    let self_exe = std::env::current_exe().context("finding this executable")?;
    let tmp = std::env::temp_dir();
    let clip = match &a.clip {
        Some(c) => ClipSource::parse(c),
        None => {
            let spec = ClipSpec {
                width: a.size.0,
                height: a.size.1,
                fps: a.fps,
                bitrate_bps: a.bitrate,
                seconds: 10,
            };
            let cache = a
                .clip_cache
                .clone()
                .unwrap_or_else(|| tmp.join("vms-bench-clips"));
            ClipSource::File(clip::generated(&cache, &spec, &a.ffmpeg)?)
        }
    };
    let progress = match a.progress {
        ProgressArg::Auto if std::io::stderr().is_terminal() => Progress::Tty,
        ProgressArg::Auto | ProgressArg::Lines => Progress::Lines,
        ProgressArg::Tty => Progress::Tty,
        ProgressArg::Off => Progress::Off,
    };
    let work_dir = a.work_dir.clone().unwrap_or(tmp);

    if let Some(Steps(steps)) = &a.sweep {
        let mut step_args: Vec<OsString> = vec![
            "--duration".into(),
            format!("{}ms", a.duration.as_millis()).into(),
            "--warmup".into(),
            format!("{}ms", a.warmup.as_millis()).into(),
            "--clip".into(),
            clip.to_arg(),
            "--sync".into(),
            (if a.sync == SyncPolicy::Always {
                "always"
            } else {
                "os"
            })
            .into(),
            "--read-batch".into(),
            format!("{}ms", a.read_batch.as_millis()).into(),
            "--writer-threads".into(),
            a.writer_threads.to_string().into(),
            "--segment-secs".into(),
            a.segment_secs.to_string().into(),
            "--work-dir".into(),
            work_dir.clone().into_os_string(),
            "--poll".into(),
            format!("{}ms", a.poll.as_millis()).into(),
            "--max-p99".into(),
            format!("{}ms", a.max_p99.as_millis()).into(),
            "--max-behind".into(),
            format!("{}ms", a.max_behind.as_millis()).into(),
            "--ffmpeg".into(),
            a.ffmpeg.clone().into_os_string(),
            "--ffprobe".into(),
            a.ffprobe.clone().into_os_string(),
            "--progress".into(),
            (match progress {
                Progress::Tty => "tty",
                Progress::Lines => "lines",
                Progress::Off => "off",
            })
            .into(),
        ];
        if a.baseline.is_some() {
            step_args.extend(["--baseline".into(), "ffmpeg".into()]);
        }
        if a.keep {
            step_args.push("--keep".into());
        }
        if let Some(q) = a.quota {
            step_args.extend(["--quota".into(), q.to_string().into()]);
        }
        let sw = sweep::sweep(&SweepOptions {
            steps: steps.clone(),
            keep_going: a.keep_going,
            plot: a.plot.clone(),
            self_exe,
            step_args,
            cpu_target: Some(CPU_TARGET),
        })
        .await?;
        write_json_out(a.json_out.as_deref(), &sw)?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&sw)?);
        } else {
            print!("{}", report::render_sweep(&sw));
        }
        return Ok(if sw.first_failure.is_none() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }

    let opts = RunOptions {
        cameras: a.cameras,
        duration: a.duration,
        warmup: a.warmup,
        clip,
        baseline_ffmpeg: a.baseline.is_some(),
        ffmpeg: a.ffmpeg,
        ffprobe: a.ffprobe,
        sync: a.sync,
        writer_threads: a.writer_threads.max(1),
        read_batch: a.read_batch,
        segment_secs: a.segment_secs.max(1),
        quota: a.quota,
        work_dir,
        keep: a.keep,
        poll: a.poll.max(Duration::from_millis(10)),
        progress,
        self_exe,
        max_p99: a.max_p99,
        max_behind: a.max_behind,
    };
    let r = run::run(&opts, &counts).await?;
    write_json_out(a.json_out.as_deref(), &r)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", report::render(&r));
    }
    Ok(if r.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn write_json_out(path: Option<&std::path::Path>, v: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(p) = path {
        std::fs::write(p, serde_json::to_string_pretty(v)? + "\n")
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn cli_parses_every_flag() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "ingest-load",
            "--sweep",
            "10,100",
            "--bitrate",
            "2M",
            "--duration",
            "30s",
            "--baseline",
            "ffmpeg",
            "--sync",
            "os",
            "--size",
            "1280x720",
        ])
        .unwrap();
        let a = cli.bench;
        assert_eq!(a.sweep, Some(Steps(vec![10, 100])));
        assert_eq!(a.bitrate, 2_000_000);
        assert_eq!(a.duration, Duration::from_secs(30));
        assert_eq!(a.baseline, Some(Baseline::Ffmpeg));
        assert_eq!(a.sync, SyncPolicy::Os);
        assert_eq!(a.size, (1280, 720));
        let cli = Cli::try_parse_from(["ingest-load", "sim-serve", "--cameras", "3"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::SimServe { cameras: 3, .. })
        ));
        assert!(Cli::try_parse_from(["ingest-load", "--sweep", "0"]).is_err());
    }
}
