//! ONVIF over the API, the same as `vms onvif probe|discover`: probe a device before enrolling
//! it (the walk enrollment makes), and find devices by WS-Discovery on a named interface or by
//! a unicast probe.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use vms_ingest::onvif::{self, ClientOptions};
use vms_ingest::{Credentials, Secret};
use vms_storage::NewAuditEvent;

use crate::state::AppState;
use vms_program::audit::{AuditAction, Outcome};

use crate::error::{ApiError, ApiJson, ApiResult};
use crate::routes::Caller;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProbeBody {
    /// Host, host:port or the device-service URL.
    address: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct ProfileOut {
    token: String,
    name: Option<String>,
    encoding: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    fps: Option<f64>,
    bitrate_kbps: Option<u32>,
    /// `main` (recorded), `sub` (live grid) or null.
    chosen: Option<&'static str>,
}

#[derive(Serialize)]
pub(crate) struct ProbeOut {
    device_url: String,
    manufacturer: Option<String>,
    model: Option<String>,
    firmware_version: Option<String>,
    serial_number: Option<String>,
    /// Camera clock minus server clock, and the bound on its error.
    clock_offset_ms: i64,
    clock_uncertainty_ms: i64,
    media_version: String,
    profiles: Vec<ProfileOut>,
    main_stream: String,
    sub_stream: Option<String>,
    snapshot_uri: Option<String>,
    /// Quirks met and repairs made.
    notes: Vec<String>,
}

/// `POST /api/onvif/probe`: asks the device who it is, its clock, its profiles and which
/// streams enrollment would record. The password is used for this exchange only.
pub(crate) async fn probe(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<ProbeBody>,
) -> ApiResult<Json<ProbeOut>> {
    let address = b.address.trim().to_owned();
    if address.is_empty() || address.len() > 500 {
        return Err(ApiError::BadRequest("address is required".into()));
    }
    let credentials = match (b.username, b.password) {
        (Some(username), Some(p)) => Some(Credentials {
            username,
            password: Secret::new(p),
        }),
        (None, None) => None,
        _ => {
            return Err(ApiError::BadRequest(
                "give both username and password, or neither".into(),
            ));
        }
    };
    if !st.take_probe(&s.username) {
        return Err(ApiError::TooManyRequests(
            "too many probes; try again in a minute".into(),
        ));
    }
    let opts = ClientOptions {
        timeout: Duration::from_secs(10),
        destinations: st.settings.destinations.clone(),
        ..ClientOptions::default()
    };
    // The client refuses refused destinations itself, before connecting (on redirects too).
    let result = onvif::enroll(&address, credentials, &opts).await;
    // The stream the device names is where recording would connect: the same rules apply.
    let result = match result {
        Ok(e) if !stream_allowed(&st, &e.main.uri).await => Err(onvif::OnvifError::Refused),
        r => r,
    };
    let outcome = if result.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Fail
    };
    let audit = NewAuditEvent {
        actor: s.username.clone(),
        action: AuditAction::OnvifProbe.into(),
        outcome: outcome.into(),
        detail: address.clone(),
        ..Default::default()
    };
    st.blocking(move |st| Ok(st.program.audit(audit)?)).await?;
    // One answer for every other failure: the caller must not learn what else listens at an
    // address (a port scan), nor read a foreign service's reply (issue 22 F3).
    let e = result.map_err(|e| {
        tracing::info!(error = %e, "ONVIF probe failed");
        if e.is_not_authorized() {
            ApiError::BadRequest("the device refused the credentials".into())
        } else if matches!(e.root(), onvif::OnvifError::Refused) {
            ApiError::BadRequest(e.root().to_string())
        } else {
            ApiError::BadRequest("no ONVIF device answered at this address".into())
        }
    })?;
    let chosen = |token: &str| {
        if token == e.main.profile.token {
            Some("main")
        } else if e.sub.as_ref().is_some_and(|s| s.profile.token == token) {
            Some("sub")
        } else {
            None
        }
    };
    let d = &e.device;
    Ok(Json(ProbeOut {
        device_url: e.device_url.to_string(),
        manufacturer: d.manufacturer.clone(),
        model: d.model.clone(),
        firmware_version: d.firmware_version.clone(),
        serial_number: d.serial_number.clone(),
        clock_offset_ms: e.clock.offset_ms,
        clock_uncertainty_ms: e.clock.uncertainty_ms,
        media_version: format!("{:?}", e.media.version),
        profiles: e
            .profiles
            .iter()
            .map(|p| ProfileOut {
                token: p.token.clone(),
                name: p.name.clone(),
                encoding: p.video.as_ref().map(|v| v.encoding.clone()),
                width: p.video.as_ref().and_then(|v| v.resolution).map(|r| r.0),
                height: p.video.as_ref().and_then(|v| v.resolution).map(|r| r.1),
                fps: p.video.as_ref().and_then(|v| v.fps),
                bitrate_kbps: p.video.as_ref().and_then(|v| v.bitrate_kbps),
                chosen: chosen(&p.token),
            })
            .collect(),
        main_stream: e.main.uri.to_string(),
        sub_stream: e.sub.as_ref().map(|s| s.uri.to_string()),
        snapshot_uri: e.snapshot_uri.as_ref().map(|u| u.to_string()),
        notes: e.notes.clone(),
    }))
}

/// Whether `uri`'s host may be connected to under the partner destination rules.
pub(crate) async fn stream_allowed(st: &AppState, uri: &url::Url) -> bool {
    st.settings
        .destinations
        .resolve_url(uri, Duration::from_secs(5))
        .await
        .is_ok()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiscoverBody {
    /// Multicast a probe on this interface (and no other).
    #[serde(default)]
    interface: Option<String>,
    /// Or probe one address (`IP` or `IP:port`), unicast.
    #[serde(default)]
    unicast: Option<String>,
    /// How long to collect answers (200–10 000 ms; default 3 000).
    #[serde(default)]
    wait_ms: Option<u64>,
}

#[derive(Serialize)]
pub(crate) struct FoundOut {
    endpoint: String,
    xaddrs: Vec<String>,
    name: Option<String>,
    location: Option<String>,
    hardware: Option<String>,
    video_transmitter: bool,
    from: Option<String>,
}

/// `POST /api/onvif/discover` (administrators): WS-Discovery on an interface the caller names,
/// or a unicast probe to one address. There is no "every interface" mode: partner networks are
/// shared with equipment the recorder must not talk to.
pub(crate) async fn discover(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<DiscoverBody>,
) -> ApiResult<Json<Vec<FoundOut>>> {
    use vms_ingest::onvif::discovery;
    let opts = onvif::DiscoveryOptions {
        wait: Duration::from_millis(b.wait_ms.unwrap_or(3000).clamp(200, 10_000)),
        ..onvif::DiscoveryOptions::default()
    };
    let (what, found) = match (b.interface, b.unicast) {
        (Some(ifname), None) => {
            let r = discovery::discover(&ifname, &opts).await;
            (format!("interface {ifname}"), r)
        }
        (None, Some(addr)) => {
            let target: std::net::SocketAddr = match addr.parse() {
                Ok(a) => a,
                Err(_) => match addr.parse::<std::net::IpAddr>() {
                    Ok(ip) => (ip, discovery::PORT).into(),
                    Err(_) => {
                        return Err(ApiError::BadRequest(format!(
                            "unicast: {addr:?} is not an IP or IP:port"
                        )));
                    }
                },
            };
            if !st.settings.destinations.permits(target.ip()) {
                return Err(ApiError::BadRequest(onvif::OnvifError::Refused.to_string()));
            }
            let r = discovery::probe_unicast(target, &opts).await;
            (format!("unicast {target}"), r)
        }
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of interface and unicast".into(),
            ));
        }
    };
    let audit = NewAuditEvent {
        actor: s.username.clone(),
        action: AuditAction::OnvifDiscover.into(),
        outcome: if found.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Fail
        }
        .into(),
        detail: what,
        ..Default::default()
    };
    st.blocking(move |st| Ok(st.program.audit(audit)?)).await?;
    let found = found.map_err(|e| match e {
        onvif::OnvifError::NoInterface(i) => {
            ApiError::BadRequest(format!("no network interface named {i:?}"))
        }
        e => ApiError::BadRequest(format!("discovery: {e}")),
    })?;
    Ok(Json(
        found
            .into_iter()
            .map(|d| FoundOut {
                video_transmitter: d.is_video_transmitter(),
                endpoint: d.endpoint,
                xaddrs: d.xaddrs,
                name: d.name,
                location: d.location,
                hardware: d.hardware,
                from: d.from.map(|a| a.to_string()),
            })
            .collect(),
    ))
}
