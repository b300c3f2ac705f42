//! Self-service sign-up for residents and businesses: on a public page they give their name,
//! email address, a username and password, and accept the program terms (their version and
//! exact text are kept); a link mailed to the address verifies it, and only then do the partner
//! record and its portal account exist. From the portal they register cameras on the map.
//!
//! The sign-up waits (24 h) as a row keyed by its token's hash; nothing about it is a partner
//! until verified. A person signing up again for the same address replaces the waiting row.

use vms_storage::canvass::SignupRow;
use vms_storage::{NewAuditEvent, PartnerRow, PartnerStatus, Role};

use crate::audit::{AuditAction, Outcome, event};
use crate::auth;
use crate::submissions::HOUR_US;
use crate::text::text;
use crate::{Program, ProgramError, Result};

/// How long a sign-up waits for its address to be verified.
pub const SIGNUP_HOURS: i64 = 24;

/// The program terms a partner accepts (shown on the sign-up page; the version is the
/// program's `terms_version`).
pub const TERMS_TEXT: &str = "I register cameras I own or manage. The police department may ask me for footage \
of them after an incident nearby; I decide whether to answer, and nothing is shared unless I send it or \
connect a camera and choose how it is shared. The department sees where my cameras are and what they \
see, and my pseudonym; my name and contact details are seen only by its administrators, and every access \
is recorded and shown to me. I may change or remove my registrations, or leave the program, at any time.";

/// What a person signing up sends.
#[derive(Clone, Copy, Debug)]
pub struct NewSignup<'a> {
    pub contact_name: &'a str,
    pub contact_email: &'a str,
    pub contact_phone: &'a str,
    pub address: &'a str,
    pub username: &'a str,
    pub password: &'a str,
    /// The terms version the page showed; must be the one in force.
    pub terms_version: &'a str,
    pub accept_terms: bool,
    pub remote_addr: &'a str,
}

/// The verification message to send, and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl Program {
    /// Checks a sign-up and keeps it waiting for its address; returns the verification email
    /// (with the token, shown nowhere else) for the caller to send.
    pub fn sign_up(&self, n: NewSignup<'_>, public_url: &str) -> Result<Verification> {
        if !n.accept_terms {
            return Err(ProgramError::Invalid(
                "accept_terms: the program terms must be accepted".into(),
            ));
        }
        if n.terms_version != self.settings.terms_version {
            return Err(ProgramError::Conflict(format!(
                "the terms changed (version {} is in force): reload the page",
                self.settings.terms_version
            )));
        }
        let email = text("contact_email", n.contact_email, true)?.to_lowercase();
        if !email.contains('@') || email.contains(char::is_whitespace) || email.len() > 254 {
            return Err(ProgramError::Invalid(
                "contact_email is not an email address".into(),
            ));
        }
        if !vms_storage::valid_username(n.username) {
            return Err(ProgramError::Invalid(format!(
                "username {:?}: use 1-64 characters from a-z, 0-9, '.', '-', '_'",
                n.username
            )));
        }
        // Whether the name is taken is told only once the address is verified: a public form
        // must not answer "does account X exist" (staff accounts included) to anyone.
        auth::check_password_strength(n.password).map_err(ProgramError::Invalid)?;
        let password_hash = auth::hash_password(n.password).map_err(ProgramError::Internal)?;
        let now = self.store.clock().now_utc_micros();
        // One waiting sign-up per address (the latest), and none past its time.
        for old in self.store.signups()? {
            if old.contact_email == email || old.expires_us <= now {
                self.store.delete_signup(&old.token_hash)?;
            }
        }
        let token = auth::random_token();
        let row = SignupRow {
            token_hash: auth::token_hash(&token),
            contact_name: text("contact_name", n.contact_name, true)?,
            contact_email: email.clone(),
            contact_phone: text("contact_phone", n.contact_phone, false)?,
            address: text("address", n.address, false)?,
            username: n.username.to_owned(),
            password_hash,
            terms_version: self.settings.terms_version.clone(),
            terms_text: TERMS_TEXT.into(),
            remote_addr: n.remote_addr.chars().take(64).collect(),
            created_us: now,
            expires_us: now + SIGNUP_HOURS * HOUR_US,
        };
        self.store.put_signup(&row)?;
        self.audit(NewAuditEvent {
            detail: format!(
                "sign-up waiting for its address to be verified, from {}",
                row.remote_addr
            ),
            ..event(&row.username, AuditAction::PartnerSignup, Outcome::Ok)
        })?;
        let base = public_url.trim_end_matches('/');
        Ok(Verification {
            to: email,
            subject: "Confirm your camera registration".into(),
            body: format!(
                "Hello {name},\n\nSomeone (we hope you) signed up to register cameras with the police \
                 department's camera program, as {user:?}. To confirm this address and finish, open:\n\
                 {base}/join#{token}\n\nThe link works for {SIGNUP_HOURS} hours. If this was not you, \
                 ignore this message: nothing is kept unless the link is opened.\n",
                name = row.contact_name,
                user = row.username,
            ),
        })
    }

    /// Verifies a sign-up's address: the partner (terms accepted, as shown) and its portal
    /// account are made, and the waiting row goes. The same answer for every token that does
    /// not open a waiting sign-up.
    pub fn verify_signup(&self, token: &str) -> Result<PartnerRow> {
        let refused = || {
            ProgramError::Refused(
                "this link is not valid (it may have expired or been used)".into(),
            )
        };
        let hash = auth::token_hash(token.trim());
        // One verification at a time, and the waiting row taken before anything is made: the
        // same link opened twice at once makes one partner.
        let _guard = self.canvass_guard()?;
        let row = self.store.signup(&hash)?.ok_or_else(refused)?;
        self.store.delete_signup(&hash)?;
        let now = self.store.clock().now_utc_micros();
        if row.expires_us <= now {
            return Err(refused());
        }
        if self.store.user(&row.username)?.is_some() {
            return Err(ProgramError::Conflict(
                "that username was taken meanwhile: sign up again with another".into(),
            ));
        }
        // An owner the department registered (an import) signs up for its own record: the
        // account joins it rather than making a second owner of the same cameras.
        let users = self.store.users()?;
        let existing = self.store.partners()?.into_iter().find(|p| {
            p.contact_email
                .trim()
                .eq_ignore_ascii_case(&row.contact_email)
                && p.status != PartnerStatus::Left
                && !users.iter().any(|u| u.partner == Some(p.id))
        });
        let p = match existing {
            Some(mut p) => {
                p.terms_version = Some(row.terms_version.clone());
                p.terms_accepted_us = Some(row.created_us);
                if p.contact_name.is_empty() {
                    p.contact_name = row.contact_name.clone();
                }
                p
            }
            None => self.store.create_partner(PartnerRow {
                id: 0,
                pseudonym: String::new(),
                contact_name: row.contact_name.clone(),
                contact_email: row.contact_email.clone(),
                contact_phone: row.contact_phone.clone(),
                address: row.address.clone(),
                terms_version: Some(row.terms_version.clone()),
                terms_accepted_us: Some(row.created_us),
                status: PartnerStatus::Active,
                created_us: now,
            })?,
        };
        self.store.put_partner(&p)?;
        let user = vms_storage::UserRow {
            username: row.username.clone(),
            role: Role::Partner,
            partner: Some(p.id),
            password_hash: row.password_hash.clone(),
            totp_secret: None,
            totp_last_step: 0,
            failed_logins: 0,
            locked_until_us: 0,
            disabled: false,
            created_us: now,
            totp_pending: None,
        };
        if !self.store.insert_user(&user)? {
            return Err(ProgramError::Conflict(
                "that username was taken meanwhile: sign up again with another".into(),
            ));
        }
        self.store.delete_signup(&hash)?;
        self.audit(NewAuditEvent {
            // The audit log keeps what was accepted: the version and the text's SHA-256.
            detail: format!(
                "{} signed up; address verified; terms {} accepted (text sha256 {})",
                p.pseudonym,
                row.terms_version,
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                    row.terms_text.as_bytes()
                ))
            ),
            ..event(&row.username, AuditAction::PartnerCreate, Outcome::Ok)
        })?;
        Ok(p)
    }
}
