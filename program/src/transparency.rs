//! The public transparency report: aggregate counts per calendar month (UTC), never names,
//! addresses or footage. Counts come from the request records and the audit chain, by kind
//! ([`AuditAction::is_video`]), so no access can fall out of the report by a misspelt name.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use serde::Serialize;
use vms_storage::{AuditFilter, PartnerStatus, RequestStatus, SharingMode};

use crate::audit::{AuditAction, Outcome};
use crate::{Program, ProgramError, Result};

/// One month's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Transparency {
    pub month: String,
    pub requests_filed: u64,
    pub requests_approved: u64,
    pub requests_denied: u64,
    pub requests_pending: u64,
    pub exigent_accesses: u64,
    pub exports: u64,
    pub video_accesses: u64,
    /// Submission links sent to people with footage.
    pub submission_links: u64,
    /// Files received through them.
    pub submissions_received: u64,
    /// Files investigators accepted into a case as evidence, and rejected.
    pub submissions_accepted: u64,
    pub submissions_rejected: u64,
    /// Area requests sent, and the owners they asked (one request each).
    pub area_requests: u64,
    pub area_owners_contacted: u64,
    pub partners_active: u64,
    pub cameras_registry: u64,
    pub cameras_on_request: u64,
    pub cameras_live: u64,
}

/// Month bounds in Unix microseconds for `YYYY-MM` (UTC), `[start, end)`.
pub fn month_bounds(m: &str) -> Option<(i64, i64)> {
    let (y, mo) = m.split_once('-')?;
    if y.len() != 4 || mo.len() != 2 || !y.bytes().chain(mo.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, mo): (i16, i8) = (y.parse().ok()?, mo.parse().ok()?);
    if y < 1970 {
        return None;
    }
    let first = Date::new(y, mo, 1).ok()?;
    let micros = |d: Date| {
        d.to_datetime(Time::midnight())
            .to_zoned(TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_microsecond())
    };
    Some((
        micros(first)?,
        micros(first.last_of_month().tomorrow().ok()?)?,
    ))
}

impl Program {
    /// The report for `month` (`YYYY-MM`).
    pub fn transparency(&self, month: &str) -> Result<Transparency> {
        let (from, to) = month_bounds(month)
            .ok_or_else(|| ProgramError::Invalid("month must be YYYY-MM".into()))?;
        let mut t = Transparency {
            month: month.to_owned(),
            ..Default::default()
        };
        for r in self.store.requests()? {
            if r.created_us >= from && r.created_us < to {
                t.requests_filed += 1;
                match r.status {
                    RequestStatus::Approved => t.requests_approved += 1,
                    RequestStatus::Denied => t.requests_denied += 1,
                    RequestStatus::Pending => t.requests_pending += 1,
                    RequestStatus::Exigent => t.exigent_accesses += 1,
                }
            }
        }
        for e in self.store.audit_search(&AuditFilter {
            from_us: Some(from),
            to_us: Some(to),
            limit: usize::MAX,
            ..Default::default()
        })? {
            let Some(action) = AuditAction::parse(&e.event.action) else {
                continue;
            };
            match action {
                AuditAction::SubmissionLinkCreate => t.submission_links += 1,
                AuditAction::SubmissionReceived => t.submissions_received += 1,
                AuditAction::SubmissionReview => match Outcome::parse(&e.event.outcome) {
                    Some(Outcome::Allow) => t.submissions_accepted += 1,
                    Some(Outcome::Deny) => t.submissions_rejected += 1,
                    _ => {}
                },
                _ => {}
            }
            if Outcome::parse(&e.event.outcome) == Some(Outcome::Allow) && action.is_video() {
                t.video_accesses += 1;
            }
        }
        // Evidence exports: each package made, whatever it holds (cameras, submitted files or
        // both) — not each camera's authorization, which counted a 3-camera export thrice
        // and an export of submitted files not at all.
        t.exports = self
            .store
            .exports()?
            .iter()
            .filter(|x| x.created_us >= from && x.created_us < to)
            .count() as u64;
        for c in self.store.canvasses()? {
            if c.created_us >= from && c.created_us < to {
                t.area_requests += 1;
                t.area_owners_contacted += c.owners.len() as u64;
            }
        }
        t.partners_active = self
            .store
            .partners()?
            .iter()
            .filter(|p| p.status == PartnerStatus::Active)
            .count() as u64;
        for c in self.store.cameras_info()? {
            match c.sharing {
                SharingMode::Registry => t.cameras_registry += 1,
                SharingMode::OnRequest => t.cameras_on_request += 1,
                SharingMode::Live => t.cameras_live += 1,
            }
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::month_bounds;

    #[test]
    fn month_bounds_are_utc_calendar_months() {
        assert_eq!(month_bounds("1970-01"), Some((0, 31 * 86_400_000_000)));
        let (s, e) = month_bounds("2024-02").unwrap_or_default();
        assert_eq!((e - s) / 86_400_000_000, 29, "leap February");
        assert_eq!(s, 1_706_745_600_000_000);
        let (s, e) = month_bounds("2024-12").unwrap_or_default();
        assert_eq!(
            (e - s) / 86_400_000_000,
            31,
            "December ends at the next year"
        );
        assert!(month_bounds("2024-13").is_none());
        assert!(month_bounds("2024-1").is_none());
        assert!(month_bounds("1969-12").is_none());
        assert!(month_bounds("garbage").is_none());
        assert!(month_bounds("+024-01").is_none());
        assert!(month_bounds("2024-+1").is_none());
    }
}
