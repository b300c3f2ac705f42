//! Cameras: the list each role may see, one camera, enrollment and sharing terms.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vms_program::cameras::{Enrollment, TermsChange};
use vms_program::policy::{Action, Resource, authorize};
use vms_storage::{CameraInfo, CameraSource, NewAuditEvent, Store};

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
        let enrollment = Enrollment {
            name: &b.name,
            partner_id: b.partner_id,
            rtsp_url: b.rtsp_url.as_deref(),
            onvif_address: b.onvif_address.as_deref(),
            username: b.username.as_deref(),
            password: b.password.as_deref(),
            sharing: &b.sharing,
            retention_days: b.retention_days,
            location: &b.location,
        };
        let c = st.program.enroll_camera(&s, &st.secrets, enrollment)?;
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
        let change = TermsChange {
            sharing: b.sharing.as_deref(),
            retention_days: b.retention_days,
            paused: b.paused,
        };
        let c = st.program.change_terms(&s, id, change)?;
        st.changes.notify_one();
        Ok(Json(camera_out(st, &c)))
    })
    .await
}
