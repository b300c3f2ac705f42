//! Legal holds: placing, listing and lifting them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vms_program::holds::NewHold;

use crate::error::{ApiJson, ApiPath, ApiQuery, ApiResult};
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
        let (id, label) = st.program.place_hold(
            &s,
            NewHold {
                camera: b.camera,
                start_us: b.start_us,
                end_us: b.end_us,
                case_number: &b.case_number,
                reason: &b.reason,
            },
        )?;
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
        Ok(Json(
            st.program
                .holds(&s)?
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LiftQuery {
    /// Why the hold is lifted (audited; required).
    #[serde(default)]
    reason: String,
}

pub(crate) async fn lift_hold(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u64>,
    ApiQuery(q): ApiQuery<LiftQuery>,
) -> ApiResult<StatusCode> {
    st.blocking(move |st| {
        st.program.lift_hold(&s, id, &q.reason)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
