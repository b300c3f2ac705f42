//! The HTTP side of the VMS (axum): the JSON API ([`api`], one module per resource), the route
//! gate that authenticates and authorizes every route ([`routes`]), WebRTC live view
//! ([`live`]), the HTTP server ([`server`]) and the web UI. The rules themselves live in
//! `vms_program`; this crate maps them to HTTP ([`error`]) and serves the web app's files
//! ([`ui`]).

pub mod api;
pub mod error;
mod examine;
mod intake;
pub mod live;
pub mod mailer;
mod outbox;
pub mod routes;
pub mod server;
pub mod state;
mod ui;

pub use state::{AppState, CameraView, Settings};

use std::net::SocketAddr;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::routes::RouteSpec;

/// Largest request body the API accepts.
pub const MAX_BODY: usize = 64 * 1024;

/// Builds the application (a function, so tests drive it without a socket).
pub fn app(state: AppState) -> Router {
    app_with_table(state).0
}

/// The application and its route table (for the coverage and OpenAPI tests).
pub fn app_with_table(state: AppState) -> (Router, Vec<RouteSpec>) {
    let state_settings = state.settings.map.clone();
    let (router, table) = api::routes(state.clone()).into_parts();
    let router = router
        .fallback(not_found)
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            content_security_policy(&state_settings),
            security_headers,
        ))
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

/// Everything from this origin only; media also from `blob:` (live view).
const CSP: &str = "default-src 'self'; media-src 'self' blob:; connect-src 'self'; style-src 'self' 'unsafe-inline'";

/// The content security policy: [`CSP`], and the registry map's tiles from the configured
/// tile server.
fn content_security_policy(map: &state::MapSettings) -> header::HeaderValue {
    map.tile_origin()
        .and_then(|o| header::HeaderValue::from_str(&format!("{CSP}; img-src 'self' {o}")).ok())
        .unwrap_or(header::HeaderValue::from_static(CSP))
}

async fn security_headers(
    axum::extract::State(csp): axum::extract::State<header::HeaderValue>,
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
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    resp
}

/// 404: the app (which says there is no such page) to a browser asking for a page, JSON to
/// everyone else and under `/api/`.
async fn not_found(req: axum::extract::Request) -> axum::response::Response {
    let wants_page = !req.uri().path().starts_with("/api/")
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
    if wants_page {
        return (StatusCode::NOT_FOUND, ui::shell().await).into_response();
    }
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": "not found"})),
    )
        .into_response()
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
    tokio::spawn(examine::keep_in_order(state.clone(), stop.clone()));
    tokio::spawn(outbox::run(state.clone(), stop.clone()));
    let task = tokio::spawn(server::run(listener, app(state), limits, stop));
    Ok((local, task))
}
