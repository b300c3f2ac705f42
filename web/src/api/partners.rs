//! Partners: the agency's partner records, a partner's terms and status, and its receipts.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vms_program::audit::{AuditAction, Outcome};
use vms_program::auth::{self};
use vms_program::policy::{Action, Resource};
use vms_program::text::text;
use vms_storage::{CameraInfo, NewAuditEvent, PartnerRow, PartnerStatus, Role};

use super::audit::{AuditOut, audit_out};
use super::holds::PartnerHoldOut;
use crate::error::{ApiError, ApiJson, ApiResult};
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
        status: match p.status {
            PartnerStatus::Active => "active",
            PartnerStatus::Paused => "paused",
            PartnerStatus::Left => "left",
        },
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
        if st.store.user(&b.username)?.is_some() {
            return Err(ApiError::Conflict(format!("user {:?} exists", b.username)));
        }
        let now = st.store.clock().now_utc_micros();
        // Everything about the account is checked (and the password hashed) before the partner
        // row is written, so a refused account leaves no partner behind (issue 22 F21).
        if !vms_storage::valid_username(&b.username) {
            return Err(ApiError::BadRequest(format!(
                "username {:?}: use 1-64 characters from a-z, 0-9, '.', '-', '_'",
                b.username
            )));
        }
        let (mut user, _) = auth::new_user(
            &b.username,
            Role::Partner,
            None,
            &b.password,
            false,
            &st.secrets,
            now,
        )
        .map_err(ApiError::BadRequest)?;
        let p = st.store.create_partner(PartnerRow {
            id: 0,
            pseudonym: String::new(),
            contact_name: text("contact_name", &b.contact_name, true)?,
            contact_email: text("contact_email", &b.contact_email, false)?,
            contact_phone: text("contact_phone", &b.contact_phone, false)?,
            address: text("address", &b.address, false)?,
            terms_version: None,
            terms_accepted_us: None,
            status: PartnerStatus::Active,
            created_us: now,
        })?;
        let mut p = p;
        p.pseudonym = format!("P-{:04}", p.id);
        st.store.put_partner(&p)?;
        user.partner = Some(p.id);
        st.store.put_user(&user)?;
        st.program.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: AuditAction::PartnerCreate.into(),
            outcome: Outcome::Ok.into(),
            detail: format!("{} user={}", p.pseudonym, b.username),
            ..Default::default()
        })?;
        Ok((StatusCode::CREATED, Json(partner_out(p))))
    })
    .await
}

pub(crate) async fn list_partners(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<PartnerOut>>> {
    st.blocking(move |st| {
        let partners = st.store.partners()?;
        st.program.audit_read(
            &s,
            AuditAction::PartnersRead,
            format!("{} partners", partners.len()),
        )?;
        Ok(Json(partners.into_iter().map(partner_out).collect()))
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
    st.blocking(move |st| {
        let pid = s.partner.ok_or(ApiError::Forbidden {
            rule: "partner-account-only",
        })?;
        st.program.check(
            &s,
            Action::PartnerSelf,
            &Resource::Partner(pid),
            &NewAuditEvent::default(),
        )?;
        if b.version != st.program.settings().terms_version {
            return Err(ApiError::BadRequest(format!(
                "current terms are version {}",
                st.program.settings().terms_version
            )));
        }
        let mut p = st.store.partner(pid)?.ok_or(ApiError::NotFound)?;
        p.terms_version = Some(b.version.clone());
        p.terms_accepted_us = Some(st.store.clock().now_utc_micros());
        st.store.put_partner(&p)?;
        st.program.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: AuditAction::PartnerTerms.into(),
            outcome: Outcome::Ok.into(),
            detail: format!("version {}", b.version),
            ..Default::default()
        })?;
        Ok(Json(partner_out(p)))
    })
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
        let pid = s.partner.ok_or(ApiError::Forbidden { rule: "partner-account-only" })?;
        st.program.check(&s, Action::PartnerSelf, &Resource::Partner(pid), &NewAuditEvent::default())?;
        let mut p = st.store.partner(pid)?.ok_or(ApiError::NotFound)?;
        if p.status == PartnerStatus::Left {
            return Err(ApiError::Conflict("partner has already left the program".into()));
        }
        let (status, label) = match b.status.as_str() {
            "active" => (PartnerStatus::Active, "active"),
            "paused" => (PartnerStatus::Paused, "paused"),
            "left" => (PartnerStatus::Left, "left"),
            other => return Err(ApiError::BadRequest(format!("unknown status {other:?}; expected active, paused or left"))),
        };
        p.status = status;
        st.store.put_partner(&p)?;
        let cams: Vec<CameraInfo> = st.store.cameras_info()?.into_iter().filter(|c| c.partner == pid).collect();
        let ids: Vec<u32> = cams.iter().map(|c| c.id).collect();
        let holds: Vec<PartnerHoldOut> = if status == PartnerStatus::Left {
            st.store
                .holds()?
                .into_iter()
                .filter(|(_, h)| ids.contains(&h.camera))
                .map(|(id, h)| PartnerHoldOut { id, camera: h.camera, start_us: h.start_utc, end_us: h.end_utc })
                .collect()
        } else {
            Vec::new()
        };
        st.program.audit(NewAuditEvent { actor: s.username.clone(), action: AuditAction::PartnerStatus.into(), outcome: Outcome::Ok.into(), detail: label.into(), ..Default::default() })?;
        st.changes.notify_one();
        let note = match status {
            PartnerStatus::Left if holds.is_empty() => "Recording stopped. Your recorded video will be deleted within minutes.".into(),
            PartnerStatus::Left => format!("Recording stopped. Your recorded video will be deleted within minutes, except {} range(s) under legal hold, kept until the hold is lifted.", holds.len()),
            PartnerStatus::Paused => "Recording paused for all your cameras.".into(),
            PartnerStatus::Active => "Recording resumes for cameras you have not paused.".into(),
        };
        Ok(Json(StatusOut { status: label, cameras_stopped: if status == PartnerStatus::Active { 0 } else { cams.len() }, legal_holds: holds, note }))
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
