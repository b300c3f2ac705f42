//! The registry map and area requests: cameras around a point, a canvass's preview, sending
//! it, and following its progress. Agency staff only (the program decides).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vms_program::canvass::{Candidate, NewCanvass, OwnerProgress, Progress, RegistryHit};
use vms_storage::canvass::{CanvassRow, Notice};
use vms_storage::geo::View;

use crate::error::{ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::routes::Caller;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchQuery {
    lat: f64,
    lon: f64,
    radius_m: u32,
}

#[derive(Serialize)]
pub(crate) struct HitOut {
    camera: u32,
    name: String,
    owner: String,
    lat: f64,
    lon: f64,
    view: Option<View>,
    kind: Option<&'static str>,
    sharing: &'static str,
    registered: bool,
    distance_m: f64,
    covers: bool,
}

fn hit_out(h: RegistryHit) -> HitOut {
    HitOut {
        camera: h.camera,
        name: h.name,
        owner: h.owner,
        lat: h.point.lat(),
        lon: h.point.lon(),
        view: h.view,
        kind: h.kind,
        sharing: h.sharing.as_str(),
        registered: h.registered,
        distance_m: (h.distance_m * 10.0).round() / 10.0,
        covers: h.covers,
    }
}

/// `GET /api/registry?lat=&lon=&radius_m=`: the placed cameras around a point.
pub(crate) async fn search(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<Vec<HitOut>>> {
    st.blocking(move |st| {
        let hits = st.program.search_registry(&s, q.lat, q.lon, q.radius_m)?;
        Ok(Json(hits.into_iter().map(hit_out).collect()))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CanvassBody {
    lat: f64,
    lon: f64,
    radius_m: u32,
    start_us: i64,
    end_us: i64,
    case_number: String,
    offence: String,
    reason: String,
    /// When sending: only these of the preview's cameras (default: every one asked).
    cameras: Option<Vec<u32>>,
}

impl CanvassBody {
    fn canvass(&self) -> NewCanvass<'_> {
        NewCanvass {
            lat: self.lat,
            lon: self.lon,
            radius_m: self.radius_m,
            start_us: self.start_us,
            end_us: self.end_us,
            case_number: &self.case_number,
            offence: &self.offence,
            reason: &self.reason,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct CandidateOut {
    #[serde(flatten)]
    hit: HitOut,
    in_retention: Option<bool>,
    skipped: Option<&'static str>,
}

fn candidate_out(c: Candidate) -> CandidateOut {
    CandidateOut {
        hit: hit_out(c.hit),
        in_retention: c.in_retention,
        skipped: c.skipped,
    }
}

/// `POST /api/canvasses/preview`: which cameras a canvass would ask; nothing is sent.
pub(crate) async fn preview(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<CanvassBody>,
) -> ApiResult<Json<Vec<CandidateOut>>> {
    st.blocking(move |st| {
        let c = st.program.preview_canvass(&s, &b.canvass())?;
        Ok(Json(c.into_iter().map(candidate_out).collect()))
    })
    .await
}

#[derive(Serialize)]
pub(crate) struct CanvassOut {
    id: u64,
    investigator: String,
    lat: f64,
    lon: f64,
    radius_m: u32,
    start_us: i64,
    end_us: i64,
    case_number: String,
    offence: String,
    reason: String,
    created_us: i64,
    owners: usize,
}

fn canvass_out(c: &CanvassRow) -> CanvassOut {
    CanvassOut {
        id: c.id,
        investigator: c.investigator.clone(),
        lat: c.center.lat(),
        lon: c.center.lon(),
        radius_m: c.radius_m,
        start_us: c.start_us,
        end_us: c.end_us,
        case_number: c.case_number.clone(),
        offence: c.offence.clone(),
        reason: c.reason.clone(),
        created_us: c.created_us,
        owners: c.owners.len(),
    }
}

#[derive(Serialize)]
pub(crate) struct OwnerOut {
    owner: String,
    request: u64,
    cameras: Vec<u32>,
    status: &'static str,
    /// `queued`, `sent`, `failed` or `portal`.
    email: &'static str,
    email_detail: Option<String>,
    opened: bool,
    files: usize,
}

fn owner_out(o: OwnerProgress) -> OwnerOut {
    let (email, email_detail) = match o.notice {
        Notice::Queued {
            attempts,
            last_error,
            ..
        } => (
            "queued",
            last_error.map(|e| format!("attempt {attempts} failed: {e}; retrying")),
        ),
        Notice::Sent { .. } => ("sent", None),
        Notice::Failed { error, .. } => ("failed", Some(error)),
        Notice::PortalOnly { why } => ("portal", Some(why)),
    };
    OwnerOut {
        owner: o.owner,
        request: o.request,
        cameras: o.cameras,
        status: o.status.as_str(),
        email,
        email_detail,
        opened: o.opened,
        files: o.files,
    }
}

#[derive(Serialize)]
pub(crate) struct ProgressOut {
    #[serde(flatten)]
    canvass: CanvassOut,
    notified: usize,
    opened: usize,
    declined: usize,
    approved: usize,
    submitted: usize,
    delivery_problems: usize,
    per_owner: Vec<OwnerOut>,
}

fn progress_out(p: Progress) -> ProgressOut {
    ProgressOut {
        canvass: canvass_out(&p.canvass),
        notified: p.notified,
        opened: p.opened,
        declined: p.declined,
        approved: p.approved,
        submitted: p.submitted,
        delivery_problems: p.delivery_problems,
        per_owner: p.owners.into_iter().map(owner_out).collect(),
    }
}

/// `POST /api/canvasses`: sends a canvass (one request per owner, emails queued).
pub(crate) async fn send(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<CanvassBody>,
) -> ApiResult<(StatusCode, Json<ProgressOut>)> {
    st.blocking(move |st| {
        let row = st
            .program
            .send_canvass(&s, &b.canvass(), b.cameras.as_deref())?;
        st.mail_due.notify_one();
        let p = st.program.canvass_progress(&s, row.id)?;
        Ok((StatusCode::CREATED, Json(progress_out(p))))
    })
    .await
}

/// `GET /api/canvasses`: the caller's canvasses (a supervisor's: all), newest first.
pub(crate) async fn list(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<CanvassOut>>> {
    st.blocking(move |st| {
        let rows = st.program.canvasses(&s)?;
        Ok(Json(rows.iter().map(canvass_out).collect()))
    })
    .await
}

/// `GET /api/canvasses/{id}`: one canvass's progress.
pub(crate) async fn get(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u64>,
) -> ApiResult<Json<ProgressOut>> {
    st.blocking(move |st| {
        let p = st.program.canvass_progress(&s, id)?;
        Ok(Json(progress_out(p)))
    })
    .await
}

#[derive(Serialize)]
pub(crate) struct MapConfigOut {
    tile_url: Option<String>,
    attribution: String,
    lat: f64,
    lon: f64,
    zoom: u8,
    /// Largest canvass radius, metres.
    max_radius_m: u32,
}

/// `GET /api/map`: the map's tiles and where it opens (the configured centre, or the middle
/// of the cameras the caller may see placed).
pub(crate) async fn map_config(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<MapConfigOut>> {
    st.blocking(move |st| {
        let m = &st.settings.map;
        let (lat, lon) = match m.center {
            Some(c) => c,
            None => st.program.placed_middle(&s)?.unwrap_or((0.0, 0.0)),
        };
        Ok(Json(MapConfigOut {
            tile_url: m.tile_url.clone(),
            attribution: m.attribution.clone(),
            lat,
            lon,
            zoom: m.zoom,
            max_radius_m: st.program.settings().max_canvass_radius_m,
        }))
    })
    .await
}

/// Largest registry file one import takes (20 000 rows of a few hundred bytes).
const IMPORT_MAX_BYTES: usize = 16 << 20;

#[derive(Serialize)]
pub(crate) struct RowErrorOut {
    row: usize,
    error: String,
}

#[derive(Serialize)]
pub(crate) struct ImportOut {
    rows: usize,
    owners_created: usize,
    cameras_created: usize,
    cameras_moved: usize,
    unchanged: usize,
    errors: Vec<RowErrorOut>,
}

/// `POST /api/registry/import`: a CSV (header row) or GeoJSON file of registered cameras and
/// their owners; good rows are kept and bad ones reported (administrators).
pub(crate) async fn import(
    State(st): State<AppState>,
    Caller(s): Caller,
    body: axum::body::Body,
) -> ApiResult<Json<ImportOut>> {
    let data = axum::body::to_bytes(body, IMPORT_MAX_BYTES)
        .await
        .map_err(|_| {
            crate::error::ApiError::LimitExceeded(format!(
                "a registry file is at most {} MiB",
                IMPORT_MAX_BYTES >> 20
            ))
        })?;
    st.blocking(move |st| {
        let r = st.program.import_registry(&s, &data)?;
        Ok(Json(ImportOut {
            rows: r.rows,
            owners_created: r.owners_created,
            cameras_created: r.cameras_created,
            cameras_moved: r.cameras_moved,
            unchanged: r.unchanged,
            errors: r
                .errors
                .into_iter()
                .map(|(row, error)| RowErrorOut { row, error })
                .collect(),
        }))
    })
    .await
}
