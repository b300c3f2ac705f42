//! The HTTP accept loop: the router on hyper's HTTP/1 connections, with the two limits
//! `axum::serve` does not set (issue 22 F20): a header-read timeout, so a socket that sends no
//! request (or a request line a byte a minute) is closed instead of held forever, and a cap on
//! open connections, so idle sockets cannot exhaust file descriptors and tasks.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;
use tracing::Instrument as _;

/// Limits on the connections one server accepts.
#[derive(Clone, Copy, Debug)]
pub struct ServerLimits {
    /// A client must send a request's complete header within this long of starting it (and an
    /// idle keep-alive connection's next one within this long), or the connection is closed.
    pub header_read_timeout: Duration,
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// The remote address of the HTTP connection a request came in on (the client, or the
/// reverse proxy in front).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// Extracts the client's IP address ([`PeerAddr`] without the port), `None` when the request
/// did not come through [`run`] (a router driven directly, as in tests).
#[derive(Clone, Copy, Debug)]
pub struct PeerIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PeerIp {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(PeerIp(
            parts
                .extensions
                .get::<ConnectInfo<PeerAddr>>()
                .map(|ConnectInfo(p)| p.0.ip()),
        ))
    }
}

impl PeerIp {
    /// The address as text for records ("" when unknown).
    pub fn text(self) -> String {
        self.0.map(|ip| ip.to_string()).unwrap_or_default()
    }
}

/// The local address of the HTTP connection a request came in on (set by [`crate::server::run`]):
/// the address a browser can reach, so the one to offer as the ICE host candidate.
#[derive(Clone, Copy, Debug)]
pub struct LocalAddr(pub SocketAddr);

/// Connections refused because [`ServerLimits::max_connections`] were open.
pub static CONNECTIONS_REFUSED: AtomicU64 = AtomicU64::new(0);

/// Serves `app` on `listener` until `shutdown` is cancelled, then lets the requests in flight
/// finish and returns.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let tasks = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            let n = CONNECTIONS_REFUSED.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(%peer, refused = n, "connection limit reached; closing new connections");
            }
            drop(stream);
            continue;
        };
        let local = stream
            .local_addr()
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
        // The connection's local address is the one to offer live viewers as ICE candidate.
        let svc = app
            .clone()
            .layer(axum::Extension(ConnectInfo(LocalAddr(local))))
            .layer(axum::Extension(ConnectInfo(PeerAddr(peer))))
            .map_request(|req: http::Request<Incoming>| req.map(Body::new));
        let svc = TowerToHyperService::new(svc);
        let shutdown = shutdown.clone();
        tasks.spawn(
            async move {
                let _permit = permit;
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_read_timeout)
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades();
                let mut conn = std::pin::pin!(conn);
                let result = tokio::select! {
                    r = conn.as_mut() => r,
                    () = shutdown.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        conn.await
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            }
            .instrument(tracing::debug_span!("http", %peer)),
        );
    }
    tasks.close();
    tasks.wait().await;
    Ok(())
}

// `Router` is `Service<Request<Body>, Error = Infallible>`; keep that assumption checked.
const _: fn() = || {
    fn infallible<S: tower::Service<axum::extract::Request, Error = Infallible>>() {}
    infallible::<Router>();
};
