//! Cameras: the list each role may see, one camera, enrollment, sharing terms, where a camera
//! is and what it sees, and removing a registration.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vms_program::cameras::{Enrollment, Placement, TermsChange};
use vms_program::policy::{Action, Resource, Subject, authorize};
use vms_storage::geo::View;
use vms_storage::{AGENCY, CameraInfo, CameraSource, NewAuditEvent, Role};

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
    /// The street address line: for the owning partner, administrators and the agency's own
    /// cameras only. Investigators see the position, not the owner's address.
    address: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    view: Option<View>,
    kind: Option<&'static str>,
    owner_keeps_days: Option<u32>,
    partner: String,
    source: &'static str,
    masks: usize,
    health: Option<super::system::CameraHealth>,
}

pub(crate) fn camera_out(st: &AppState, s: &Subject, c: &CameraInfo) -> CameraOut {
    let partner_label = st
        .program
        .owner_label(c.partner)
        .unwrap_or_else(|_| format!("P-{}", c.partner));
    let own = s.partner == Some(c.partner);
    let sees_address = c.partner == AGENCY || s.role == Role::Admin || own;
    // Positions are the registry map's, agency-only: viewers see none.
    let sees_position = own || authorize(s, Action::SearchRegistry, &Resource::Route).allow;
    let placed = c.placed.as_ref().filter(|_| sees_position);
    CameraOut {
        id: c.id,
        name: c.name.clone(),
        sharing: c.sharing.as_str(),
        retention_days: c.retention_days,
        paused: c.paused,
        address: sees_address.then(|| c.address.clone()),
        lat: placed.map(|p| p.point.lat()),
        lon: placed.map(|p| p.point.lon()),
        view: placed.and_then(|p| p.view),
        kind: c.kind.map(|k| k.as_str()),
        owner_keeps_days: c.owner_keeps_days,
        partner: partner_label,
        source: source_name(&c.source),
        masks: c.masks.len(),
        health: st.health_of(c.id),
    }
}

pub(crate) fn source_name(s: &CameraSource) -> &'static str {
    match s {
        CameraSource::Rtsp { .. } => "rtsp",
        CameraSource::Onvif { .. } => "onvif",
        CameraSource::ConfigFile => "config",
        CameraSource::Registered => "registered",
    }
}

pub(crate) async fn list_cameras(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<CameraOut>>> {
    // Registered cameras have no video: staff who watch and play back find them on the
    // registry map, not in their camera lists (thousands of them would bury the cameras that
    // record). Their owners and administrators see them here.
    let registered_too = matches!(s.role, Role::Partner | Role::Admin);
    st.blocking(move |st| {
        let mut out = Vec::new();
        for c in st.store.cameras_info()? {
            if c.source == CameraSource::Registered && !registered_too {
                continue;
            }
            if authorize(&s, Action::ReadCamera, &Resource::Camera(&c)).allow {
                out.push(camera_out(st, &s, &c));
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
        Ok(Json(camera_out(st, &s, &c)))
    })
    .await
}

/// Where a camera is and what it sees, as the API takes it (see [`Placement`]).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlaceBody {
    #[serde(default)]
    address: String,
    lat: Option<f64>,
    lon: Option<f64>,
    bearing_deg: Option<f32>,
    fov_deg: Option<f32>,
    range_m: Option<f32>,
    kind: Option<String>,
    owner_keeps_days: Option<u32>,
}

impl PlaceBody {
    fn placement(&self) -> Placement<'_> {
        Placement {
            address: &self.address,
            lat: self.lat,
            lon: self.lon,
            bearing_deg: self.bearing_deg,
            fov_deg: self.fov_deg,
            range_m: self.range_m,
            kind: self.kind.as_deref(),
            owner_keeps_days: self.owner_keeps_days,
        }
    }
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
    address: String,
    lat: Option<f64>,
    lon: Option<f64>,
    bearing_deg: Option<f32>,
    fov_deg: Option<f32>,
    range_m: Option<f32>,
    kind: Option<String>,
    owner_keeps_days: Option<u32>,
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
            place: Placement {
                address: &b.address,
                lat: b.lat,
                lon: b.lon,
                bearing_deg: b.bearing_deg,
                fov_deg: b.fov_deg,
                range_m: b.range_m,
                kind: b.kind.as_deref(),
                owner_keeps_days: b.owner_keeps_days,
            },
        };
        let c = st.program.enroll_camera(&s, &st.secrets, enrollment)?;
        st.changes.notify_one();
        Ok((StatusCode::CREATED, Json(camera_out(st, &s, &c))))
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
        Ok(Json(camera_out(st, &s, &c)))
    })
    .await
}

/// `PUT /api/cameras/{id}/place`: its partner (or an administrator) states where the camera is
/// and what it sees.
pub(crate) async fn place_camera(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u32>,
    ApiJson(b): ApiJson<PlaceBody>,
) -> ApiResult<Json<CameraOut>> {
    st.blocking(move |st| {
        let c = st.program.place_camera(&s, id, b.placement())?;
        Ok(Json(camera_out(st, &s, &c)))
    })
    .await
}

/// `DELETE /api/cameras/{id}`: its partner removes a registered camera (the record is
/// deleted; recording cameras are paused or left instead).
pub(crate) async fn remove_camera(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u32>,
) -> ApiResult<StatusCode> {
    st.blocking(move |st| {
        st.program.remove_registration(&s, id)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
