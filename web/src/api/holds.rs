//! Legal holds: placing, listing and lifting them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vms_program::audit::{AuditAction, Outcome};
use vms_program::text::text;
use vms_storage::NewAuditEvent;

use crate::error::{ApiJson, ApiPath, ApiResult};
use crate::routes::Caller;
use crate::state::AppState;

/// A hold as its camera's partner sees it.
#[derive(Serialize)]
pub(crate) struct PartnerHoldOut {
    pub(crate) id: u64,
    pub(crate) camera: u32,
    pub(crate) start_us: i64,
    pub(crate) end_us: i64,
}

#[derive(Serialize)]
pub(crate) struct HoldOut {
    id: u64,
    camera: u32,
    start_us: i64,
    end_us: i64,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HoldBody {
    camera: u32,
    start_us: i64,
    end_us: i64,
    case_number: String,
    reason: String,
}

pub(crate) async fn place_hold(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<HoldBody>,
) -> ApiResult<(StatusCode, Json<HoldOut>)> {
    st.blocking(move |st| {
        st.program.camera(b.camera)?;
        let case = text("case_number", &b.case_number, true)?;
        let reason = text("reason", &b.reason, true)?;
        let label = format!("case {case}: {reason}");
        let id = st.store.add_hold(b.camera, b.start_us, b.end_us, &label)?;
        st.program.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: AuditAction::HoldPlace.into(),
            outcome: Outcome::Ok.into(),
            camera: Some(b.camera),
            range: Some((b.start_us, b.end_us)),
            case_number: Some(case),
            reason: Some(reason),
            ..Default::default()
        })?;
        Ok((
            StatusCode::CREATED,
            Json(HoldOut {
                id,
                camera: b.camera,
                start_us: b.start_us,
                end_us: b.end_us,
                reason: label,
            }),
        ))
    })
    .await
}

pub(crate) async fn list_holds(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<HoldOut>>> {
    st.blocking(move |st| {
        let holds = st.store.holds()?;
        st.program
            .audit_read(&s, AuditAction::HoldsRead, format!("{} holds", holds.len()))?;
        Ok(Json(
            holds
                .into_iter()
                .map(|(id, h)| HoldOut {
                    id,
                    camera: h.camera,
                    start_us: h.start_utc,
                    end_us: h.end_utc,
                    reason: h.reason,
                })
                .collect(),
        ))
    })
    .await
}

pub(crate) async fn lift_hold(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u64>,
) -> ApiResult<StatusCode> {
    st.blocking(move |st| {
        let hold = st.store.remove_hold(id)?;
        st.program.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: AuditAction::HoldLift.into(),
            outcome: Outcome::Ok.into(),
            camera: Some(hold.camera),
            range: Some((hold.start_utc, hold.end_utc)),
            reason: Some(hold.reason),
            detail: format!("hold {id}"),
            ..Default::default()
        })?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
