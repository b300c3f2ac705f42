//! The rules of an evidence export: which cameras, for which range and case, and on what legal
//! basis — the request that grants the footage (approved or exigent) or the camera's live
//! sharing. Writing the package is storage's (`vms_storage::export`); running it is the caller's.

use vms_storage::NewAuditEvent;
use vms_storage::export::{ExportItemSpec, SubmissionSpec};
use vms_storage::{CameraInfo, RequestRow, RequestStatus, SharingMode};

use crate::audit::{AuditAction, Outcome, event};
use crate::footage::FootageRange;
use crate::policy::{Action, Subject};
use crate::{Program, ProgramError, Result};

/// Most cameras in one export.
pub const MAX_CAMERAS: usize = 16;
/// Most submitted files in one export.
pub const MAX_SUBMISSIONS: usize = 64;

/// An export as an investigator asks for it.
#[derive(Clone, Copy, Debug)]
pub struct ExportAsk<'a> {
    pub cameras: &'a [u32],
    pub start_us: i64,
    pub end_us: i64,
    pub case_number: &'a str,
    pub reason: &'a str,
    /// The request the export cites as its legal basis, if any.
    pub request_id: Option<u64>,
    /// Submitted files of the case to include (each accepted into it).
    pub submissions: &'a [u64],
}

/// An export every camera of which passed the footage gate (each access audited).
#[derive(Clone, Debug)]
pub struct AuthorizedExport {
    /// Sorted, without duplicates.
    pub cameras: Vec<u32>,
    pub items: Vec<ExportItemSpec>,
    /// Per camera, why it may be exported, for the manifest.
    pub legal_basis: String,
    /// Who approved the first camera's request, if a request covers it.
    pub approver: Option<String>,
    pub submissions: Vec<SubmissionSpec>,
}

impl Program {
    /// Checks an export: up to 16 cameras and 64 submitted files (at least one of either), a
    /// case number, each camera's footage allowed over the range (audited as `video.export`);
    /// a cited request must grant every camera over the whole range (issue 22 C4); each
    /// submitted file accepted into this case (audited as `submission.export`).
    pub fn authorize_export(&self, s: &Subject, a: ExportAsk<'_>) -> Result<AuthorizedExport> {
        let mut cameras = a.cameras.to_vec();
        cameras.sort_unstable();
        cameras.dedup();
        if cameras.len() > MAX_CAMERAS || (cameras.is_empty() && a.submissions.is_empty()) {
            return Err(ProgramError::Invalid(format!(
                "name between 1 and {MAX_CAMERAS} cameras, or submitted files"
            )));
        }
        if a.case_number.trim().is_empty() {
            return Err(ProgramError::Invalid("case_number is required".into()));
        }
        if a.end_us < a.start_us {
            return Err(ProgramError::Invalid("end_us is before start_us".into()));
        }
        let submissions = self.submissions_for_export(s, a.case_number.trim(), a.submissions)?;
        let range = FootageRange {
            start_us: a.start_us,
            end_us: a.end_us,
            reason: a.reason,
            case_number: Some(a.case_number),
        };
        let requests = self.store.requests()?;
        if let Some(id) = a.request_id
            && !requests.iter().any(|r| r.id == id)
        {
            return Err(ProgramError::Invalid(format!("no request {id}")));
        }
        let mut items = Vec::new();
        let mut basis = Vec::new();
        let mut approver = None;
        for id in &cameras {
            let covering = requests.iter().find(|r| {
                r.status.grants()
                    && r.cameras.contains(id)
                    && r.start_us <= a.start_us
                    && a.end_us <= r.end_us
                    && a.request_id.is_none_or(|want| want == r.id)
            });
            if let Some(want) = a.request_id
                && covering.is_none()
            {
                return Err(ProgramError::Invalid(format!(
                    "request {want} does not grant camera {id} over this whole range"
                )));
            }
            let c = self.footage_access(s, *id, range, Action::Export, AuditAction::VideoExport)?;
            let (why, who) = legal_basis(&c, covering);
            basis.push(format!("camera {}: {why}", c.id));
            approver = approver.or(who);
            let pseudonym = self
                .store
                .partner(c.partner)?
                .map(|p| p.pseudonym)
                .unwrap_or_default();
            items.push(ExportItemSpec {
                camera: c.id,
                camera_name: c.name.clone(),
                partner_pseudonym: pseudonym,
                masks_defined: c.masks.len(),
                // On-request footage starts at the approval's first keyframe, no lead-in
                // before it (issue 22 F17).
                within_range: c.sharing == SharingMode::OnRequest,
            });
        }
        if !submissions.is_empty() {
            basis.push(format!(
                "{} submitted file(s) accepted into case {}",
                submissions.len(),
                a.case_number.trim()
            ));
        }
        Ok(AuthorizedExport {
            cameras,
            items,
            legal_basis: basis.join("; "),
            approver,
            submissions,
        })
    }

    /// The submitted files `ids` for an export of `case_number`: each received, not deleted,
    /// of this case and accepted into it. Each is audited as exported.
    fn submissions_for_export(
        &self,
        s: &Subject,
        case_number: &str,
        ids: &[u64],
    ) -> Result<Vec<SubmissionSpec>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if ids.len() > MAX_SUBMISSIONS {
            return Err(ProgramError::Invalid(format!(
                "at most {MAX_SUBMISSIONS} submitted files in one export"
            )));
        }
        self.staff_for_submissions(s)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let up = self
                .store
                .upload(id)?
                .filter(|u| u.case_number.trim() == case_number && u.received.is_some())
                .ok_or_else(|| {
                    ProgramError::Invalid(format!("submitted file {id}: not in case {case_number}"))
                })?;
            if up.deleted.is_some() {
                return Err(ProgramError::Invalid(format!(
                    "submitted file {id} was deleted by retention"
                )));
            }
            if !up.review.as_ref().is_some_and(|r| r.accepted) {
                return Err(ProgramError::Invalid(format!(
                    "submitted file {id} is not accepted into the case; review it first"
                )));
            }
            let link = self
                .store
                .link(up.link)?
                .ok_or_else(|| ProgramError::Internal(format!("link {} missing", up.link)))?;
            out.push(SubmissionSpec { upload: up, link });
        }
        for sub in &out {
            self.audit_upload(
                sub.link.id,
                NewAuditEvent {
                    case_number: Some(case_number.to_owned()),
                    detail: format!(
                        "upload {} (sha256 {}) into an export",
                        sub.upload.id,
                        sub.upload
                            .received
                            .as_ref()
                            .map(|r| hex::encode(r.sha256))
                            .unwrap_or_default()
                    ),
                    ..event(&s.username, AuditAction::SubmissionExport, Outcome::Allow)
                },
            )?;
        }
        Ok(out)
    }
}

/// The legal basis for exporting `c` over the range, and who approved it, from the request
/// that covers it (the policy has already required one for `on-request` cameras).
fn legal_basis(c: &CameraInfo, covering: Option<&RequestRow>) -> (String, Option<String>) {
    match (c.sharing, covering) {
        (_, Some(r)) if r.status == RequestStatus::Exigent => (
            format!(
                "exigent access granted on request {} by {}: {}",
                r.id,
                r.decided_by.as_deref().unwrap_or("?"),
                r.decision_note.as_deref().unwrap_or("")
            ),
            r.decided_by.clone(),
        ),
        (_, Some(r)) => (
            format!("footage request {} approved by the camera's partner", r.id),
            r.decided_by.clone(),
        ),
        (SharingMode::Live, None) => ("camera shared live under the partner's terms".into(), None),
        _ => ("no recorded basis".into(), None),
    }
}
