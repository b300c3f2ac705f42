//! Footage requests: filing, listing, deciding, and exigent access.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vms_program::audit::{AuditAction, Outcome};
use vms_program::policy::{Action, Resource, Subject, authorize};
use vms_program::text::text;
use vms_storage::{CameraInfo, NewAuditEvent, RequestRow, RequestStatus, SharingMode};

use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::routes::Caller;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewRequestBody {
    cameras: Vec<u32>,
    start_us: i64,
    end_us: i64,
    case_number: String,
    offence: String,
    reason: String,
}

#[derive(Serialize)]
pub(crate) struct RequestOut {
    id: u64,
    investigator: String,
    cameras: Vec<u32>,
    start_us: i64,
    end_us: i64,
    case_number: String,
    offence: String,
    reason: String,
    status: &'static str,
    decided_by: Option<String>,
    decided_us: Option<i64>,
    decision_note: Option<String>,
    exigent: bool,
}

fn request_out(r: RequestRow) -> RequestOut {
    RequestOut {
        id: r.id,
        investigator: r.investigator,
        cameras: r.cameras,
        start_us: r.start_us,
        end_us: r.end_us,
        case_number: r.case_number,
        offence: r.offence,
        reason: r.reason,
        status: r.status.as_str(),
        decided_by: r.decided_by,
        decided_us: r.decided_us,
        decision_note: r.decision_note,
        exigent: r.status == RequestStatus::Exigent,
    }
}

/// Audits a request event once per camera it names, so each partner's receipts show it.
fn audit_request(
    st: &AppState,
    s: &Subject,
    action: AuditAction,
    r: &RequestRow,
    reason: Option<String>,
) -> ApiResult<()> {
    for c in &r.cameras {
        st.program.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: action.into(),
            outcome: Outcome::Ok.into(),
            camera: Some(*c),
            range: Some((r.start_us, r.end_us)),
            case_number: Some(r.case_number.clone()),
            reason: reason.clone(),
            request: Some(r.id),
            ..Default::default()
        })?;
    }
    Ok(())
}

pub(crate) async fn file_request(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<NewRequestBody>,
) -> ApiResult<(StatusCode, Json<RequestOut>)> {
    st.blocking(move |st| {
        let max = i64::from(st.program.settings().max_request_hours) * 3_600_000_000;
        if b.end_us <= b.start_us {
            return Err(ApiError::BadRequest("end must be after start".into()));
        }
        if b.end_us.checked_sub(b.start_us).is_none_or(|d| d > max) {
            return Err(ApiError::BadRequest(format!(
                "requests cover at most {} h",
                st.program.settings().max_request_hours
            )));
        }
        if b.cameras.is_empty() || b.cameras.len() > 16 {
            return Err(ApiError::BadRequest("name 1 to 16 cameras".into()));
        }
        let mut partner = None;
        for id in &b.cameras {
            let c = st.program.camera(*id)?;
            if c.sharing == SharingMode::Registry {
                return Err(ApiError::BadRequest(format!(
                    "camera {id} is registry-only: no video is recorded"
                )));
            }
            if partner.is_some_and(|p| p != c.partner) {
                return Err(ApiError::BadRequest("file one request per partner".into()));
            }
            partner = Some(c.partner);
        }
        let r = st.store.create_request(RequestRow {
            id: 0,
            investigator: s.username.clone(),
            cameras: b.cameras.clone(),
            start_us: b.start_us,
            end_us: b.end_us,
            case_number: text("case_number", &b.case_number, true)?,
            offence: text("offence", &b.offence, true)?,
            reason: text("reason", &b.reason, true)?,
            status: RequestStatus::Pending,
            decided_by: None,
            decided_us: None,
            decision_note: None,
            created_us: st.store.clock().now_utc_micros(),
        })?;
        audit_request(st, &s, AuditAction::RequestFile, &r, Some(r.reason.clone()))?;
        Ok((StatusCode::CREATED, Json(request_out(r))))
    })
    .await
}

pub(crate) async fn list_requests(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<RequestOut>>> {
    st.blocking(move |st| {
        let cams = st.store.cameras_info()?;
        let mut out = Vec::new();
        for r in st.store.requests()? {
            let rc: Vec<CameraInfo> = cams
                .iter()
                .filter(|c| r.cameras.contains(&c.id))
                .cloned()
                .collect();
            if authorize(
                &s,
                Action::ListRequests,
                &Resource::Request {
                    request: &r,
                    cameras: &rc,
                },
            )
            .allow
            {
                out.push(request_out(r));
            }
        }
        out.reverse();
        Ok(Json(out))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionBody {
    approve: bool,
    #[serde(default)]
    note: String,
}

pub(crate) async fn decide_request(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u64>,
    ApiJson(b): ApiJson<DecisionBody>,
) -> ApiResult<Json<RequestOut>> {
    st.blocking(move |st| {
        let mut r = st.store.request(id)?.ok_or(ApiError::NotFound)?;
        let cams: Vec<CameraInfo> = st
            .store
            .cameras_info()?
            .into_iter()
            .filter(|c| r.cameras.contains(&c.id))
            .collect();
        st.program.check(
            &s,
            Action::DecideRequest,
            &Resource::Request {
                request: &r,
                cameras: &cams,
            },
            &NewAuditEvent {
                request: Some(id),
                ..Default::default()
            },
        )?;
        r.status = if b.approve {
            RequestStatus::Approved
        } else {
            RequestStatus::Denied
        };
        r.decided_by = Some(s.username.clone());
        r.decided_us = Some(st.store.clock().now_utc_micros());
        r.decision_note = Some(text("note", &b.note, false)?).filter(|n| !n.is_empty());
        st.store.put_request(&r)?;
        let action = if b.approve {
            AuditAction::RequestApprove
        } else {
            AuditAction::RequestDeny
        };
        audit_request(st, &s, action, &r, None)?;
        Ok(Json(request_out(r)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExigentBody {
    justification: String,
}

pub(crate) async fn exigent(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u64>,
    ApiJson(b): ApiJson<ExigentBody>,
) -> ApiResult<Json<RequestOut>> {
    st.blocking(move |st| {
        let justification = text("justification", &b.justification, true)?;
        if justification.len() < 20 {
            return Err(ApiError::BadRequest(
                "an exigent grant needs a written justification (at least 20 characters)".into(),
            ));
        }
        let mut r = st.store.request(id)?.ok_or(ApiError::NotFound)?;
        let cams: Vec<CameraInfo> = st
            .store
            .cameras_info()?
            .into_iter()
            .filter(|c| r.cameras.contains(&c.id))
            .collect();
        st.program.check(
            &s,
            Action::GrantExigent,
            &Resource::Request {
                request: &r,
                cameras: &cams,
            },
            &NewAuditEvent {
                request: Some(id),
                ..Default::default()
            },
        )?;
        r.status = RequestStatus::Exigent;
        r.decided_by = Some(s.username.clone());
        r.decided_us = Some(st.store.clock().now_utc_micros());
        r.decision_note = Some(justification.clone());
        st.store.put_request(&r)?;
        audit_request(
            st,
            &s,
            AuditAction::RequestExigent,
            &r,
            Some(justification.clone()),
        )?;
        Ok(Json(request_out(r)))
    })
    .await
}
