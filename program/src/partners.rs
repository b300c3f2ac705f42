//! Partners: the agency signs a resident or business up (a partner record and its account),
//! the partner accepts the program's terms, and pauses, resumes or leaves. Leaving stops
//! recording at once and lets retention delete the partner's video, except what a legal hold
//! keeps.

use vms_storage::{HoldRow, NewAuditEvent, PartnerRow, PartnerStatus, Role, SecretBox};

use crate::audit::{AuditAction, Outcome, event};
use crate::auth;
use crate::policy::{Action, Resource, Subject};
use crate::text::text;
use crate::{Program, ProgramError, Result};

/// A partner being signed up, with the account it signs in with.
#[derive(Clone, Copy, Debug)]
pub struct NewPartner<'a> {
    pub contact_name: &'a str,
    pub contact_email: &'a str,
    pub contact_phone: &'a str,
    pub address: &'a str,
    pub username: &'a str,
    pub password: &'a str,
}

/// What a status change did.
#[derive(Clone, Debug)]
pub struct StatusChange {
    pub partner: PartnerRow,
    /// The partner's cameras (all stop recording unless the partner is active again).
    pub cameras: usize,
    /// On leaving: the holds that keep some of the partner's video past its terms.
    pub holds: Vec<(u64, HoldRow)>,
}

impl Program {
    /// Creates a partner and its account. Everything about the account is checked (and the
    /// password hashed) before the partner row is written, so a refused account leaves no
    /// partner behind (issue 22 F21).
    pub fn create_partner(
        &self,
        actor: &str,
        secrets: &SecretBox,
        n: NewPartner<'_>,
    ) -> Result<PartnerRow> {
        if self.store.user(n.username)?.is_some() {
            return Err(ProgramError::Conflict(format!(
                "user {:?} exists",
                n.username
            )));
        }
        let now = self.store.clock().now_utc_micros();
        if !vms_storage::valid_username(n.username) {
            return Err(ProgramError::Invalid(format!(
                "username {:?}: use 1-64 characters from a-z, 0-9, '.', '-', '_'",
                n.username
            )));
        }
        let (mut user, _) = auth::new_user(
            n.username,
            Role::Partner,
            None,
            n.password,
            false,
            secrets,
            now,
        )
        .map_err(ProgramError::Invalid)?;
        let p = self.store.create_partner(PartnerRow {
            id: 0,
            pseudonym: String::new(),
            contact_name: text("contact_name", n.contact_name, true)?,
            contact_email: text("contact_email", n.contact_email, false)?,
            contact_phone: text("contact_phone", n.contact_phone, false)?,
            address: text("address", n.address, false)?,
            terms_version: None,
            terms_accepted_us: None,
            status: PartnerStatus::Active,
            created_us: now,
        })?;
        user.partner = Some(p.id);
        self.store.put_user(&user)?;
        self.audit(NewAuditEvent {
            detail: format!("{} user={}", p.pseudonym, n.username),
            ..event(actor, AuditAction::PartnerCreate, Outcome::Ok)
        })?;
        Ok(p)
    }

    /// Every partner record (contacts included), for an administrator; the read is audited.
    pub fn partners(&self, s: &Subject) -> Result<Vec<PartnerRow>> {
        let partners = self.store.partners()?;
        self.audit_read(
            s,
            AuditAction::PartnersRead,
            format!("{} partners", partners.len()),
        )?;
        Ok(partners)
    }

    /// The signed-in partner's own record, and the version of the terms now in force (which it
    /// has accepted when its record names the same version).
    pub fn own_account(&self, s: &Subject) -> Result<(PartnerRow, String)> {
        let pid = self.own_partner(s, Action::PartnerSelf)?;
        let p = self.store.partner(pid)?.ok_or(ProgramError::NotFound)?;
        Ok((p, self.settings.terms_version.clone()))
    }

    /// The signed-in partner accepts the current terms (`version` must be them).
    pub fn accept_terms(&self, s: &Subject, version: &str) -> Result<PartnerRow> {
        let pid = self.own_partner(s, Action::PartnerSelf)?;
        let current = &self.settings.terms_version;
        if version != current {
            return Err(ProgramError::Invalid(format!(
                "current terms are version {current}"
            )));
        }
        let mut p = self.store.partner(pid)?.ok_or(ProgramError::NotFound)?;
        p.terms_version = Some(version.to_owned());
        p.terms_accepted_us = Some(self.store.clock().now_utc_micros());
        self.store.put_partner(&p)?;
        self.audit(NewAuditEvent {
            detail: format!("version {version}"),
            ..event(&s.username, AuditAction::PartnerTerms, Outcome::Ok)
        })?;
        Ok(p)
    }

    /// The signed-in partner pauses, resumes or leaves the program (`status`: `active`,
    /// `paused` or `left`; leaving is final). The caller tells ingest that terms changed.
    pub fn set_partner_status(&self, s: &Subject, status: &str) -> Result<StatusChange> {
        let pid = self.own_partner(s, Action::PartnerSelf)?;
        let mut p = self.store.partner(pid)?.ok_or(ProgramError::NotFound)?;
        if p.status == PartnerStatus::Left {
            return Err(ProgramError::Conflict(
                "partner has already left the program".into(),
            ));
        }
        let status = parse_status(status)?;
        p.status = status;
        self.store.put_partner(&p)?;
        let ids = self.partner_camera_ids(pid)?;
        // Only a partner who is leaving is told about holds, and only their ranges (issue 22
        // F22): case numbers and reasons are the investigation's.
        let holds = if status == PartnerStatus::Left {
            self.store
                .holds()?
                .into_iter()
                .filter(|(_, h)| ids.contains(&h.camera))
                .collect()
        } else {
            Vec::new()
        };
        self.audit(NewAuditEvent {
            detail: status_label(status).into(),
            ..event(&s.username, AuditAction::PartnerStatus, Outcome::Ok)
        })?;
        Ok(StatusChange {
            partner: p,
            cameras: ids.len(),
            holds,
        })
    }

    /// The ids of a partner's cameras.
    pub(crate) fn partner_camera_ids(&self, pid: u64) -> Result<Vec<u32>> {
        Ok(self
            .store
            .cameras_info()?
            .into_iter()
            .filter(|c| c.partner == pid)
            .map(|c| c.id)
            .collect())
    }

    /// The partner a partner account acts for, once the policy allows `action` on it.
    pub(crate) fn own_partner(&self, s: &Subject, action: Action) -> Result<u64> {
        let pid = s.partner.ok_or(ProgramError::Forbidden {
            rule: "partner-account-only",
        })?;
        self.check(
            s,
            action,
            &Resource::Partner(pid),
            &NewAuditEvent::default(),
        )?;
        Ok(pid)
    }
}

/// A status as the API and the audit log name it.
pub fn status_label(s: PartnerStatus) -> &'static str {
    match s {
        PartnerStatus::Active => "active",
        PartnerStatus::Paused => "paused",
        PartnerStatus::Left => "left",
    }
}

/// The status a name stands for.
pub fn parse_status(s: &str) -> Result<PartnerStatus> {
    match s {
        "active" => Ok(PartnerStatus::Active),
        "paused" => Ok(PartnerStatus::Paused),
        "left" => Ok(PartnerStatus::Left),
        other => Err(ProgramError::Invalid(format!(
            "unknown status {other:?}; expected active, paused or left"
        ))),
    }
}
