//! Footage requests: filing, listing, deciding, and exigent access.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vms_program::policy::Subject;
use vms_program::requests::NewRequest;
use vms_storage::{RequestRow, RequestStatus};

use crate::error::{ApiJson, ApiPath, ApiResult};
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
    /// Earlier denied requests for any of these cameras over an overlapping window.
    earlier_denied: Vec<u64>,
}

fn request_out(r: RequestRow, earlier_denied: Vec<u64>) -> RequestOut {
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
        earlier_denied,
    }
}

/// A request as answered after a change: with the earlier denials it follows.
fn with_history(st: &AppState, s: &Subject, r: RequestRow) -> ApiResult<RequestOut> {
    let earlier = st.program.earlier_denials_of(s, &r)?;
    Ok(request_out(r, earlier))
}

pub(crate) async fn file_request(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<NewRequestBody>,
) -> ApiResult<(StatusCode, Json<RequestOut>)> {
    st.blocking(move |st| {
        let r = st.program.file_request(
            &s,
            NewRequest {
                cameras: &b.cameras,
                start_us: b.start_us,
                end_us: b.end_us,
                case_number: &b.case_number,
                offence: &b.offence,
                reason: &b.reason,
            },
        )?;
        Ok((StatusCode::CREATED, Json(with_history(st, &s, r)?)))
    })
    .await
}

pub(crate) async fn list_requests(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<RequestOut>>> {
    st.blocking(move |st| {
        let requests = st.program.visible_requests(&s)?;
        Ok(Json(
            requests
                .into_iter()
                .map(|(r, earlier)| request_out(r, earlier))
                .collect(),
        ))
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
        let r = st.program.decide_request(&s, id, b.approve, &b.note)?;
        Ok(Json(with_history(st, &s, r)?))
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
        let r = st.program.grant_exigent(&s, id, &b.justification)?;
        Ok(Json(with_history(st, &s, r)?))
    })
    .await
}
