//! The gate every access to footage passes (timeline, playback, export; live view asks the
//! policy per camera without a range): the camera exists, a reason is given, the range is sane,
//! the policy allows exactly this camera and range, and the access is audited either way.

use vms_storage::{CameraInfo, NewAuditEvent, RequestRow, SharingMode};

use crate::audit::{AuditAction, Outcome};
use crate::policy::{Action, Resource, Subject};
use crate::text::text;
use crate::{Program, ProgramError, Result};

/// The range of footage asked for, and why.
#[derive(Clone, Copy, Debug)]
pub struct FootageRange<'a> {
    /// UTC microseconds, `start_us < end_us`.
    pub start_us: i64,
    pub end_us: i64,
    pub reason: &'a str,
    pub case_number: Option<&'a str>,
}

impl Program {
    /// The checks every access to footage shares: the camera exists, a reason is given, the
    /// range is sane (ordered, not in the future, at most `max_range_hours`), and the policy
    /// allows `action` on exactly this camera and range — under the strictest sharing terms in
    /// force while the range was recorded or now (issue 22 F9). Denials and the allowed access
    /// are both audited (as `audit_as`) with camera, range, reason and case number. Returns
    /// the camera with those terms.
    pub fn footage_access(
        &self,
        s: &Subject,
        id: u32,
        q: FootageRange<'_>,
        action: Action,
        audit_as: AuditAction,
    ) -> Result<CameraInfo> {
        let current = self.camera(id)?;
        let reason = text("reason", q.reason, true)?;
        let case_number = q
            .case_number
            .map(|c| text("case_number", c, false))
            .transpose()?
            .filter(|c| !c.is_empty());
        let ev = NewAuditEvent {
            camera: Some(id),
            range: Some((q.start_us, q.end_us)),
            reason: Some(reason),
            case_number,
            ..Default::default()
        };
        let bad = |msg: String| {
            self.audit(NewAuditEvent {
                actor: s.username.clone(),
                action: audit_as.into(),
                outcome: Outcome::Deny.into(),
                rule: "bad-range".into(),
                ..ev.clone()
            })?;
            Err(ProgramError::Invalid(msg))
        };
        let max_hours = self.settings.max_range_hours;
        let max = i64::from(max_hours) * 3_600_000_000;
        if q.end_us <= q.start_us {
            return bad("end must be after start".into());
        }
        // Checked: a range from i64::MIN to i64::MAX must be refused, not wrap (issue 22 F8).
        if q.end_us.checked_sub(q.start_us).is_none_or(|d| d > max) {
            return bad(format!("range longer than {max_hours} h"));
        }
        if q.start_us > self.store.clock().now_utc_micros() {
            return bad("range starts in the future".into());
        }
        let c = self.terms_over(current, q.start_us, q.end_us)?;
        let requests: Vec<RequestRow> = self
            .store
            .requests()?
            .into_iter()
            .filter(|r| r.cameras.contains(&id))
            .collect();
        let rule = self.check(
            s,
            action,
            &Resource::Footage {
                camera: &c,
                start_us: q.start_us,
                end_us: q.end_us,
                requests: &requests,
            },
            &ev,
        )?;
        self.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: audit_as.into(),
            outcome: Outcome::Allow.into(),
            rule: rule.into(),
            ..ev
        })?;
        Ok(c)
    }

    /// `c` with the strictest sharing mode in force at any moment of `[start, end)` or now: a
    /// partner who shares live today did not consent to live access to what was recorded while
    /// the camera was on-request, and withdrawing consent covers what was recorded before.
    fn terms_over(&self, mut c: CameraInfo, start: i64, end: i64) -> Result<CameraInfo> {
        let history = self.store.terms_history(c.id)?;
        // Before the first entry (footage older than the history) the first known terms count.
        let at_start = history
            .iter()
            .take_while(|(from, _)| *from <= start)
            .last()
            .or(history.first())
            .map(|(_, m)| *m);
        let during = history
            .iter()
            .filter(|(from, _)| start < *from && *from < end)
            .map(|(_, m)| *m);
        c.sharing = at_start
            .into_iter()
            .chain(during)
            .chain(std::iter::once(c.sharing))
            .min_by_key(|m| openness(*m))
            .unwrap_or(c.sharing);
        Ok(c)
    }
}

/// How much a mode lets staff see: registry (nothing) < on-request < live.
fn openness(m: SharingMode) -> u8 {
    match m {
        SharingMode::Registry => 0,
        SharingMode::OnRequest => 1,
        SharingMode::Live => 2,
    }
}
