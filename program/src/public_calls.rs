//! Public calls for video: for one incident of a case, a page anyone may open to send footage
//! (off unless the deployment turns it on). Whoever starts a submission from the page gets a
//! link of their own, made by the call — the same statement, limits and upload path as any
//! link — so one person's statement and files are never mixed with another's. The page says
//! what, when and a general area, never an exact address; name and contact stay optional.

use vms_storage::NewAuditEvent;
use vms_storage::intake::{LinkRow, PublicCallRow};

use crate::audit::{AuditAction, Outcome, event};
use crate::policy::Subject;
use crate::text::text;
use crate::{Program, ProgramError, Result};

/// The answer to every call that cannot be used, whatever the reason.
pub const CALL_CLOSED: &str = "this call for video is closed or does not exist";

/// Longest a call stays open, days.
pub const MAX_DAYS: u32 = 90;

/// A new call, as an investigator words it.
#[derive(Clone, Copy, Debug)]
pub struct NewPublicCall<'a> {
    pub case_number: &'a str,
    pub title: &'a str,
    pub window: &'a str,
    pub area: &'a str,
    /// Days it stays open (default 14, at most [`MAX_DAYS`]).
    pub days: Option<u32>,
}

const DAY_US: i64 = 86_400_000_000;

impl Program {
    fn staff_for_calls(&self, s: &Subject) -> Result<()> {
        self.staff_for_submissions(s)?;
        if !self.settings.submissions.public_calls {
            return Err(ProgramError::Conflict(
                "public calls for video are turned off on this server ([submissions] public_calls)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Opens a public call for video (audited).
    pub fn create_public_call(&self, s: &Subject, n: NewPublicCall<'_>) -> Result<PublicCallRow> {
        self.staff_for_calls(s)?;
        let days = n.days.unwrap_or(14);
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(ProgramError::Invalid(format!("days: 1 to {MAX_DAYS}")));
        }
        let now = self.store.clock().now_utc_micros();
        let call = self.store.create_public_call(PublicCallRow {
            id: 0,
            case_number: text("case_number", n.case_number, true)?,
            title: text("title", n.title, true)?,
            window: text("window", n.window, true)?,
            area: text("area", n.area, true)?,
            created_by: s.username.clone(),
            created_us: now,
            closes_us: now + i64::from(days) * DAY_US,
            closed_us: None,
        })?;
        self.audit(NewAuditEvent {
            case_number: Some(call.case_number.clone()),
            detail: format!(
                "public call {} opened for {days} days: {:?}",
                call.id, call.title
            ),
            ..event(&s.username, AuditAction::SubmissionPublicCall, Outcome::Ok)
        })?;
        Ok(call)
    }

    /// The calls of a case.
    pub fn public_calls(&self, s: &Subject, case_number: &str) -> Result<Vec<PublicCallRow>> {
        self.staff_for_submissions(s)?;
        Ok(self
            .store
            .public_calls()?
            .into_iter()
            .filter(|c| c.case_number == case_number)
            .collect())
    }

    /// Closes a call: its page stops taking new submissions (those started keep their links).
    pub fn close_public_call(&self, s: &Subject, id: u64) -> Result<PublicCallRow> {
        self.staff_for_submissions(s)?;
        let mut call = self.store.public_call(id)?.ok_or(ProgramError::NotFound)?;
        if call.closed_us.is_none() {
            call.closed_us = Some(self.store.clock().now_utc_micros());
            self.store.put_public_call(&call)?;
            self.audit(NewAuditEvent {
                case_number: Some(call.case_number.clone()),
                detail: format!("public call {id} closed"),
                ..event(&s.username, AuditAction::SubmissionPublicCall, Outcome::Ok)
            })?;
        }
        Ok(call)
    }

    /// A call the public may use now, or [`CALL_CLOSED`].
    pub fn open_public_call(&self, id: u64) -> Result<PublicCallRow> {
        let now = self.store.clock().now_utc_micros();
        self.store
            .public_call(id)?
            .filter(|c| self.settings.submissions.public_calls && c.open_at(now))
            .ok_or_else(|| ProgramError::Refused(CALL_CLOSED.into()))
    }

    /// Starts one person's submission through call `id`: a link of their own (token shown
    /// once), audited with the address it came from.
    pub fn start_public_submission(&self, id: u64, remote: &str) -> Result<(LinkRow, String)> {
        let call = self.open_public_call(id)?;
        let hours = i64::from(self.settings.submissions.link_hours);
        let (link, token) = self.mint_link(
            call.case_number.clone(),
            None,
            format!("a member of the public (call {id})"),
            format!("public call {id}"),
            |now| (now + hours * 3_600_000_000).min(call.closes_us.max(now + 3_600_000_000)),
        )?;
        self.audit(NewAuditEvent {
            case_number: Some(call.case_number),
            detail: format!("link {} through public call {id}, from {remote}", link.id),
            ..event("public", AuditAction::SubmissionLinkCreate, Outcome::Ok)
        })?;
        Ok((link, token))
    }
}
