//! The HTTP side of the VMS (axum): authentication, the single authorization policy, the JSON
//! API, the audit trail of every access, and the web UI. Playback, export and live view attach
//! their routes here behind the same policy.

pub mod api;
pub mod auth;
pub mod error;
pub mod exports;
pub mod live;
pub mod login_guard;
pub mod onvif;
pub mod playback;
pub mod policy;
pub mod routes;
pub mod server;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use vms_ingest::Health;
use vms_storage::{RecorderStats, SecretBox, Store};

use crate::policy::Action;
use crate::routes::{ApiRouter, RouteSpec};

/// One recorded camera as the web side sees it.
#[derive(Clone, Debug)]
pub struct CameraView {
    pub name: String,
    pub id: u32,
    pub health: Arc<Health>,
    pub stats: Arc<RecorderStats>,
    /// The camera's live frames, shared by all its live viewers.
    pub live: vms_ingest::LiveFeed,
}

/// Policy knobs (defaults are the program's; configurable only to be stricter).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Longest footage request, hours.
    pub max_request_hours: u32,
    /// Longest range one timeline/playback call may cover, hours.
    pub max_range_hours: u32,
    /// Require a second factor for every account, not only those that see video.
    pub mfa_for_all: bool,
    /// Mark the session cookie `Secure` (off only for plain-HTTP loopback demos and tests).
    pub secure_cookie: bool,
    /// The program terms version partners accept.
    pub terms_version: String,
    /// The agency's Ed25519 export signing key (32 raw bytes; created on first export if
    /// missing). `None`: `keys/export-ed25519.key` under the data directory.
    pub export_key_file: Option<std::path::PathBuf>,
    /// WebRTC live view.
    pub live: live::LiveSettings,
    /// Header-read timeout and connection cap of the HTTP server.
    pub server: server::ServerLimits,
    /// Where addresses partners (and admins enrolling for them) type may lead: ONVIF probes,
    /// discovery, enrolled cameras' streams (issue 22 F3). Strict by default.
    pub destinations: vms_ingest::destinations::Destinations,
    /// ONVIF probes one account may make per minute.
    pub probes_per_minute: u32,
    /// Sign-in admission: concurrent password checks and attempt rates.
    pub login: login_guard::LoginLimits,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_request_hours: 12,
            max_range_hours: 24,
            mfa_for_all: false,
            secure_cookie: true,
            terms_version: "2026-1".into(),
            export_key_file: None,
            live: live::LiveSettings::default(),
            server: server::ServerLimits::default(),
            destinations: vms_ingest::destinations::Destinations::default(),
            probes_per_minute: 10,
            login: login_guard::LoginLimits::default(),
        }
    }
}

/// Shared state of the web server.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Arc<Store>,
    pub secrets: Arc<SecretBox>,
    /// Cameras being recorded now; the camera manager updates this as partners change terms.
    pub cameras: Arc<RwLock<Vec<CameraView>>>,
    pub settings: Arc<Settings>,
    /// Signalled when enrollment or sharing terms change, so ingest reacts within seconds.
    pub changes: Arc<tokio::sync::Notify>,
    /// Running evidence exports.
    pub exports: Arc<exports::Jobs>,
    /// Live-view sessions and their metrics.
    pub live: Arc<live::Hub>,
    /// Sign-in admission (issue 22 F11).
    pub login_guard: Arc<login_guard::LoginGuard>,
    /// ONVIF probes per account in the current minute.
    pub(crate) probe_budget: Arc<std::sync::Mutex<login_guard::Window<String>>>,
}

impl AppState {
    pub fn new(store: Arc<Store>, secrets: Arc<SecretBox>, settings: Settings) -> Self {
        AppState {
            store,
            secrets,
            cameras: Arc::default(),
            login_guard: Arc::new(login_guard::LoginGuard::new(settings.login)),
            settings: Arc::new(settings),
            changes: Arc::default(),
            exports: Arc::default(),
            live: Arc::default(),
            probe_budget: Arc::default(),
        }
    }

    /// Takes one ONVIF probe from `user`'s budget for this minute; false when it is spent.
    pub(crate) fn take_probe(&self, user: &str) -> bool {
        let minute = self.store.clock().now_utc_micros().div_euclid(60_000_000);
        // 0 allows no probes (a window's 0 would mean no limit).
        self.settings.probes_per_minute > 0
            && self.probe_budget.lock().is_ok_and(|mut budget| {
                budget.take(user.to_owned(), minute, self.settings.probes_per_minute)
            })
    }

    fn camera_views(&self) -> Vec<CameraView> {
        self.cameras.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// One camera's live feed, if it is being recorded (without copying the camera list).
    fn live_feed(&self, id: u32) -> Option<vms_ingest::LiveFeed> {
        self.cameras
            .read()
            .ok()?
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.live.clone())
    }

    /// One camera's health, without copying the whole camera list (called per listed camera).
    fn health_of(&self, id: u32) -> Option<CameraHealth> {
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

/// Largest request body the API accepts.
pub const MAX_BODY: usize = 64 * 1024;

/// Every route with its access rule. The router is built from this and nothing else.
pub fn api_routes(state: AppState) -> ApiRouter {
    use Method as M;
    ApiRouter::new(state)
        .public(M::GET, "/", page_index)
        .public(M::GET, "/app.js", page_js)
        .public(M::POST, "/api/login", api::login)
        .public(M::GET, "/api/transparency", api::transparency)
        .signed_in(M::POST, "/api/logout", api::logout)
        .signed_in(M::GET, "/api/me", api::me)
        .secured(M::GET, "/api/health", Action::ViewHealth, api::health)
        .secured(M::GET, "/metrics", Action::ViewHealth, api::metrics)
        .secured(
            M::GET,
            "/api/cameras",
            Action::ListCameras,
            api::list_cameras,
        )
        .secured(
            M::POST,
            "/api/cameras",
            Action::EnrollCamera,
            api::enroll_camera,
        )
        .secured(
            M::GET,
            "/api/cameras/{id}",
            Action::ReadCamera,
            api::get_camera,
        )
        .secured(
            M::PATCH,
            "/api/cameras/{id}",
            Action::UpdateSharing,
            api::update_camera,
        )
        .secured(
            M::GET,
            "/api/cameras/{id}/recordings",
            Action::Playback,
            api::recordings,
        )
        .secured(
            M::GET,
            "/api/cameras/{id}/video.mp4",
            Action::Playback,
            playback::video,
        )
        .secured(
            M::POST,
            "/api/cameras/{id}/whep",
            Action::LiveView,
            live::offer,
        )
        // Owners and administrators (who may not watch) end views: checked in the handler.
        .signed_in(M::DELETE, "/api/live/{session}", live::end)
        .secured(M::GET, "/api/live/config", Action::LiveView, live::config)
        .secured(
            M::POST,
            "/api/onvif/probe",
            Action::EnrollCamera,
            onvif::probe,
        )
        .secured(
            M::POST,
            "/api/onvif/discover",
            Action::ManagePartners,
            onvif::discover,
        )
        .secured(M::GET, "/api/exports", Action::Export, exports::list)
        .secured(M::POST, "/api/exports", Action::Export, exports::create)
        .secured(M::GET, "/api/exports/{id}", Action::Export, exports::get)
        .secured(
            M::GET,
            "/api/exports/{id}/files/{name}",
            Action::Export,
            exports::file,
        )
        .secured(
            M::GET,
            "/api/partners",
            Action::ManagePartners,
            api::list_partners,
        )
        .secured(
            M::POST,
            "/api/partners",
            Action::ManagePartners,
            api::create_partner,
        )
        .secured(
            M::POST,
            "/api/partner/terms",
            Action::PartnerSelf,
            api::accept_terms,
        )
        .secured(
            M::POST,
            "/api/partner/status",
            Action::PartnerSelf,
            api::set_partner_status,
        )
        .secured(
            M::GET,
            "/api/partner/receipts",
            Action::ReadReceipts,
            api::receipts,
        )
        .secured(
            M::GET,
            "/api/requests",
            Action::ListRequests,
            api::list_requests,
        )
        .secured(
            M::POST,
            "/api/requests",
            Action::FileRequest,
            api::file_request,
        )
        .secured(
            M::POST,
            "/api/requests/{id}/decision",
            Action::DecideRequest,
            api::decide_request,
        )
        .secured(
            M::POST,
            "/api/requests/{id}/exigent",
            Action::GrantExigent,
            api::exigent,
        )
        .secured(M::GET, "/api/holds", Action::PlaceHold, api::list_holds)
        .secured(M::POST, "/api/holds", Action::PlaceHold, api::place_hold)
        .secured(
            M::DELETE,
            "/api/holds/{id}",
            Action::LiftHold,
            api::lift_hold,
        )
        .secured(M::GET, "/api/users", Action::ManageUsers, api::list_users)
        .secured(M::POST, "/api/users", Action::ManageUsers, api::create_user)
        .secured(
            M::PATCH,
            "/api/users/{name}",
            Action::ManageUsers,
            api::update_user,
        )
        .secured(M::GET, "/api/audit", Action::ReadAudit, api::audit_search)
}

/// Builds the application (a function, so tests drive it without a socket).
pub fn app(state: AppState) -> Router {
    app_with_table(state).0
}

/// The application and its route table (for the coverage and OpenAPI tests).
pub fn app_with_table(state: AppState) -> (Router, Vec<RouteSpec>) {
    let (router, table) = api_routes(state.clone()).into_parts();
    let router = router
        .fallback(not_found)
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn(trace_request));
    (router, table)
}

/// A tracing span per request with method, path, user and outcome.
async fn trace_request(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), user = tracing::field::Empty);
    let start = std::time::Instant::now();
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

async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'self'; media-src 'self' blob:; connect-src 'self'; style-src 'self' 'unsafe-inline'"),
    );
    resp
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": "not found"})),
    )
}

async fn page_index() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("../static/index.html"),
    )
}

async fn page_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../static/app.js"),
    )
}

/// Serves `app` on `addr` until `shutdown` resolves, within the settings'
/// [`server::ServerLimits`].
pub async fn serve(
    addr: SocketAddr,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let limits = state.settings.server;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let stop = tokio_util::sync::CancellationToken::new();
    let trigger = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        trigger.cancel();
    });
    let task = tokio::spawn(server::run(listener, app(state), limits, stop));
    Ok((local, task))
}
