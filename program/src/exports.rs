//! The rules of an evidence export: which cameras, for which range and case, and on what legal
//! basis — the request that grants the footage (approved or exigent) or the camera's live
//! sharing. Writing the package is storage's (`vms_storage::export`); running it is the caller's.

use vms_storage::export::ExportItemSpec;
use vms_storage::{CameraInfo, RequestRow, RequestStatus, SharingMode};

use crate::audit::AuditAction;
use crate::footage::FootageRange;
use crate::policy::{Action, Subject};
use crate::{Program, ProgramError, Result};

/// Most cameras in one export.
pub const MAX_CAMERAS: usize = 16;

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
}

impl Program {
    /// Checks an export: 1 to 16 cameras, a case number, each camera's footage allowed over
    /// the range (audited as `video.export`); a cited request must grant every camera over
    /// the whole range (issue 22 C4).
    pub fn authorize_export(&self, s: &Subject, a: ExportAsk<'_>) -> Result<AuthorizedExport> {
        let mut cameras = a.cameras.to_vec();
        cameras.sort_unstable();
        cameras.dedup();
        if cameras.is_empty() || cameras.len() > MAX_CAMERAS {
            return Err(ProgramError::Invalid(format!(
                "name between 1 and {MAX_CAMERAS} cameras"
            )));
        }
        if a.case_number.trim().is_empty() {
            return Err(ProgramError::Invalid("case_number is required".into()));
        }
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
        Ok(AuthorizedExport {
            cameras,
            items,
            legal_basis: basis.join("; "),
            approver,
        })
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
