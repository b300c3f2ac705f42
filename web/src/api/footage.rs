//! The footage range every timeline, playback and export call takes, and the timeline.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use vms_program::footage::FootageRange;
use vms_program::{Action, AuditAction};

use crate::error::{ApiPath, ApiQuery, ApiResult};
use crate::routes::Caller;
use crate::state::AppState;

/// A range of footage, why it is wanted and for which case (query string).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RangeQuery {
    /// UTC microseconds.
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) reason: String,
    #[serde(default)]
    pub(crate) case_number: Option<String>,
}

impl RangeQuery {
    /// The range as the program's footage gate takes it.
    pub(crate) fn range(&self) -> FootageRange<'_> {
        FootageRange {
            start_us: self.start,
            end_us: self.end,
            reason: &self.reason,
            case_number: self.case_number.as_deref(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct SpanOut {
    start_us: i64,
    end_us: i64,
}

/// The recorded timeline of a camera (what exists in a range, with the gaps between): footage
/// metadata, so it is authorized and audited like playback.
pub(crate) async fn recordings(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u32>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<Vec<SpanOut>>> {
    st.blocking(move |st| {
        st.program.footage_access(
            &s,
            id,
            q.range(),
            Action::Playback,
            AuditAction::VideoTimeline,
        )?;
        let spans = st.store.spans(id, q.start, q.end, 100_000)?;
        Ok(Json(
            spans
                .into_iter()
                .map(|s| SpanOut {
                    start_us: s.start_utc,
                    end_us: s.end_utc,
                })
                .collect(),
        ))
    })
    .await
}
