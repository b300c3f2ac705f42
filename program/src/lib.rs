//! The partnership program's rules, with no transport: who may see what ([`policy`]), signing
//! in ([`auth`], [`login_guard`]), what is recorded about it ([`audit`]), the gate every access
//! to footage passes ([`footage`]), partners and their cameras ([`partners`], [`cameras`]),
//! footage requests ([`requests`]), legal holds ([`holds`]), evidence exports' legal basis
//! ([`exports`]), accounts ([`users`]), the public report ([`transparency`]) and which pages of
//! the web app a role may open ([`navigation`]). The web API
//! and the CLI call these; neither holds a rule of its own.
//!
//! Functions here are synchronous and do store work: async callers run them on the blocking
//! pool.

pub mod audit;
pub mod auth;
pub mod cameras;
pub mod canvass;
pub mod error;
pub mod exports;
pub mod footage;
pub mod holds;
pub mod login_guard;
pub mod navigation;
pub mod notices;
pub mod partners;
pub mod policy;
pub mod public_calls;
pub mod registry_import;
pub mod requests;
pub mod signup;
pub mod submissions;
pub mod text;
pub mod transparency;
pub mod users;

use std::sync::Arc;

use vms_storage::{CameraInfo, NewAuditEvent, Store};

pub use audit::{AuditAction, Outcome};
pub use error::{ProgramError, Result};
pub use policy::{Action, Decision, Resource, Subject, authorize};

/// The program's own bounds (defaults are the program's; configurable only to be stricter).
#[derive(Clone, Debug)]
pub struct ProgramSettings {
    /// Longest footage request, hours.
    pub max_request_hours: u32,
    /// Largest area request radius, metres.
    pub max_canvass_radius_m: u32,
    /// Whether owners can be told by email (an SMTP server is configured); without it, area
    /// requests reach owners through the portal only.
    pub email: bool,
    /// The words of the owners' emails about area requests.
    pub notice_template: notices::NoticeTemplate,
    /// Longest range one timeline/playback call may cover, hours.
    pub max_range_hours: u32,
    /// Require a second factor for every account, not only those that see video.
    pub mfa_for_all: bool,
    /// The program terms version partners accept.
    pub terms_version: String,
    /// Bounds on community submissions.
    pub submissions: submissions::SubmissionLimits,
}

impl Default for ProgramSettings {
    fn default() -> Self {
        ProgramSettings {
            max_request_hours: 12,
            max_canvass_radius_m: 800,
            email: false,
            notice_template: notices::NoticeTemplate::default(),
            max_range_hours: 24,
            mfa_for_all: false,
            terms_version: "2026-1".into(),
            submissions: submissions::SubmissionLimits::default(),
        }
    }
}

/// The program over one store: the handle rules are applied through.
#[derive(Clone, Debug)]
pub struct Program {
    store: Arc<Store>,
    settings: Arc<ProgramSettings>,
    /// Serialises the check-then-write steps of submissions (limits, statements), so requests
    /// at the same moment cannot each pass a check the other's write breaks.
    intake: Arc<std::sync::Mutex<()>>,
    /// Serialises read-modify-writes of canvass rows (owners' steps, email outcomes).
    canvass: Arc<std::sync::Mutex<()>>,
}

impl Program {
    pub fn new(store: Arc<Store>, settings: ProgramSettings) -> Program {
        Program {
            store,
            intake: Arc::default(),
            canvass: Arc::default(),
            settings: Arc::new(settings),
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn settings(&self) -> &ProgramSettings {
        &self.settings
    }

    /// Authorizes `action` on an object; a denial is audited (with the camera, range and
    /// reason in `ev`) and returned as [`ProgramError::Forbidden`]. The allowing rule is
    /// returned for the caller's own audit event.
    pub fn check(
        &self,
        s: &Subject,
        action: Action,
        r: &Resource<'_>,
        ev: &NewAuditEvent,
    ) -> Result<&'static str> {
        let d = authorize(s, action, r);
        if !d.allow {
            self.audit(NewAuditEvent {
                actor: s.username.clone(),
                action: AuditAction::from(action).into(),
                outcome: Outcome::Deny.into(),
                rule: d.rule.into(),
                ..ev.clone()
            })?;
            return Err(ProgramError::Forbidden { rule: d.rule });
        }
        Ok(d.rule)
    }

    /// A camera by id.
    pub fn camera(&self, id: u32) -> Result<CameraInfo> {
        self.store.camera_info(id)?.ok_or(ProgramError::NotFound)
    }
}
