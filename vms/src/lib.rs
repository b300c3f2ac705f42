//! Library side of the `vms` binary: config parsing and the wiring of the recording spine, so
//! that integration tests drive exactly what the binary runs.

pub mod admin;
pub mod config;
pub mod recording;
