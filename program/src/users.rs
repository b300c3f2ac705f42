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
    /// Forgets the second factor (a lost phone): the owner enrols a new one at their next
    /// sign-in, with their password.
    pub reset_second_factor: bool,
}

impl Program {
    /// Creates an account for `actor`. No second factor is made here: the account's owner
    /// enrols one at first sign-in (issue 22 F5), so whoever created it never holds it.
    pub fn create_user(&self, actor: &str, secrets: &SecretBox, u: NewUser<'_>) -> Result<UserRow> {
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
        let (row, _) = auth::new_user(
            u.username, u.role, u.partner, u.password, false, secrets, now,
        )
        .map_err(ProgramError::Invalid)?;
        if !self.store.insert_user(&row)? {
            return Err(taken());
        }
        self.audit(NewAuditEvent {
            detail: format!("{} role={}", row.username, u.role.as_str()),
            ..event(actor, AuditAction::UserCreate, Outcome::Ok)
        })?;
        Ok(row)
    }

    /// Changes role, disabled state, lockout or second factor. An account given a role that
    /// needs a second factor and lacking one enrols it at its owner's next sign-in.
    pub fn update_user(&self, actor: &str, username: &str, c: UserChange) -> Result<UserRow> {
        let u = self
            .store
            .update_user(username, |u| {
                if let Some(role) = c.role {
                    same_kind(u, role)?;
                    u.role = role;
                }
                if c.reset_second_factor {
                    u.totp_secret = None;
                    u.totp_pending = None;
                    u.totp_last_step = 0;
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
                "{} role={} disabled={}{}",
                u.username,
                u.role.as_str(),
                u.disabled,
                if c.reset_second_factor {
                    " second-factor=reset"
                } else {
                    ""
                }
            ),
            ..event(actor, AuditAction::UserUpdate, Outcome::Ok)
        })?;
        Ok(u)
    }

    /// Gives an account a new role. One that needs a second factor and has none enrols it at
    /// its owner's next sign-in.
    pub fn set_role(&self, actor: &str, username: &str, role: Role) -> Result<()> {
        self.store
            .update_user(username, |u| {
                same_kind(u, role)?;
                u.role = role;
                Ok::<_, ProgramError>(())
            })?
            .ok_or_else(|| no_user(username))??;
        self.audit(NewAuditEvent {
            detail: format!("{username} role={}", role.as_str()),
            ..event(actor, AuditAction::UserRole, Outcome::Ok)
        })
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
            detail: format!(
                "{username} label={label} id={}",
                token_id(&auth::token_hash(&token))
            ),
            ..event(actor, AuditAction::TokenCreate, Outcome::Ok)
        })?;
        Ok(token)
    }

    /// Every API token: its id, owner, label and age (never the token, which is not stored).
    pub fn tokens(&self) -> Result<Vec<(String, TokenRow)>> {
        Ok(self
            .store
            .tokens()?
            .into_iter()
            .map(|(hash, t)| (token_id(&hash), t))
            .collect())
    }

    /// Revokes the token with id `id`: callers presenting it are refused from now on.
    pub fn revoke_token(&self, actor: &str, id: &str) -> Result<TokenRow> {
        let (hash, row) = self
            .store
            .tokens()?
            .into_iter()
            .find(|(hash, _)| token_id(hash) == id)
            .ok_or(ProgramError::NotFound)?;
        self.store.delete_token(&hash)?;
        self.audit(NewAuditEvent {
            detail: format!("{} label={} id={id}", row.username, row.label),
            ..event(actor, AuditAction::TokenRevoke, Outcome::Ok)
        })?;
        Ok(row)
    }
}

/// A token's public id: the first 8 bytes of its stored SHA-256, in hex. It names the token in
/// lists and audit events; knowing it does not help to guess the token (256 random bits).
pub fn token_id(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..8])
}

/// Whether an account's owner still has to enrol the second factor its role (or
/// `mfa_for_all`) requires: they do at their next sign-in, as `auth::login` decides.
pub fn awaits_second_factor(u: &UserRow, mfa_for_all: bool) -> bool {
    (mfa_for_all || role_needs_mfa(u.role)) && u.totp_secret.is_none()
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

#[cfg(test)]
mod tests {
    use vms_storage::{Role, UserRow};

    fn user(role: Role, totp: bool) -> UserRow {
        UserRow {
            username: "u".into(),
            role,
            partner: None,
            password_hash: String::new(),
            totp_secret: totp.then(|| vec![1; 20]),
            totp_last_step: 0,
            failed_logins: 0,
            locked_until_us: 0,
            disabled: false,
            created_us: 0,
            totp_pending: None,
        }
    }

    /// With `mfa_for_all`, a partner account without a second factor awaits one too (as
    /// sign-in demands); without it, only the roles that see video or run the system do.
    #[test]
    fn awaiting_a_second_factor_follows_mfa_for_all() {
        use super::awaits_second_factor as awaits;
        assert!(!awaits(&user(Role::Partner, false), false));
        assert!(awaits(&user(Role::Partner, false), true));
        assert!(awaits(&user(Role::Investigator, false), false));
        assert!(!awaits(&user(Role::Investigator, true), true));
    }
}
