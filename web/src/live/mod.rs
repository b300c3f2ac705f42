//! Live view over WebRTC (WHEP, draft-ietf-wish-whep): `POST` an SDP offer for a camera, get
//! `201 Created` with the SDP answer and a session `Location`; `DELETE` that location to end.
//! The server is an ICE-lite peer with host candidates on the address the client reached it on
//! (plus configured public addresses), so no trickle ICE is needed.
//!
//! Camera access units go to each viewer unchanged (H.264 passthrough). All viewers of a camera
//! share its one RTSP session through [`vms_ingest::LiveFeed`]. Each view is authorized by the
//! policy (cameras shared `live`, staff with a second factor, a reason) and audited.
//! Design record: `docs/design/live-view.md`.

pub mod client;
pub mod h264;
pub mod metrics;
pub mod sessions;
pub mod viewer;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use str0m::change::SdpOffer;
use str0m::media::Mid;
use str0m::{Candidate, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tracing::Instrument;
use vms_ingest::Codec;
use vms_storage::{CameraInfo, NewAuditEvent};

use crate::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::routes::Caller;
use crate::server::LocalAddr;
use crate::state::AppState;
use metrics::CameraLiveMetrics;
use sessions::SessionEntry;
pub use sessions::{IceServer, LiveSessions, LiveSettings};
use viewer::{EndReason, Viewer};
use vms_program::audit::{AuditAction, Outcome};
use vms_program::policy::{Action, Resource, Subject};
use vms_storage::Role;

/// Largest SDP offer accepted (browsers send 3–8 KiB).
const MAX_OFFER: usize = 32 * 1024;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct LiveQuery {
    reason: String,
}

#[derive(Serialize)]
pub(crate) struct LiveConfig {
    ice_servers: Vec<IceServer>,
}

/// `GET /api/live/config`: what a browser needs to open a live view.
pub(crate) async fn config(State(st): State<AppState>) -> impl IntoResponse {
    axum::Json(LiveConfig {
        ice_servers: st.settings.live.ice_servers.clone(),
    })
}

/// `POST /api/cameras/{id}/whep?reason=…` with `Content-Type: application/sdp`.
pub(crate) async fn offer(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u32>,
    ApiQuery(q): ApiQuery<LiveQuery>,
    local: Option<axum::Extension<axum::extract::ConnectInfo<LocalAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (sdp, offer) = parse_offer(&headers, &body)?;
    // Kept to recheck the sign-in while the view runs (the gate let the request in with it).
    let cred = crate::routes::credential(&headers)
        .ok_or_else(|| ApiError::Internal("live offer without a credential".into()))?;
    let (camera, rule, ev) = authorize_view(&st, &s, id, q.reason).await?;
    let feed = servable_feed(&st, id, &sdp)?;
    let live = &st.settings.live;
    let ip = local
        .map(|l| (l.0).0.0.ip().to_canonical())
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let peer = answer_offer(live, ip, offer, &sdp).await?;
    let (sid, stop_rx) = register_view(&st, &s.username, id)?;
    let metrics = st.live.camera_metrics(id);
    metrics.views.fetch_add(1, Ordering::Relaxed);
    metrics.viewers.fetch_add(1, Ordering::Relaxed);
    // Owned by the task: however it ends (even by a panic), its table entry and gauge go.
    let guard = SessionGuard {
        hub: st.live.clone(),
        sid: sid.clone(),
        metrics: metrics.clone(),
    };
    let local_addr = peer.local;
    let v = Viewer {
        on_connect: Some(audit_on_connect(&st, rule, ev)),
        rtc: peer.rtc,
        socket: peer.socket,
        local: local_addr,
        mid: peer.mid,
        pt: peer.pt,
        feed,
        metrics,
        connect_timeout: live.connect_timeout,
        peer_timeout: live.peer_timeout,
        pass_b_frames: live.pass_b_frames,
        connected: false,
    };
    let span = tracing::info_span!("live", camera = %camera.name, session = %&sid[..8], user = %s.username, udp = %local_addr);
    let recheck = revalidate(st.clone(), cred, s, id);
    tokio::spawn(
        async move {
            let _guard = guard;
            let started = Instant::now();
            let why = tokio::select! {
                why = v.run(stop_rx) => why,
                () = recheck => EndReason::Revoked,
            };
            tracing::info!(
                reason = why.as_str(),
                secs = started.elapsed().as_secs(),
                "live view ended"
            );
        }
        .instrument(span),
    );
    let location = format!("/api/live/{sid}");
    Ok((
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/sdp".to_owned()),
            (header::LOCATION, location),
        ],
        peer.answer,
    )
        .into_response())
}

/// The offer's SDP text and its parse: `application/sdp`, at most [`MAX_OFFER`], UTF-8.
fn parse_offer(headers: &HeaderMap, body: &Bytes) -> ApiResult<(String, SdpOffer)> {
    let is_sdp = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/sdp"));
    if !is_sdp {
        return Err(ApiError::UnsupportedMediaType(
            "a WHEP offer is sent as application/sdp".into(),
        ));
    }
    if body.len() > MAX_OFFER {
        return Err(ApiError::TooLarge);
    }
    let sdp = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("SDP offer is not UTF-8".into()))?
        .to_owned();
    let offer = SdpOffer::from_sdp_string(&sdp)
        .map_err(|e| ApiError::BadRequest(format!("malformed SDP offer: {e}")))?;
    Ok((sdp, offer))
}

/// Asks the policy whether `s` may watch camera `id` (a denial is audited), before anything
/// about the camera's stream is revealed. Returns the camera, the deciding rule and the audit
/// event to record once media flows.
async fn authorize_view(
    st: &AppState,
    s: &Subject,
    id: u32,
    reason: String,
) -> ApiResult<(CameraInfo, &'static str, NewAuditEvent)> {
    let subject = s.clone();
    st.blocking(move |st| {
        let c = st.program.camera(id)?;
        let ev = NewAuditEvent {
            actor: subject.username.clone(),
            action: AuditAction::VideoLive.into(),
            camera: Some(id),
            reason: Some(vms_program::text::text("reason", &reason, true)?),
            ..Default::default()
        };
        let rule = st
            .program
            .check(&subject, Action::LiveView, &Resource::Camera(&c), &ev)?;
        Ok((c, rule, ev))
    })
    .await
}

/// Why a camera with B-frames has no live view: Chromium, sent such a stream unchanged,
/// presented one frame in about 30 (measured, `chromium_refuses_nothing_but_shows_why` in
/// `web/tests/live_browser.rs` and `docs/design/live-view.md`).
pub const B_FRAMES_REFUSED: &str = "live view cannot show this camera: it sends B-frames \
     (frames out of presentation order), which browsers' WebRTC players do not present in \
     order; turn B-frames off on the camera's stream (or a sub-stream), or use playback";

/// The camera's live feed, if this offer can be served from it now. Refusals that are not the
/// policy's (camera down, codec, offer, capacity) are not views: they are not audited, so a
/// wall display retrying a dead camera cannot flood the trail.
fn servable_feed(st: &AppState, id: u32, sdp: &str) -> ApiResult<vms_ingest::LiveFeed> {
    let feed = st
        .live_feed(id)
        .ok_or_else(|| ApiError::Unavailable("the camera is not being recorded now".into()))?;
    if feed
        .current_params()
        .is_some_and(|p| p.codec != Codec::H264)
    {
        return Err(ApiError::Unprocessable(
            "live view needs H.264: this camera sends H.265; set its stream (or a sub-stream) \
             to H.264, or use playback"
                .into(),
        ));
    }
    if feed.reorders() && !st.settings.live.pass_b_frames {
        return Err(ApiError::Unprocessable(B_FRAMES_REFUSED.into()));
    }
    if !h264::offer_has_h264_video(sdp) {
        return Err(ApiError::Unprocessable(
            "the offer has no H.264 video; live view sends the camera's H.264 unchanged".into(),
        ));
    }
    let max = st.settings.live.max_viewers;
    if st.live.sessions() >= max {
        return Err(ApiError::Unavailable(format!(
            "{max} live viewers already; try again later"
        )));
    }
    Ok(feed)
}

/// An answered offer: the ICE-lite peer, its socket and the video section it sends on.
struct AnsweredPeer {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    answer: String,
    mid: Mid,
    pt: str0m::format::PayloadParams,
}

/// Binds the view's UDP socket on `ip` and answers the offer as an ICE-lite peer with host
/// candidates there (and on the configured public addresses).
async fn answer_offer(
    live: &LiveSettings,
    ip: IpAddr,
    offer: SdpOffer,
    sdp: &str,
) -> ApiResult<AnsweredPeer> {
    let socket = bind_udp(ip, live.udp_ports).await?;
    let local = socket
        .local_addr()
        .map_err(|e| ApiError::Internal(format!("UDP socket: {e}")))?;
    let mut rtc = Rtc::builder()
        .set_ice_lite(true)
        .clear_codecs()
        .enable_h264(true)
        .set_send_buffer_video(4000)
        .build(Instant::now());
    let public = live
        .public_ips
        .iter()
        .map(|ip| SocketAddr::new(*ip, local.port()));
    for addr in std::iter::once(local).chain(public) {
        let c = Candidate::host(addr, "udp")
            .map_err(|e| ApiError::Internal(format!("ICE candidate {addr}: {e}")))?;
        rtc.add_local_candidate(c);
    }
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| ApiError::Unprocessable(format!("cannot answer the offer: {e}")))?;
    // str0m announces remote media only once connected; the offer names its sections.
    let mids: Vec<Mid> = h264::offer_video_mids(sdp)
        .iter()
        .map(|m| Mid::from(m.as_str()))
        .collect();
    let (mid, pt) = viewer::pick_video(&mut rtc, &mids).ok_or_else(|| {
        ApiError::Unprocessable("the offer has no H.264 video section to receive on".into())
    })?;
    Ok(AnsweredPeer {
        rtc,
        socket,
        local,
        answer: answer.to_sdp_string(),
        mid,
        pt,
    })
}

/// Enters the view in the session table, within the server's and the account's caps (checked
/// under the table's lock, so concurrent offers cannot overshoot). Returns the session id and
/// the receiver that ends the view.
fn register_view(
    st: &AppState,
    owner: &str,
    camera: u32,
) -> ApiResult<(String, oneshot::Receiver<()>)> {
    let live = &st.settings.live;
    let sid = vms_program::auth::random_token();
    let (stop_tx, stop_rx) = oneshot::channel();
    let mut sessions = st
        .live
        .sessions
        .lock()
        .map_err(|_| ApiError::Internal("live session table poisoned".into()))?;
    if sessions.len() >= live.max_viewers {
        return Err(ApiError::Unavailable("too many live viewers".into()));
    }
    let mine = sessions.values().filter(|e| e.owner == owner).count();
    if mine >= live.max_per_user {
        return Err(ApiError::TooManyRequests(format!(
            "you have {mine} live views open; close one first"
        )));
    }
    sessions.insert(
        sid.clone(),
        SessionEntry {
            camera,
            owner: owner.to_owned(),
            stop: Some(stop_tx),
        },
    );
    Ok((sid, stop_rx))
}

/// A view is an access to video once media can flow: audited when ICE and DTLS complete, not
/// at the offer, so offers that never connect neither count in the transparency report nor
/// flood the trail (issue 22 F12). The decision itself was made before the answer.
fn audit_on_connect(st: &AppState, rule: &'static str, ev: NewAuditEvent) -> oneshot::Sender<()> {
    let (on_connect, connected) = oneshot::channel();
    let st = st.clone();
    tokio::spawn(async move {
        if connected.await.is_ok() {
            let r = st
                .blocking(move |st| {
                    Ok(st.program.audit(NewAuditEvent {
                        outcome: Outcome::Allow.into(),
                        rule: rule.into(),
                        ..ev
                    })?)
                })
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "auditing a live view failed");
            }
        }
    });
    on_connect
}

/// `DELETE /api/live/{session}`: ends a view (its owner, or an administrator — audited).
pub(crate) async fn end(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(sid): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let (camera, owner) = {
        let mut sessions = st
            .live
            .sessions
            .lock()
            .map_err(|_| ApiError::Internal("live session table poisoned".into()))?;
        // Someone else's session is "not found": session ids are not to be probed.
        let Some(e) = sessions
            .get_mut(&sid)
            .filter(|e| e.owner == s.username || s.role == Role::Admin)
        else {
            return Err(ApiError::NotFound);
        };
        // The task removes the entry when it has really ended (and its socket is closed).
        if let Some(tx) = e.stop.take() {
            let _ = tx.send(());
        }
        (e.camera, e.owner.clone())
    };
    if owner != s.username {
        st.blocking(move |st| {
            Ok(st.program.audit(NewAuditEvent {
                actor: s.username.clone(),
                action: AuditAction::LiveEnd.into(),
                outcome: Outcome::Allow.into(),
                rule: "admin-ends-view".into(),
                camera: Some(camera),
                reason: Some(format!("ended {owner}'s live view")),
                ..Default::default()
            })?)
        })
        .await?;
    }
    Ok(StatusCode::OK)
}

/// Removes a session from the table and the viewer gauge when its task ends.
struct SessionGuard {
    hub: Arc<LiveSessions>,
    sid: String,
    metrics: Arc<CameraLiveMetrics>,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        if let Ok(mut s) = self.hub.sessions.lock() {
            s.remove(&self.sid);
        }
        self.metrics.viewers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How often a running view is checked against the policy again.
const RECHECK: Duration = Duration::from_secs(5);

/// Resolves when `subject` may no longer watch camera `id` live: the viewer signed out, the
/// token was revoked, the account was disabled or lost the role, or the partner paused the
/// camera, stopped sharing it live or left. A decision taken when the view started must not
/// outlive the sign-in or the consent it rested on (issue 22 F6).
async fn revalidate(
    st: AppState,
    cred: vms_program::auth::Credential,
    subject: vms_program::policy::Subject,
    id: u32,
) {
    loop {
        tokio::time::sleep(RECHECK).await;
        let cred = cred.clone();
        let mfa = subject.mfa;
        let allowed = st
            .blocking(move |st| {
                let Some(now) = vms_program::auth::recheck(&st.store, &cred, mfa)? else {
                    return Ok(false);
                };
                let c = st.store.camera_info(id)?.ok_or(ApiError::NotFound)?;
                Ok(
                    vms_program::policy::authorize(&now, Action::LiveView, &Resource::Camera(&c))
                        .allow,
                )
            })
            .await;
        match allowed {
            Ok(true) => {}
            // A store error is not a reason to cut a view; the next check decides.
            Err(ApiError::Internal(e)) => tracing::warn!(error = %e, "live view recheck failed"),
            Ok(false) | Err(_) => {
                tracing::info!("live view no longer permitted; ending it");
                return;
            }
        }
    }
}

/// Binds the viewer's UDP socket on `ip`, in the configured port range if there is one.
async fn bind_udp(ip: IpAddr, ports: Option<(u16, u16)>) -> ApiResult<UdpSocket> {
    let Some((lo, hi)) = ports else {
        return UdpSocket::bind(SocketAddr::new(ip, 0))
            .await
            .map_err(|e| ApiError::Internal(format!("UDP bind on {ip}: {e}")));
    };
    // Start at a random port so concurrent offers do not all race for the first one.
    let span = u32::from(hi - lo) + 1;
    let first = rand::random::<u32>() % span;
    for i in 0..span {
        let port = lo + ((first + i) % span) as u16;
        if let Ok(s) = UdpSocket::bind(SocketAddr::new(ip, port)).await {
            return Ok(s);
        }
    }
    Err(ApiError::Unavailable(format!(
        "every UDP port in {lo}-{hi} is in use"
    )))
}

/// Appends every camera's live metrics (Prometheus text).
pub(crate) fn write_metrics(st: &AppState, out: &mut String) {
    let names: HashMap<u32, String> = st
        .camera_views()
        .into_iter()
        .map(|v| (v.id, v.name))
        .collect();
    let cams: Vec<(String, Arc<CameraLiveMetrics>)> = st
        .live
        .metrics_snapshot()
        .into_iter()
        .map(|(id, m)| (names.get(&id).cloned().unwrap_or_else(|| id.to_string()), m))
        .collect();
    metrics::write_prometheus(out, &cams);
}
