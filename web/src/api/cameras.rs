//! Cameras: the list each role may see, one camera, enrollment and sharing terms.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vms_program::audit::{AuditAction, Outcome};
use vms_program::policy::{Action, Resource, authorize};
use vms_program::text::text;
use vms_storage::{
    CameraInfo, CameraSource, NewAuditEvent, PartnerStatus, Role, SharingMode, Store,
};

use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::routes::Caller;
use crate::state::AppState;

#[derive(Serialize)]
pub(crate) struct CameraOut {
    id: u32,
    name: String,
    sharing: &'static str,
    retention_days: u32,
    paused: bool,
    /// Staff and the owning partner only; never credentials.
    location: String,
    partner: String,
    source: &'static str,
    masks: usize,
    health: Option<super::system::CameraHealth>,
}

fn camera_out(st: &AppState, c: &CameraInfo) -> CameraOut {
    let partner_label = partner_label(&st.store, c.partner);
    CameraOut {
        id: c.id,
        name: c.name.clone(),
        sharing: c.sharing.as_str(),
        retention_days: c.retention_days,
        paused: c.paused,
        location: c.location.clone(),
        partner: partner_label,
        source: match c.source {
            CameraSource::Rtsp { .. } => "rtsp",
            CameraSource::Onvif { .. } => "onvif",
            CameraSource::ConfigFile => "config",
        },
        masks: c.masks.len(),
        health: st.health_of(c.id),
    }
}

fn partner_label(store: &Store, id: u64) -> String {
    if id == vms_storage::AGENCY {
        return "agency".into();
    }
    store
        .partner(id)
        .ok()
        .flatten()
        .map(|p| p.pseudonym)
        .unwrap_or_else(|| format!("P-{id}"))
}

pub(crate) async fn list_cameras(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<CameraOut>>> {
    st.blocking(move |st| {
        let mut out = Vec::new();
        for c in st.store.cameras_info()? {
            if authorize(&s, Action::ReadCamera, &Resource::Camera(&c)).allow {
                out.push(camera_out(st, &c));
            }
        }
        Ok(Json(out))
    })
    .await
}

pub(crate) async fn get_camera(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u32>,
) -> ApiResult<Json<CameraOut>> {
    st.blocking(move |st| {
        let c = st.program.camera(id)?;
        st.program.check(
            &s,
            Action::ReadCamera,
            &Resource::Camera(&c),
            &NewAuditEvent {
                camera: Some(id),
                ..Default::default()
            },
        )?;
        Ok(Json(camera_out(st, &c)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrollBody {
    name: String,
    /// Required when an admin enrolls on a partner's behalf; a partner enrolls for itself.
    partner_id: Option<u64>,
    rtsp_url: Option<String>,
    onvif_address: Option<String>,
    username: Option<String>,
    password: Option<String>,
    sharing: String,
    retention_days: Option<u32>,
    #[serde(default)]
    location: String,
}

pub(crate) async fn enroll_camera(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<EnrollBody>,
) -> ApiResult<(StatusCode, Json<CameraOut>)> {
    // Where the recorder would connect must be a place partner addresses may lead (issue 22
    // F3), checked after DNS; the session checks again before every connection.
    let target = match (&b.rtsp_url, &b.onvif_address) {
        (Some(u), None) => url::Url::parse(u).ok(),
        (None, Some(a)) => vms_ingest::onvif::select::device_url(a.trim()).ok(),
        _ => None,
    };
    if let Some(t) = &target
        && !super::onvif::stream_allowed(&st, t).await
    {
        return Err(ApiError::BadRequest(
            vms_ingest::onvif::OnvifError::Refused.to_string(),
        ));
    }
    st.blocking(move |st| {
        let partner_id = match (s.role, s.partner, b.partner_id) {
            (Role::Partner, Some(p), None) => p,
            (Role::Partner, Some(p), Some(q)) if p == q => p,
            (_, _, Some(q)) => q,
            _ => return Err(ApiError::BadRequest("partner_id is required".into())),
        };
        st.program.check(
            &s,
            Action::EnrollCamera,
            &Resource::Partner(partner_id),
            &NewAuditEvent::default(),
        )?;
        let partner = st.store.partner(partner_id)?.ok_or(ApiError::NotFound)?;
        if partner.status == PartnerStatus::Left {
            return Err(ApiError::Conflict("partner has left the program".into()));
        }
        if partner.terms_accepted_us.is_none() {
            return Err(ApiError::Conflict(
                "the partner must accept the program terms first".into(),
            ));
        }
        let source = match (b.rtsp_url, b.onvif_address) {
            (Some(u), None) => {
                let url = url::Url::parse(&u)
                    .map_err(|e| ApiError::BadRequest(format!("rtsp_url: {e}")))?;
                if url.scheme() != "rtsp" {
                    return Err(ApiError::BadRequest("rtsp_url must be rtsp://".into()));
                }
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(ApiError::BadRequest(
                        "put credentials in username/password, not in the URL".into(),
                    ));
                }
                CameraSource::Rtsp { url: u }
            }
            (None, Some(a)) => CameraSource::Onvif {
                address: text("onvif_address", &a, true)?,
            },
            _ => {
                return Err(ApiError::BadRequest(
                    "give exactly one of rtsp_url and onvif_address".into(),
                ));
            }
        };
        let sharing: SharingMode = b.sharing.parse()?;
        let credentials = match (b.username, b.password) {
            (Some(u), Some(p)) => Some(st.secrets.seal(format!("{u}\0{p}").as_bytes())),
            (None, None) => None,
            _ => {
                return Err(ApiError::BadRequest(
                    "give both username and password, or neither".into(),
                ));
            }
        };
        let retention_days = b.retention_days.unwrap_or(30);
        if !(1..=3650).contains(&retention_days) {
            return Err(ApiError::BadRequest(
                "retention_days must be 1..=3650".into(),
            ));
        }
        let now = st.store.clock().now_utc_micros();
        let c = st.store.enroll_camera(CameraInfo {
            id: 0,
            name: text("name", &b.name, true)?,
            partner: partner_id,
            source,
            credentials,
            sharing,
            retention_days,
            location: text("location", &b.location, false)?,
            paused: false,
            masks: vec![],
            created_us: now,
        })?;
        st.program.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: AuditAction::CameraEnroll.into(),
            outcome: Outcome::Ok.into(),
            camera: Some(c.id),
            detail: format!("sharing={}", c.sharing.as_str()),
            ..Default::default()
        })?;
        st.changes.notify_one();
        Ok((StatusCode::CREATED, Json(camera_out(st, &c))))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateCameraBody {
    sharing: Option<String>,
    retention_days: Option<u32>,
    paused: Option<bool>,
}

pub(crate) async fn update_camera(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u32>,
    ApiJson(b): ApiJson<UpdateCameraBody>,
) -> ApiResult<Json<CameraOut>> {
    st.blocking(move |st| {
        let mut c = st.program.camera(id)?;
        st.program.check(
            &s,
            Action::UpdateSharing,
            &Resource::Camera(&c),
            &NewAuditEvent {
                camera: Some(id),
                ..Default::default()
            },
        )?;
        let before = format!(
            "sharing={} retention_days={} paused={}",
            c.sharing.as_str(),
            c.retention_days,
            c.paused
        );
        if let Some(m) = b.sharing {
            c.sharing = m.parse()?;
        }
        if let Some(d) = b.retention_days {
            if !(1..=3650).contains(&d) {
                return Err(ApiError::BadRequest(
                    "retention_days must be 1..=3650".into(),
                ));
            }
            c.retention_days = d;
        }
        if let Some(p) = b.paused {
            c.paused = p;
        }
        st.store.put_camera_info(&c)?;
        st.program.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: AuditAction::CameraSharing.into(),
            outcome: Outcome::Ok.into(),
            camera: Some(id),
            detail: format!(
                "{before} -> sharing={} retention_days={} paused={}",
                c.sharing.as_str(),
                c.retention_days,
                c.paused
            ),
            ..Default::default()
        })?;
        st.changes.notify_one();
        Ok(Json(camera_out(st, &c)))
    })
    .await
}
