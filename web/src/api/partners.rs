//! Partners: the agency's partner records, a partner's terms and status, and its receipts.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vms_program::partners::{NewPartner, status_label};
use vms_storage::{PartnerRow, PartnerStatus};

use super::audit::{AuditOut, audit_out};
use super::holds::PartnerHoldOut;
use crate::error::{ApiJson, ApiResult};
use crate::routes::Caller;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewPartnerBody {
    contact_name: String,
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    contact_phone: String,
    #[serde(default)]
    address: String,
    username: String,
    password: String,
}

#[derive(Serialize)]
pub(crate) struct PartnerOut {
    id: u64,
    pseudonym: String,
    contact_name: String,
    contact_email: String,
    contact_phone: String,
    address: String,
    status: &'static str,
    terms_version: Option<String>,
    terms_accepted_us: Option<i64>,
}

fn partner_out(p: PartnerRow) -> PartnerOut {
    PartnerOut {
        id: p.id,
        pseudonym: p.pseudonym,
        contact_name: p.contact_name,
        contact_email: p.contact_email,
        contact_phone: p.contact_phone,
        address: p.address,
        status: status_label(p.status),
        terms_version: p.terms_version,
        terms_accepted_us: p.terms_accepted_us,
    }
}

pub(crate) async fn create_partner(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<NewPartnerBody>,
) -> ApiResult<(StatusCode, Json<PartnerOut>)> {
    st.blocking(move |st| {
        let new = NewPartner {
            contact_name: &b.contact_name,
            contact_email: &b.contact_email,
            contact_phone: &b.contact_phone,
            address: &b.address,
            username: &b.username,
            password: &b.password,
        };
        let p = st.program.create_partner(&s.username, &st.secrets, new)?;
        Ok((StatusCode::CREATED, Json(partner_out(p))))
    })
    .await
}

pub(crate) async fn list_partners(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<PartnerOut>>> {
    st.blocking(move |st| {
        let partners = st.program.partners(&s)?;
        Ok(Json(partners.into_iter().map(partner_out).collect()))
    })
    .await
}

#[derive(Serialize)]
pub(crate) struct OwnAccountOut {
    #[serde(flatten)]
    partner: PartnerOut,
    /// The terms now in force; the partner must accept them when `terms_version` differs.
    terms_current: String,
    /// Whether the partner is emailed about requests.
    email_notices: bool,
}

/// The signed-in partner's own record (its participation page).
pub(crate) async fn own_account(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<OwnAccountOut>> {
    st.blocking(move |st| {
        let (p, terms_current) = st.program.own_account(&s)?;
        Ok(Json(OwnAccountOut {
            partner: partner_out(p),
            terms_current,
            email_notices: st.program.email_choice(&s)?,
        }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TermsBody {
    version: String,
}

pub(crate) async fn accept_terms(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<TermsBody>,
) -> ApiResult<Json<PartnerOut>> {
    st.blocking(move |st| Ok(Json(partner_out(st.program.accept_terms(&s, &b.version)?))))
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusBody {
    /// `active`, `paused` or `left`.
    status: String,
}

#[derive(Serialize)]
pub(crate) struct StatusOut {
    status: &'static str,
    cameras_stopped: usize,
    /// On leaving: the ranges a legal hold keeps past the partner's terms. Ids and ranges only
    /// — case numbers and reasons are the investigation's, and a partner who is not leaving is
    /// not told about holds at all (issue 22 F22).
    legal_holds: Vec<PartnerHoldOut>,
    note: String,
}

/// Pause, resume or leave the program. Ingest stops within seconds; on leaving, recorded
/// video is deleted by the next retention pass except what a legal hold covers.
pub(crate) async fn set_partner_status(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<StatusBody>,
) -> ApiResult<Json<StatusOut>> {
    st.blocking(move |st| {
        let change = st.program.set_partner_status(&s, &b.status)?;
        st.changes.notify_one();
        let status = change.partner.status;
        let holds: Vec<PartnerHoldOut> = change
            .holds
            .into_iter()
            .map(|(id, h)| PartnerHoldOut {
                id,
                camera: h.camera,
                start_us: h.start_utc,
                end_us: h.end_utc,
            })
            .collect();
        let note = match status {
            PartnerStatus::Left if holds.is_empty() => {
                "Recording stopped. Your recorded video will be deleted within minutes.".into()
            }
            PartnerStatus::Left => format!(
                "Recording stopped. Your recorded video will be deleted within minutes, except \
                 {} range(s) under legal hold, kept until the hold is lifted.",
                holds.len()
            ),
            PartnerStatus::Paused => "Recording paused for all your cameras.".into(),
            PartnerStatus::Active => "Recording resumes for cameras you have not paused.".into(),
        };
        Ok(Json(StatusOut {
            status: status_label(status),
            cameras_stopped: if status == PartnerStatus::Active {
                0
            } else {
                change.cameras
            },
            legal_holds: holds,
            note,
        }))
    })
    .await
}

/// Every access to the partner's cameras: who, when, why.
pub(crate) async fn receipts(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<AuditOut>>> {
    st.blocking(move |st| {
        let events = st.program.receipts(&s)?;
        Ok(Json(events.into_iter().map(audit_out).collect()))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoticesBody {
    email: bool,
}

#[derive(Serialize)]
pub(crate) struct NoticesOut {
    email: bool,
}

/// `PUT /api/partner/notices`: whether the partner is emailed about requests.
pub(crate) async fn set_notices(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<NoticesBody>,
) -> ApiResult<Json<NoticesOut>> {
    st.blocking(move |st| {
        Ok(Json(NoticesOut {
            email: st.program.set_email_choice(&s, b.email)?,
        }))
    })
    .await
}
