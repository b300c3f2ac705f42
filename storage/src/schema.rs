//! The stored schema's version and its upgraders: a version key in the `meta` column family,
//! and one function per step, run in order when an older store is opened. A store newer than
//! this build is refused rather than misread.

use rocksdb::WriteBatch;

use crate::db::Db;
use crate::index::{self, SegmentRow, cf, parse_camera_time_key};
use crate::registry::{CameraInfo, CameraSource, Mask, Role, SharingMode, TermsRow, UserRow};
use crate::{Error, Result};

/// Upgraders, in order: `(version reached, step)`. The last one's version is
/// [`index::SCHEMA_VERSION`].
const UPGRADERS: [(u32, Upgrader); 6] = [
    (2, build_layouts),
    (3, start_terms_history),
    (4, add_pending_second_factor),
    (5, add_submission_review),
    (6, index_link_tokens),
    (7, place_cameras),
];

/// One schema step: rewrites what the previous version stored.
type Upgrader = fn(&Db) -> Result<()>;

/// Checks the stored schema version and brings an older store up to date. A new store gets
/// the current version.
pub(crate) fn check_and_upgrade(db: &Db) -> Result<()> {
    let meta = db.cf(cf::META)?;
    let Some(v) = db.db.get_cf(meta, index::SCHEMA_KEY)? else {
        db.db
            .put_cf(meta, index::SCHEMA_KEY, index::SCHEMA_VERSION.to_be_bytes())?;
        return Ok(());
    };
    let found = <[u8; 4]>::try_from(v.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| Error::Corrupt {
            cf: cf::META,
            key: "schema_version".into(),
            why: "not 4 bytes".into(),
        })?;
    if found > index::SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: index::SCHEMA_VERSION,
        });
    }
    for (version, step) in UPGRADERS {
        if found < version {
            step(db)?;
            db.db
                .put_cf(meta, index::SCHEMA_KEY, version.to_be_bytes())?;
            tracing::info!(from = found, to = version, "index schema upgraded");
        }
    }
    Ok(())
}

/// Schema 1 → 2: packs the fragment rows of every sealed segment into its layout row.
fn build_layouts(db: &Db) -> Result<()> {
    let mut batch = WriteBatch::default();
    let mut n = 0u64;
    for item in db
        .db
        .iterator_cf(db.cf(cf::SEGMENTS)?, rocksdb::IteratorMode::Start)
    {
        let (k, v) = item?;
        let Some((camera, start)) = parse_camera_time_key(&k) else {
            continue;
        };
        // Undecodable rows are left for `vms check` to report, as on any open.
        let Ok(row) = index::decode::<SegmentRow>(cf::SEGMENTS, &k, &v) else {
            continue;
        };
        if row.closed() {
            db.put_layout(&mut batch, camera, start, &row);
            n += 1;
            if batch.len() >= 256 {
                db.db.write(std::mem::take(&mut batch))?;
            }
        }
    }
    db.db.write(batch)?;
    tracing::info!(segments = n, "built layout rows for sealed segments");
    Ok(())
}

/// Schema 2 → 3: starts each camera's terms history with its current sharing mode from its
/// enrollment (earlier changes were not recorded; from now on every change is).
fn start_terms_history(db: &Db) -> Result<()> {
    let mut batch = WriteBatch::default();
    // Rows of a schema-2 store have the schema-6 layout (the fields came later).
    for c in db.all_rows::<CameraInfoV6>(cf::CAMERA_INFO)? {
        batch.put_cf(
            db.cf(cf::TERMS)?,
            index::camera_time_key(c.id, c.created_us),
            index::encode(&TermsRow { sharing: c.sharing }),
        );
    }
    db.db.write(batch)?;
    Ok(())
}

/// An account as schema 3 stored it: without a pending second factor.
#[derive(serde::Deserialize)]
struct UserRowV3 {
    username: String,
    role: Role,
    partner: Option<u64>,
    password_hash: String,
    totp_secret: Option<Vec<u8>>,
    totp_last_step: u64,
    failed_logins: u32,
    locked_until_us: i64,
    disabled: bool,
    created_us: i64,
}

/// Schema 3 → 4: accounts gain `totp_pending` (none is being enrolled yet).
fn add_pending_second_factor(db: &Db) -> Result<()> {
    let mut batch = WriteBatch::default();
    for item in db
        .db
        .iterator_cf(db.cf(cf::USERS)?, rocksdb::IteratorMode::Start)
    {
        let (k, v) = item?;
        let u: UserRowV3 = index::decode(cf::USERS, &k, &v)?;
        let row = UserRow {
            username: u.username,
            role: u.role,
            partner: u.partner,
            password_hash: u.password_hash,
            totp_secret: u.totp_secret,
            totp_last_step: u.totp_last_step,
            failed_logins: u.failed_logins,
            locked_until_us: u.locked_until_us,
            disabled: u.disabled,
            created_us: u.created_us,
            totp_pending: None,
        };
        batch.put_cf(db.cf(cf::USERS)?, &k, index::encode(&row));
    }
    db.db.write(batch)?;
    Ok(())
}

/// An upload row as schema 4 stored it (before review, working copy and deletion).
#[derive(serde::Deserialize)]
struct UploadRowV4 {
    id: u64,
    link: u64,
    case_number: String,
    declared: crate::intake::Declared,
    length: u64,
    offset: u64,
    created_us: i64,
    expires_us: i64,
    received: Option<crate::intake::Received>,
    terminated_us: Option<i64>,
    identified: Option<vms_media::Identified>,
}

/// Schema 4 → 5: submitted files gain a review, a working copy, a deletion record and an
/// archive listing (none yet).
fn add_submission_review(db: &Db) -> Result<()> {
    let mut batch = WriteBatch::default();
    for item in db
        .db
        .iterator_cf(db.cf(cf::UPLOADS)?, rocksdb::IteratorMode::Start)
    {
        let (k, v) = item?;
        let u: UploadRowV4 = index::decode(cf::UPLOADS, &k, &v)?;
        let row = crate::intake::UploadRow {
            id: u.id,
            link: u.link,
            case_number: u.case_number,
            declared: u.declared,
            length: u.length,
            offset: u.offset,
            created_us: u.created_us,
            expires_us: u.expires_us,
            received: u.received,
            terminated_us: u.terminated_us,
            identified: u.identified,
            review: None,
            working_copy: None,
            deleted: None,
            archive: None,
        };
        batch.put_cf(db.cf(cf::UPLOADS)?, &k, index::encode(&row));
    }
    db.db.write(batch)?;
    Ok(())
}

/// Schema 5 → 6: submission links are found by their token's hash through an index.
fn index_link_tokens(db: &Db) -> Result<()> {
    let mut batch = WriteBatch::default();
    for item in db
        .db
        .iterator_cf(db.cf(cf::LINKS)?, rocksdb::IteratorMode::Start)
    {
        let (k, v) = item?;
        let link: crate::intake::LinkRow = index::decode(cf::LINKS, &k, &v)?;
        batch.put_cf(
            db.cf(cf::LINK_TOKENS)?,
            link.token_hash,
            index::encode(&link.id),
        );
    }
    db.db.write(batch)?;
    Ok(())
}

/// A camera row as schemas 1–6 stored it: a free-text location, no position.
#[derive(serde::Deserialize)]
struct CameraInfoV6 {
    id: index::CameraId,
    name: String,
    partner: u64,
    source: CameraSource,
    credentials: Option<Vec<u8>>,
    sharing: SharingMode,
    retention_days: u32,
    location: String,
    paused: bool,
    masks: Vec<Mask>,
    created_us: i64,
}

/// Schema 6 → 7: a camera's free-text location becomes its address line; position, view,
/// kind and its owner's retention are unknown until its owner or an administrator places it.
/// Enrolled cameras' names are indexed per owner.
fn place_cameras(db: &Db) -> Result<()> {
    let mut batch = WriteBatch::default();
    for item in db
        .db
        .iterator_cf(db.cf(cf::CAMERA_INFO)?, rocksdb::IteratorMode::Start)
    {
        let (k, v) = item?;
        let c: CameraInfoV6 = index::decode(cf::CAMERA_INFO, &k, &v)?;
        let row = CameraInfo {
            id: c.id,
            name: c.name,
            partner: c.partner,
            source: c.source,
            credentials: c.credentials,
            sharing: c.sharing,
            retention_days: c.retention_days,
            address: c.location,
            placed: None,
            kind: None,
            owner_keeps_days: None,
            paused: c.paused,
            masks: c.masks,
            created_us: c.created_us,
        };
        if row.source != CameraSource::ConfigFile {
            batch.put_cf(
                db.cf(cf::CAMERA_NAMES)?,
                index::camera_name_key(row.partner, &row.name),
                index::encode(&row.id),
            );
        }
        batch.put_cf(db.cf(cf::CAMERA_INFO)?, &k, index::encode(&row));
    }
    db.db.write(batch)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn upgraders_are_ordered_and_end_at_the_current_version() {
        let versions: Vec<u32> = super::UPGRADERS.iter().map(|(v, _)| *v).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(versions.last(), Some(&crate::index::SCHEMA_VERSION));
    }
}
