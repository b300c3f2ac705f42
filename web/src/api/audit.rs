//! The audit log for auditors and the public transparency report.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use vms_program::transparency::Transparency;
use vms_storage::AuditFilter;

use crate::error::{ApiQuery, ApiResult};
use crate::routes::Caller;
use crate::state::AppState;

#[derive(Serialize)]
pub(crate) struct AuditOut {
    seq: u64,
    at_us: i64,
    actor: String,
    action: String,
    outcome: String,
    rule: String,
    camera: Option<u32>,
    range: Option<(i64, i64)>,
    case_number: Option<String>,
    reason: Option<String>,
    request: Option<u64>,
    detail: String,
}

pub(crate) fn audit_out(e: vms_storage::AuditEvent) -> AuditOut {
    let ev = e.event;
    AuditOut {
        seq: e.seq,
        at_us: e.at_us,
        actor: ev.actor,
        action: ev.action,
        outcome: ev.outcome,
        rule: ev.rule,
        camera: ev.camera,
        range: ev.range,
        case_number: ev.case_number,
        reason: ev.reason,
        request: ev.request,
        detail: ev.detail,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    user: Option<String>,
    camera: Option<u32>,
    case_number: Option<String>,
    from_us: Option<i64>,
    to_us: Option<i64>,
    /// The next page: events before this sequence number.
    before: Option<u64>,
    limit: Option<usize>,
}

pub(crate) async fn audit_search(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditOut>>> {
    st.blocking(move |st| {
        let f = AuditFilter {
            actor: q.user,
            camera: q.camera,
            case_number: q.case_number,
            from_us: q.from_us,
            to_us: q.to_us,
            before_seq: q.before,
            limit: q.limit.unwrap_or(500).min(10_000),
        };
        let events = st.program.audit_log(&s, f)?;
        Ok(Json(events.into_iter().map(audit_out).collect()))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MonthQuery {
    /// `YYYY-MM`.
    month: String,
}

/// Aggregate counts for the public: never names, addresses or footage.
pub(crate) async fn transparency(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> ApiResult<Json<Transparency>> {
    st.blocking(move |st| Ok(Json(st.program.transparency(&q.month)?)))
        .await
}
