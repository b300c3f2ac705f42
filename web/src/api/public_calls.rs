//! Public calls for video over HTTP: investigators open and close them on the case page; the
//! public page (`/call/{id}`) reads one and starts a submission, which hands that person a
//! link of their own and sends them to the ordinary submission page. Rules:
//! `vms_program::public_calls`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use vms_program::public_calls::NewPublicCall;
use vms_storage::intake::PublicCallRow;

use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::routes::Caller;
use crate::server::PeerIp;
use crate::state::AppState;

#[derive(Serialize)]
pub(crate) struct CallOut {
    id: u64,
    case_number: String,
    title: String,
    window: String,
    area: String,
    closes_us: i64,
    /// Staff only.
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    closed_us: Option<i64>,
    /// The public page.
    url: String,
}

fn call_out(c: PublicCallRow, staff: bool) -> CallOut {
    CallOut {
        url: format!("/call/{}", c.id),
        id: c.id,
        case_number: c.case_number,
        title: c.title,
        window: c.window,
        area: c.area,
        closes_us: c.closes_us,
        created_by: staff.then_some(c.created_by),
        closed_us: if staff { c.closed_us } else { None },
    }
}

#[derive(Serialize)]
pub(crate) struct CallsOut {
    /// Whether this server takes public calls at all (`[submissions] public_calls`).
    enabled: bool,
    calls: Vec<CallOut>,
}

/// `GET /api/cases/{case}/public-calls`.
pub(crate) async fn list(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(case): ApiPath<String>,
) -> ApiResult<Json<CallsOut>> {
    st.blocking(move |st| {
        let calls = st.program.public_calls(&s, &case)?;
        Ok(Json(CallsOut {
            enabled: st.settings.program.submissions.public_calls,
            calls: calls.into_iter().map(|c| call_out(c, true)).collect(),
        }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCallBody {
    title: String,
    window: String,
    area: String,
    #[serde(default)]
    days: Option<u32>,
}

/// `POST /api/cases/{case}/public-calls`.
pub(crate) async fn create(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(case): ApiPath<String>,
    ApiJson(b): ApiJson<NewCallBody>,
) -> ApiResult<(StatusCode, Json<CallOut>)> {
    st.blocking(move |st| {
        let c = st.program.create_public_call(
            &s,
            NewPublicCall {
                case_number: &case,
                title: &b.title,
                window: &b.window,
                area: &b.area,
                days: b.days,
            },
        )?;
        Ok((StatusCode::CREATED, Json(call_out(c, true))))
    })
    .await
}

/// `DELETE /api/public-calls/{id}`: closes the call.
pub(crate) async fn close(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u64>,
) -> ApiResult<Json<CallOut>> {
    st.blocking(move |st| Ok(Json(call_out(st.program.close_public_call(&s, id)?, true))))
        .await
}

fn budget(st: &AppState, peer: PeerIp) -> Result<String, ApiError> {
    let from = peer.text();
    if st.take_submission_request(&from) {
        Ok(from)
    } else {
        Err(ApiError::TooManyRequests(format!(
            "too many requests from this address (at most {} a minute); wait a minute and try again",
            st.settings.submission_requests_per_minute
        )))
    }
}

/// `GET /api/public-calls/{id}`: what the public page shows (no names, no exact address).
pub(crate) async fn show(
    State(st): State<AppState>,
    peer: PeerIp,
    ApiPath(id): ApiPath<u64>,
) -> Response {
    let r = match budget(&st, peer) {
        Ok(_) => {
            st.blocking(move |st| Ok(Json(call_out(st.program.open_public_call(id)?, false))))
                .await
        }
        Err(e) => Err(e),
    };
    match r {
        Ok(j) => j.into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Serialize)]
pub(crate) struct StartOut {
    /// The submission page with this person's own token (shown once).
    url: String,
    expires_us: i64,
}

/// `POST /api/public-calls/{id}/start`: one person starts a submission (a stricter budget per
/// address than links: a public page is open to anyone).
pub(crate) async fn start(
    State(st): State<AppState>,
    peer: PeerIp,
    ApiPath(id): ApiPath<u64>,
) -> Response {
    let r = async {
        let from = budget(&st, peer)?;
        // A closed call says so, and costs nobody their budget.
        st.blocking(move |st| Ok(st.program.open_public_call(id).map(|_| ())?))
            .await?;
        if !st.take_public_submission(&from) {
            return Err(ApiError::TooManyRequests(format!(
                "at most {} submissions an hour may be started from one address; try again later",
                st.settings.public_submissions_per_hour
            )));
        }
        st.blocking(move |st| {
            let (link, token) = st.program.start_public_submission(id, &from)?;
            Ok((
                StatusCode::CREATED,
                Json(StartOut {
                    url: format!("/submit#{token}"),
                    expires_us: link.expires_us,
                }),
            ))
        })
        .await
    }
    .await;
    match r {
        Ok(j) => j.into_response(),
        Err(e) => e.into_response(),
    }
}
