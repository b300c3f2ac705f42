//! The one authorization function. Every handler's access decision comes from
//! [`authorize`]: who (a [`Subject`]) may do what ([`Action`]) to which [`Resource`], and the
//! rule that decided — so each audit event can say why.
//!
//! Pure and synchronous: the handler gathers the facts (camera terms, approved requests) and
//! this function decides. The matrix tests in this file and in `tests/` pin it down.

use vms_storage::{CameraInfo, RequestRow, RequestStatus, Role, SharingMode};

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    pub username: String,
    pub role: Role,
    pub partner: Option<u64>,
    /// Whether this login passed a second factor (bearer tokens never do).
    pub mfa: bool,
}

/// Everything a caller can ask to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    ViewHealth,
    ListCameras,
    ReadCamera,
    EnrollCamera,
    UpdateSharing,
    PartnerSelf,
    ManagePartners,
    ManageUsers,
    FileRequest,
    ListRequests,
    DecideRequest,
    GrantExigent,
    LiveView,
    Playback,
    Export,
    PlaceHold,
    LiftHold,
    ReadAudit,
    ReadReceipts,
    /// The registry map: where cameras are, what they see, their owners' pseudonyms.
    SearchRegistry,
}

impl Action {
    pub const ALL: [Action; 20] = [
        Action::ViewHealth,
        Action::ListCameras,
        Action::ReadCamera,
        Action::EnrollCamera,
        Action::UpdateSharing,
        Action::PartnerSelf,
        Action::ManagePartners,
        Action::ManageUsers,
        Action::FileRequest,
        Action::ListRequests,
        Action::DecideRequest,
        Action::GrantExigent,
        Action::LiveView,
        Action::Playback,
        Action::Export,
        Action::PlaceHold,
        Action::LiftHold,
        Action::ReadAudit,
        Action::ReadReceipts,
        Action::SearchRegistry,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::ViewHealth => "health.view",
            Action::ListCameras => "cameras.list",
            Action::ReadCamera => "camera.read",
            Action::EnrollCamera => "camera.enroll",
            Action::UpdateSharing => "camera.sharing",
            Action::PartnerSelf => "partner.self",
            Action::ManagePartners => "partners.manage",
            Action::ManageUsers => "users.manage",
            Action::FileRequest => "request.file",
            Action::ListRequests => "requests.list",
            Action::DecideRequest => "request.decide",
            Action::GrantExigent => "request.exigent",
            Action::LiveView => "video.live",
            Action::Playback => "video.playback",
            Action::Export => "video.export",
            Action::PlaceHold => "hold.place",
            Action::LiftHold => "hold.lift",
            Action::ReadAudit => "audit.read",
            Action::ReadReceipts => "receipts.read",
            Action::SearchRegistry => "registry.search",
        }
    }

    /// Actions that show video (or its existence in a range) to the caller.
    pub fn is_video(self) -> bool {
        matches!(self, Action::LiveView | Action::Playback | Action::Export)
    }
}

/// What an action is applied to.
#[derive(Clone, Copy, Debug)]
pub enum Resource<'a> {
    /// The route itself, before any particular object is known: "may this role ever do this?"
    Route,
    /// A partner's own account (terms, leaving, receipts, enrolling cameras).
    Partner(u64),
    Camera(&'a CameraInfo),
    /// A request and the cameras it names.
    Request {
        request: &'a RequestRow,
        cameras: &'a [CameraInfo],
    },
    /// An evidence export (its status and its package), by who made it.
    Export {
        exporter: &'a str,
    },
    /// Video of `camera` in `[start_us, end_us)`; `requests` are every request naming it.
    Footage {
        camera: &'a CameraInfo,
        start_us: i64,
        end_us: i64,
        requests: &'a [RequestRow],
    },
}

/// An allow or deny, and the rule that decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allow: bool,
    pub rule: &'static str,
}

const fn allow(rule: &'static str) -> Decision {
    Decision { allow: true, rule }
}

const fn deny(rule: &'static str) -> Decision {
    Decision { allow: false, rule }
}

fn is_staff(r: Role) -> bool {
    !matches!(r, Role::Partner)
}

/// May `role` ever do `action`? The route-level gate.
fn role_may(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::Partner => matches!(
            action,
            ListCameras
                | ReadCamera
                | EnrollCamera
                | UpdateSharing
                | PartnerSelf
                | ListRequests
                | DecideRequest
                | ReadReceipts
        ),
        Role::Viewer => matches!(action, ViewHealth | ListCameras | ReadCamera | LiveView),
        Role::Investigator => matches!(
            action,
            ViewHealth
                | ListCameras
                | ReadCamera
                | LiveView
                | Playback
                | Export
                | FileRequest
                | ListRequests
                | SearchRegistry
        ),
        Role::Supervisor => matches!(
            action,
            ViewHealth
                | ListCameras
                | ReadCamera
                | LiveView
                | Playback
                | Export
                | FileRequest
                | ListRequests
                | GrantExigent
                | PlaceHold
                | LiftHold
                | ReadAudit
                | SearchRegistry
        ),
        // Administrators run the system; they do not watch it (separation of duties).
        Role::Admin => matches!(
            action,
            ViewHealth
                | ListCameras
                | ReadCamera
                | ManagePartners
                | ManageUsers
                | EnrollCamera
                | ReadAudit
                | SearchRegistry
        ),
    }
}

/// Decides whether `subject` may do `action` to `resource`.
pub fn authorize(subject: &Subject, action: Action, resource: &Resource<'_>) -> Decision {
    if !role_may(subject.role, action) {
        return deny("role-not-permitted");
    }
    if action.is_video() && !subject.mfa {
        return deny("video-needs-second-factor");
    }
    let own = |partner: u64| subject.partner == Some(partner);
    match (*resource, subject.role) {
        (Resource::Route, _) => allow("role-permitted"),

        (Resource::Partner(p), Role::Partner) => {
            if own(p) {
                allow("partner-own-account")
            } else {
                deny("not-your-partner-account")
            }
        }
        (Resource::Partner(_), Role::Admin) if action == Action::EnrollCamera => {
            allow("admin-enrolls-for-partner")
        }
        (Resource::Partner(_), _) => deny("partner-account-only"),

        (Resource::Camera(c), Role::Partner) => {
            if own(c.partner) {
                allow("partner-owns-camera")
            } else {
                deny("not-your-camera")
            }
        }
        (Resource::Camera(c), _) => match action {
            Action::LiveView => {
                if c.sharing != SharingMode::Live {
                    deny("camera-not-shared-live")
                } else if c.paused {
                    deny("camera-paused-by-partner")
                } else {
                    allow("live-camera-staff")
                }
            }
            Action::ReadCamera | Action::ListCameras => allow("staff-reads-registry"),
            _ => deny("not-applicable-to-camera"),
        },

        (Resource::Request { request, cameras }, Role::Partner) => {
            let all_own = !cameras.is_empty() && cameras.iter().all(|c| own(c.partner));
            if !all_own {
                deny("request-not-for-your-cameras")
            } else if action == Action::DecideRequest && request.status != RequestStatus::Pending {
                deny("request-already-decided")
            } else {
                allow("partner-owns-requested-cameras")
            }
        }
        (Resource::Request { request, .. }, role) => match action {
            // Two people for an override of the partner's consent: whoever asked for the
            // footage cannot also grant it to themselves (issue 22 F5, F15).
            Action::GrantExigent if request.investigator == subject.username => {
                deny("exigent-needs-another-supervisor")
            }
            Action::GrantExigent if request.status == RequestStatus::Pending => {
                allow("supervisor-exigent")
            }
            Action::GrantExigent => deny("request-already-decided"),
            Action::ListRequests if role == Role::Supervisor => allow("supervisor-sees-requests"),
            Action::ListRequests if request.investigator == subject.username => {
                allow("own-request")
            }
            _ => deny("not-your-request"),
        },

        (Resource::Export { exporter }, role) => {
            if action != Action::Export {
                deny("not-applicable-to-export")
            } else if exporter == subject.username {
                allow("own-export")
            } else if role == Role::Supervisor {
                allow("supervisor-sees-exports")
            } else {
                deny("not-your-export")
            }
        }

        (Resource::Footage { .. }, Role::Partner) => deny("partners-use-their-own-recorder"),
        (
            Resource::Footage {
                camera,
                start_us,
                end_us,
                requests,
            },
            role,
        ) => {
            if !is_staff(role) || end_us <= start_us {
                return deny("bad-footage-range");
            }
            match camera.sharing {
                SharingMode::Registry => deny("registry-camera-has-no-video"),
                SharingMode::Live if action != Action::LiveView => allow("live-camera-with-reason"),
                SharingMode::Live => allow("live-camera-staff"),
                SharingMode::OnRequest if action == Action::LiveView => {
                    deny("camera-not-shared-live")
                }
                SharingMode::OnRequest => {
                    let covered = requests.iter().any(|r| {
                        r.status.grants()
                            && r.cameras.contains(&camera.id)
                            && r.start_us <= start_us
                            && end_us <= r.end_us
                            && (r.investigator == subject.username || role == Role::Supervisor)
                    });
                    if covered {
                        allow("approved-request-covers-range")
                    } else {
                        deny("no-approved-request-for-range")
                    }
                }
            }
        }
    }
}

/// Roles whose logins must pass a second factor: those that can see video, and
/// administrators, who create and re-role the accounts that can (a password-only admin could
/// otherwise make themselves a path to video; issue 22 F5).
pub fn role_needs_mfa(role: Role) -> bool {
    role == Role::Admin
        || Action::ALL
            .iter()
            .any(|a| a.is_video() && role_may(role, *a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vms_storage::{CameraSource, RequestStatus};

    fn subject(role: Role, partner: Option<u64>) -> Subject {
        Subject {
            username: format!("{}-user", role.as_str()),
            role,
            partner,
            mfa: true,
        }
    }

    fn camera(partner: u64, sharing: SharingMode) -> CameraInfo {
        CameraInfo {
            id: 7,
            name: "porch".into(),
            partner,
            source: CameraSource::Rtsp {
                url: "rtsp://127.0.0.1/x".into(),
            },
            credentials: None,
            sharing,
            retention_days: 30,
            address: "secret".into(),
            placed: None,
            kind: None,
            owner_keeps_days: None,
            paused: false,
            masks: vec![],
            created_us: 0,
        }
    }

    fn request(status: RequestStatus, investigator: &str) -> RequestRow {
        RequestRow {
            id: 1,
            investigator: investigator.into(),
            cameras: vec![7],
            start_us: 1000,
            end_us: 2000,
            case_number: "C-1".into(),
            offence: "burglary".into(),
            reason: "witness saw".into(),
            status,
            decided_by: None,
            decided_us: None,
            decision_note: None,
            created_us: 0,
        }
    }

    #[test]
    fn footage_matrix_roles_by_sharing_mode() {
        // (role, mode, action) → allowed, for a range covered by nothing.
        for role in Role::ALL {
            for mode in SharingMode::ALL {
                for action in [Action::LiveView, Action::Playback, Action::Export] {
                    let s = subject(role, (role == Role::Partner).then_some(1));
                    let c = camera(1, mode);
                    let d = authorize(
                        &s,
                        action,
                        &Resource::Footage {
                            camera: &c,
                            start_us: 1000,
                            end_us: 2000,
                            requests: &[],
                        },
                    );
                    let expect = mode == SharingMode::Live
                        && match action {
                            Action::LiveView => {
                                matches!(role, Role::Viewer | Role::Investigator | Role::Supervisor)
                            }
                            _ => matches!(role, Role::Investigator | Role::Supervisor),
                        };
                    assert_eq!(d.allow, expect, "{role:?} {mode:?} {action:?}: {}", d.rule);
                }
            }
        }
    }

    /// Config-file cameras (issue 21): the agency's own, live to staff, invisible to every
    /// partner account.
    #[test]
    fn agency_cameras_matrix() {
        let c = CameraInfo {
            partner: vms_storage::AGENCY,
            source: CameraSource::ConfigFile,
            ..camera(vms_storage::AGENCY, SharingMode::Live)
        };
        for role in Role::ALL {
            let s = subject(role, (role == Role::Partner).then_some(1));
            for action in [Action::ReadCamera, Action::ListCameras, Action::LiveView] {
                let d = authorize(&s, action, &Resource::Camera(&c));
                let expect = match (role, action) {
                    (Role::Partner, _) => false,
                    (_, Action::LiveView) => {
                        matches!(role, Role::Viewer | Role::Investigator | Role::Supervisor)
                    }
                    _ => role_may(role, action),
                };
                assert_eq!(d.allow, expect, "{role:?} {action:?}: {}", d.rule);
            }
            for action in [Action::LiveView, Action::Playback, Action::Export] {
                let d = authorize(
                    &s,
                    action,
                    &Resource::Footage {
                        camera: &c,
                        start_us: 1000,
                        end_us: 2000,
                        requests: &[],
                    },
                );
                let expect = match action {
                    Action::LiveView => {
                        matches!(role, Role::Viewer | Role::Investigator | Role::Supervisor)
                    }
                    _ => matches!(role, Role::Investigator | Role::Supervisor),
                };
                assert_eq!(d.allow, expect, "{role:?} footage {action:?}: {}", d.rule);
            }
        }
    }

    #[test]
    fn exports_are_seen_by_their_exporter_and_supervisors_only() {
        let r = Resource::Export {
            exporter: "investigator-user",
        };
        let d = |role| authorize(&subject(role, None), Action::Export, &r);
        assert_eq!(d(Role::Investigator), allow("own-export"));
        assert_eq!(d(Role::Supervisor), allow("supervisor-sees-exports"));
        for role in [Role::Viewer, Role::Admin, Role::Partner] {
            assert!(!d(role).allow, "{role:?}");
        }
        let other = Resource::Export {
            exporter: "someone",
        };
        assert_eq!(
            authorize(&subject(Role::Investigator, None), Action::Export, &other),
            deny("not-your-export")
        );
    }

    #[test]
    fn on_request_needs_an_approved_request_covering_exactly_the_range() {
        let s = subject(Role::Investigator, None);
        let c = camera(1, SharingMode::OnRequest);
        let check = |reqs: &[RequestRow], start, end| {
            authorize(
                &s,
                Action::Playback,
                &Resource::Footage {
                    camera: &c,
                    start_us: start,
                    end_us: end,
                    requests: reqs,
                },
            )
        };
        assert!(!check(&[], 1000, 2000).allow);
        assert!(
            !check(
                &[request(RequestStatus::Pending, "investigator-user")],
                1000,
                2000
            )
            .allow
        );
        assert!(
            !check(
                &[request(RequestStatus::Denied, "investigator-user")],
                1000,
                2000
            )
            .allow
        );
        let approved = [request(RequestStatus::Approved, "investigator-user")];
        assert_eq!(
            check(&approved, 1000, 2000).rule,
            "approved-request-covers-range"
        );
        assert!(check(&approved, 1500, 1600).allow);
        assert!(!check(&approved, 999, 2000).allow, "one microsecond before");
        assert!(!check(&approved, 1000, 2001).allow, "one microsecond after");
        assert!(
            check(
                &[request(RequestStatus::Exigent, "investigator-user")],
                1000,
                2000
            )
            .allow
        );
        // Someone else's approval does not extend to this investigator.
        assert!(
            !check(
                &[request(RequestStatus::Approved, "someone-else")],
                1000,
                2000
            )
            .allow
        );
        // Without a second factor, nothing.
        let mut no_mfa = s.clone();
        no_mfa.mfa = false;
        let d = authorize(
            &no_mfa,
            Action::Playback,
            &Resource::Footage {
                camera: &c,
                start_us: 1000,
                end_us: 2000,
                requests: &approved,
            },
        );
        assert_eq!(d, deny("video-needs-second-factor"));
    }

    #[test]
    fn partners_see_only_their_own() {
        let mine = camera(1, SharingMode::Live);
        let theirs = camera(2, SharingMode::Live);
        let p = subject(Role::Partner, Some(1));
        assert!(authorize(&p, Action::ReadCamera, &Resource::Camera(&mine)).allow);
        assert!(!authorize(&p, Action::ReadCamera, &Resource::Camera(&theirs)).allow);
        assert!(!authorize(&p, Action::UpdateSharing, &Resource::Camera(&theirs)).allow);
        assert!(authorize(&p, Action::ReadReceipts, &Resource::Partner(1)).allow);
        assert!(!authorize(&p, Action::ReadReceipts, &Resource::Partner(2)).allow);
        let r = request(RequestStatus::Pending, "inv");
        let decide = |cams: &[CameraInfo], r: &RequestRow| {
            authorize(
                &p,
                Action::DecideRequest,
                &Resource::Request {
                    request: r,
                    cameras: cams,
                },
            )
        };
        assert!(decide(std::slice::from_ref(&mine), &r).allow);
        assert!(!decide(std::slice::from_ref(&theirs), &r).allow);
        assert!(!decide(&[], &r).allow);
        assert!(
            !decide(
                std::slice::from_ref(&mine),
                &request(RequestStatus::Approved, "inv")
            )
            .allow
        );
        assert!(!authorize(&p, Action::ReadAudit, &Resource::Route).allow);
    }

    #[test]
    fn staff_roles_gate() {
        let viewer = subject(Role::Viewer, None);
        assert!(!authorize(&viewer, Action::Export, &Resource::Route).allow);
        assert!(!authorize(&viewer, Action::FileRequest, &Resource::Route).allow);
        let admin = subject(Role::Admin, None);
        assert!(authorize(&admin, Action::ManageUsers, &Resource::Route).allow);
        assert!(!authorize(&admin, Action::Playback, &Resource::Route).allow);
        let sup = subject(Role::Supervisor, None);
        let r = request(RequestStatus::Pending, "inv");
        let cams = [camera(1, SharingMode::OnRequest)];
        assert!(
            authorize(
                &sup,
                Action::GrantExigent,
                &Resource::Request {
                    request: &r,
                    cameras: &cams
                }
            )
            .allow
        );
        let inv = subject(Role::Investigator, None);
        assert!(
            !authorize(
                &inv,
                Action::GrantExigent,
                &Resource::Request {
                    request: &r,
                    cameras: &cams
                }
            )
            .allow
        );
        let paused = CameraInfo {
            paused: true,
            ..camera(1, SharingMode::Live)
        };
        assert!(!authorize(&viewer, Action::LiveView, &Resource::Camera(&paused)).allow);
    }

    #[test]
    fn mfa_is_required_for_roles_that_see_video_and_for_admins() {
        assert!(role_needs_mfa(Role::Viewer));
        assert!(role_needs_mfa(Role::Investigator));
        assert!(role_needs_mfa(Role::Supervisor));
        assert!(role_needs_mfa(Role::Admin));
        assert!(!role_needs_mfa(Role::Partner));
    }
}
