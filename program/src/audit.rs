//! The audit vocabulary: every kind of event the program records, as a type. The stored form
//! stays the string (`as_str`), so existing chains verify unchanged; a new kind is a new
//! variant, and the public transparency report and partners' receipts count by kind, never by
//! string prefix (a typo could silently drop an access from them).

use vms_storage::{AuditEvent, AuditFilter, NewAuditEvent};

use crate::policy::{Action, Subject};
use crate::{Program, Result};

macro_rules! audit_actions {
    ($($(#[$doc:meta])* $name:ident = $s:literal,)*) => {
        /// One kind of audited event.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum AuditAction {
            $($(#[$doc])* $name,)*
        }

        impl AuditAction {
            /// Every kind, for exhaustive tests.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$name,)*];

            /// The stored name (part of the hashed audit chain: never change one).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$name => $s,)*
                }
            }

            /// The kind a stored name stands for; `None` for names no version wrote.
            pub fn parse(s: &str) -> Option<AuditAction> {
                match s {
                    $($s => Some(AuditAction::$name),)*
                    _ => None,
                }
            }
        }
    };
}

audit_actions! {
    Login = "login",
    Logout = "logout",
    /// A request whose session had expired or whose CSRF token did not match.
    SessionRejected = "session.reject",
    HealthView = "health.view",
    CamerasList = "cameras.list",
    CameraRead = "camera.read",
    CameraEnroll = "camera.enroll",
    CameraSharing = "camera.sharing",
    /// A camera's position, view, kind or its owner's retention was stated or changed.
    CameraPlace = "camera.place",
    /// A registered camera was removed by its partner (the record is deleted).
    CameraRemove = "camera.remove",
    /// Staff searched the registry map around a point.
    RegistrySearch = "registry.search",
    /// An administrator imported a registry file (CSV or GeoJSON).
    RegistryImport = "registry.import",
    /// An area request (canvass) was previewed or sent.
    CanvassSend = "canvass.send",
    /// An owner's email about an area request (or its reminder) was sent, or failed.
    CanvassNotice = "canvass.notice",
    PartnerSelf = "partner.self",
    PartnersManage = "partners.manage",
    PartnersRead = "partners.read",
    PartnerCreate = "partner.create",
    /// A resident or business signed up on the public page (waiting for its address).
    PartnerSignup = "partner.signup",
    PartnerTerms = "partner.terms",
    PartnerStatus = "partner.status",
    UsersManage = "users.manage",
    UsersRead = "users.read",
    UserCreate = "user.create",
    UserUpdate = "user.update",
    UserPasswd = "user.passwd",
    UserRole = "user.role",
    UserDisable = "user.disable",
    TokenCreate = "token.create",
    TokenRevoke = "token.revoke",
    SubmissionLinkCreate = "submission.link.create",
    SubmissionLinkRevoke = "submission.link.revoke",
    /// A submission link that is unknown, expired or revoked was presented.
    SubmissionRefused = "submission.refused",
    /// A submission link's page was opened (its token accepted).
    SubmissionOpened = "submission.open",
    SubmissionStatement = "submission.statement",
    SubmissionUpload = "submission.upload",
    SubmissionReceived = "submission.received",
    /// A submitted original was opened or downloaded by staff.
    SubmissionView = "submission.view",
    /// An investigator accepted a submitted file into its case, or rejected it.
    SubmissionReview = "submission.review",
    /// A working copy was derived from a submitted file (or could not be).
    SubmissionWorkingCopy = "submission.working-copy",
    /// A submitted ZIP archive was listed and its entries extracted (or refused).
    SubmissionExtracted = "submission.extracted",
    /// A public call for video was opened or closed.
    SubmissionPublicCall = "submission.public-call",
    /// A submitted file was put into an evidence export.
    SubmissionExport = "submission.export",
    /// Retention deleted a rejected or unreviewed submitted file.
    SubmissionDeleted = "submission.deleted",
    RequestFile = "request.file",
    RequestsList = "requests.list",
    RequestDecide = "request.decide",
    RequestApprove = "request.approve",
    RequestDeny = "request.deny",
    RequestExigent = "request.exigent",
    /// Footage metadata: what exists in a range.
    VideoTimeline = "video.timeline",
    VideoLive = "video.live",
    VideoPlayback = "video.playback",
    VideoExport = "video.export",
    VideoExportRead = "video.export.read",
    VideoExportDownload = "video.export.download",
    VideoExportDone = "video.export.done",
    VideoExportFailed = "video.export.failed",
    VideoExportFixityFailed = "video.export.fixity-failed",
    LiveEnd = "live.end",
    HoldPlace = "hold.place",
    HoldLift = "hold.lift",
    HoldsRead = "holds.read",
    AuditRead = "audit.read",
    ReceiptsRead = "receipts.read",
    OnvifProbe = "onvif.probe",
    OnvifDiscover = "onvif.discover",
}

impl AuditAction {
    /// Events about video or its existence (live, playback, timeline, export and its
    /// download and outcome): counted in the transparency report when allowed.
    pub fn is_video(self) -> bool {
        self.as_str().starts_with("video.")
    }

    /// Events a partner sees in its receipts for its cameras: every video access and every
    /// footage request touching them.
    pub fn is_partner_receipt(self) -> bool {
        self.is_video()
            || matches!(
                self,
                AuditAction::RequestFile
                    | AuditAction::RequestDecide
                    | AuditAction::RequestApprove
                    | AuditAction::RequestDeny
                    | AuditAction::RequestExigent
                    // Filed under a partner camera only for links the partner made itself.
                    | AuditAction::SubmissionLinkCreate
                    | AuditAction::SubmissionStatement
                    | AuditAction::SubmissionUpload
                    | AuditAction::SubmissionReceived
                    | AuditAction::SubmissionView
                    | AuditAction::SubmissionWorkingCopy
                    | AuditAction::SubmissionExtracted
                    | AuditAction::SubmissionReview
                    | AuditAction::SubmissionExport
                    | AuditAction::SubmissionDeleted
            )
    }
}

impl From<Action> for AuditAction {
    /// A policy decision about `action` is recorded under the action's own name.
    fn from(a: Action) -> AuditAction {
        match a {
            Action::ViewHealth => AuditAction::HealthView,
            Action::ListCameras => AuditAction::CamerasList,
            Action::ReadCamera => AuditAction::CameraRead,
            Action::EnrollCamera => AuditAction::CameraEnroll,
            Action::UpdateSharing => AuditAction::CameraSharing,
            Action::PartnerSelf => AuditAction::PartnerSelf,
            Action::ManagePartners => AuditAction::PartnersManage,
            Action::ManageUsers => AuditAction::UsersManage,
            Action::FileRequest => AuditAction::RequestFile,
            Action::ListRequests => AuditAction::RequestsList,
            Action::DecideRequest => AuditAction::RequestDecide,
            Action::GrantExigent => AuditAction::RequestExigent,
            Action::LiveView => AuditAction::VideoLive,
            Action::Playback => AuditAction::VideoPlayback,
            Action::Export => AuditAction::VideoExport,
            Action::PlaceHold => AuditAction::HoldPlace,
            Action::LiftHold => AuditAction::HoldLift,
            Action::ReadAudit => AuditAction::AuditRead,
            Action::ReadReceipts => AuditAction::ReceiptsRead,
            Action::SearchRegistry => AuditAction::RegistrySearch,
        }
    }
}

impl From<AuditAction> for String {
    fn from(a: AuditAction) -> String {
        a.as_str().to_owned()
    }
}

/// How an audited event ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A policy decision let the caller see or do it.
    Allow,
    /// A policy decision (or a rule before it) refused.
    Deny,
    /// Done (no policy decision involved beyond the route's).
    Ok,
    /// Attempted and failed (bad credentials, an export that could not be written).
    Fail,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        [Outcome::Allow, Outcome::Deny, Outcome::Ok, Outcome::Fail]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

impl From<Outcome> for String {
    fn from(o: Outcome) -> String {
        o.as_str().to_owned()
    }
}

/// An event of `action` by `actor` with `outcome`; the caller fills in the rest.
pub fn event(actor: &str, action: AuditAction, outcome: Outcome) -> NewAuditEvent {
    NewAuditEvent {
        actor: actor.to_owned(),
        action: action.into(),
        outcome: outcome.into(),
        ..Default::default()
    }
}

impl Program {
    pub fn audit(&self, e: NewAuditEvent) -> Result<()> {
        self.store.audit(e)?;
        Ok(())
    }

    /// Records that `subject` read a sensitive list (partner contacts, accounts, holds, the
    /// audit log itself): who looks at personal data is as much a matter of record as who
    /// changes it (issue 22 C5).
    pub fn audit_read(&self, subject: &Subject, action: AuditAction, detail: String) -> Result<()> {
        self.audit(NewAuditEvent {
            detail,
            ..event(&subject.username, action, Outcome::Ok)
        })
    }

    /// Records a denial; a failure to audit is logged (the request is refused either way).
    pub fn audit_denial(&self, actor: &str, action: AuditAction, rule: &str, detail: String) {
        let r = self.store.audit(NewAuditEvent {
            rule: rule.into(),
            detail,
            ..event(actor, action, Outcome::Deny)
        });
        if let Err(e) = r {
            tracing::error!(error = %e, "audit write failed");
        }
    }
}

impl Program {
    /// Searches the audit log for an auditor. The search itself is recorded first, so the
    /// reader's own read is in what they see.
    pub fn audit_log(&self, s: &Subject, f: AuditFilter) -> Result<Vec<AuditEvent>> {
        self.audit(NewAuditEvent {
            camera: f.camera,
            range: f.from_us.zip(f.to_us),
            case_number: f.case_number.clone(),
            detail: f
                .actor
                .as_ref()
                .map_or_else(String::new, |u| format!("user={u}")),
            ..event(&s.username, AuditAction::AuditRead, Outcome::Ok)
        })?;
        Ok(self.store.audit_search(&f)?)
    }

    /// A partner's receipts: every video access to and footage request about its cameras
    /// (newest 1000).
    pub fn receipts(&self, s: &Subject) -> Result<Vec<AuditEvent>> {
        let pid = self.own_partner(s, Action::ReadReceipts)?;
        let mine = self.partner_camera_ids(pid)?;
        let events = self.store.audit_search(&AuditFilter {
            limit: 100_000,
            ..Default::default()
        })?;
        Ok(events
            .into_iter()
            .filter(|e| {
                e.event.camera.is_some_and(|c| mine.contains(&c))
                    && AuditAction::parse(&e.event.action)
                        .is_some_and(AuditAction::is_partner_receipt)
            })
            .take(1000)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
            assert!(seen.insert(a.as_str()), "{} twice", a.as_str());
        }
        for a in Action::ALL {
            assert_eq!(AuditAction::from(a).as_str(), a.as_str());
        }
    }

    #[test]
    fn transparency_and_receipt_kinds() {
        let video: Vec<_> = AuditAction::ALL
            .iter()
            .filter(|a| a.is_video())
            .map(|a| a.as_str())
            .collect();
        assert_eq!(
            video,
            [
                "video.timeline",
                "video.live",
                "video.playback",
                "video.export",
                "video.export.read",
                "video.export.download",
                "video.export.done",
                "video.export.failed",
                "video.export.fixity-failed",
            ]
        );
        assert!(AuditAction::RequestApprove.is_partner_receipt());
        assert!(!AuditAction::Login.is_partner_receipt());
        assert!(!AuditAction::HoldLift.is_partner_receipt());
    }
}
