//! The JSON API, one module per resource, and the route table that puts each handler behind
//! its access rule. Handlers gather the facts, call the program (`vms_program`) for every rule
//! and audit, map the outcome to HTTP, and run store work on the blocking pool.

pub(crate) mod audit;
pub(crate) mod cameras;
pub(crate) mod exports;
pub(crate) mod footage;
pub(crate) mod holds;
pub(crate) mod onvif;
pub(crate) mod partners;
pub(crate) mod playback;
pub(crate) mod public_calls;
pub(crate) mod registry;
pub(crate) mod requests;
pub(crate) mod session;
pub(crate) mod signup;
pub(crate) mod submissions;
pub(crate) mod system;
pub(crate) mod tus;
pub(crate) mod users;

pub use playback::{RangeError, parse_range};

use axum::http::Method;
use vms_program::{Action, navigation};

use crate::routes::ApiRouter;
use crate::state::AppState;

/// Every route with its access rule. The router is built from this and nothing else.
pub fn routes(state: AppState) -> ApiRouter {
    use Method as M;
    ApiRouter::new(state)
        .public(M::GET, "/", crate::ui::shell)
        .public(M::GET, "/ui/{*file}", crate::ui::file)
        .pages(
            navigation::Page::ALL
                .iter()
                .map(|p| p.path())
                .chain(navigation::PUBLIC_PAGES),
            crate::ui::shell,
        )
        .public(M::POST, "/api/login", session::login)
        .public(M::GET, "/api/transparency", audit::transparency)
        .public(M::GET, "/api/signup", signup::info)
        .public(M::POST, "/api/signup", signup::sign_up)
        .public(M::POST, "/api/signup/verify", signup::verify)
        .signed_in(M::POST, "/api/logout", session::logout)
        .signed_in(M::GET, "/api/me", session::me)
        .secured(M::GET, "/api/health", Action::ViewHealth, system::health)
        .secured(M::GET, "/metrics", Action::ViewHealth, system::metrics)
        .secured(
            M::GET,
            "/api/cameras",
            Action::ListCameras,
            cameras::list_cameras,
        )
        .secured(
            M::POST,
            "/api/cameras",
            Action::EnrollCamera,
            cameras::enroll_camera,
        )
        .secured(
            M::GET,
            "/api/cameras/{id}",
            Action::ReadCamera,
            cameras::get_camera,
        )
        .secured(
            M::PATCH,
            "/api/cameras/{id}",
            Action::UpdateSharing,
            cameras::update_camera,
        )
        // Its partner, or an administrator on the partner's behalf: checked in the program.
        .signed_in(M::PUT, "/api/cameras/{id}/place", cameras::place_camera)
        .secured(
            M::DELETE,
            "/api/cameras/{id}",
            Action::UpdateSharing,
            cameras::remove_camera,
        )
        .signed_in(M::GET, "/api/map", registry::map_config)
        .secured(
            M::POST,
            "/api/registry/import",
            Action::ManagePartners,
            registry::import,
        )
        .secured(
            M::GET,
            "/api/registry",
            Action::SearchRegistry,
            registry::search,
        )
        .secured(
            M::POST,
            "/api/canvasses/preview",
            Action::FileRequest,
            registry::preview,
        )
        .secured(
            M::POST,
            "/api/canvasses",
            Action::FileRequest,
            registry::send,
        )
        .secured(
            M::GET,
            "/api/canvasses",
            Action::FileRequest,
            registry::list,
        )
        .secured(
            M::GET,
            "/api/canvasses/{id}",
            Action::FileRequest,
            registry::get,
        )
        .secured(
            M::GET,
            "/api/cameras/{id}/recordings",
            Action::Playback,
            footage::recordings,
        )
        .secured(
            M::GET,
            "/api/cameras/{id}/video.mp4",
            Action::Playback,
            playback::video,
        )
        .secured(
            M::POST,
            "/api/cameras/{id}/whep",
            Action::LiveView,
            crate::live::offer,
        )
        // Owners and administrators (who may not watch) end views: checked in the handler.
        .signed_in(M::DELETE, "/api/live/{session}", crate::live::end)
        .secured(
            M::GET,
            "/api/live/config",
            Action::LiveView,
            crate::live::config,
        )
        .secured(
            M::POST,
            "/api/onvif/probe",
            Action::EnrollCamera,
            onvif::probe,
        )
        .secured(
            M::POST,
            "/api/onvif/discover",
            Action::ManagePartners,
            onvif::discover,
        )
        .secured(M::GET, "/api/exports", Action::Export, exports::list)
        .secured(M::POST, "/api/exports", Action::Export, exports::create)
        .secured(M::GET, "/api/exports/{id}", Action::Export, exports::get)
        .secured(
            M::GET,
            "/api/exports/{id}/files/{name}",
            Action::Export,
            exports::file,
        )
        .secured(
            M::GET,
            "/api/partners",
            Action::ManagePartners,
            partners::list_partners,
        )
        .secured(
            M::POST,
            "/api/partners",
            Action::ManagePartners,
            partners::create_partner,
        )
        .secured(
            M::GET,
            "/api/partner",
            Action::PartnerSelf,
            partners::own_account,
        )
        .secured(
            M::POST,
            "/api/partner/terms",
            Action::PartnerSelf,
            partners::accept_terms,
        )
        .secured(
            M::PUT,
            "/api/partner/notices",
            Action::PartnerSelf,
            partners::set_notices,
        )
        .secured(
            M::POST,
            "/api/partner/status",
            Action::PartnerSelf,
            partners::set_partner_status,
        )
        .secured(
            M::GET,
            "/api/partner/receipts",
            Action::ReadReceipts,
            partners::receipts,
        )
        .secured(
            M::GET,
            "/api/requests",
            Action::ListRequests,
            requests::list_requests,
        )
        .secured(
            M::POST,
            "/api/requests",
            Action::FileRequest,
            requests::file_request,
        )
        .secured(
            M::POST,
            "/api/requests/{id}/decision",
            Action::DecideRequest,
            requests::decide_request,
        )
        .secured(
            M::POST,
            "/api/requests/{id}/submission-link",
            Action::DecideRequest,
            submissions::partner_link,
        )
        .secured(
            M::POST,
            "/api/requests/{id}/exigent",
            Action::GrantExigent,
            requests::exigent,
        )
        .secured(M::GET, "/api/holds", Action::PlaceHold, holds::list_holds)
        .secured(M::POST, "/api/holds", Action::PlaceHold, holds::place_hold)
        .secured(
            M::DELETE,
            "/api/holds/{id}",
            Action::LiftHold,
            holds::lift_hold,
        )
        .secured(M::GET, "/api/users", Action::ManageUsers, users::list_users)
        .secured(
            M::POST,
            "/api/users",
            Action::ManageUsers,
            users::create_user,
        )
        .secured(
            M::PATCH,
            "/api/users/{name}",
            Action::ManageUsers,
            users::update_user,
        )
        .secured(
            M::GET,
            "/api/tokens",
            Action::ManageUsers,
            users::list_tokens,
        )
        .secured(
            M::POST,
            "/api/tokens",
            Action::ManageUsers,
            users::create_token,
        )
        .secured(
            M::DELETE,
            "/api/tokens/{id}",
            Action::ManageUsers,
            users::revoke_token,
        )
        .secured(M::GET, "/api/audit", Action::ReadAudit, audit::audit_search)
        .secured(
            M::GET,
            "/api/cases/{case}/links",
            Action::FileRequest,
            submissions::list_links,
        )
        .secured(
            M::POST,
            "/api/cases/{case}/links",
            Action::FileRequest,
            submissions::create_link,
        )
        .secured(
            M::DELETE,
            "/api/links/{id}",
            Action::FileRequest,
            submissions::revoke_link,
        )
        .secured(
            M::GET,
            "/api/cases/{case}/submissions",
            Action::FileRequest,
            submissions::case_submissions,
        )
        .secured(
            M::GET,
            "/api/submissions/{id}/original",
            Action::FileRequest,
            submissions::original,
        )
        .secured(
            M::GET,
            "/api/submissions/{id}/entries/{index}",
            Action::FileRequest,
            submissions::entry,
        )
        .secured(
            M::GET,
            "/api/submissions/{id}/working-copy",
            Action::FileRequest,
            submissions::working_copy,
        )
        .secured(
            M::POST,
            "/api/submissions/{id}/review",
            Action::FileRequest,
            submissions::review,
        )
        .secured(
            M::GET,
            "/api/cases/{case}/public-calls",
            Action::FileRequest,
            public_calls::list,
        )
        .secured(
            M::POST,
            "/api/cases/{case}/public-calls",
            Action::FileRequest,
            public_calls::create,
        )
        .secured(
            M::DELETE,
            "/api/public-calls/{id}",
            Action::FileRequest,
            public_calls::close,
        )
        // A public call's page: open to anyone while the call is.
        .public(M::GET, "/api/public-calls/{id}", public_calls::show)
        .public(M::POST, "/api/public-calls/{id}/start", public_calls::start)
        // The submitter's page and tus: the link's token is checked in each handler.
        .public(M::GET, "/api/submission", submissions::submission)
        .public(M::POST, "/api/submission/statement", submissions::statement)
        .public(M::OPTIONS, "/api/uploads", tus::options)
        .public(M::POST, "/api/uploads", tus::create)
        .public(M::HEAD, "/api/uploads/{id}", tus::head)
        .public(M::PATCH, "/api/uploads/{id}", tus::patch)
        .public(M::DELETE, "/api/uploads/{id}", tus::terminate)
}
