//! Authentication: Argon2id password hashes, TOTP second factor (RFC 6238), lockout after
//! repeated failures, idle-expiring sessions with a CSRF token, and bearer tokens for API
//! clients. Time comes from the store's injected clock so all of it is testable.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use vms_storage::{Role, SecretBox, SessionRow, Store, UserRow};

use crate::policy::{Subject, role_needs_mfa};

/// Failed logins before an account locks.
pub const MAX_FAILED_LOGINS: u32 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT_US: i64 = 15 * 60 * 1_000_000;
/// Sessions end after this long without a request.
pub const IDLE_TIMEOUT_US: i64 = 30 * 60 * 1_000_000;
/// A session ends this long after sign-in however active it is (issue 22 C2).
pub const SESSION_LIFETIME_US: i64 = 12 * 3_600 * 1_000_000;
/// Request header the UI sets on its own periodic refreshes: they do not count as activity,
/// so an open tab nobody uses still idles out (issue 22 C2).
pub const BACKGROUND_HEADER: &str = "x-vms-background";
/// TOTP time step.
const TOTP_STEP_SECS: i64 = 30;

pub const SESSION_COOKIE: &str = "vms_session";

/// Why a login failed. Deliberately coarse towards the client.
#[derive(Debug, PartialEq, Eq)]
pub enum LoginError {
    /// Wrong user, password or code (the client is not told which).
    Invalid,
    /// A second factor is needed and was not given.
    NeedTotp,
    Locked {
        until_us: i64,
    },
    Disabled,
    /// The password chosen while enrolling a second factor is not acceptable (the caller
    /// knew the account's password, so the reason may be shown).
    NewPassword(String),
    Internal(String),
}

pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Argon2 working memory (19 MiB for the default parameters), reused from check to check: a
/// buffer allocated per check and freed on whatever blocking thread ran it stays in that
/// thread's malloc arena, so a sign-in flood grew the process by 19 MiB per thread it touched.
pub type HashMemory = Vec<argon2::Block>;

/// Checks `password` against a PHC string, hashing into `memory` (grown as the parameters
/// need). The comparison of the outputs is constant-time.
fn verify_password(password: &str, phc: &str, memory: &mut HashMemory) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        argon2::Algorithm::try_from(hash.algorithm),
        argon2::Params::try_from(&hash),
        hash.salt,
        hash.hash,
    ) else {
        return false;
    };
    let version = match hash.version {
        Some(v) => match argon2::Version::try_from(v) {
            Ok(v) => v,
            Err(_) => return false,
        },
        None => argon2::Version::default(),
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), argon2::Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let ok = Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .is_ok();
    // `Output`'s equality is constant-time.
    ok && argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
}

/// A password policy strong enough for accounts that can see video: length over composition.
pub fn check_password_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < 12 {
        return Err("passwords need at least 12 characters".into());
    }
    if password.len() > 1024 {
        return Err("password too long".into());
    }
    Ok(())
}

/// RFC 6238 TOTP (HMAC-SHA1, 6 digits) for the step containing `unix_secs`.
pub fn totp(secret: &[u8], unix_secs: i64) -> String {
    totp_at_step(secret, unix_secs.div_euclid(TOTP_STEP_SECS) as u64, 6)
}

fn totp_at_step(secret: &[u8], step: u64, digits: u32) -> String {
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[19] & 0xf) as usize;
    let code = (u32::from(h[off] & 0x7f) << 24)
        | (u32::from(h[off + 1]) << 16)
        | (u32::from(h[off + 2]) << 8)
        | u32::from(h[off + 3]);
    format!(
        "{:0width$}",
        code % 10u32.pow(digits),
        width = digits as usize
    )
}

/// Checks a code against the current step ±1 (clock skew). Returns the matching step, which
/// must be later than the last one used (no replay).
fn totp_verify(secret: &[u8], code: &str, now_secs: i64, last_step: u64) -> Option<u64> {
    let now = now_secs.div_euclid(TOTP_STEP_SECS) as u64;
    (now.saturating_sub(1)..=now + 1)
        .filter(|s| *s > last_step)
        .find(|s| constant_time_eq(totp_at_step(secret, *s, 6).as_bytes(), code.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh random TOTP secret (20 bytes, as RFC 4226 recommends) and its `otpauth://` URI for
/// authenticator apps.
pub fn new_totp_secret(username: &str) -> (Vec<u8>, String) {
    let secret = random_totp_secret();
    let uri = totp_uri(username, &secret).0;
    (secret, uri)
}

fn random_totp_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 20];
    rand::rng().fill_bytes(&mut secret);
    secret
}

/// A secret's `otpauth://` URI and its base32 text.
pub fn totp_uri(username: &str, secret: &[u8]) -> (String, String) {
    let b32 = data_encoding::BASE32_NOPAD.encode(secret);
    let uri = format!("otpauth://totp/VMS:{username}?secret={b32}&issuer=VMS&digits=6&period=30");
    (uri, b32)
}

/// A random token for sessions, CSRF and API clients (32 bytes, URL-safe base64).
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new TOTP secret and its `otpauth://` URI.
pub type NewTotp = (Vec<u8>, String);

/// Makes an account row: hashes the password and, when `with_totp`, a sealed TOTP secret whose
/// `otpauth://` URI is returned. Accounts made for people get none: their owner enrols one at
/// first sign-in ([`login`]); a secret made here is for fixtures and the single-operator demo.
pub fn new_user(
    username: &str,
    role: Role,
    partner: Option<u64>,
    password: &str,
    with_totp: bool,
    secrets: &SecretBox,
    now_us: i64,
) -> Result<(UserRow, Option<NewTotp>), String> {
    check_password_strength(password)?;
    let hash = hash_password(password)?;
    let totp = with_totp.then(|| new_totp_secret(username));
    let row = UserRow {
        username: username.to_owned(),
        role,
        partner,
        password_hash: hash,
        totp_secret: totp.as_ref().map(|(s, _)| secrets.seal(s)),
        totp_last_step: 0,
        failed_logins: 0,
        locked_until_us: 0,
        disabled: false,
        created_us: now_us,
        totp_pending: None,
    };
    Ok((row, totp))
}

/// What a person signing in sends.
#[derive(Clone, Copy, Debug, Default)]
pub struct Credentials<'a> {
    pub username: &'a str,
    pub password: &'a str,
    /// The authenticator's current code.
    pub code: Option<&'a str>,
    /// The password of their own choosing, sent to finish enrolling a second factor.
    pub new_password: Option<&'a str>,
}

/// Outcome of a successful login.
#[derive(Debug)]
pub struct LoggedIn {
    pub subject: Subject,
    pub session_token: String,
    pub csrf: String,
    /// The owner has just enrolled their second factor (and chosen their password).
    pub enrolled: bool,
}

/// A second factor to enrol: the right password was given for an account that needs one and
/// has none. Shown only to whoever knows the password; no session is opened until a code
/// from it comes back with a new password.
#[derive(Debug, PartialEq, Eq)]
pub struct Enrolment {
    /// For authenticator apps.
    pub otpauth_uri: String,
    /// The same secret in base32, to type in.
    pub secret_base32: String,
}

/// What a correct password leads to.
#[derive(Debug)]
pub enum SignIn {
    Session(LoggedIn),
    /// The account's owner must enrol a second factor first.
    Enrol(Enrolment),
}

/// Checks credentials and opens a session. Counts failures and locks the account after
/// [`MAX_FAILED_LOGINS`]. The second factor is required when the role can see video, when
/// `mfa_for_all`, or when the user has one. An account that needs one and has none is
/// enrolled by its owner here (issue 22 F5): the password (the administrator's initial one)
/// earns a pending secret ([`SignIn::Enrol`]); a code from it together with a new password of
/// the owner's choosing makes it the account's second factor and opens the session, so the
/// administrator who made the account never holds both factors unnoticed.
pub fn login(
    store: &Store,
    secrets: &SecretBox,
    c: Credentials<'_>,
    mfa_for_all: bool,
    memory: &mut HashMemory,
) -> Result<SignIn, LoginError> {
    let now = store.clock().now_utc_micros();
    let internal = |e: vms_storage::Error| LoginError::Internal(e.to_string());
    let Some(user) = store.user(c.username).map_err(internal)? else {
        // Spend the same time as a real check so usernames cannot be probed by timing.
        let _ = verify_password(c.password, DUMMY_HASH, memory);
        return Err(LoginError::Invalid);
    };
    // Every attempt on an existing account pays the same Argon2 check, disabled or locked
    // too, so timing tells nothing apart (issue 22 F18).
    if user.disabled || user.locked_until_us > now {
        let _ = verify_password(c.password, &user.password_hash, memory);
        return Err(if user.disabled {
            LoginError::Disabled
        } else {
            LoginError::Locked {
                until_us: user.locked_until_us,
            }
        });
    }
    // The slow parts (Argon2, unsealing) run unlocked; the verdict is taken on the row as it
    // is *now*, under the account lock, so concurrent attempts can neither lose failure counts
    // nor slip past a lock set meanwhile, and one TOTP code opens one session (issue 22 F2, F7).
    let password_ok = verify_password(c.password, &user.password_hash, memory);
    let open = |sealed: &Option<Vec<u8>>| -> Result<Option<Vec<u8>>, LoginError> {
        sealed
            .as_ref()
            .map(|s| {
                secrets
                    .open(s)
                    .map_err(|e| LoginError::Internal(e.to_string()))
            })
            .transpose()
    };
    let secret = open(&user.totp_secret)?;
    let enrolling = user.totp_secret.is_none() && (mfa_for_all || role_needs_mfa(user.role));
    // Finishing an enrolment: the new password is checked and hashed here, unlocked.
    let new_hash = match (enrolling && password_ok, c.new_password) {
        (true, Some(np)) => Some(new_password_hash(np, c.password)?),
        _ => None,
    };
    let verdict = store
        .update_user(c.username, |u| {
            if u.disabled {
                return Err(LoginError::Disabled);
            }
            if u.locked_until_us > now {
                return Err(LoginError::Locked {
                    until_us: u.locked_until_us,
                });
            }
            if u.password_hash != user.password_hash || u.totp_secret != user.totp_secret {
                // Credentials changed while this attempt was hashing: judge it as failed.
                return Err(LoginError::Invalid);
            }
            if !password_ok {
                return Err(record_failure(u, now, LoginError::Invalid));
            }
            if enrolling {
                return enrol(u, c, new_hash, secrets, now);
            }
            let mfa = match &secret {
                Some(secret) => {
                    let Some(code) = c.code.filter(|c| !c.is_empty()) else {
                        return Err(LoginError::NeedTotp);
                    };
                    match totp_verify(secret, code.trim(), now / 1_000_000, u.totp_last_step) {
                        Some(step) => {
                            u.totp_last_step = step;
                            true
                        }
                        None => return Err(record_failure(u, now, LoginError::Invalid)),
                    }
                }
                None => false,
            };
            u.failed_logins = 0;
            Ok(Verdict::Session {
                mfa,
                enrolled: false,
                user: u.clone(),
            })
        })
        .map_err(internal)?;
    let (mfa, enrolled, user) = match verdict.ok_or(LoginError::Invalid)?? {
        Verdict::Enrol(e) => return Ok(SignIn::Enrol(e)),
        Verdict::Session {
            mfa,
            enrolled,
            user,
        } => (mfa, enrolled, user),
    };
    let session_token = random_token();
    let csrf = random_token();
    store
        .put_session(
            &token_hash(&session_token),
            &SessionRow {
                username: user.username.clone(),
                created_us: now,
                last_seen_us: now,
                csrf: csrf.clone(),
                mfa,
            },
        )
        .map_err(internal)?;
    Ok(SignIn::Session(LoggedIn {
        subject: Subject {
            username: user.username,
            role: user.role,
            partner: user.partner,
            mfa,
        },
        session_token,
        csrf,
        enrolled,
    }))
}

/// The verdict on a sign-in taken under the account lock.
enum Verdict {
    Session {
        mfa: bool,
        enrolled: bool,
        user: UserRow,
    },
    Enrol(Enrolment),
}

/// One step of an owner's enrolment, on the locked row of an account that needs a second
/// factor and has none, after its password was found right. Without a pending secret one is
/// made; without a code and a new password the pending one is shown again; with
/// both, a code from the pending secret makes it the account's factor and the new password
/// its password. A wrong code counts as a failed sign-in.
fn enrol(
    u: &mut UserRow,
    c: Credentials<'_>,
    new_hash: Option<String>,
    secrets: &SecretBox,
    now: i64,
) -> Result<Verdict, LoginError> {
    let pending = match &u.totp_pending {
        Some(sealed) => secrets
            .open(sealed)
            .map_err(|e| LoginError::Internal(e.to_string()))?,
        None => {
            let fresh = random_totp_secret();
            u.totp_pending = Some(secrets.seal(&fresh));
            fresh
        }
    };
    let (Some(code), Some(new_hash)) = (c.code.filter(|c| !c.is_empty()), new_hash) else {
        u.failed_logins = 0;
        let (uri, secret_base32) = totp_uri(c.username, &pending);
        return Ok(Verdict::Enrol(Enrolment {
            otpauth_uri: uri,
            secret_base32,
        }));
    };
    let Some(step) = totp_verify(&pending, code.trim(), now / 1_000_000, 0) else {
        return Err(record_failure(u, now, LoginError::Invalid));
    };
    u.totp_secret = u.totp_pending.take();
    u.totp_last_step = step;
    u.password_hash = new_hash;
    u.failed_logins = 0;
    tracing::info!(user = %u.username, "second factor enrolled by the account's owner");
    Ok(Verdict::Session {
        mfa: true,
        enrolled: true,
        user: u.clone(),
    })
}

/// Hashes the password an owner chooses while enrolling; it must be strong and not the one
/// they were given.
fn new_password_hash(new: &str, given: &str) -> Result<String, LoginError> {
    check_password_strength(new).map_err(LoginError::NewPassword)?;
    if new == given {
        return Err(LoginError::NewPassword(
            "choose a password of your own, not the one you were given".into(),
        ));
    }
    hash_password(new).map_err(LoginError::Internal)
}

/// Counts a failed attempt on `user` (the caller holds the account lock), locking the account
/// after [`MAX_FAILED_LOGINS`].
fn record_failure(user: &mut UserRow, now: i64, err: LoginError) -> LoginError {
    user.failed_logins += 1;
    if user.failed_logins >= MAX_FAILED_LOGINS {
        user.locked_until_us = now + LOCKOUT_US;
        user.failed_logins = 0;
        tracing::warn!(user = %user.username, "account locked after repeated failed logins");
    }
    err
}

/// Argon2id hash of a random password, checked when the user does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$H1Mmx0/4hMGO8Ke1FZ1DQfIY8m5Sn8fEpOcM0sOgNMc";

/// Why a request is not authenticated.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    /// The session of this user ended after being idle too long.
    Expired(String),
    Invalid,
    /// This user's session sent a state-changing request without the right CSRF token.
    BadCsrf(String),
}

/// Resolves a session cookie: checks idle expiry and the absolute lifetime, refreshes
/// `last_seen` when the request is the user's own (`activity`, not a background refresh),
/// and for state-changing requests checks the CSRF token.
pub fn session_subject(
    store: &Store,
    token: &str,
    csrf_header: Option<&str>,
    state_changing: bool,
    activity: bool,
) -> Result<Subject, AuthError> {
    let now = store.clock().now_utc_micros();
    let h = token_hash(token);
    let s = store
        .session(&h)
        .map_err(|_| AuthError::Invalid)?
        .ok_or(AuthError::Invalid)?;
    if now - s.last_seen_us > IDLE_TIMEOUT_US || now - s.created_us > SESSION_LIFETIME_US {
        let _ = store.delete_session(&h);
        return Err(AuthError::Expired(s.username));
    }
    if state_changing
        && !csrf_header.is_some_and(|c| constant_time_eq(c.as_bytes(), s.csrf.as_bytes()))
    {
        return Err(AuthError::BadCsrf(s.username));
    }
    let user = user_ok(store, &s.username)?;
    // Only a session that still exists is refreshed: a request racing a logout must not
    // write it back (issue 22 F14).
    if activity
        && !store
            .touch_session(&h, now)
            .map_err(|_| AuthError::Invalid)?
    {
        return Err(AuthError::Invalid);
    }
    Ok(Subject {
        username: user.username,
        role: user.role,
        partner: user.partner,
        mfa: s.mfa,
    })
}

/// Resolves an API bearer token. Token callers never count as having passed a second factor.
pub fn bearer_subject(store: &Store, token: &str) -> Result<Subject, AuthError> {
    let t = store
        .token(&token_hash(token))
        .map_err(|_| AuthError::Invalid)?
        .ok_or(AuthError::Invalid)?;
    let user = user_ok(store, &t.username)?;
    Ok(Subject {
        username: user.username,
        role: user.role,
        partner: user.partner,
        mfa: false,
    })
}

/// The account behind a presented credential, if it may still act. A lockout only stops new
/// sign-ins: anyone can lock an account by guessing, so it must not end the owner's sessions or
/// cut its API tokens (issue 22 F10). Disabling does.
fn user_ok(store: &Store, username: &str) -> Result<UserRow, AuthError> {
    let user = store
        .user(username)
        .map_err(|_| AuthError::Invalid)?
        .ok_or(AuthError::Invalid)?;
    if user.disabled {
        return Err(AuthError::Invalid);
    }
    Ok(user)
}

/// A credential kept by long-running work (a live view) to check again later.
#[derive(Clone, Debug)]
pub enum Credential {
    /// SHA-256 of the session token.
    Session([u8; 32]),
    /// SHA-256 of the API token.
    Bearer([u8; 32]),
}

/// Who `cred` stands for now: `Ok(None)` once the session was ended or the token revoked, or
/// the account disabled or deleted; the role and partner are the account's current ones.
/// `mfa` is carried over from when the credential was first checked.
pub fn recheck(
    store: &Store,
    cred: &Credential,
    mfa: bool,
) -> Result<Option<Subject>, vms_storage::Error> {
    let username = match cred {
        Credential::Session(h) => store.session(h)?.map(|s| s.username),
        Credential::Bearer(h) => store.token(h)?.map(|t| t.username),
    };
    let Some(user) = username.map(|u| store.user(&u)).transpose()?.flatten() else {
        return Ok(None);
    };
    if user.disabled {
        return Ok(None);
    }
    Ok(Some(Subject {
        username: user.username,
        role: user.role,
        partner: user.partner,
        mfa: mfa && !matches!(cred, Credential::Bearer(_)),
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn totp_matches_rfc_6238_test_vectors() {
        // RFC 6238 appendix B, SHA-1, 8 digits.
        let secret = b"12345678901234567890";
        for (t, want) in [
            (59i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(totp_at_step(secret, (t / 30) as u64, 8), want, "t={t}");
        }
        assert_eq!(totp(secret, 59), "287082");
    }

    #[test]
    fn totp_window_and_replay() {
        let secret = b"12345678901234567890";
        let now = 1_234_567_890;
        let code = totp(secret, now);
        let step = totp_verify(secret, &code, now, 0).unwrap();
        assert_eq!(
            totp_verify(secret, &code, now + 30, 0),
            Some(step),
            "one step late is fine"
        );
        assert_eq!(
            totp_verify(secret, &code, now + 90, 0),
            None,
            "three steps late is not"
        );
        assert_eq!(totp_verify(secret, &code, now, step), None, "no replay");
        assert_eq!(totp_verify(secret, "000000x", now, 0), None);
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        let m = &mut HashMemory::new();
        assert!(verify_password("correct horse battery", &h, m));
        assert!(!verify_password("correct horse batterY", &h, m));
        assert!(!verify_password("x", "not a hash", m));
        assert!(!verify_password("anything", DUMMY_HASH, m));
        assert!(check_password_strength("short").is_err());
    }
}
