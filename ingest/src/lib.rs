//! Camera ingest: one supervised RTSP session per camera (via `retina`), ONVIF, and the
//! per-camera frame fan-out. The camera simulator the demo, tests and benchmarks use is its own
//! crate (`vms-sim`).
//!
//! This crate never touches RocksDB and serves no HTTP (its ONVIF client only speaks to cameras):
//! it turns cameras into [`Frame`]s and [`Health`].

mod batch;
pub mod camera;
pub mod destinations;
mod error;
pub mod live;
pub mod onvif;
pub mod session;
pub mod source;

pub use camera::{
    CameraConfig, Codec, Credentials, Frame, Health, HealthSnapshot, OnvifSource, Secret,
    SessionState, Transport, VideoParams,
};
pub use live::LiveFeed;
pub use session::{CameraHandle, SessionError, spawn_camera, spawn_camera_with};
