//! The web app's pages and who may open them. A page is shown in a signed-in user's navigation
//! when the policy allows its role the action the page is for ([`authorize`] on
//! [`Resource::Route`], the same decision the API's route gate makes), so the UI never holds a
//! second copy of the rules: it asks `/api/me` which pages it may show.
//!
//! Paths are the app's deep links; the web server answers every one of them (and anything
//! below it, e.g. `/cases/2026-004211`) with the app, which reads the path on load.

use serde::Serialize;
use vms_storage::Role;

use crate::policy::{Action, Resource, Subject, authorize};

/// Whom a page is written for: the agency's staff and the partners see different pages for
/// the same action (staff list every camera; a partner lists its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Audience {
    Staff,
    Partner,
}

/// One page of the web app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Page {
    Live,
    Recordings,
    Cases,
    Cameras,
    Map,
    Partners,
    Users,
    Holds,
    Audit,
    System,
    MyCameras,
    MyRequests,
    Receipts,
    Participation,
}

impl Page {
    /// In navigation order (a role's first page is its home page).
    pub const ALL: [Page; 14] = [
        Page::MyCameras,
        Page::MyRequests,
        Page::Receipts,
        Page::Participation,
        Page::Cases,
        Page::Recordings,
        Page::Live,
        Page::Cameras,
        Page::Map,
        Page::Holds,
        Page::Audit,
        Page::Partners,
        Page::Users,
        Page::System,
    ];

    /// The page's path, which is also its deep link.
    pub const fn path(self) -> &'static str {
        match self {
            Page::Live => "/live",
            Page::Recordings => "/recordings",
            Page::Cases => "/cases",
            Page::Cameras => "/cameras",
            Page::Map => "/map",
            Page::Partners => "/partners",
            Page::Users => "/users",
            Page::Holds => "/holds",
            Page::Audit => "/audit",
            Page::System => "/system",
            Page::MyCameras => "/portal/cameras",
            Page::MyRequests => "/portal/requests",
            Page::Receipts => "/portal/receipts",
            Page::Participation => "/portal/participation",
        }
    }

    /// The navigation label.
    pub const fn title(self) -> &'static str {
        match self {
            Page::Live => "Live",
            Page::Recordings => "Recordings",
            Page::Cases => "Cases",
            Page::Cameras => "Cameras",
            Page::Map => "Map",
            Page::Partners => "Partners",
            Page::Users => "Users",
            Page::Holds => "Legal holds",
            Page::Audit => "Audit",
            Page::System => "System health",
            Page::MyCameras => "My cameras",
            Page::MyRequests => "Requests",
            Page::Receipts => "Access receipts",
            Page::Participation => "Participation",
        }
    }

    /// The action a page exists to do; its role must be allowed it.
    const fn action(self) -> Action {
        match self {
            Page::Live => Action::LiveView,
            Page::Recordings => Action::Playback,
            Page::Cases => Action::FileRequest,
            Page::Cameras => Action::ListCameras,
            Page::Map => Action::SearchRegistry,
            Page::Partners => Action::ManagePartners,
            Page::Users => Action::ManageUsers,
            Page::Holds => Action::PlaceHold,
            Page::Audit => Action::ReadAudit,
            Page::System => Action::ViewHealth,
            Page::MyCameras => Action::PartnerSelf,
            Page::MyRequests => Action::DecideRequest,
            Page::Receipts => Action::ReadReceipts,
            Page::Participation => Action::PartnerSelf,
        }
    }

    const fn audience(self) -> Audience {
        match self {
            Page::MyCameras | Page::MyRequests | Page::Receipts | Page::Participation => {
                Audience::Partner
            }
            _ => Audience::Staff,
        }
    }
}

/// Public pages: no sign-in (the transparency report; the page a submission link opens, whose
/// token is the credential; a public call for video).
pub const PUBLIC_PAGES: [&str; 4] = ["/transparency", "/submit", "/call", "/join"];

/// The pages `subject` may open, in navigation order.
pub fn pages_for(subject: &Subject) -> Vec<Page> {
    let audience = if subject.role == Role::Partner {
        Audience::Partner
    } else {
        Audience::Staff
    };
    Page::ALL
        .into_iter()
        .filter(|p| p.audience() == audience)
        .filter(|p| authorize(subject, p.action(), &Resource::Route).allow)
        .collect()
}

/// The actions `subject` may ever do (route level), for controls inside a page (e.g. the
/// exigent-access button is shown to those allowed [`Action::GrantExigent`]).
pub fn actions_for(subject: &Subject) -> Vec<&'static str> {
    Action::ALL
        .into_iter()
        .filter(|a| authorize(subject, *a, &Resource::Route).allow)
        .map(Action::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(role: Role, mfa: bool) -> Subject {
        Subject {
            username: "u".into(),
            role,
            partner: (role == Role::Partner).then_some(1),
            mfa,
        }
    }

    #[test]
    fn each_role_sees_its_own_pages() {
        use Page::*;
        let cases = [
            (
                Role::Partner,
                vec![MyCameras, MyRequests, Receipts, Participation],
            ),
            (Role::Viewer, vec![Live, Cameras, System]),
            (
                Role::Investigator,
                vec![Cases, Recordings, Live, Cameras, Map, System],
            ),
            (
                Role::Supervisor,
                vec![Cases, Recordings, Live, Cameras, Map, Holds, Audit, System],
            ),
            (
                Role::Admin,
                vec![Cameras, Map, Audit, Partners, Users, System],
            ),
        ];
        for (role, want) in cases {
            assert_eq!(pages_for(&subject(role, true)), want, "{role:?}");
        }
    }

    #[test]
    fn video_pages_need_a_second_factor_as_the_api_does() {
        let pages = pages_for(&subject(Role::Investigator, false));
        assert!(!pages.contains(&Page::Live) && !pages.contains(&Page::Recordings));
        assert!(pages.contains(&Page::Cases));
    }

    #[test]
    fn paths_are_distinct_and_not_the_api() {
        let mut paths: Vec<_> = Page::ALL.iter().map(|p| p.path()).collect();
        paths.extend(PUBLIC_PAGES);
        let n = paths.len();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), n);
        assert!(
            paths
                .iter()
                .all(|p| !p.starts_with("/api") && !p.starts_with("/ui"))
        );
    }
}
