//! Camera ingest: one supervised RTSP session per camera (via `retina`), the per-camera frame
//! fan-out, and the camera simulator used by the demo, the tests and the load benchmarks.
//!
//! This crate never touches RocksDB and serves no HTTP (its ONVIF client only speaks to cameras):
//! it turns cameras into [`Frame`]s and [`Health`].

mod batch;
pub mod camera;
pub mod destinations;
pub mod live;
pub mod onvif;
pub mod session;
pub mod sim;

pub use camera::{
    CameraConfig, Codec, Credentials, Frame, Health, HealthSnapshot, OnvifSource, Secret,
    SessionState, Transport, VideoParams,
};
pub use live::LiveFeed;
pub use session::{CameraHandle, SessionError, spawn_camera};
