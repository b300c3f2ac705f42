//! The program's records: users, partners, enrolled cameras with their sharing terms, footage
//! requests, login sessions and API tokens — everything the access policy decides on, kept in
//! the same RocksDB as the video index so one backup holds both.
//!
//! This module stores and validates shapes; *who may do what* is decided in `web`'s policy.

use serde::{Deserialize, Serialize};

use crate::geo::Placed;
use crate::index::{CameraId, cf, u64_key};
use crate::store::{ENROLLED_PREFIX, Store};
use crate::{Error, Result};

/// Staff roles and the partner role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Admin,
    Supervisor,
    Investigator,
    Viewer,
    Partner,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Supervisor,
        Role::Investigator,
        Role::Viewer,
        Role::Partner,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Investigator => "investigator",
            Role::Viewer => "viewer",
            Role::Partner => "partner",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown role {s:?}; expected admin, supervisor, investigator, viewer or partner"
                ))
            })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub username: String,
    pub role: Role,
    /// The partner this account belongs to (role `Partner` only).
    pub partner: Option<u64>,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// TOTP secret, sealed with the store's secret key.
    pub totp_secret: Option<Vec<u8>>,
    /// Last TOTP time step accepted, so a code cannot be replayed.
    pub totp_last_step: u64,
    pub failed_logins: u32,
    pub locked_until_us: i64,
    pub disabled: bool,
    pub created_us: i64,
    /// A TOTP secret its owner is enrolling (sealed): shown to them at sign-in with their
    /// password, and made `totp_secret` once they answer with a code from it (issue 22 F5: an
    /// account's second factor is never handed to the administrator who made it).
    pub totp_pending: Option<Vec<u8>>,
}

/// A camera's sharing terms from a moment on (issue 22 F9: footage is governed by the terms in
/// force when it was recorded, not by today's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermsRow {
    pub sharing: SharingMode,
}

/// What a partner lets the department do with a camera.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SharingMode {
    /// Known to exist (location, contact); no video flows.
    Registry,
    /// Recorded, sealed until the partner approves a request for a range.
    OnRequest,
    /// Live view and playback for authorized users, each access with a reason.
    Live,
}

impl SharingMode {
    pub const ALL: [SharingMode; 3] = [
        SharingMode::Registry,
        SharingMode::OnRequest,
        SharingMode::Live,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            SharingMode::Registry => "registry",
            SharingMode::OnRequest => "on-request",
            SharingMode::Live => "live",
        }
    }
}

impl std::str::FromStr for SharingMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        SharingMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown sharing mode {s:?}; expected registry, on-request or live"
                ))
            })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartnerStatus {
    Active,
    Paused,
    Left,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerRow {
    pub id: u64,
    /// What reports and exports call the partner (never the name or address).
    pub pseudonym: String,
    pub contact_name: String,
    pub contact_email: String,
    pub contact_phone: String,
    /// Confidential.
    pub address: String,
    pub terms_version: Option<String>,
    pub terms_accepted_us: Option<i64>,
    pub status: PartnerStatus,
    pub created_us: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CameraSource {
    Rtsp {
        url: String,
    },
    Onvif {
        address: String,
    },
    /// A `[[camera]]` of the operator's config file. The file stays the source of truth for its
    /// address and credentials, so the registry keeps neither; the row exists so the camera is
    /// listed, owned and played back under the same policy as every other (issue 21).
    ConfigFile,
    /// A registered camera: its owner says where it is and what it sees; no video flows, and
    /// the system never connects to it. Its owner answers requests by uploading files.
    Registered,
}

/// What sort of camera it is (what a canvass can expect from it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CameraKind {
    Doorbell,
    Fixed,
    Ptz,
}

impl CameraKind {
    pub const ALL: [CameraKind; 3] = [CameraKind::Doorbell, CameraKind::Fixed, CameraKind::Ptz];
    pub fn as_str(self) -> &'static str {
        match self {
            CameraKind::Doorbell => "doorbell",
            CameraKind::Fixed => "fixed",
            CameraKind::Ptz => "ptz",
        }
    }
}

impl std::str::FromStr for CameraKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        CameraKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown camera kind {s:?}; expected doorbell, fixed or ptz"
                ))
            })
    }
}

/// The `partner` of the agency's own cameras (config-file cameras). Partner ids start at 1.
pub const AGENCY: u64 = 0;

/// A privacy mask: a polygon in normalised picture coordinates (0..1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mask(pub Vec<(f32, f32)>);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CameraInfo {
    pub id: CameraId,
    pub name: String,
    pub partner: u64,
    pub source: CameraSource,
    /// `username\0password`, sealed with the store's secret key; never returned by the API.
    pub credentials: Option<Vec<u8>>,
    pub sharing: SharingMode,
    pub retention_days: u32,
    /// The street address line. Confidential: staff see the position, not the address.
    pub address: String,
    /// Where it is and what it sees; `None` until placed (rows from before schema 7 held a
    /// free-text location only, now the address line).
    pub placed: Option<Placed>,
    pub kind: Option<CameraKind>,
    /// How many days the owner's own recorder keeps video: a request for older footage is
    /// pointless and is flagged.
    pub owner_keeps_days: Option<u32>,
    /// Paused by the partner (or the partner paused or left): no ingest.
    pub paused: bool,
    pub masks: Vec<Mask>,
    pub created_us: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestStatus {
    Pending,
    Approved,
    Denied,
    /// Granted by a supervisor without the partner, with a written justification.
    Exigent,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Denied => "denied",
            RequestStatus::Exigent => "exigent",
        }
    }
    /// Whether the request grants access to its range.
    pub fn grants(self) -> bool {
        matches!(self, RequestStatus::Approved | RequestStatus::Exigent)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRow {
    pub id: u64,
    pub investigator: String,
    pub cameras: Vec<CameraId>,
    pub start_us: i64,
    pub end_us: i64,
    pub case_number: String,
    pub offence: String,
    pub reason: String,
    pub status: RequestStatus,
    pub decided_by: Option<String>,
    pub decided_us: Option<i64>,
    /// The partner's note, or the supervisor's exigency justification.
    pub decision_note: Option<String>,
    pub created_us: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRow {
    pub username: String,
    pub created_us: i64,
    pub last_seen_us: i64,
    pub csrf: String,
    /// Whether the login passed a second factor.
    pub mfa: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRow {
    pub username: String,
    pub label: String,
    pub created_us: i64,
}

/// Where an evidence export stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportStatus {
    Running,
    Done {
        /// SHA-256 of the signed `manifest.json`.
        manifest_sha256: [u8; 32],
        bytes: u64,
    },
    Failed(String),
}

/// One evidence export: what was asked for, by whom, and where the package is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRow {
    pub id: u64,
    pub exporter: String,
    pub cameras: Vec<CameraId>,
    pub start_us: i64,
    pub end_us: i64,
    pub case_number: String,
    pub reason: String,
    pub request_id: Option<u64>,
    pub created_us: i64,
    pub status: ExportStatus,
    /// Package directory, relative to the store root.
    pub dir: String,
    /// Legal holds placed on the exported ranges.
    pub holds: Vec<u64>,
}

impl Store {
    // Users.

    pub fn user(&self, username: &str) -> Result<Option<UserRow>> {
        self.db.get_row(cf::USERS, username.as_bytes())
    }

    pub fn put_user(&self, user: &UserRow) -> Result<()> {
        if !valid_username(&user.username) {
            return Err(Error::Invalid(format!(
                "username {:?}: use 1-64 characters from a-z, 0-9, '.', '-', '_'",
                user.username
            )));
        }
        if (user.role == Role::Partner) != user.partner.is_some() {
            return Err(Error::Invalid(
                "partner accounts (and only they) belong to a partner".into(),
            ));
        }
        self.db.put_row(cf::USERS, user.username.as_bytes(), user)
    }

    pub fn users(&self) -> Result<Vec<UserRow>> {
        self.db.all_rows(cf::USERS)
    }

    // Partners.

    /// Stores a new partner under the next id; one without a pseudonym gets `P-<id>` in the
    /// same write (what reports and exports call it).
    pub fn create_partner(&self, mut p: PartnerRow) -> Result<PartnerRow> {
        self.db.insert_next(cf::PARTNERS, |id| {
            p.id = id;
            if p.pseudonym.is_empty() {
                p.pseudonym = format!("P-{id:04}");
            }
            p
        })
    }

    pub fn partner(&self, id: u64) -> Result<Option<PartnerRow>> {
        self.db.get_row(cf::PARTNERS, &u64_key(id))
    }

    pub fn put_partner(&self, p: &PartnerRow) -> Result<()> {
        self.db.put_row(cf::PARTNERS, &u64_key(p.id), p)
    }

    pub fn partners(&self) -> Result<Vec<PartnerRow>> {
        self.db.all_rows(cf::PARTNERS)
    }

    // Enrolled cameras.

    /// Enrolls a camera: assigns its id (shared with the recording index) and stores it.
    /// Enrolls a partner's camera under a fresh id. Names are unique per owner only (another
    /// owner's names are neither compared nor revealed), and the id is allocated and written
    /// with the camera under the camera lock, so two enrollments can never share one — nor can
    /// an enrollment reach a configured camera's id by taking its name.
    pub fn enroll_camera(&self, mut c: CameraInfo) -> Result<CameraInfo> {
        if c.name.trim().is_empty() || c.name.len() > 128 {
            return Err(Error::Invalid(format!("bad camera name {:?}", c.name)));
        }
        let _guard = self
            .db
            .camera_lock
            .lock()
            .map_err(|_| Error::ShuttingDown)?;
        let name_key = crate::index::camera_name_key(c.partner, &c.name);
        if self
            .db
            .db
            .get_pinned_cf(self.db.cf(cf::CAMERA_NAMES)?, &name_key)?
            .is_some()
        {
            return Err(Error::Invalid(format!(
                "you already have a camera named {:?}",
                c.name
            )));
        }
        c.id = self.next_camera_id_locked()?;
        let mut batch = rocksdb::WriteBatch::default();
        batch.put_cf(
            self.db.cf(cf::CAMERAS)?,
            format!("{ENROLLED_PREFIX}{}", c.id).as_bytes(),
            crate::index::encode(&crate::index::CameraRow { id: c.id }),
        );
        batch.put_cf(
            self.db.cf(cf::CAMERA_INFO)?,
            c.id.to_be_bytes(),
            crate::index::encode(&c),
        );
        batch.put_cf(
            self.db.cf(cf::CAMERA_NAMES)?,
            name_key,
            crate::index::encode(&c.id),
        );
        batch.put_cf(
            self.db.cf(cf::TERMS)?,
            crate::index::camera_time_key(c.id, c.created_us),
            crate::index::encode(&TermsRow { sharing: c.sharing }),
        );
        if let Some(p) = &c.placed {
            batch.put_cf(
                self.db.cf(cf::CAMERA_CELLS)?,
                crate::geo::cell_key(p.point.cell(), c.id),
                crate::index::encode(p),
            );
        }
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.db.write_opt(batch, &wo)?;
        Ok(c)
    }

    /// Deletes a registered camera's record, its terms history and its place in the spatial
    /// index (a partner's removal deletes, it does not hide). Cameras that record are never
    /// deleted this way: their video and its custody outlive the registration.
    pub fn remove_registered_camera(&self, id: CameraId) -> Result<CameraInfo> {
        let _guard = self
            .db
            .camera_lock
            .lock()
            .map_err(|_| Error::ShuttingDown)?;
        let c = self
            .camera_info(id)?
            .ok_or_else(|| Error::NotFound(format!("camera {id}")))?;
        if c.source != CameraSource::Registered {
            return Err(Error::Invalid(format!(
                "camera {id} records video; only registered cameras are removed"
            )));
        }
        let mut batch = rocksdb::WriteBatch::default();
        batch.delete_cf(
            self.db.cf(cf::CAMERAS)?,
            format!("{ENROLLED_PREFIX}{id}").as_bytes(),
        );
        batch.delete_cf(self.db.cf(cf::CAMERA_INFO)?, id.to_be_bytes());
        batch.delete_cf(
            self.db.cf(cf::CAMERA_NAMES)?,
            crate::index::camera_name_key(c.partner, &c.name),
        );
        for (from, _) in self.terms_history(id)? {
            batch.delete_cf(
                self.db.cf(cf::TERMS)?,
                crate::index::camera_time_key(id, from),
            );
        }
        if let Some(p) = &c.placed {
            batch.delete_cf(
                self.db.cf(cf::CAMERA_CELLS)?,
                crate::geo::cell_key(p.point.cell(), id),
            );
        }
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.db.write_opt(batch, &wo)?;
        Ok(c)
    }

    /// Gives the config-file camera `name` its registry row, owned by the agency and shared
    /// live with staff (the agency's own camera), creating it on first start and keeping
    /// masks, pause state and creation time afterwards. Returns the row.
    pub fn register_config_camera(
        &self,
        name: &str,
        address: &str,
        retention_days: u32,
    ) -> Result<CameraInfo> {
        let id = self.camera_id(name)?;
        let _guard = self
            .db
            .camera_lock
            .lock()
            .map_err(|_| Error::ShuttingDown)?;
        let row = match self.camera_info(id)? {
            Some(c) if c.source != CameraSource::ConfigFile => {
                // Ids are never shared between the two kinds; this is a damaged index.
                return Err(Error::Invalid(format!(
                    "camera id {id} of config camera {name:?} belongs to an enrolled camera"
                )));
            }
            Some(c) => CameraInfo {
                name: name.to_owned(),
                address: address.to_owned(),
                retention_days,
                ..c
            },
            None => CameraInfo {
                id,
                name: name.to_owned(),
                partner: AGENCY,
                source: CameraSource::ConfigFile,
                credentials: None,
                sharing: SharingMode::Live,
                retention_days,
                address: address.to_owned(),
                placed: None,
                kind: None,
                owner_keeps_days: None,
                paused: false,
                masks: Vec::new(),
                created_us: self.clock().now_utc_micros(),
            },
        };
        self.put_camera_info_locked(&row)?;
        Ok(row)
    }

    /// Writes an existing camera's record; a change of its sharing mode is entered in its
    /// terms history at the store clock's now, in the same batch.
    pub fn put_camera_info(&self, c: &CameraInfo) -> Result<()> {
        let _guard = self
            .db
            .camera_lock
            .lock()
            .map_err(|_| Error::ShuttingDown)?;
        // A change read before a removal must not bring the camera back (its enrollment and
        // name rows are gone; only registration creates a camera).
        if self.camera_info(c.id)?.is_none() {
            return Err(Error::NotFound(format!("camera {}", c.id)));
        }
        self.put_camera_info_locked(c)
    }

    /// [`Store::put_camera_info`] for a caller that holds the camera lock.
    fn put_camera_info_locked(&self, c: &CameraInfo) -> Result<()> {
        let before = self.camera_info(c.id)?;
        let mut batch = rocksdb::WriteBatch::default();
        batch.put_cf(
            self.db.cf(cf::CAMERA_INFO)?,
            c.id.to_be_bytes(),
            crate::index::encode(c),
        );
        // The spatial index follows the row: the old cell's entry goes, the new one comes.
        let cells = self.db.cf(cf::CAMERA_CELLS)?;
        if let Some(p) = before.as_ref().and_then(|b| b.placed.as_ref()) {
            batch.delete_cf(cells, crate::geo::cell_key(p.point.cell(), c.id));
        }
        if let Some(p) = &c.placed {
            batch.put_cf(
                cells,
                crate::geo::cell_key(p.point.cell(), c.id),
                crate::index::encode(p),
            );
        }
        if before.is_none_or(|b| b.sharing != c.sharing) {
            // Strictly after the previous entry, so a change in the same microsecond as the
            // last one (or after a clock step back) never overwrites or precedes it.
            let last = self.terms_history(c.id)?.last().map(|(from, _)| *from);
            let from = last.map_or(self.db.now_us(), |l| self.db.now_us().max(l + 1));
            batch.put_cf(
                self.db.cf(cf::TERMS)?,
                crate::index::camera_time_key(c.id, from),
                crate::index::encode(&TermsRow { sharing: c.sharing }),
            );
        }
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.db.write_opt(batch, &wo)?;
        Ok(())
    }

    /// A camera's sharing terms over time, oldest first: `(from UTC µs, mode)`. Empty for
    /// cameras whose terms never changed since before the history was kept.
    pub fn terms_history(&self, camera: CameraId) -> Result<Vec<(i64, SharingMode)>> {
        let cf = self.db.cf(cf::TERMS)?;
        let prefix = camera.to_be_bytes();
        let mode = rocksdb::IteratorMode::From(&prefix, rocksdb::Direction::Forward);
        let mut out = Vec::new();
        for item in self.db.db.iterator_cf(cf, mode) {
            let (k, v) = item?;
            let Some((cam, from)) = crate::index::parse_camera_time_key(&k) else {
                break;
            };
            if cam != camera {
                break;
            }
            let row: TermsRow = crate::index::decode(cf::TERMS, &k, &v)?;
            out.push((from, row.sharing));
        }
        Ok(out)
    }

    /// The enrolled camera `partner` named `name`, through the per-owner name index.
    pub fn camera_named(&self, partner: u64, name: &str) -> Result<Option<CameraInfo>> {
        let key = crate::index::camera_name_key(partner, name);
        match self.db.get_row::<CameraId>(cf::CAMERA_NAMES, &key)? {
            Some(id) => self.camera_info(id),
            None => Ok(None),
        }
    }

    pub fn camera_info(&self, id: CameraId) -> Result<Option<CameraInfo>> {
        self.db.get_row(cf::CAMERA_INFO, &id.to_be_bytes())
    }

    pub fn cameras_info(&self) -> Result<Vec<CameraInfo>> {
        self.db.all_rows(cf::CAMERA_INFO)
    }

    // Requests.

    pub fn create_request(&self, mut r: RequestRow) -> Result<RequestRow> {
        self.db.insert_next(cf::REQUESTS, |id| {
            r.id = id;
            r
        })
    }

    pub fn request(&self, id: u64) -> Result<Option<RequestRow>> {
        self.db.get_row(cf::REQUESTS, &u64_key(id))
    }

    pub fn put_request(&self, r: &RequestRow) -> Result<()> {
        self.db.put_row(cf::REQUESTS, &u64_key(r.id), r)
    }

    pub fn requests(&self) -> Result<Vec<RequestRow>> {
        self.db.all_rows(cf::REQUESTS)
    }

    // Evidence exports.

    pub fn create_export(&self, mut r: ExportRow) -> Result<ExportRow> {
        self.db.insert_next(cf::EXPORTS, |id| {
            r.id = id;
            r.dir = format!("exports/{id:08}");
            r
        })
    }

    pub fn export(&self, id: u64) -> Result<Option<ExportRow>> {
        self.db.get_row(cf::EXPORTS, &u64_key(id))
    }

    pub fn put_export(&self, r: &ExportRow) -> Result<()> {
        self.db.put_row(cf::EXPORTS, &u64_key(r.id), r)
    }

    pub fn exports(&self) -> Result<Vec<ExportRow>> {
        self.db.all_rows(cf::EXPORTS)
    }

    // Sessions and API tokens, keyed by the SHA-256 of the secret so a copy of the index does
    // not hand out logins.

    pub fn session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRow>> {
        self.db.get_row(cf::SESSIONS, token_hash)
    }

    pub fn put_session(&self, token_hash: &[u8; 32], s: &SessionRow) -> Result<()> {
        self.db.put_row(cf::SESSIONS, token_hash, s)
    }

    pub fn delete_session(&self, token_hash: &[u8; 32]) -> Result<()> {
        let _guard = self.account_guard()?;
        self.db.delete_row(cf::SESSIONS, token_hash)
    }

    /// Refreshes a session's `last_seen` if the session still exists, atomically with respect
    /// to [`Store::delete_session`]: a request racing a logout can never bring the session
    /// back. Returns whether the session exists.
    pub fn touch_session(&self, token_hash: &[u8; 32], now_us: i64) -> Result<bool> {
        let _guard = self.account_guard()?;
        let Some(mut s) = self.session(token_hash)? else {
            return Ok(false);
        };
        s.last_seen_us = now_us;
        self.db.put_row(cf::SESSIONS, token_hash, &s)?;
        Ok(true)
    }

    /// Reads, changes and writes back one user row as one step with respect to every other
    /// `update_user`, so concurrent logins cannot lose failed-login counts or reuse a TOTP
    /// step. `f` sees the current row; the row is written only if `f` changed it. `None` if
    /// the user does not exist.
    pub fn update_user<R>(
        &self,
        username: &str,
        f: impl FnOnce(&mut UserRow) -> R,
    ) -> Result<Option<R>> {
        let _guard = self.account_guard()?;
        let Some(mut user) = self.user(username)? else {
            return Ok(None);
        };
        let before = user.clone();
        let r = f(&mut user);
        if user != before {
            self.put_user(&user)?;
        }
        Ok(Some(r))
    }

    /// Writes a new user row unless the name is taken (checked and written under the account
    /// lock, so two creations of one name cannot both succeed). False if it exists.
    pub fn insert_user(&self, user: &UserRow) -> Result<bool> {
        let _guard = self.account_guard()?;
        if self.user(&user.username)?.is_some() {
            return Ok(false);
        }
        self.put_user(user)?;
        Ok(true)
    }

    fn account_guard(&self) -> Result<std::sync::MutexGuard<'_, ()>> {
        self.db.account_lock.lock().map_err(|_| Error::ShuttingDown)
    }

    pub fn token(&self, token_hash: &[u8; 32]) -> Result<Option<TokenRow>> {
        self.db.get_row(cf::TOKENS, token_hash)
    }

    pub fn put_token(&self, token_hash: &[u8; 32], t: &TokenRow) -> Result<()> {
        self.db.put_row(cf::TOKENS, token_hash, t)
    }

    /// Every API token, by the hash it is stored under.
    pub fn tokens(&self) -> Result<Vec<([u8; 32], TokenRow)>> {
        self.db
            .all_rows_with_keys(cf::TOKENS)?
            .into_iter()
            .map(|(k, t)| {
                let hash = <[u8; 32]>::try_from(&*k).map_err(|_| Error::Corrupt {
                    cf: cf::TOKENS,
                    key: hex::encode(&k),
                    why: "bad key length".into(),
                })?;
                Ok((hash, t))
            })
            .collect()
    }

    pub fn delete_token(&self, token_hash: &[u8; 32]) -> Result<()> {
        self.db.delete_row(cf::TOKENS, token_hash)
    }
}

/// Usernames: 1-64 characters from a-z, 0-9, '.', '-', '_'.
pub fn valid_username(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
        })
}
