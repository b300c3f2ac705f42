//! Accounts: creating them, changing their role, password or state, and API tokens — the same
//! rules whether an administrator uses the web UI or the `vms user` CLI. Every change is made
//! under the account lock (as sign-in's counters are) and audited.

use vms_storage::{NewAuditEvent, Role, SecretBox, TokenRow, UserRow};

use crate::audit::{AuditAction, Outcome, event};
use crate::auth;
use crate::policy::role_needs_mfa;
use crate::{Program, ProgramError, Result};

/// A new account.
#[derive(Clone, Copy, Debug)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub role: Role,
    /// The partner a partner account belongs to.
    pub partner: Option<u64>,
    pub password: &'a str,
}

/// A change to an account made by an administrator.
#[derive(Clone, Copy, Debug, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    /// Clears a lockout.
    pub unlock: bool,
}

impl Program {
    /// Creates an account for `actor`. Returns the row and, for accounts with a second
    /// factor, the `otpauth://` URI to show once.
    pub fn create_user(
        &self,
        actor: &str,
        secrets: &SecretBox,
        u: NewUser<'_>,
    ) -> Result<(UserRow, Option<String>)> {
        let taken = || ProgramError::Conflict(format!("user {:?} exists", u.username));
        // Answered before the (slow) password hashing; `insert_user` settles a race.
        if self.store.user(u.username)?.is_some() {
            return Err(taken());
        }
        if let Some(p) = u.partner {
            self.store
                .partner(p)?
                .ok_or_else(|| ProgramError::Invalid(format!("no partner {p}")))?;
        }
        let now = self.store.clock().now_utc_micros();
        let (row, totp) = auth::new_user(
            u.username,
            u.role,
            u.partner,
            u.password,
            self.settings.mfa_for_all,
            secrets,
            now,
        )
        .map_err(ProgramError::Invalid)?;
        if !self.store.insert_user(&row)? {
            return Err(taken());
        }
        self.audit(NewAuditEvent {
            detail: format!("{} role={}", row.username, u.role.as_str()),
            ..event(actor, AuditAction::UserCreate, Outcome::Ok)
        })?;
        Ok((row, totp.map(|t| t.1)))
    }

    /// Changes role, disabled state or lockout. A role that sees video needs a second factor
    /// set up first (the CLI's [`Program::set_role`] issues one).
    pub fn update_user(&self, actor: &str, username: &str, c: UserChange) -> Result<UserRow> {
        let u = self
            .store
            .update_user(username, |u| {
                if let Some(role) = c.role {
                    same_kind(u, role)?;
                    if role_needs_mfa(role) && u.totp_secret.is_none() {
                        return Err(ProgramError::Invalid(
                            "this role sees video: set up a second factor first (vms user totp)"
                                .into(),
                        ));
                    }
                    u.role = role;
                }
                if let Some(d) = c.disabled {
                    u.disabled = d;
                }
                if c.unlock {
                    u.locked_until_us = 0;
                    u.failed_logins = 0;
                }
                Ok::<_, ProgramError>(u.clone())
            })?
            .ok_or(ProgramError::NotFound)??;
        self.audit(NewAuditEvent {
            detail: format!(
                "{} role={} disabled={}",
                u.username,
                u.role.as_str(),
                u.disabled
            ),
            ..event(actor, AuditAction::UserUpdate, Outcome::Ok)
        })?;
        Ok(u)
    }

    /// Gives an account a new role; one that sees video and has no second factor gets one,
    /// whose `otpauth://` URI is returned to show once.
    pub fn set_role(
        &self,
        actor: &str,
        secrets: &SecretBox,
        username: &str,
        role: Role,
    ) -> Result<Option<String>> {
        let uri = self
            .store
            .update_user(username, |u| {
                same_kind(u, role)?;
                let mut uri = None;
                if role_needs_mfa(role) && u.totp_secret.is_none() {
                    let (secret, link) = auth::new_totp_secret(username);
                    u.totp_secret = Some(secrets.seal(&secret));
                    uri = Some(link);
                }
                u.role = role;
                Ok::<_, ProgramError>(uri)
            })?
            .ok_or_else(|| no_user(username))??;
        self.audit(NewAuditEvent {
            detail: format!("{username} role={}", role.as_str()),
            ..event(actor, AuditAction::UserRole, Outcome::Ok)
        })?;
        Ok(uri)
    }

    /// Sets a new password (strength-checked) and clears a lockout.
    pub fn set_password(&self, actor: &str, username: &str, password: &str) -> Result<()> {
        auth::check_password_strength(password).map_err(ProgramError::Invalid)?;
        let hash = auth::hash_password(password).map_err(ProgramError::Internal)?;
        self.store
            .update_user(username, |u| {
                u.password_hash = hash;
                u.failed_logins = 0;
                u.locked_until_us = 0;
            })?
            .ok_or_else(|| no_user(username))?;
        self.audit(NewAuditEvent {
            detail: username.to_owned(),
            ..event(actor, AuditAction::UserPasswd, Outcome::Ok)
        })
    }

    /// Disables or re-enables an account.
    pub fn set_disabled(&self, actor: &str, username: &str, disabled: bool) -> Result<()> {
        self.store
            .update_user(username, |u| u.disabled = disabled)?
            .ok_or_else(|| no_user(username))?;
        self.audit(NewAuditEvent {
            detail: format!("{username} disabled={disabled}"),
            ..event(actor, AuditAction::UserDisable, Outcome::Ok)
        })
    }

    /// Creates a bearer token for API clients (e.g. a metrics scraper); returned once, stored
    /// hashed.
    pub fn add_token(&self, actor: &str, username: &str, label: &str) -> Result<String> {
        self.store
            .user(username)?
            .ok_or_else(|| no_user(username))?;
        let token = auth::random_token();
        self.store.put_token(
            &auth::token_hash(&token),
            &TokenRow {
                username: username.to_owned(),
                label: label.to_owned(),
                created_us: self.store.clock().now_utc_micros(),
            },
        )?;
        self.audit(NewAuditEvent {
            detail: format!("{username} label={label}"),
            ..event(actor, AuditAction::TokenCreate, Outcome::Ok)
        })?;
        Ok(token)
    }
}

/// Whether an account cannot sign in for want of a second factor its role requires (for
/// example an administrator made before administrators needed one).
pub fn lacks_second_factor(u: &UserRow) -> bool {
    role_needs_mfa(u.role) && u.totp_secret.is_none()
}

/// The CLI's answer for a name no account has.
fn no_user(username: &str) -> ProgramError {
    ProgramError::Invalid(format!("no user {username:?}"))
}

/// Partner accounts stay partner accounts and staff accounts stay staff.
fn same_kind(u: &UserRow, role: Role) -> Result<()> {
    if (role == Role::Partner) != u.partner.is_some() {
        return Err(ProgramError::Invalid(
            "partner accounts cannot change to staff roles or back".into(),
        ));
    }
    Ok(())
}
