//! Community submissions: links an investigator sends for a case, and the files their holders
//! upload. A link is the credential (no account): an unguessable token (256 bits) stored
//! hashed, bound to one case (and optionally one request), expiring, revocable; every step is
//! audited. Uploads are bounded per file, per link and in total, and each file's SHA-256 over
//! exactly the bytes received is recorded before it counts as received.

use vms_storage::intake::{Archive, Declared, LinkRow, Review, Statement, UploadRow};
use vms_storage::{NewAuditEvent, RequestRow, RequestStatus, Role};

use crate::audit::{AuditAction, Outcome, event};
use crate::auth;
use crate::policy::{Action, Resource, Subject, authorize};
use crate::text::text;
use crate::{Program, ProgramError, Result};

/// Bounds on what comes in through links.
#[derive(Clone, Debug)]
pub struct SubmissionLimits {
    /// How long a new link stays valid, hours (default 72).
    pub link_hours: u32,
    /// Files one link may carry (default 16).
    pub files_per_link: u32,
    /// Bytes per file (default 4 GiB).
    pub bytes_per_file: u64,
    /// Bytes per link, all its files together (default 10 GiB).
    pub bytes_per_link: u64,
    /// Bytes of all submissions kept, apart from the recording store's quota (default 200 GiB).
    pub quota_bytes: u64,
    /// How long an unfinished upload may be resumed, hours (default 24).
    pub upload_hours: u32,
    /// Days a rejected file is kept after its rejection (default 30).
    pub rejected_days: u32,
    /// Days a received file nobody reviewed is kept after its receipt (default 90).
    pub unclaimed_days: u32,
    /// Public calls for video may be opened (default off).
    pub public_calls: bool,
}

impl Default for SubmissionLimits {
    fn default() -> Self {
        SubmissionLimits {
            link_hours: 72,
            files_per_link: 16,
            bytes_per_file: 4 << 30,
            bytes_per_link: 10 << 30,
            quota_bytes: 200 << 30,
            upload_hours: 24,
            rejected_days: 30,
            unclaimed_days: 90,
            public_calls: false,
        }
    }
}

/// The attestation a submitter agrees to; its version and exact text are stored with what they
/// declare. A new wording is a new version (what was agreed to never changes after the fact).
pub const ATTESTATION_VERSION: &str = "2026-1";
pub const ATTESTATION_TEXT: &str = "I recorded this footage myself or am entitled to share it. To the best of my knowledge it is \
     complete and unaltered since it was recorded, and what I have stated about it is true. I \
     understand that it may be used as evidence and that knowingly giving false information is an \
     offence.";

/// What a submitter declares (see [`Statement`]); `attest` must be true.
#[derive(Clone, Debug, Default)]
pub struct NewStatement {
    pub name: String,
    pub contact: String,
    pub camera_location: String,
    pub shows: String,
    pub recorded_when: String,
    pub clock_offset_secs: Option<i64>,
    pub attest: bool,
    pub remote_addr: String,
}

/// The answer to every refused link, whatever the reason, so a link cannot be probed.
pub const LINK_REFUSED: &str = "this submission link is not valid: it is unknown, has expired or was revoked; ask the investigator who sent it for a new one";

pub(crate) const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 24 * HOUR_US;

/// A new link for `case_number`, to `recipient`.
#[derive(Clone, Copy, Debug)]
pub struct NewLink<'a> {
    pub case_number: &'a str,
    pub request_id: Option<u64>,
    pub recipient: &'a str,
    /// Shorter than the default if given (never longer).
    pub hours: Option<u32>,
}

/// A file about to be uploaded.
#[derive(Clone, Debug)]
pub struct NewUpload {
    pub length: u64,
    pub declared: Declared,
}

impl Program {
    /// Creates a link; returns it and its token (shown once).
    pub fn create_link(&self, s: &Subject, n: NewLink<'_>) -> Result<(LinkRow, String)> {
        self.staff_for_submissions(s)?;
        let case_number = text("case_number", n.case_number, true)?;
        let recipient = text("recipient", n.recipient, true)?;
        if let Some(id) = n.request_id {
            let r: RequestRow = self.store.request(id)?.ok_or_else(|| {
                ProgramError::Invalid(format!("request_id {id}: no such request"))
            })?;
            if r.case_number != case_number {
                return Err(ProgramError::Invalid(format!(
                    "request_id {id} belongs to case {}, not {case_number}",
                    r.case_number
                )));
            }
        }
        let limits = &self.settings.submissions;
        let hours = n
            .hours
            .unwrap_or(limits.link_hours)
            .clamp(1, limits.link_hours);
        let (link, token) = self.mint_link(
            case_number.clone(),
            n.request_id,
            recipient,
            s.username.clone(),
            |now| now + i64::from(hours) * HOUR_US,
        )?;
        self.audit(NewAuditEvent {
            case_number: Some(case_number),
            request: n.request_id,
            detail: format!("link {} to {:?}, {hours} h", link.id, link.recipient),
            ..event(&s.username, AuditAction::SubmissionLinkCreate, Outcome::Ok)
        })?;
        Ok((link, token))
    }

    /// The links of a case.
    pub fn links(&self, s: &Subject, case_number: &str) -> Result<Vec<LinkRow>> {
        self.staff_for_submissions(s)?;
        Ok(self
            .store
            .links()?
            .into_iter()
            .filter(|l| l.case_number == case_number)
            .collect())
    }

    /// Revokes a link: uploads through it stop at once (finished files stay).
    pub fn revoke_link(&self, s: &Subject, id: u64) -> Result<LinkRow> {
        self.staff_for_submissions(s)?;
        let mut link = self.store.link(id)?.ok_or(ProgramError::NotFound)?;
        if link.revoked_us.is_none() {
            link.revoked_us = Some(self.store.clock().now_utc_micros());
            self.store.put_link(&link)?;
            self.audit(NewAuditEvent {
                case_number: Some(link.case_number.clone()),
                detail: format!("link {id}"),
                ..event(&s.username, AuditAction::SubmissionLinkRevoke, Outcome::Ok)
            })?;
        }
        Ok(link)
    }

    /// The valid link a token opens, or [`LINK_REFUSED`] (audited, without the token).
    pub fn link_for_token(&self, token: &str, remote: &str) -> Result<LinkRow> {
        let now = self.store.clock().now_utc_micros();
        let link = self
            .store
            .link_by_token(&auth::token_hash(token))?
            .filter(|l| l.revoked_us.is_none() && now < l.expires_us);
        match link {
            Some(l) => Ok(l),
            None => {
                self.audit(NewAuditEvent {
                    detail: format!("from {remote}"),
                    ..event("anonymous", AuditAction::SubmissionRefused, Outcome::Deny)
                })?;
                Err(ProgramError::Refused(LINK_REFUSED.into()))
            }
        }
    }

    /// Records that `link`'s page was opened.
    pub fn link_opened(&self, link: &LinkRow, remote: &str) -> Result<()> {
        self.canvass_link_opened(link)?;
        self.audit_upload(
            link.id,
            NewAuditEvent {
                case_number: Some(link.case_number.clone()),
                detail: format!("link {} from {remote}", link.id),
                ..event("submitter", AuditAction::SubmissionOpened, Outcome::Ok)
            },
        )
    }

    /// Writes an event about link `link_id` or one of its files, filed under the link's
    /// request and, for a link a partner made to answer its own request, under the first of
    /// its cameras the request names — so the partner's receipts show what it submitted and
    /// every access to it.
    pub(crate) fn audit_upload(&self, link_id: u64, e: NewAuditEvent) -> Result<()> {
        let (camera, request) = match self.store.link(link_id)? {
            Some(l) => (self.partner_link_camera(&l)?, l.request_id),
            None => (None, None),
        };
        self.audit(NewAuditEvent {
            camera: e.camera.or(camera),
            request: e.request.or(request),
            ..e
        })
    }

    /// For a link a partner account made for one of its requests: the first camera of that
    /// partner the request names.
    fn partner_link_camera(&self, link: &LinkRow) -> Result<Option<u32>> {
        let Some(request) = link.request_id else {
            return Ok(None);
        };
        let Some(pid) = self.store.user(&link.created_by)?.and_then(|u| u.partner) else {
            return Ok(None);
        };
        let Some(r) = self.store.request(request)? else {
            return Ok(None);
        };
        let mine = self.partner_camera_ids(pid)?;
        Ok(r.cameras.iter().copied().find(|c| mine.contains(c)))
    }

    /// A link for a partner to answer its footage request `request_id` with files (the
    /// registered camera's way in: no video flows from it otherwise). Made by the partner's
    /// own account, bound to the request and its case; the token is shown once.
    pub fn partner_link(&self, s: &Subject, request_id: u64) -> Result<(LinkRow, String)> {
        if s.role != Role::Partner {
            return Err(ProgramError::Forbidden {
                rule: "partner-account-only",
            });
        }
        let r = self.request_for(s, request_id, Action::ListRequests)?;
        if !matches!(r.status, RequestStatus::Pending | RequestStatus::Approved) {
            return Err(ProgramError::Conflict(format!(
                "request {request_id} is {}; only a pending or approved request is answered with files",
                r.status.as_str()
            )));
        }
        let pseudonym = match s.partner {
            Some(pid) => self.store.partner(pid)?.map(|p| p.pseudonym),
            None => None,
        };
        let hours = i64::from(self.settings.submissions.link_hours);
        let (link, token) = self.mint_link(
            r.case_number.clone(),
            Some(r.id),
            format!("partner {} ({})", pseudonym.unwrap_or_default(), s.username),
            s.username.clone(),
            |now| now + hours * HOUR_US,
        )?;
        self.audit_upload(
            link.id,
            NewAuditEvent {
                case_number: Some(link.case_number.clone()),
                detail: format!(
                    "link {} made by the partner to answer request {request_id}",
                    link.id
                ),
                ..event(&s.username, AuditAction::SubmissionLinkCreate, Outcome::Ok)
            },
        )?;
        Ok((link, token))
    }

    /// Stores a new link for `case_number` with a fresh token, valid until `expires(now)`;
    /// returns it and its token (shown once, stored only as its hash).
    pub(crate) fn mint_link(
        &self,
        case_number: String,
        request_id: Option<u64>,
        recipient: String,
        created_by: String,
        expires: impl FnOnce(i64) -> i64,
    ) -> Result<(LinkRow, String)> {
        let token = auth::random_token();
        let now = self.store.clock().now_utc_micros();
        let link = self.store.create_link(LinkRow {
            id: 0,
            token_hash: auth::token_hash(&token),
            case_number,
            request_id,
            recipient,
            created_by,
            created_us: now,
            expires_us: expires(now),
            revoked_us: None,
            statement: None,
        })?;
        Ok((link, token))
    }

    /// Submissions are for the staff who file requests (investigators, supervisors).
    pub(crate) fn staff_for_submissions(&self, s: &Subject) -> Result<()> {
        let d = authorize(s, Action::FileRequest, &Resource::Route);
        if !d.allow {
            return Err(ProgramError::Forbidden { rule: d.rule });
        }
        Ok(())
    }

    fn intake_guard(&self) -> Result<std::sync::MutexGuard<'_, ()>> {
        self.intake
            .lock()
            .map_err(|_| ProgramError::Internal("intake lock poisoned".into()))
    }

    /// Ends upload `id` unfinished (the submitter's termination).
    pub fn end_upload(&self, up: &UploadRow) -> Result<()> {
        let _one_at_a_time = self.intake_guard()?;
        self.store
            .end_upload(up.id, self.store.clock().now_utc_micros())?;
        self.audit_upload(
            up.link,
            NewAuditEvent {
                case_number: Some(up.case_number.clone()),
                detail: format!(
                    "upload {} ended by the submitter at {} bytes",
                    up.id, up.offset
                ),
                ..event("submitter", AuditAction::SubmissionUpload, Outcome::Fail)
            },
        )
    }

    /// Records the submitter's statement on `link` (once; files come after it).
    pub fn make_statement(&self, link: &LinkRow, n: NewStatement) -> Result<LinkRow> {
        let _one_at_a_time = self.intake_guard()?;
        // The link as it is now (revoked meanwhile? a statement already made?).
        let link = self.store.link(link.id)?.ok_or(ProgramError::NotFound)?;
        if link.revoked_us.is_some() {
            return Err(ProgramError::Refused(LINK_REFUSED.into()));
        }
        if link.statement.is_some() {
            return Err(ProgramError::Conflict(
                "a statement was already made with this link".into(),
            ));
        }
        if !n.attest {
            return Err(ProgramError::Invalid(
                "attest: the footage can only be taken with the attestation agreed to".into(),
            ));
        }
        // More than a year is a mistake in the unit, not a camera's clock.
        if n.clock_offset_secs.is_some_and(|s| s.abs() > 86_400 * 366) {
            return Err(ProgramError::Invalid(
                "clock_offset_secs: more than a year; give the offset in seconds".into(),
            ));
        }
        let statement = Statement {
            name: text("name", &n.name, false)?,
            contact: text("contact", &n.contact, false)?,
            camera_location: text("camera_location", &n.camera_location, true)?,
            shows: text("shows", &n.shows, true)?,
            recorded_when: text("recorded_when", &n.recorded_when, true)?,
            clock_offset_secs: n.clock_offset_secs,
            attestation_version: ATTESTATION_VERSION.into(),
            attestation_text: ATTESTATION_TEXT.into(),
            made_us: self.store.clock().now_utc_micros(),
            remote_addr: n.remote_addr,
        };
        let mut link = link;
        link.statement = Some(statement);
        self.store.put_link(&link)?;
        self.audit_upload(
            link.id,
            NewAuditEvent {
                case_number: Some(link.case_number.clone()),
                request: link.request_id,
                detail: format!(
                    "link {}: statement and attestation {ATTESTATION_VERSION}",
                    link.id
                ),
                ..event("submitter", AuditAction::SubmissionStatement, Outcome::Ok)
            },
        )?;
        Ok(link)
    }

    /// The files of every link of a case, for its investigators.
    pub fn case_uploads(&self, s: &Subject, case_number: &str) -> Result<Vec<UploadRow>> {
        self.staff_for_submissions(s)?;
        Ok(self
            .store
            .uploads()?
            .into_iter()
            .filter(|u| u.case_number == case_number)
            .collect())
    }

    /// Starts a file upload through `link`, within the limits (each refusal says which).
    pub fn create_upload(&self, link: &LinkRow, n: NewUpload) -> Result<UploadRow> {
        let limits = &self.settings.submissions;
        if link.statement.is_none() {
            return Err(ProgramError::Conflict(
                "tell us about the footage first (the statement), then send the files".into(),
            ));
        }
        if n.length == 0 {
            return Err(ProgramError::Invalid("Upload-Length: an empty file".into()));
        }
        if n.length > limits.bytes_per_file {
            return Err(ProgramError::TooLarge(format!(
                "a file may be at most {} bytes; this one is {}",
                limits.bytes_per_file, n.length
            )));
        }
        let _one_at_a_time = self.intake_guard()?;
        let now = self.store.clock().now_utc_micros();
        // Unfinished uploads past their expiry end here (their bytes are deleted), and stop
        // counting against the limits.
        let mut uploads = self.store.uploads()?;
        for u in uploads
            .iter_mut()
            .filter(|u| u.open() && u.expires_us <= now)
        {
            self.store.end_upload(u.id, now)?;
            u.terminated_us = Some(now);
        }
        let live: Vec<&UploadRow> = uploads
            .iter()
            .filter(|u| u.terminated_us.is_none())
            .collect();
        let mine: Vec<&&UploadRow> = live.iter().filter(|u| u.link == link.id).collect();
        if mine.len() as u64 >= u64::from(limits.files_per_link) {
            return Err(ProgramError::TooLarge(format!(
                "a link may carry at most {} files",
                limits.files_per_link
            )));
        }
        let link_bytes: u64 = mine.iter().map(|u| u.length).sum();
        if link_bytes + n.length > limits.bytes_per_link {
            return Err(ProgramError::TooLarge(format!(
                "a link may carry at most {} bytes in all; {} are taken",
                limits.bytes_per_link, link_bytes
            )));
        }
        // What is kept on disk counts: originals, working copies, extracted archive entries.
        let all: u64 = live.iter().map(|u| u.bytes_kept()).sum();
        if all + n.length > limits.quota_bytes {
            return Err(ProgramError::InsufficientStorage(
                "the space for submissions is full; try again later or ask the investigator".into(),
            ));
        }
        let declared = Declared {
            filename: sanitize_filename(&n.declared.filename),
            filetype: sanitize_media_type(&n.declared.filetype),
            remote_addr: n.declared.remote_addr,
            user_agent: n.declared.user_agent.chars().take(256).collect(),
        };
        let up = self.store.create_upload(UploadRow {
            id: 0,
            link: link.id,
            case_number: link.case_number.clone(),
            declared,
            length: n.length,
            offset: 0,
            created_us: now,
            expires_us: now + i64::from(limits.upload_hours) * HOUR_US,
            received: None,
            terminated_us: None,
            identified: None,
            review: None,
            working_copy: None,
            deleted: None,
            archive: None,
        })?;
        self.audit_upload(
            link.id,
            NewAuditEvent {
                case_number: Some(link.case_number.clone()),
                request: link.request_id,
                detail: format!(
                    "upload {} via link {}: {:?}, {} bytes, from {}",
                    up.id, link.id, up.declared.filename, up.length, up.declared.remote_addr
                ),
                ..event("submitter", AuditAction::SubmissionUpload, Outcome::Ok)
            },
        )?;
        Ok(up)
    }

    /// A received file of a case, for `s` to open (audited).
    pub fn open_original(&self, s: &Subject, id: u64) -> Result<UploadRow> {
        self.open_original_row(s, id, "")
    }

    fn open_original_row(&self, s: &Subject, id: u64, what: &str) -> Result<UploadRow> {
        self.staff_for_submissions(s)?;
        let up = self
            .store
            .upload(id)?
            .filter(|u| u.received.is_some() && u.deleted.is_none())
            .ok_or(ProgramError::NotFound)?;
        self.audit_upload(
            up.link,
            NewAuditEvent {
                case_number: Some(up.case_number.clone()),
                detail: format!("{what}upload {id} ({:?})", up.declared.filename),
                ..event(&s.username, AuditAction::SubmissionView, Outcome::Allow)
            },
        )?;
        Ok(up)
    }

    /// A received file's working copy, for `s` to play (audited as a view of the submission).
    pub fn open_working_copy(&self, s: &Subject, id: u64) -> Result<UploadRow> {
        let up = self.open_original_row(s, id, "working copy of ")?;
        if up.working_copy.is_none() {
            return Err(ProgramError::NotFound);
        }
        Ok(up)
    }

    /// Records the working copy of upload `id` written at `scratch` by `tool` (hashed, made
    /// read-only and stored with the row; audited with both hashes).
    pub fn record_working_copy(
        &self,
        id: u64,
        scratch: &std::path::Path,
        tool: String,
    ) -> Result<UploadRow> {
        let now = self.store.clock().now_utc_micros();
        let up = self.store.place_working_copy(id, scratch, tool, now)?;
        if let (Some(r), Some(w)) = (&up.received, &up.working_copy) {
            self.audit_upload(
                up.link,
                NewAuditEvent {
                    case_number: Some(up.case_number.clone()),
                    detail: format!(
                        "upload {id}: working copy sha256 {} derived from original sha256 {} by {}",
                        hex::encode(w.sha256),
                        hex::encode(r.sha256),
                        w.tool
                    ),
                    ..event("intake", AuditAction::SubmissionWorkingCopy, Outcome::Ok)
                },
            )?;
        }
        Ok(up)
    }

    /// An extracted entry of a received archive, for `s` to open (audited as a view).
    pub fn open_entry(&self, s: &Subject, id: u64, index: u32) -> Result<UploadRow> {
        let up = self.open_original_row(s, id, &format!("entry {index} of "))?;
        if self.store.entry_path(&up, index).is_none() {
            return Err(ProgramError::NotFound);
        }
        Ok(up)
    }

    /// Records what a received ZIP archive holds (entries extracted and hashed), audited
    /// with each extracted entry's hash.
    pub fn record_archive(&self, id: u64, archive: Archive) -> Result<UploadRow> {
        let up = self.store.place_archive(id, archive)?;
        let Some(a) = &up.archive else {
            return Ok(up);
        };
        let extracted: Vec<String> = a
            .entries
            .iter()
            .filter_map(|e| {
                e.sha256
                    .map(|h| format!("#{} sha256 {}", e.entry.index, hex::encode(h)))
            })
            .collect();
        let detail = match &a.refused {
            Some(why) => format!("upload {id}: ZIP archive not extracted: {why}"),
            None => format!(
                "upload {id}: ZIP archive of {} entries, {} extracted: {}",
                a.entries.len(),
                extracted.len(),
                extracted.join(", ")
            ),
        };
        self.audit_upload(
            up.link,
            NewAuditEvent {
                case_number: Some(up.case_number.clone()),
                detail: detail.chars().take(4000).collect(),
                ..event("intake", AuditAction::SubmissionExtracted, Outcome::Ok)
            },
        )?;
        Ok(up)
    }

    /// Records that no working copy could be made of upload `id`.
    pub fn working_copy_failed(&self, up: &UploadRow, why: &str) -> Result<()> {
        self.audit_upload(
            up.link,
            NewAuditEvent {
                case_number: Some(up.case_number.clone()),
                detail: format!("upload {}: no working copy: {why}", up.id),
                ..event("intake", AuditAction::SubmissionWorkingCopy, Outcome::Fail)
            },
        )
    }

    /// Records that upload `up` was received whole, with its hash.
    pub fn upload_received(&self, up: &UploadRow) -> Result<()> {
        let Some(r) = &up.received else {
            return Err(ProgramError::Internal(format!(
                "upload {} not complete",
                up.id
            )));
        };
        self.audit_upload(
            up.link,
            NewAuditEvent {
                case_number: Some(up.case_number.clone()),
                detail: format!(
                    "upload {} received: {} bytes, sha256 {}",
                    up.id,
                    up.length,
                    hex::encode(r.sha256)
                ),
                ..event("submitter", AuditAction::SubmissionReceived, Outcome::Ok)
            },
        )
    }
}

impl Program {
    /// Records an investigator's decision on a received file of a case: accepted into it as
    /// evidence (kept with the case), or rejected with a reason (deleted after
    /// [`SubmissionLimits::rejected_days`]). A decision can be changed; each one is audited.
    pub fn review_upload(
        &self,
        s: &Subject,
        id: u64,
        accepted: bool,
        reason: &str,
    ) -> Result<UploadRow> {
        self.staff_for_submissions(s)?;
        let reason = text("reason", reason, !accepted)?;
        let _one_at_a_time = self.intake_guard()?;
        let up = self
            .store
            .upload(id)?
            .filter(|u| u.received.is_some())
            .ok_or(ProgramError::NotFound)?;
        if up.deleted.is_some() {
            return Err(ProgramError::Conflict(
                "this file was deleted by retention; there is nothing left to review".into(),
            ));
        }
        let up = self.store.set_review(
            id,
            Review {
                accepted,
                reason: reason.clone(),
                by: s.username.clone(),
                at_us: self.store.clock().now_utc_micros(),
            },
        )?;
        self.audit_upload(
            up.link,
            NewAuditEvent {
                case_number: Some(up.case_number.clone()),
                detail: format!(
                    "upload {id} {}{}",
                    if accepted { "accepted" } else { "rejected" },
                    if reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {reason}")
                    }
                ),
                // Allow/Deny: the transparency report counts decisions by their outcome.
                ..event(
                    &s.username,
                    AuditAction::SubmissionReview,
                    if accepted {
                        Outcome::Allow
                    } else {
                        Outcome::Deny
                    },
                )
            },
        )?;
        Ok(up)
    }

    /// Retention of submitted files: a rejected file is deleted
    /// [`SubmissionLimits::rejected_days`] after its rejection, a file nobody reviewed
    /// [`SubmissionLimits::unclaimed_days`] after its receipt; accepted files stay with their
    /// case. Each deletion is audited; the row stays as the record. Returns how many went.
    pub fn sweep_submissions(&self) -> Result<usize> {
        let limits = &self.settings.submissions;
        let now = self.store.clock().now_utc_micros();
        let _one_at_a_time = self.intake_guard()?;
        let mut n = 0;
        for up in self.store.uploads()? {
            let (Some(r), None) = (&up.received, &up.deleted) else {
                continue;
            };
            let why = match &up.review {
                Some(v) if v.accepted => continue,
                Some(v) if now >= v.at_us + i64::from(limits.rejected_days) * DAY_US => format!(
                    "rejected by {} more than {} days ago",
                    v.by, limits.rejected_days
                ),
                None if now >= r.received_us + i64::from(limits.unclaimed_days) * DAY_US => {
                    format!(
                        "not reviewed within {} days of its receipt",
                        limits.unclaimed_days
                    )
                }
                _ => continue,
            };
            let sha256 = hex::encode(r.sha256);
            self.store
                .delete_submission_files(up.id, now, why.clone())?;
            self.audit_upload(
                up.link,
                NewAuditEvent {
                    case_number: Some(up.case_number.clone()),
                    detail: format!("upload {} (sha256 {sha256}) deleted: {why}", up.id),
                    ..event("retention", AuditAction::SubmissionDeleted, Outcome::Ok)
                },
            )?;
            n += 1;
        }
        Ok(n)
    }
}

/// A declared media type as metadata: `type/subtype` characters only, at most 100.
pub fn sanitize_media_type(t: &str) -> String {
    t.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "/.+-".contains(*c))
        .take(100)
        .collect()
}

/// A submitted file name as metadata: no directories, no control characters, at most 200
/// characters (it never names a stored file).
pub fn sanitize_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    let clean = clean.trim().trim_start_matches('.').to_owned();
    if clean.is_empty() {
        "unnamed".into()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_only_metadata() {
        for (given, want) in [
            ("clip.mp4", "clip.mp4"),
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\x\\DVR export.dav", "DVR export.dav"),
            ("a\u{0}b\nc\u{7f}.mp4", "abc.mp4"),
            ("..", "unnamed"),
            ("/", "unnamed"),
            (".hidden", "hidden"),
        ] {
            assert_eq!(sanitize_filename(given), want, "{given:?}");
        }
        assert_eq!(sanitize_filename(&"x".repeat(500)).len(), 200);
    }
}
