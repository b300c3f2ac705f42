//! Telling owners about area requests by email: which notices are due, what each says, and
//! what became of it. The transport (SMTP) is the caller's; this module decides.
//!
//! A notice is queued when the canvass is sent and stays queued until the SMTP server took it:
//! a server that is down only delays it (retried with backoff), a refused address ends it as
//! failed, and either shows in the canvass's progress. Each attempt carries a fresh submission
//! link (the token exists only in the message; a link whose message never left is revoked). A
//! reminder goes out before the window falls out of the owner's own retention, if the request
//! is still unanswered. Messages carry no video, no incident position and no other owner.

use vms_storage::canvass::{CanvassOwner, CanvassRow, Notice};
use vms_storage::{CameraSource, NewAuditEvent, RequestStatus};

use crate::audit::{AuditAction, Outcome, event};
use crate::policy::{Action, Subject};
use crate::submissions::HOUR_US;
use crate::{Program, ProgramError, Result};

/// Attempts before a notice is given up (about seven hours of backoff).
pub const MAX_ATTEMPTS: u32 = 12;
/// How long before the owner's recorder drops the window's start the reminder goes out.
pub const REMIND_BEFORE_US: i64 = 48 * HOUR_US;
const MINUTE_US: i64 = 60_000_000;

/// Delay before attempt `attempts + 1`: one minute, doubling, at most an hour.
pub fn backoff_us(attempts: u32) -> i64 {
    (MINUTE_US << attempts.min(6)).min(60 * MINUTE_US)
}

/// Which message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    Request,
    Reminder,
}

/// A notice due now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    pub canvass: u64,
    pub request: u64,
    pub kind: NoticeKind,
}

/// A message ready for the transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl Program {
    /// Whether the signed-in partner is emailed about requests.
    pub fn email_choice(&self, s: &Subject) -> Result<bool> {
        let pid = self.own_partner(s, Action::PartnerSelf)?;
        Ok(!self.store.partner_prefs(pid)?.email_opt_out)
    }

    /// The partner chooses whether it is emailed about requests (audited); queued emails to
    /// a partner who opted out are not sent.
    pub fn set_email_choice(&self, s: &Subject, email: bool) -> Result<bool> {
        let pid = self.own_partner(s, Action::PartnerSelf)?;
        let mut prefs = self.store.partner_prefs(pid)?;
        prefs.email_opt_out = !email;
        self.store.put_partner_prefs(pid, &prefs)?;
        self.audit(NewAuditEvent {
            detail: format!("emails about requests {}", if email { "on" } else { "off" }),
            ..event(&s.username, AuditAction::PartnerSelf, Outcome::Ok)
        })?;
        Ok(email)
    }

    /// How an owner asked by a canvass sent `now` will be told.
    pub(crate) fn first_notice(&self, partner: u64, now: i64) -> Result<Notice> {
        let why = if !self.settings.email {
            Some("email is not set up")
        } else if self.store.partner_prefs(partner)?.email_opt_out {
            Some("the owner chose not to be emailed")
        } else if self
            .store
            .partner(partner)?
            .is_none_or(|p| p.contact_email.trim().is_empty())
        {
            Some("no email address")
        } else {
            None
        };
        Ok(match why {
            Some(why) => Notice::PortalOnly { why: why.into() },
            None => Notice::Queued {
                attempts: 0,
                due_us: now,
                last_error: None,
            },
        })
    }

    /// The notices due at `now`, oldest canvass first; reminders that fell due are queued on
    /// the way. The earliest later due time comes back too, so the mailer sleeps until then.
    pub fn due_notices(&self, now: i64) -> Result<(Vec<Due>, Option<i64>)> {
        let _guard = self.canvass_guard()?;
        let mut due = Vec::new();
        let mut next: Option<i64> = None;
        let mut later = |t: i64| next = Some(next.map_or(t, |n: i64| n.min(t)));
        for mut c in self.store.canvasses()? {
            let mut changed = false;
            for i in 0..c.owners.len() {
                if c.owners[i].reminder.is_none() {
                    match self.reminder_at(&c, &c.owners[i])? {
                        Some(at) if at <= now => {
                            c.owners[i].reminder = Some(Notice::Queued {
                                attempts: 0,
                                due_us: now,
                                last_error: None,
                            });
                            changed = true;
                        }
                        Some(at) => later(at),
                        None => {}
                    }
                }
                let o = &c.owners[i];
                for (kind, notice) in [
                    (NoticeKind::Request, Some(&o.notice)),
                    (NoticeKind::Reminder, o.reminder.as_ref()),
                ] {
                    if let Some(Notice::Queued { due_us, .. }) = notice {
                        if *due_us <= now {
                            due.push(Due {
                                canvass: c.id,
                                request: o.request,
                                kind,
                            });
                        } else {
                            later(*due_us);
                        }
                    }
                }
            }
            if changed {
                self.store.put_canvass(&c)?;
            }
        }
        Ok((due, next))
    }

    /// When the owner should be reminded: two days before its recorder drops the window's
    /// start, once told, while the request is unanswered and the window not yet lost. `None`
    /// when it never should (answered, retention unknown, not emailed).
    fn reminder_at(&self, c: &CanvassRow, o: &CanvassOwner) -> Result<Option<i64>> {
        let Notice::Sent { at_us: sent_us } = o.notice else {
            return Ok(None);
        };
        let pending = self
            .store
            .request(o.request)?
            .is_some_and(|r| r.status == RequestStatus::Pending);
        if !pending || o.opened_us.is_some() {
            return Ok(None);
        }
        // The shortest retention among the owner's asked cameras decides.
        let mut keeps: Option<u32> = None;
        for id in &o.cameras {
            if let Some(cam) = self.store.camera_info(*id)? {
                let d = if cam.source == CameraSource::Registered {
                    cam.owner_keeps_days
                } else {
                    Some(cam.retention_days)
                };
                if let Some(d) = d {
                    keeps = Some(keeps.map_or(d, |k| k.min(d)));
                }
            }
        }
        let Some(days) = keeps else {
            return Ok(None);
        };
        let Some(lost_at) = (i64::from(days) * 24 * HOUR_US).checked_add(c.start_us) else {
            return Ok(None);
        };
        let remind_at = lost_at.saturating_sub(REMIND_BEFORE_US);
        let now = self.store.clock().now_utc_micros();
        // Not when the first email already went out that close to the end (two emails a
        // minute apart tell the owner nothing new), nor once the window is lost.
        Ok((now < lost_at && remind_at > sent_us).then_some(remind_at))
    }

    /// The message for a due notice, with a fresh link for the owner's request (revoking the
    /// link of an attempt whose message never left); `None` when it is no longer due.
    pub fn compose_notice(&self, d: &Due, public_url: &str) -> Result<Option<Email>> {
        let _guard = self.canvass_guard()?;
        let mut c = self
            .store
            .canvass(d.canvass)?
            .ok_or(ProgramError::NotFound)?;
        let Some(o) = c.owners.iter_mut().find(|o| o.request == d.request) else {
            return Ok(None);
        };
        let notice = match d.kind {
            NoticeKind::Request => Some(&o.notice),
            NoticeKind::Reminder => o.reminder.as_ref(),
        };
        let Some(Notice::Queued { attempts, .. }) = notice else {
            return Ok(None);
        };
        let retry = *attempts > 0;
        let Some(partner) = self.store.partner(o.partner)? else {
            return Ok(None);
        };
        if self.store.partner_prefs(o.partner)?.email_opt_out {
            let why = Notice::PortalOnly {
                why: "the owner chose not to be emailed".into(),
            };
            match d.kind {
                NoticeKind::Request => o.notice = why,
                NoticeKind::Reminder => o.reminder = Some(why),
            }
            self.store.put_canvass(&c)?;
            return Ok(None);
        }
        if d.kind == NoticeKind::Request
            && retry
            && let Some(old) = o.link
            && let Some(mut l) = self.store.link(old)?
            && l.revoked_us.is_none()
        {
            l.revoked_us = Some(self.store.clock().now_utc_micros());
            self.store.put_link(&l)?;
        }
        let hours = i64::from(self.settings.submissions.link_hours);
        let (link, token) = self.mint_link(
            c.case_number.clone(),
            Some(o.request),
            format!("owner {} (area request {})", partner.pseudonym, c.id),
            c.investigator.clone(),
            |now| now + hours * HOUR_US,
        )?;
        o.link = Some(link.id);
        let names: Vec<String> = o
            .cameras
            .iter()
            .filter_map(|id| self.store.camera_info(*id).ok().flatten().map(|c| c.name))
            .collect();
        let email = message(
            &c,
            &names,
            d.kind,
            &self.settings.notice_template,
            public_url,
            &token,
            link.expires_us,
        );
        let to = partner.contact_email.trim().to_owned();
        self.store.put_canvass(&c)?;
        Ok(Some(Email { to, ..email }))
    }

    /// The SMTP server took the message.
    pub fn notice_sent(&self, d: &Due) -> Result<()> {
        let now = self.store.clock().now_utc_micros();
        self.update_notice(d, "sent", |_| Notice::Sent { at_us: now })
    }

    /// Sending failed: retried with backoff, or given up when the server refused the address
    /// for good (`permanent`) or after [`MAX_ATTEMPTS`].
    pub fn notice_failed(&self, d: &Due, error: &str, permanent: bool) -> Result<()> {
        let now = self.store.clock().now_utc_micros();
        let error: String = error.chars().take(300).collect();
        self.update_notice(d, &format!("failed: {error}"), |n| {
            let attempts = match n {
                Notice::Queued { attempts, .. } => attempts + 1,
                _ => 1,
            };
            if permanent || attempts >= MAX_ATTEMPTS {
                Notice::Failed {
                    at_us: now,
                    error: error.clone(),
                }
            } else {
                Notice::Queued {
                    attempts,
                    due_us: now + backoff_us(attempts - 1),
                    last_error: Some(error.clone()),
                }
            }
        })
    }

    fn update_notice(
        &self,
        d: &Due,
        what: &str,
        next: impl FnOnce(&Notice) -> Notice,
    ) -> Result<()> {
        let _guard = self.canvass_guard()?;
        let mut c = self
            .store
            .canvass(d.canvass)?
            .ok_or(ProgramError::NotFound)?;
        let Some(o) = c.owners.iter_mut().find(|o| o.request == d.request) else {
            return Ok(());
        };
        let slot = match d.kind {
            NoticeKind::Request => &mut o.notice,
            NoticeKind::Reminder => match o.reminder.as_mut() {
                Some(r) => r,
                None => return Ok(()),
            },
        };
        *slot = next(slot);
        let outcome = if matches!(slot, Notice::Sent { .. }) {
            Outcome::Ok
        } else {
            Outcome::Fail
        };
        let camera = o.cameras.first().copied();
        let (case_number, id) = (c.case_number.clone(), c.id);
        self.store.put_canvass(&c)?;
        self.audit(NewAuditEvent {
            camera,
            request: Some(d.request),
            case_number: Some(case_number),
            detail: format!(
                "area request {id}: {} email {what}",
                match d.kind {
                    NoticeKind::Request => "request",
                    NoticeKind::Reminder => "reminder",
                }
            ),
            ..event("mailer", AuditAction::CanvassNotice, outcome)
        })
    }
}

/// The words of the owner's email, with `{placeholders}` ([`PLACEHOLDERS`]); set in the
/// config (`[mail] request_subject`, `request_body`) or these defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeTemplate {
    pub subject: String,
    pub body: String,
}

/// What a template may name; `{link}` (the submission link) and `{portal}` must be in a body.
pub const PLACEHOLDERS: [&str; 9] = [
    "case", "offence", "start", "end", "reason", "cameras", "link", "portal", "expires",
];

impl Default for NoticeTemplate {
    fn default() -> Self {
        NoticeTemplate {
            subject: "Footage request, case {case}: {start} to {end} UTC".into(),
            body: "Hello,\n\nThe police department is investigating a {offence} (case {case}) and asks whether \
                   your camera ({cameras}) recorded anything between {start} and {end} UTC.\n\n\
                   Why: {reason}\n\n\
                   If it did, you can send the footage here (this link works only for this request, until {expires} UTC):\n\
                   {link}\n\n\
                   Or sign in to your partner portal to answer or decline: {portal}\n\n\
                   You are free to say no; nothing is shared unless you send it. This message carries no video. \
                   To stop these emails, change your choice on the Participation page of the portal.\n"
                .into(),
        }
    }
}

impl NoticeTemplate {
    /// Checks that every `{name}` is a known placeholder and that the body gives the owner
    /// its link and its portal.
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (what, t) in [
            ("request_subject", &self.subject),
            ("request_body", &self.body),
        ] {
            for name in placeholders(t) {
                if !PLACEHOLDERS.contains(&name) {
                    return Err(format!(
                        "{what}: unknown placeholder {{{name}}} (known: {})",
                        PLACEHOLDERS.join(", ")
                    ));
                }
            }
        }
        for needed in ["link", "portal"] {
            if !placeholders(&self.body).any(|n| n == needed) {
                return Err(format!("request_body must contain {{{needed}}}"));
            }
        }
        if self.subject.contains('\n') || self.subject.len() > 200 {
            return Err("request_subject must be one line of at most 200 characters".into());
        }
        Ok(())
    }
}

/// The `{name}`s in a template.
fn placeholders(t: &str) -> impl Iterator<Item = &str> {
    t.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

/// Fills a template in one pass: a value is never read for placeholders itself (an
/// investigator's reason holding "{link}" stays as typed).
fn render(t: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(t.len() + 256);
    let mut rest = t;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after
            .split_once('}')
            .and_then(|(name, tail)| value(name).map(|v| (v, tail)))
        {
            Some((v, tail)) => {
                out.push_str(&v);
                rest = tail;
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The owner's message: the case, the window and the reason, how to answer, and that it may
/// say no — no video, no position, no other owner.
fn message(
    c: &CanvassRow,
    cameras: &[String],
    kind: NoticeKind,
    template: &NoticeTemplate,
    public_url: &str,
    token: &str,
    expires_us: i64,
) -> Email {
    let utc = |us: i64| {
        jiff::Timestamp::from_microsecond(us)
            .map(|t| t.strftime("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    };
    let base = public_url.trim_end_matches('/');
    let value = |name: &str| {
        Some(match name {
            "case" => c.case_number.clone(),
            "offence" => c.offence.clone(),
            "start" => utc(c.start_us),
            "end" => utc(c.end_us),
            "reason" => c.reason.clone(),
            "cameras" => cameras.join(", "),
            "link" => format!("{base}/submit#{token}"),
            "portal" => format!("{base}/portal/requests"),
            "expires" => utc(expires_us),
            _ => return None,
        })
    };
    let (subject, body) = (
        render(&template.subject, value),
        render(&template.body, value),
    );
    let (subject, body) = match kind {
        NoticeKind::Request => (subject, body),
        NoticeKind::Reminder => (
            format!("Reminder: {subject}"),
            format!(
                "Your recorder may soon delete this footage. If you have not answered yet, please do so soon.\n\n{body}"
            ),
        ),
    };
    Email {
        to: String::new(),
        subject,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_in_one_pass_and_are_checked() {
        let t = NoticeTemplate::default();
        assert!(t.validate().is_ok());
        let v = |n: &str| match n {
            "reason" => Some("see {link}".to_owned()),
            "link" => Some("https://x/submit#T".to_owned()),
            _ => None,
        };
        assert_eq!(
            render("{reason} / {link} / {nope} / {", v),
            "see {link} / https://x/submit#T / {nope} / {"
        );
        let bad = |subject: &str, body: &str| {
            NoticeTemplate {
                subject: subject.into(),
                body: body.into(),
            }
            .validate()
            .err()
            .unwrap_or_default()
        };
        assert!(bad("{case}", "{portal} only").contains("{link}"));
        assert!(bad("{case}", "{link} only").contains("{portal}"));
        assert!(bad("{address}", "{link} {portal}").contains("unknown placeholder {address}"));
        assert!(bad("two\nlines", "{link} {portal}").contains("one line"));
    }

    #[test]
    fn backoff_doubles_from_a_minute_to_an_hour() {
        assert_eq!(backoff_us(0), MINUTE_US);
        assert_eq!(backoff_us(1), 2 * MINUTE_US);
        assert_eq!(backoff_us(5), 32 * MINUTE_US);
        assert_eq!(backoff_us(6), 60 * MINUTE_US);
        assert_eq!(backoff_us(40), 60 * MINUTE_US);
    }
}
