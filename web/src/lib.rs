//! The HTTP side of the VMS (axum). For now: a status page, a JSON health API and Prometheus
//! metrics for the recording spine. Authentication, the authorization policy, playback and
//! live view attach here in later work; nothing served yet shows video or partner data.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use vms_ingest::Health;
use vms_storage::{RecorderStats, Store};

/// One camera as the web side sees it.
#[derive(Clone, Debug)]
pub struct CameraView {
    pub name: String,
    pub id: u32,
    pub health: Arc<Health>,
    pub stats: Arc<RecorderStats>,
}

/// Shared state of the web server.
#[derive(Clone, Debug)]
pub struct AppState {
    pub cameras: Arc<Vec<CameraView>>,
    pub store: Arc<Store>,
}

/// Builds the router (a function, so tests drive it without a socket).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn(trace_request))
}

/// A tracing span per request with method, path and outcome.
async fn trace_request(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path());
    let _enter = span.enter();
    let start = std::time::Instant::now();
    drop(_enter);
    let resp = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(
            status = resp.status().as_u16(),
            elapsed_us = start.elapsed().as_micros() as u64,
            "response"
        )
    });
    resp
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({"error": "not found"})),
    )
}

#[derive(Serialize)]
struct CameraHealth {
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
}

#[derive(Serialize)]
struct HealthResponse {
    cameras: Vec<CameraHealth>,
    store_bytes: u64,
}

fn camera_health(c: &CameraView) -> CameraHealth {
    let h = c.health.snapshot();
    let s = &c.stats;
    CameraHealth {
        name: c.name.clone(),
        state: h.state.as_str(),
        codec: h.codec,
        frames_received: h.frames,
        fps: (h.fps * 10.0).round() / 10.0,
        bitrate_bps: h.bitrate_bps.round(),
        last_frame_utc_us: h.last_frame_us,
        reconnects: h.reconnects,
        stalls: h.stalls,
        last_error: h.last_error,
        frames_recorded: s.frames.load(Ordering::Relaxed),
        fragments: s.fragments.load(Ordering::Relaxed),
        bytes_recorded: s.bytes.load(Ordering::Relaxed),
        segments_closed: s.segments_closed.load(Ordering::Relaxed),
        runs: s.runs.load(Ordering::Relaxed),
        timestamp_anomalies: s.timestamp_anomalies.load(Ordering::Relaxed),
        write_errors: s.write_errors.load(Ordering::Relaxed),
        frames_lost: s.frames_lost.load(Ordering::Relaxed),
    }
}

async fn health(State(st): State<AppState>) -> Json<HealthResponse> {
    Json(HealthResponse {
        cameras: st.cameras.iter().map(camera_health).collect(),
        store_bytes: st.store.total_bytes(),
    })
}

/// Prometheus text exposition of the per-camera counters.
async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    type Series = (&'static str, &'static str, fn(&CameraHealth) -> f64);
    let series: [Series; 9] = [
        ("vms_camera_frames_received_total", "counter", |h| {
            h.frames_received as f64
        }),
        ("vms_camera_reconnects_total", "counter", |h| {
            h.reconnects as f64
        }),
        ("vms_camera_stalls_total", "counter", |h| h.stalls as f64),
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
    let cams: Vec<CameraHealth> = st.cameras.iter().map(camera_health).collect();
    for (name, kind, f) in series {
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for c in &cams {
            let _ = writeln!(out, "{name}{{camera=\"{}\"}} {}", c.name, f(c));
        }
    }
    let _ = writeln!(
        out,
        "# TYPE vms_store_bytes gauge\nvms_store_bytes {}",
        st.store.total_bytes()
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

async fn index() -> Html<&'static str> {
    Html(include_str!("../static/index.html"))
}

/// Serves `app` on `addr` until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        axum::serve(listener, app(state))
            .with_graceful_shutdown(shutdown)
            .await
    });
    Ok((local, task))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn state(dir: &std::path::Path) -> AppState {
        let store = Store::open(dir, vms_storage::StoreOptions::default()).unwrap();
        let cam = CameraView {
            name: "front-door".into(),
            id: 1,
            health: Arc::default(),
            stats: Arc::default(),
        };
        cam.stats.frames.store(42, Ordering::Relaxed);
        AppState {
            cameras: Arc::new(vec![cam]),
            store,
        }
    }

    async fn get(app: Router, uri: &str) -> (StatusCode, String) {
        let resp = app
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn health_metrics_and_status_page() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(state(dir.path()));
        let (status, body) = get(app.clone(), "/api/health").await;
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["cameras"][0]["name"], "front-door");
        assert_eq!(v["cameras"][0]["state"], "connecting");
        assert_eq!(v["cameras"][0]["frames_recorded"], 42);
        let (status, body) = get(app.clone(), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains("vms_recorder_frames_total{camera=\"front-door\"} 42"),
            "{body}"
        );
        let (status, body) = get(app.clone(), "/").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("/api/health"));
        let (status, body) = get(app, "/../../etc/passwd").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("not found"));
    }

    #[tokio::test]
    async fn serves_on_a_real_socket() {
        let dir = tempfile::tempdir().unwrap();
        let (addr, task) = serve(
            "127.0.0.1:0".parse().unwrap(),
            state(dir.path()),
            std::future::ready(()),
        )
        .await
        .unwrap();
        assert!(addr.port() > 0);
        task.await.unwrap().unwrap();
    }
}
