//! The ingest load benchmark behind the `ingest-load` binary (criterion benches live in
//! `benches/`).
//!
//! Ops must be able to answer "how many partner cameras can one recorder take, and what does
//! each cost?" with one command. This crate runs N simulated cameras (the project's simulator,
//! in a child process so its CPU is not booked to the recorder) through the real ingest →
//! storage path in this process, optionally side by side with N `ffmpeg -c copy` recorders,
//! and reports CPU, memory, loss and latency; sweep mode repeats that for growing N and plots
//! the curves. See `docs/performance.md` for the method and the figures.
//!
//! The measuring and reporting parts are pure (`procfs` parsers, `latency`, `report`, `plot`)
//! and unit-tested; `run` is the one driver that starts processes and sockets.

pub mod clip;
pub mod ffmpeg;
pub mod latency;
pub mod plot;
pub mod procfs;
pub mod report;
pub mod run;
pub mod sim_child;
pub mod sweep;
pub mod units;
