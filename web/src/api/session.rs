//! Signing in and out, and who the caller is.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use vms_program::audit::{AuditAction, Outcome};
use vms_program::auth::{self, LoginError, SESSION_COOKIE};
use vms_program::{Subject, navigation};
use vms_storage::NewAuditEvent;

use crate::error::{ApiError, ApiJson, ApiResult};
use crate::routes::Caller;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    username: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
    /// Sent with a code to finish enrolling a second factor: the owner's own password.
    #[serde(default)]
    new_password: Option<String>,
}

/// The answer to a right password for an account whose owner must enrol a second factor:
/// no session yet (HTTP 200, no cookie).
#[derive(Serialize)]
pub(crate) struct EnrolResponse {
    enrol: EnrolOut,
}

#[derive(Serialize)]
pub(crate) struct EnrolOut {
    otpauth_uri: String,
    secret: String,
}

#[derive(Serialize)]
pub(crate) struct MeResponse {
    username: String,
    role: &'static str,
    partner: Option<u64>,
    csrf: Option<String>,
    mfa: bool,
    /// The web app's pages this user may open, in navigation order (the policy's decision).
    pages: Vec<PageOut>,
    /// The actions this user may ever do, for controls inside a page.
    actions: Vec<&'static str>,
}

#[derive(Serialize)]
struct PageOut {
    path: &'static str,
    title: &'static str,
}

impl MeResponse {
    fn new(s: Subject, csrf: Option<String>) -> Self {
        let pages = navigation::pages_for(&s)
            .into_iter()
            .map(|p| PageOut {
                path: p.path(),
                title: p.title(),
            })
            .collect();
        MeResponse {
            actions: navigation::actions_for(&s),
            pages,
            role: s.role.as_str(),
            partner: s.partner,
            mfa: s.mfa,
            username: s.username,
            csrf,
        }
    }
}

/// The one answer to a refused sign-in.
const SIGN_IN_REFUSED: &str = "sign-in refused: check the username, password and authenticator code \
     (after 5 failures an account is locked for 15 minutes)";

pub(crate) async fn login(
    State(st): State<AppState>,
    crate::server::PeerIp(source): crate::server::PeerIp,
    ApiJson(b): ApiJson<LoginBody>,
) -> ApiResult<Response> {
    if b.username.len() > 64
        || b.password.len() > 1024
        || b.new_password.as_ref().is_some_and(|p| p.len() > 1024)
    {
        return Err(ApiError::BadRequest("username or password too long".into()));
    }
    let secure = st.settings.secure_cookie;
    // Rate limits and a bounded number of concurrent password checks, before any hashing or
    // audit write (issue 22 F11). Throttled attempts are counted, not audited one by one.
    let now = st.store.clock().now_utc_micros();
    let mut slot = st
        .login_guard
        .admit(&b.username, source, now)
        .await
        .map_err(|r| match r {
            vms_program::login_guard::Refusal::TooMany => ApiError::TooManyRequests(r.to_string()),
            vms_program::login_guard::Refusal::Busy => ApiError::Unavailable(r.to_string()),
        })?;
    st.blocking(move |st| {
        let r = auth::login(
            &st.store,
            &st.secrets,
            auth::Credentials {
                username: &b.username,
                password: &b.password,
                code: b.totp.as_deref(),
                new_password: b.new_password.as_deref(),
            },
            st.program.settings().mfa_for_all,
            slot.memory(),
        );
        let (outcome, rule) = match &r {
            Ok(auth::SignIn::Session(l)) if l.enrolled => ("ok", "second-factor-enrolled"),
            Ok(auth::SignIn::Session(_)) => ("ok", ""),
            Ok(auth::SignIn::Enrol(_)) => ("fail", "second-factor-enrolment"),
            Err(LoginError::NewPassword(_)) => ("fail", "new-password-refused"),
            Err(LoginError::Invalid) => ("fail", "bad-credentials"),
            Err(LoginError::NeedTotp) => ("fail", "second-factor-required"),
            Err(LoginError::Locked { .. }) => ("deny", "account-locked"),
            Err(LoginError::Disabled) => ("deny", "account-disabled"),
            Err(LoginError::Internal(_)) => ("fail", "internal"),
        };
        st.program.audit(NewAuditEvent {
            actor: b.username.clone(),
            action: AuditAction::Login.into(),
            outcome: outcome.into(),
            rule: rule.into(),
            ..Default::default()
        })?;
        // One answer for a wrong name, a wrong password, a missing or wrong code, a disabled
        // and a locked account: none of them may tell a guesser which it was (issue 22 F18).
        // The audit log keeps the difference for administrators.
        let l = match r {
            Ok(auth::SignIn::Session(l)) => l,
            Ok(auth::SignIn::Enrol(e)) => {
                return Ok(Json(EnrolResponse {
                    enrol: EnrolOut {
                        otpauth_uri: e.otpauth_uri,
                        secret: e.secret_base32,
                    },
                })
                .into_response());
            }
            Err(LoginError::NewPassword(m)) => return Err(ApiError::BadRequest(m)),
            Err(
                LoginError::Invalid
                | LoginError::Disabled
                | LoginError::NeedTotp
                | LoginError::Locked { .. },
            ) => {
                return Err(ApiError::Unauthorized(SIGN_IN_REFUSED));
            }
            Err(LoginError::Internal(m)) => return Err(ApiError::Internal(m)),
        };
        let cookie = format!(
            "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/{}",
            l.session_token,
            if secure { "; Secure" } else { "" }
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?,
        );
        Ok((headers, Json(MeResponse::new(l.subject, Some(l.csrf)))).into_response())
    })
    .await
}

pub(crate) async fn logout(
    State(st): State<AppState>,
    headers: HeaderMap,
    Caller(s): Caller,
) -> ApiResult<Response> {
    let token = crate::routes::session_cookie(&headers);
    st.blocking(move |st| {
        if let Some(t) = token {
            st.store.delete_session(&auth::token_hash(&t))?;
        }
        st.program.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: AuditAction::Logout.into(),
            outcome: Outcome::Ok.into(),
            ..Default::default()
        })?;
        Ok((
            [(
                header::SET_COOKIE,
                format!("{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"),
            )],
            StatusCode::NO_CONTENT,
        )
            .into_response())
    })
    .await
}

pub(crate) async fn me(
    State(st): State<AppState>,
    headers: HeaderMap,
    Caller(s): Caller,
) -> ApiResult<Json<MeResponse>> {
    // The CSRF token is re-issued to a page that reloads (it lives only in the session row).
    let token = crate::routes::session_cookie(&headers);
    st.blocking(move |st| {
        let csrf = match token {
            Some(t) => st.store.session(&auth::token_hash(&t))?.map(|s| s.csrf),
            None => None,
        };
        Ok(Json(MeResponse::new(s, csrf)))
    })
    .await
}
