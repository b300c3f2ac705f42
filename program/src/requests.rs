//! Footage requests: an investigator asks one partner for a range of its cameras' video; the
//! partner approves or denies; a supervisor (a second one, not the requester) may grant
//! exigent access with a written justification. Every step is audited once per camera, so
//! each partner's receipts show it.

use vms_storage::{CameraInfo, NewAuditEvent, RequestRow, RequestStatus, SharingMode};

use crate::audit::{AuditAction, Outcome, event};
use crate::policy::{Action, Resource, Subject, authorize};
use crate::text::text;
use crate::{Program, ProgramError, Result};

/// Most cameras one request may name.
pub const MAX_CAMERAS: usize = 16;
/// Shortest written justification for exigent access.
pub const MIN_JUSTIFICATION: usize = 20;

/// A request as the investigator files it.
#[derive(Clone, Copy, Debug)]
pub struct NewRequest<'a> {
    pub cameras: &'a [u32],
    pub start_us: i64,
    pub end_us: i64,
    pub case_number: &'a str,
    pub offence: &'a str,
    pub reason: &'a str,
}

impl Program {
    /// Files a request: a sane range of at most `max_request_hours`, 1 to 16 cameras of one
    /// partner, none registry-only (they record nothing).
    pub fn file_request(&self, s: &Subject, n: NewRequest<'_>) -> Result<RequestRow> {
        let hours = self.settings.max_request_hours;
        let max = i64::from(hours) * 3_600_000_000;
        if n.end_us <= n.start_us {
            return Err(ProgramError::Invalid("end must be after start".into()));
        }
        if n.end_us.checked_sub(n.start_us).is_none_or(|d| d > max) {
            return Err(ProgramError::Invalid(format!(
                "requests cover at most {hours} h"
            )));
        }
        if n.cameras.is_empty() || n.cameras.len() > MAX_CAMERAS {
            return Err(ProgramError::Invalid(format!(
                "name 1 to {MAX_CAMERAS} cameras"
            )));
        }
        let mut partner = None;
        for id in n.cameras {
            let c = self.camera(*id)?;
            if c.sharing == SharingMode::Registry {
                return Err(ProgramError::Invalid(format!(
                    "camera {id} is registry-only: no video is recorded"
                )));
            }
            if partner.is_some_and(|p| p != c.partner) {
                return Err(ProgramError::Invalid("file one request per partner".into()));
            }
            partner = Some(c.partner);
        }
        let r = self.store.create_request(RequestRow {
            id: 0,
            investigator: s.username.clone(),
            cameras: n.cameras.to_vec(),
            start_us: n.start_us,
            end_us: n.end_us,
            case_number: text("case_number", n.case_number, true)?,
            offence: text("offence", n.offence, true)?,
            reason: text("reason", n.reason, true)?,
            status: RequestStatus::Pending,
            decided_by: None,
            decided_us: None,
            decision_note: None,
            created_us: self.store.clock().now_utc_micros(),
        })?;
        self.audit_request(s, AuditAction::RequestFile, &r, Some(r.reason.clone()))?;
        Ok(r)
    }

    /// The requests `s` may see, newest first, each with the earlier denied requests it
    /// follows (see [`earlier_denials`]).
    pub fn visible_requests(&self, s: &Subject) -> Result<Vec<(RequestRow, Vec<u64>)>> {
        let visible = self.requests_visible_to(s)?;
        let mut out: Vec<_> = visible
            .iter()
            .map(|r| (r.clone(), earlier_denials(r, &visible)))
            .collect();
        out.reverse();
        Ok(out)
    }

    /// The earlier denied requests `r` follows that `s` may see (see [`earlier_denials`]): an
    /// investigator is not told about other investigators' requests.
    pub fn earlier_denials_of(&self, s: &Subject, r: &RequestRow) -> Result<Vec<u64>> {
        Ok(earlier_denials(r, &self.requests_visible_to(s)?))
    }

    /// The requests `s` may see, oldest first.
    fn requests_visible_to(&self, s: &Subject) -> Result<Vec<RequestRow>> {
        let cams = self.store.cameras_info()?;
        let mut out = Vec::new();
        for r in self.store.requests()? {
            let rc: Vec<CameraInfo> = cams
                .iter()
                .filter(|c| r.cameras.contains(&c.id))
                .cloned()
                .collect();
            let resource = Resource::Request {
                request: &r,
                cameras: &rc,
            };
            if authorize(s, Action::ListRequests, &resource).allow {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The camera's partner approves or denies a request, with an optional note.
    pub fn decide_request(
        &self,
        s: &Subject,
        id: u64,
        approve: bool,
        note: &str,
    ) -> Result<RequestRow> {
        let mut r = self.request_for(s, id, Action::DecideRequest)?;
        r.status = if approve {
            RequestStatus::Approved
        } else {
            RequestStatus::Denied
        };
        r.decided_by = Some(s.username.clone());
        r.decided_us = Some(self.store.clock().now_utc_micros());
        r.decision_note = Some(text("note", note, false)?).filter(|n| !n.is_empty());
        self.store.put_request(&r)?;
        let action = if approve {
            AuditAction::RequestApprove
        } else {
            AuditAction::RequestDeny
        };
        self.audit_request(s, action, &r, None)?;
        Ok(r)
    }

    /// A supervisor grants exigent access to a request's footage, with a written
    /// justification that is kept as the decision note and audited.
    pub fn grant_exigent(&self, s: &Subject, id: u64, justification: &str) -> Result<RequestRow> {
        let justification = text("justification", justification, true)?;
        if justification.len() < MIN_JUSTIFICATION {
            return Err(ProgramError::Invalid(format!(
                "an exigent grant needs a written justification (at least {MIN_JUSTIFICATION} characters)"
            )));
        }
        let mut r = self.request_for(s, id, Action::GrantExigent)?;
        r.status = RequestStatus::Exigent;
        r.decided_by = Some(s.username.clone());
        r.decided_us = Some(self.store.clock().now_utc_micros());
        r.decision_note = Some(justification.clone());
        self.store.put_request(&r)?;
        self.audit_request(s, AuditAction::RequestExigent, &r, Some(justification))?;
        Ok(r)
    }

    /// Request `id`, once the policy allows `action` on it (denials audited).
    pub(crate) fn request_for(&self, s: &Subject, id: u64, action: Action) -> Result<RequestRow> {
        let r = self.store.request(id)?.ok_or(ProgramError::NotFound)?;
        let cams: Vec<CameraInfo> = self
            .store
            .cameras_info()?
            .into_iter()
            .filter(|c| r.cameras.contains(&c.id))
            .collect();
        self.check(
            s,
            action,
            &Resource::Request {
                request: &r,
                cameras: &cams,
            },
            &NewAuditEvent {
                request: Some(id),
                ..Default::default()
            },
        )?;
        Ok(r)
    }

    /// Audits a request event once per camera it names, so each partner's receipts show it.
    pub(crate) fn audit_request(
        &self,
        s: &Subject,
        action: AuditAction,
        r: &RequestRow,
        reason: Option<String>,
    ) -> Result<()> {
        for c in &r.cameras {
            self.audit(NewAuditEvent {
                camera: Some(*c),
                range: Some((r.start_us, r.end_us)),
                case_number: Some(r.case_number.clone()),
                reason: reason.clone(),
                request: Some(r.id),
                ..event(&s.username, action, Outcome::Ok)
            })?;
        }
        Ok(())
    }
}

/// The ids of requests filed before `r` that were denied and asked for any of its cameras over
/// an overlapping window: a request that follows a denial is shown with it, so a partner (and
/// a supervisor asked for exigent access) sees that the same footage was refused before
/// (issue 22 F15).
pub fn earlier_denials(r: &RequestRow, all: &[RequestRow]) -> Vec<u64> {
    all.iter()
        .filter(|o| {
            o.id < r.id
                && o.status == RequestStatus::Denied
                && o.cameras.iter().any(|c| r.cameras.contains(c))
                && o.start_us < r.end_us
                && r.start_us < o.end_us
        })
        .map(|o| o.id)
        .collect()
}
