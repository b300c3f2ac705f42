//! Legal holds: a supervisor keeps a camera's range of video past retention (and past a
//! partner leaving) for a case; lifting one names why. Both are audited with camera and range.

use vms_storage::{HoldRow, NewAuditEvent};

use crate::audit::{AuditAction, Outcome, event};
use crate::policy::Subject;
use crate::text::text;
use crate::{Program, Result};

/// A hold being placed.
#[derive(Clone, Copy, Debug)]
pub struct NewHold<'a> {
    pub camera: u32,
    pub start_us: i64,
    pub end_us: i64,
    pub case_number: &'a str,
    pub reason: &'a str,
}

impl Program {
    /// Places a hold; returns its id and its stored label (`case …: reason`).
    pub fn place_hold(&self, s: &Subject, h: NewHold<'_>) -> Result<(u64, String)> {
        self.camera(h.camera)?;
        let case = text("case_number", h.case_number, true)?;
        let reason = text("reason", h.reason, true)?;
        let label = format!("case {case}: {reason}");
        let id = self
            .store
            .add_hold(h.camera, h.start_us, h.end_us, &label)?;
        self.audit(NewAuditEvent {
            camera: Some(h.camera),
            range: Some((h.start_us, h.end_us)),
            case_number: Some(case),
            reason: Some(reason),
            ..event(&s.username, AuditAction::HoldPlace, Outcome::Ok)
        })?;
        Ok((id, label))
    }

    /// Every hold, for a supervisor; the read is audited.
    pub fn holds(&self, s: &Subject) -> Result<Vec<(u64, HoldRow)>> {
        let holds = self.store.holds()?;
        self.audit_read(s, AuditAction::HoldsRead, format!("{} holds", holds.len()))?;
        Ok(holds)
    }

    /// Lifts hold `id` for a stated `reason` (required: once lifted, retention may delete the
    /// video). The audit event holds the camera, range, the reason for lifting and the reason
    /// the hold was placed.
    pub fn lift_hold(&self, s: &Subject, id: u64, reason: &str) -> Result<HoldRow> {
        let reason = text("reason", reason, true)?;
        let hold = self.store.remove_hold(id)?;
        self.audit(NewAuditEvent {
            camera: Some(hold.camera),
            range: Some((hold.start_utc, hold.end_utc)),
            reason: Some(reason),
            detail: format!("hold {id}, placed for: {}", hold.reason),
            ..event(&s.username, AuditAction::HoldLift, Outcome::Ok)
        })?;
        Ok(hold)
    }
}
