//! Area requests ("canvasses") as storage keeps them: where and when the incident was, which
//! owners were asked (one footage request each), and how far each has got — told, opened,
//! answered.

use serde::{Deserialize, Serialize};

use crate::geo::Point;
use crate::index::{CameraId, cf, u64_key};
use crate::{Result, Store};

/// One area request: an investigator's question to every owner around a point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CanvassRow {
    pub id: u64,
    pub investigator: String,
    /// The incident's position: agency-only, never shown to an owner.
    pub center: Point,
    pub radius_m: u32,
    pub start_us: i64,
    pub end_us: i64,
    pub case_number: String,
    pub offence: String,
    pub reason: String,
    pub created_us: i64,
    pub owners: Vec<CanvassOwner>,
}

/// One owner asked by a canvass.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CanvassOwner {
    pub partner: u64,
    /// The footage request filed for this owner's cameras.
    pub request: u64,
    pub cameras: Vec<CameraId>,
    /// How the owner is being told by email.
    pub notice: Notice,
    /// The submission link mailed to the owner, once made.
    pub link: Option<u64>,
    /// When the owner first opened a link answering the request.
    pub opened_us: Option<i64>,
    /// The reminder sent before the window falls out of the owner's retention: `None` until
    /// it is due (or when it never will be: answered, or retention unknown).
    pub reminder: Option<Notice>,
}

/// A partner's choices about being contacted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerPrefs {
    /// Not to be emailed about requests (the portal still shows them).
    pub email_opt_out: bool,
}

/// Where telling one owner by email stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notice {
    /// Not sent yet: the next attempt is due at `due_us`.
    Queued {
        attempts: u32,
        due_us: i64,
        last_error: Option<String>,
    },
    Sent {
        at_us: i64,
    },
    /// Given up after repeated failures (the owner still sees the request in the portal).
    Failed {
        at_us: i64,
        error: String,
    },
    /// The owner asked not to be emailed, or gave no address: the portal only.
    PortalOnly {
        why: String,
    },
}

impl Store {
    pub fn create_canvass(&self, mut row: CanvassRow) -> Result<CanvassRow> {
        self.db.insert_next(cf::CANVASSES, |id| {
            row.id = id;
            row
        })
    }

    pub fn canvass(&self, id: u64) -> Result<Option<CanvassRow>> {
        self.db.get_row(cf::CANVASSES, &u64_key(id))
    }

    pub fn put_canvass(&self, row: &CanvassRow) -> Result<()> {
        self.db.put_row(cf::CANVASSES, &u64_key(row.id), row)
    }

    pub fn canvasses(&self) -> Result<Vec<CanvassRow>> {
        self.db.all_rows(cf::CANVASSES)
    }

    /// A partner's contact choices (defaults when it never made any).
    pub fn partner_prefs(&self, partner: u64) -> Result<PartnerPrefs> {
        Ok(self
            .db
            .get_row(cf::PARTNER_PREFS, &u64_key(partner))?
            .unwrap_or_default())
    }

    pub fn put_partner_prefs(&self, partner: u64, prefs: &PartnerPrefs) -> Result<()> {
        self.db.put_row(cf::PARTNER_PREFS, &u64_key(partner), prefs)
    }
}

/// A resident's or business's sign-up, waiting for its email address to be verified. Keyed by
/// the SHA-256 of the token mailed to that address (the token itself is never stored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignupRow {
    pub token_hash: [u8; 32],
    pub contact_name: String,
    pub contact_email: String,
    pub contact_phone: String,
    pub address: String,
    pub username: String,
    /// Argon2 hash of the chosen password.
    pub password_hash: String,
    /// The program terms shown and accepted: their version and exact text.
    pub terms_version: String,
    pub terms_text: String,
    pub remote_addr: String,
    pub created_us: i64,
    pub expires_us: i64,
}

impl Store {
    pub fn put_signup(&self, row: &SignupRow) -> Result<()> {
        self.db.put_row(cf::SIGNUPS, &row.token_hash, row)
    }

    pub fn signup(&self, token_hash: &[u8; 32]) -> Result<Option<SignupRow>> {
        self.db.get_row(cf::SIGNUPS, token_hash)
    }

    pub fn delete_signup(&self, token_hash: &[u8; 32]) -> Result<()> {
        self.db.db.delete_cf(self.db.cf(cf::SIGNUPS)?, token_hash)?;
        Ok(())
    }

    pub fn signups(&self) -> Result<Vec<SignupRow>> {
        self.db.all_rows(cf::SIGNUPS)
    }
}
