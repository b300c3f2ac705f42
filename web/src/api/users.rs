//! Accounts, as administrators manage them (the rules are `vms_program::users`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vms_program::audit::AuditAction;
use vms_program::users::{NewUser, UserChange};

use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::routes::Caller;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUserBody {
    username: String,
    role: String,
    password: String,
    partner_id: Option<u64>,
}

#[derive(Serialize)]
pub(crate) struct UserOut {
    username: String,
    role: &'static str,
    partner: Option<u64>,
    disabled: bool,
    locked: bool,
    /// The owner has enrolled a second factor.
    totp: bool,
    /// The role needs a second factor its owner has yet to enrol (at their next sign-in).
    awaits_second_factor: bool,
}

fn user_out(u: vms_storage::UserRow, now_us: i64, mfa_for_all: bool) -> UserOut {
    UserOut {
        locked: u.locked_until_us > now_us,
        totp: u.totp_secret.is_some(),
        awaits_second_factor: vms_program::users::awaits_second_factor(&u, mfa_for_all),
        username: u.username,
        role: u.role.as_str(),
        partner: u.partner,
        disabled: u.disabled,
    }
}

pub(crate) async fn create_user(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<NewUserBody>,
) -> ApiResult<(StatusCode, Json<UserOut>)> {
    st.blocking(move |st| {
        let new = NewUser {
            username: &b.username,
            role: b.role.parse()?,
            partner: b.partner_id,
            password: &b.password,
        };
        let user = st.program.create_user(&s.username, &st.secrets, new)?;
        let now = st.store.clock().now_utc_micros();
        Ok((
            StatusCode::CREATED,
            Json(user_out(user, now, st.settings.program.mfa_for_all)),
        ))
    })
    .await
}

pub(crate) async fn list_users(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<UserOut>>> {
    st.blocking(move |st| {
        let now = st.store.clock().now_utc_micros();
        let users = st.store.users()?;
        st.program.audit_read(
            &s,
            AuditAction::UsersRead,
            format!("{} accounts", users.len()),
        )?;
        Ok(Json(
            users
                .into_iter()
                .map(|u| user_out(u, now, st.settings.program.mfa_for_all))
                .collect(),
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateUserBody {
    role: Option<String>,
    disabled: Option<bool>,
    /// Clears a lockout.
    unlock: Option<bool>,
    /// Forgets the second factor; the owner enrols a new one at next sign-in.
    reset_second_factor: Option<bool>,
}

pub(crate) async fn update_user(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateUserBody>,
) -> ApiResult<Json<UserOut>> {
    st.blocking(move |st| {
        // An unknown account is a 404 whatever the body says.
        st.store.user(&name)?.ok_or(ApiError::NotFound)?;
        let change = UserChange {
            role: b.role.as_deref().map(str::parse).transpose()?,
            disabled: b.disabled,
            unlock: b.unlock == Some(true),
            reset_second_factor: b.reset_second_factor == Some(true),
        };
        let u = st.program.update_user(&s.username, &name, change)?;
        let now = st.store.clock().now_utc_micros();
        Ok(Json(user_out(u, now, st.settings.program.mfa_for_all)))
    })
    .await
}

#[derive(Serialize)]
pub(crate) struct TokenOut {
    id: String,
    username: String,
    label: String,
    created_us: i64,
    /// Only in the answer to its creation: the token itself is not stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

/// API tokens (for metrics scrapers and other clients): their ids, owners and labels.
pub(crate) async fn list_tokens(
    State(st): State<AppState>,
    Caller(_): Caller,
) -> ApiResult<Json<Vec<TokenOut>>> {
    st.blocking(move |st| {
        Ok(Json(
            st.program
                .tokens()?
                .into_iter()
                .map(|(id, t)| TokenOut {
                    id,
                    username: t.username,
                    label: t.label,
                    created_us: t.created_us,
                    token: None,
                })
                .collect(),
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTokenBody {
    username: String,
    label: String,
}

/// Creates a token for an account; the answer is the only time the token is shown.
pub(crate) async fn create_token(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<NewTokenBody>,
) -> ApiResult<(StatusCode, Json<TokenOut>)> {
    st.blocking(move |st| {
        let label = vms_program::text::text("label", &b.label, true)?;
        let token = st.program.add_token(&s.username, &b.username, &label)?;
        let id = vms_program::users::token_id(&vms_program::auth::token_hash(&token));
        Ok((
            StatusCode::CREATED,
            Json(TokenOut {
                id,
                username: b.username,
                label,
                created_us: st.store.clock().now_utc_micros(),
                token: Some(token),
            }),
        ))
    })
    .await
}

pub(crate) async fn revoke_token(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    st.blocking(move |st| {
        st.program.revoke_token(&s.username, &id)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
