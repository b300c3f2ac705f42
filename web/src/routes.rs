//! Building the API router so that no route can exist without an access policy: routes are
//! only added through [`ApiRouter::public`], [`ApiRouter::signed_in`] or
//! [`ApiRouter::secured`], and the table they fill is what the coverage test and the OpenAPI
//! check read.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, on};

use crate::error::ApiError;
use crate::state::AppState;
use vms_program::AuditAction;
use vms_program::auth::{self, AuthError, SESSION_COOKIE};
use vms_program::policy::{Action, Resource, Subject, authorize};

/// Who may call a route, before any particular object is looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (login, the transparency report, the UI's static files).
    Public,
    /// Any signed-in user (their own session: `me`, `logout`).
    SignedIn,
    /// Signed in, and the policy allows the role this action.
    Action(Action),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

/// A router that records every route with its access rule.
#[derive(Debug)]
pub struct ApiRouter {
    state: AppState,
    router: Router<AppState>,
    pub table: Vec<RouteSpec>,
}

impl ApiRouter {
    pub fn new(state: AppState) -> Self {
        ApiRouter {
            state,
            router: Router::new(),
            table: Vec::new(),
        }
    }

    fn add(
        mut self,
        method: Method,
        path: &'static str,
        access: Access,
        h: MethodRouter<AppState>,
    ) -> Self {
        let gated = match access {
            Access::Public => h,
            Access::SignedIn | Access::Action(_) => h.route_layer(
                axum::middleware::from_fn_with_state((self.state.clone(), access), gate),
            ),
        };
        self.router = self.router.route(path, gated);
        self.table.push(RouteSpec {
            method,
            path,
            access,
        });
        self
    }

    pub fn public<H, T>(self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        let filter = method_filter(&method);
        self.add(method, path, Access::Public, on(filter, handler))
    }

    pub fn signed_in<H, T>(self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        let filter = method_filter(&method);
        self.add(method, path, Access::SignedIn, on(filter, handler))
    }

    pub fn secured<H, T>(
        self,
        method: Method,
        path: &'static str,
        action: Action,
        handler: H,
    ) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        let filter = method_filter(&method);
        self.add(method, path, Access::Action(action), on(filter, handler))
    }

    /// The web app's pages: each path and everything below it (deep links such as
    /// `/cases/2026-004211`) answer `handler` (the app shell) to anyone; the app asks the API
    /// what the caller may see. Recorded in the table under the page's own path.
    pub fn pages<H, T>(mut self, paths: impl IntoIterator<Item = &'static str>, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState> + Clone,
        T: 'static,
    {
        for path in paths {
            self.router = self
                .router
                .route(path, axum::routing::get(handler.clone()))
                .route(
                    &format!("{path}/{{*rest}}"),
                    axum::routing::get(handler.clone()),
                );
            self.table.push(RouteSpec {
                method: Method::GET,
                path,
                access: Access::Public,
            });
        }
        self
    }

    pub fn into_parts(self) -> (Router<AppState>, Vec<RouteSpec>) {
        (self.router, self.table)
    }
}

fn method_filter(m: &Method) -> axum::routing::MethodFilter {
    use axum::routing::MethodFilter;
    match *m {
        Method::POST => MethodFilter::POST,
        Method::PATCH => MethodFilter::PATCH,
        Method::PUT => MethodFilter::PUT,
        Method::DELETE => MethodFilter::DELETE,
        Method::HEAD => MethodFilter::HEAD,
        Method::OPTIONS => MethodFilter::OPTIONS,
        _ => MethodFilter::GET,
    }
}

/// The session token from the request's `Cookie` headers, if any.
pub(crate) fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The credential a request presents, with the gate's precedence (bearer before cookie).
pub(crate) fn credential(headers: &axum::http::HeaderMap) -> Option<auth::Credential> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (bearer, session_cookie(headers)) {
        (Some(t), _) => Some(auth::Credential::Bearer(auth::token_hash(t))),
        (None, Some(c)) => Some(auth::Credential::Session(auth::token_hash(&c))),
        (None, None) => None,
    }
}

/// Authenticates the caller (session cookie with CSRF check, or bearer token), applies the
/// route's access rule through the policy, audits denials, and hands the [`Subject`] to the
/// handler.
async fn gate(
    State((state, access)): State<(AppState, Access)>,
    mut req: Request,
    next: Next,
) -> Response {
    let state_changing = !matches!(*req.method(), Method::GET | Method::HEAD);
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let csrf = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let store = state.store.clone();
    let cookie = session_cookie(req.headers());
    let activity =
        !(req.method() == Method::GET && req.headers().contains_key(auth::BACKGROUND_HEADER));
    let result = tokio::task::spawn_blocking(move || match (bearer, cookie) {
        (Some(t), _) => auth::bearer_subject(&store, &t),
        (None, Some(c)) => {
            auth::session_subject(&store, &c, csrf.as_deref(), state_changing, activity)
        }
        (None, None) => Err(AuthError::Missing),
    })
    .await
    .unwrap_or(Err(AuthError::Invalid));
    let subject = match result {
        Ok(s) => s,
        Err(e) => {
            let path = req.uri().path();
            return match e {
                AuthError::Missing => ApiError::Unauthorized("sign in first").into_response(),
                AuthError::Invalid => {
                    ApiError::Unauthorized("invalid or expired credentials").into_response()
                }
                AuthError::Expired(user) => {
                    state.program.audit_denial(
                        &user,
                        AuditAction::SessionRejected,
                        "session-expired",
                        path.to_owned(),
                    );
                    ApiError::Unauthorized("session expired; sign in again").into_response()
                }
                AuthError::BadCsrf(user) => {
                    state.program.audit_denial(
                        &user,
                        AuditAction::SessionRejected,
                        "csrf-token-mismatch",
                        path.to_owned(),
                    );
                    ApiError::Forbidden {
                        rule: "csrf-token-mismatch",
                    }
                    .into_response()
                }
            };
        }
    };
    if let Access::Action(action) = access {
        let d = authorize(&subject, action, &Resource::Route);
        if !d.allow {
            state
                .program
                .audit_denial(&subject.username, action.into(), d.rule, String::new());
            return ApiError::Forbidden { rule: d.rule }.into_response();
        }
    }
    tracing::Span::current().record("user", subject.username.as_str());
    req.extensions_mut().insert(subject);
    next.run(req).await
}

/// The handler-side extractor for the caller. Only the gate inserts a [`Subject`], so a
/// handler mounted without one fails closed (500, logged) instead of running unauthenticated.
#[derive(Debug)]
pub struct Caller(pub Subject);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Subject>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| ApiError::Internal("handler reached without the auth gate".into()))
    }
}
