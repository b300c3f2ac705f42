//! System health (per camera) and Prometheus metrics.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;

use crate::state::{AppState, CameraView};

impl AppState {
    /// One camera's health, without copying the whole camera list (called per listed camera).
    pub(crate) fn health_of(&self, id: u32) -> Option<CameraHealth> {
        self.cameras
            .read()
            .ok()?
            .iter()
            .find(|c| c.id == id)
            .map(camera_health)
    }
}

#[derive(Serialize, Debug)]
pub struct CameraHealth {
    name: String,
    state: &'static str,
    codec: Option<String>,
    frames_received: u64,
    fps: f64,
    bitrate_bps: f64,
    last_frame_utc_us: Option<i64>,
    reconnects: u64,
    stalls: u64,
    last_error: Option<String>,
    frames_recorded: u64,
    fragments: u64,
    bytes_recorded: u64,
    segments_closed: u64,
    runs: u64,
    timestamp_anomalies: u64,
    write_errors: u64,
    frames_lost: u64,
    /// Camera clock minus server clock (ONVIF cameras), microseconds.
    clock_offset_us: Option<i64>,
    /// Times an ONVIF camera's stream URI was asked of the device.
    onvif_resolves: u64,
    /// Server arrival time minus index time at the last committed fragment, milliseconds
    /// (positive: the camera's clock runs slow and the index is behind).
    drift_ms: f64,
    /// Frames received but not recorded: dropped after timestamp anomalies until the next
    /// keyframe, plus those whose fragment could not be written.
    frames_dropped: u64,
    /// Share of the camera's recent frames dropped (0–1).
    drop_rate: f64,
}

#[derive(Serialize, Debug)]
pub struct HealthResponse {
    cameras: Vec<CameraHealth>,
    store_bytes: u64,
}

/// Recent drop rate from which a streaming camera shows as `degraded`.
const DEGRADED_AT: f64 = 0.05;

fn camera_health(c: &CameraView) -> CameraHealth {
    let h = c.health.snapshot();
    let s = &c.stats;
    let drop_rate = (s.drop_ppm.load(Ordering::Relaxed) as f64 / 1e4).round() / 100.0;
    // A camera whose frames are being dropped is not healthy "streaming" (issue 15: a B-frame
    // camera lost 96 % of its video while showing exactly that).
    let degraded = h.state == vms_ingest::SessionState::Streaming && drop_rate >= DEGRADED_AT;
    CameraHealth {
        name: c.name.clone(),
        state: if degraded {
            "degraded"
        } else {
            h.state.as_str()
        },
        codec: h.codec,
        frames_received: h.frames,
        fps: (h.fps * 10.0).round() / 10.0,
        bitrate_bps: h.bitrate_bps.round(),
        last_frame_utc_us: h.last_frame_us,
        reconnects: h.reconnects,
        stalls: h.stalls,
        frames_recorded: s.frames.load(Ordering::Relaxed),
        fragments: s.fragments.load(Ordering::Relaxed),
        bytes_recorded: s.bytes.load(Ordering::Relaxed),
        segments_closed: s.segments_closed.load(Ordering::Relaxed),
        runs: s.runs.load(Ordering::Relaxed),
        timestamp_anomalies: s.timestamp_anomalies.load(Ordering::Relaxed),
        write_errors: s.write_errors.load(Ordering::Relaxed),
        frames_lost: s.frames_lost.load(Ordering::Relaxed),
        clock_offset_us: h.clock_offset_us,
        onvif_resolves: c.health.onvif_resolves.load(Ordering::Relaxed),
        drift_ms: (s.drift_us.load(Ordering::Relaxed) as f64 / 100.0).round() / 10.0,
        frames_dropped: s.frames_dropped_resync.load(Ordering::Relaxed)
            + s.frames_lost.load(Ordering::Relaxed),
        drop_rate,
        last_error: match h.last_error {
            None if degraded => Some(format!(
                "dropping {:.0} % of frames (timestamps that do not advance or jump)",
                drop_rate * 100.0
            )),
            e => e,
        },
    }
}

pub(crate) async fn health(State(st): State<AppState>) -> Json<HealthResponse> {
    let cams = st.camera_views();
    Json(HealthResponse {
        cameras: cams.iter().map(camera_health).collect(),
        store_bytes: st.store.total_bytes(),
    })
}

/// Prometheus text exposition of the per-camera counters.
pub(crate) async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    use std::fmt::Write as _;
    let mut out = String::new();
    type Series = (&'static str, &'static str, fn(&CameraHealth) -> f64);
    let series: [Series; 11] = [
        ("vms_camera_frames_received_total", "counter", |h| {
            h.frames_received as f64
        }),
        ("vms_camera_reconnects_total", "counter", |h| {
            h.reconnects as f64
        }),
        ("vms_camera_stalls_total", "counter", |h| h.stalls as f64),
        ("vms_recorder_drift_seconds", "gauge", |h| {
            h.drift_ms / 1000.0
        }),
        ("vms_recorder_frames_dropped_total", "counter", |h| {
            h.frames_dropped as f64
        }),
        ("vms_camera_fps", "gauge", |h| h.fps),
        ("vms_camera_bitrate_bps", "gauge", |h| h.bitrate_bps),
        ("vms_recorder_frames_total", "counter", |h| {
            h.frames_recorded as f64
        }),
        ("vms_recorder_bytes_total", "counter", |h| {
            h.bytes_recorded as f64
        }),
        ("vms_recorder_write_errors_total", "counter", |h| {
            h.write_errors as f64
        }),
        ("vms_recorder_timestamp_anomalies_total", "counter", |h| {
            h.timestamp_anomalies as f64
        }),
    ];
    let cams: Vec<CameraHealth> = st.camera_views().iter().map(camera_health).collect();
    for (name, kind, f) in series {
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for c in &cams {
            let camera = crate::live::metrics::escape_label(&c.name);
            let _ = writeln!(out, "{name}{{camera=\"{camera}\"}} {}", f(c));
        }
    }
    crate::live::write_metrics(&st, &mut out);
    let _ = writeln!(
        out,
        "# TYPE vms_store_bytes gauge\nvms_store_bytes {}",
        st.store.total_bytes()
    );
    let _ = writeln!(
        out,
        "# TYPE vms_login_refused_total counter\nvms_login_refused_total {}",
        st.login_guard
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# TYPE vms_http_connections_refused_total counter\nvms_http_connections_refused_total {}",
        crate::server::CONNECTIONS_REFUSED.load(std::sync::atomic::Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# TYPE vms_mail_sent_total counter\nvms_mail_sent_total {}\n# TYPE vms_mail_failed_total counter\nvms_mail_failed_total {}",
        st.mail_stats
            .sent
            .load(std::sync::atomic::Ordering::Relaxed),
        st.mail_stats
            .failed
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
