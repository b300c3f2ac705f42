//! The RocksDB index: column families, big-endian keys (so range scans come out in time order)
//! and the rows stored under them.
//!
//! Rows are `postcard`-encoded serde structs behind a one-byte row version, so a corrupt value
//! is a decode error naming the column family and key, never a panic.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::Error;

/// The schema this build writes. Bump it with an upgrader in [`crate::Store::open`].
///
/// * 1: the first.
/// * 2: adds [`cf::LAYOUTS`] (built for existing sealed segments when a version-1 store opens).
pub const SCHEMA_VERSION: u32 = 7;

/// Column family names.
pub mod cf {
    /// `schema_version` and other single values.
    pub const META: &str = "meta";
    /// camera name → [`super::CameraRow`].
    pub const CAMERAS: &str = "cameras";
    /// run id (u64) → [`super::RunRow`].
    pub const RUNS: &str = "runs";
    /// (camera, start UTC) → [`super::SegmentRow`].
    pub const SEGMENTS: &str = "segments";
    /// (camera, start UTC) → [`super::FragmentRow`].
    pub const FRAGMENTS: &str = "fragments";
    /// (camera, segment start UTC) → the fragment table of a *sealed* segment, packed
    /// ([`super::encode_layout`]). Derived from the segment's fragment rows when it is sealed, so
    /// playback of a long range reads one row per segment (~1 a minute) instead of one per
    /// fragment (~1 a second); the fragment rows stay the source of truth.
    pub const LAYOUTS: &str = "layouts";
    /// hold id (u64) → [`super::HoldRow`].
    pub const HOLDS: &str = "holds";
    /// (deletion UTC, camera, segment start) → [`super::DeletionRow`]: the retention log.
    pub const DELETIONS: &str = "deletions";

    /// username → `UserRow`.
    pub const USERS: &str = "users";
    /// partner id (u64) → `PartnerRow`.
    pub const PARTNERS: &str = "partners";
    /// camera id (u32) → `CameraInfo` (enrollment and sharing terms).
    pub const CAMERA_INFO: &str = "camera_info";
    /// request id (u64) → `RequestRow`.
    pub const REQUESTS: &str = "requests";
    /// SHA-256 of a session token → `SessionRow`.
    pub const SESSIONS: &str = "sessions";
    /// SHA-256 of an API token → `TokenRow`.
    pub const TOKENS: &str = "tokens";
    /// sequence number (u64) → `AuditEvent`, hash-chained.
    pub const AUDIT: &str = "audit";
    /// export id (u64) → `ExportRow`.
    pub const EXPORTS: &str = "exports";
    /// (camera id, from UTC µs) → `TermsRow`: the sharing terms in force from then on.
    pub const TERMS: &str = "terms";
    /// link id (u64) → `LinkRow`: submission links, by the hash of their token.
    pub const LINKS: &str = "submission_links";
    /// upload id (u64) → `UploadRow`: submitted files, in progress and received.
    pub const UPLOADS: &str = "uploads";
    /// call id (u64) → `PublicCallRow`: public calls for video about an incident.
    pub const PUBLIC_CALLS: &str = "public_calls";
    /// SHA-256 of a link's token (32 bytes) → link id (u64): a token is looked up, not scanned.
    pub const LINK_TOKENS: &str = "link_tokens";
    /// H3 cell (u64) ++ camera id (u32) → `geo::Placed`: the spatial index of placed cameras.
    pub const CAMERA_CELLS: &str = "camera_cells";
    /// partner id (u64) ++ camera name → camera id (u32): names are unique per owner, checked
    /// with one read instead of a scan of every camera.
    pub const CAMERA_NAMES: &str = "camera_names";
    /// canvass id (u64) → `CanvassRow`: area requests and their owners' progress.
    pub const CANVASSES: &str = "canvasses";
    /// partner id (u64) → `canvass::PartnerPrefs`: a partner's contact choices.
    pub const PARTNER_PREFS: &str = "partner_prefs";
    /// SHA-256 of a sign-up's email token (32 bytes) → `canvass::SignupRow`: sign-ups waiting
    /// for their address to be verified.
    pub const SIGNUPS: &str = "signups";

    pub const ALL: [&str; 26] = [
        META,
        CAMERAS,
        RUNS,
        SEGMENTS,
        FRAGMENTS,
        LAYOUTS,
        HOLDS,
        DELETIONS,
        USERS,
        PARTNERS,
        CAMERA_INFO,
        REQUESTS,
        SESSIONS,
        TOKENS,
        AUDIT,
        EXPORTS,
        TERMS,
        LINKS,
        UPLOADS,
        PUBLIC_CALLS,
        LINK_TOKENS,
        CAMERA_CELLS,
        CAMERA_NAMES,
        CANVASSES,
        PARTNER_PREFS,
        SIGNUPS,
    ];
}

/// `camera_names` key of `name` owned by `partner`.
pub fn camera_name_key(partner: u64, name: &str) -> Vec<u8> {
    let mut k = partner.to_be_bytes().to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

pub const SCHEMA_KEY: &[u8] = b"schema_version";
/// Key (in `meta`) of the highest camera id ever allocated (u32 BE).
pub const CAMERA_HIGH_KEY: &[u8] = b"camera_id_high";
/// Key (in `meta`) of the audit chain's head.
pub const AUDIT_HEAD_KEY: &[u8] = b"audit_head";

/// The audit chain's head: the last event's sequence number and hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuditHead {
    pub seq: u64,
    pub hash: [u8; 32],
}

/// A camera's numeric id: small and fixed-width so it prefixes keys.
pub type CameraId = u32;

/// Encodes an i64 so that byte order equals numeric order (flip the sign bit).
pub fn ord_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

fn unord_i64(b: [u8; 8]) -> i64 {
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

/// Key of a segment or fragment row: camera id then start time, both big-endian.
pub fn camera_time_key(camera: CameraId, start_utc: i64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&camera.to_be_bytes());
    k[4..].copy_from_slice(&ord_i64(start_utc));
    k
}

/// Decodes a [`camera_time_key`]; `None` if the key is not 12 bytes.
pub fn parse_camera_time_key(k: &[u8]) -> Option<(CameraId, i64)> {
    let k: &[u8; 12] = k.try_into().ok()?;
    let cam = u32::from_be_bytes([k[0], k[1], k[2], k[3]]);
    let mut t = [0u8; 8];
    t.copy_from_slice(&k[4..]);
    Some((cam, unord_i64(t)))
}

pub fn u64_key(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

pub fn parse_u64_key(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.try_into().ok()?))
}

/// Key of a deletion log row: when, then which segment.
pub fn deletion_key(at_utc: i64, camera: CameraId, segment_start: i64) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..8].copy_from_slice(&ord_i64(at_utc));
    k[8..].copy_from_slice(&camera_time_key(camera, segment_start));
    k
}

const ROW_VERSION: u8 = 1;

/// Encodes a row: version byte then postcard.
pub fn encode<T: Serialize>(row: &T) -> Vec<u8> {
    let mut out = vec![ROW_VERSION];
    // Serialising these plain structs into a Vec cannot fail.
    if let Ok(body) = postcard::to_allocvec(row) {
        out.extend_from_slice(&body);
    }
    out
}

/// Decodes a row, naming the column family and key on failure.
pub fn decode<T: DeserializeOwned>(cf: &'static str, key: &[u8], value: &[u8]) -> Result<T, Error> {
    let corrupt = |why: String| Error::Corrupt {
        cf,
        key: hex::encode(key),
        why,
    };
    match value.split_first() {
        Some((&ROW_VERSION, body)) => {
            postcard::from_bytes(body).map_err(|e| corrupt(e.to_string()))
        }
        Some((v, _)) => Err(corrupt(format!("unknown row version {v}"))),
        None => Err(corrupt("empty value".into())),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraRow {
    pub id: CameraId,
}

/// One continuous camera session with unchanged codec parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRow {
    pub camera: CameraId,
    pub start_utc: i64,
    pub codec: String,
    pub width: u16,
    pub height: u16,
    /// `ftyp` + `moov` for this run, stored once: playback and export build on it.
    pub init_segment: Vec<u8>,
    /// Camera clock minus server clock, when measured (RTCP SR or ONVIF).
    pub clock_offset_us: Option<i64>,
}

/// One segment file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRow {
    pub id: u64,
    pub run: u64,
    /// Path relative to the store's root.
    pub file: String,
    pub start_utc: i64,
    /// End of the last committed fragment.
    pub end_utc: i64,
    /// Bytes of the file that the index vouches for (init segment + committed fragments).
    pub size: u64,
    pub fragments: u32,
    pub frames: u64,
    /// Set when the segment is closed; the SHA-256 of the whole file.
    pub sha256: Option<[u8; 32]>,
}

impl SegmentRow {
    pub fn closed(&self) -> bool {
        self.sha256.is_some()
    }
}

/// One fragment (one GOP or at most the configured fragment duration).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FragmentRow {
    /// Start UTC of the segment that holds it (the segment row's key).
    pub segment_start: i64,
    pub run: u64,
    pub offset: u64,
    pub len: u32,
    pub end_utc: i64,
    /// Decode time of the first sample within the run, 90 kHz.
    pub base_decode_90k: u64,
    pub duration_90k: u32,
    pub frames: u32,
    /// Whether the first sample is a keyframe (playback may start here) and whether the
    /// `trun` carries composition offsets (B-frames; it fixes the header's length).
    pub flags: FragmentFlags,
}

impl FragmentRow {
    /// Whether the first sample is a keyframe (playback may start here).
    pub fn starts_with_key(&self) -> bool {
        self.flags.starts_with_key()
    }

    /// Length of the fragment's header (everything before its sample data).
    pub fn header_len(&self) -> u64 {
        crate::fmp4::fragment_header_len(self.frames, self.flags.composition_offsets())
    }
}

/// A fragment's flags in one byte. Stored where a `bool starts_with_key` was: postcard writes
/// a bool as the byte 0 or 1 and a `u8` as itself, so rows written before composition offsets
/// existed read unchanged (no schema step over millions of fragment rows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FragmentFlags(u8);

impl FragmentFlags {
    const KEY: u8 = 1;
    const COMPOSITION_OFFSETS: u8 = 2;

    pub fn new(starts_with_key: bool, composition_offsets: bool) -> Self {
        FragmentFlags(
            if starts_with_key { Self::KEY } else { 0 }
                | if composition_offsets {
                    Self::COMPOSITION_OFFSETS
                } else {
                    0
                },
        )
    }

    pub fn starts_with_key(self) -> bool {
        self.0 & Self::KEY != 0
    }

    /// The fragment's `trun` has (signed) composition time offsets: the stream has B-frames.
    pub fn composition_offsets(self) -> bool {
        self.0 & Self::COMPOSITION_OFFSETS != 0
    }
}

/// Bytes per fragment in a layout row: start, end, offset, len, base decode time, duration,
/// frames, flags; fixed width so decoding is a bounds check and a few loads per fragment.
const LAYOUT_ENTRY: usize = 8 + 8 + 8 + 4 + 8 + 4 + 4 + 1;

/// Packs a sealed segment's fragment rows (start UTC, row) into one [`cf::LAYOUTS`] value:
/// the row version, a little-endian count, then fixed-width entries. The segment start and
/// run are the same for every fragment and come from the segment row.
pub fn encode_layout(frags: &[(i64, FragmentRow)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + LAYOUT_ENTRY * frags.len());
    out.push(ROW_VERSION);
    out.extend_from_slice(&(frags.len() as u32).to_le_bytes());
    for (t, r) in frags {
        out.extend_from_slice(&t.to_le_bytes());
        out.extend_from_slice(&r.end_utc.to_le_bytes());
        out.extend_from_slice(&r.offset.to_le_bytes());
        out.extend_from_slice(&r.len.to_le_bytes());
        out.extend_from_slice(&r.base_decode_90k.to_le_bytes());
        out.extend_from_slice(&r.duration_90k.to_le_bytes());
        out.extend_from_slice(&r.frames.to_le_bytes());
        out.push(r.flags.0);
    }
    out
}

/// Unpacks an [`encode_layout`] value, calling `each` per fragment in order.
pub fn decode_layout(
    key: &[u8],
    value: &[u8],
    segment_start: i64,
    run: u64,
    mut each: impl FnMut(i64, FragmentRow),
) -> Result<(), Error> {
    let corrupt = |why: String| Error::Corrupt {
        cf: cf::LAYOUTS,
        key: hex::encode(key),
        why,
    };
    let body = match value.split_first() {
        Some((&ROW_VERSION, body)) => body,
        Some((v, _)) => return Err(corrupt(format!("unknown row version {v}"))),
        None => return Err(corrupt("empty value".into())),
    };
    let (count, entries) = body
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt("no fragment count".into()))?;
    let count = u32::from_le_bytes(*count) as usize;
    if entries.len() != count.saturating_mul(LAYOUT_ENTRY) {
        return Err(corrupt(format!(
            "{} bytes for {count} fragments",
            entries.len()
        )));
    }
    for e in entries.chunks_exact(LAYOUT_ENTRY) {
        let (start, e) = take::<8>(e);
        let (end_utc, e) = take::<8>(e);
        let (offset, e) = take::<8>(e);
        let (len, e) = take::<4>(e);
        let (base, e) = take::<8>(e);
        let (duration, e) = take::<4>(e);
        let (frames, e) = take::<4>(e);
        each(
            i64::from_le_bytes(start),
            FragmentRow {
                segment_start,
                run,
                offset: u64::from_le_bytes(offset),
                len: u32::from_le_bytes(len),
                end_utc: i64::from_le_bytes(end_utc),
                base_decode_90k: u64::from_le_bytes(base),
                duration_90k: u32::from_le_bytes(duration),
                frames: u32::from_le_bytes(frames),
                flags: FragmentFlags(e.first().copied().unwrap_or(0)),
            },
        );
    }
    Ok(())
}

/// The first `N` bytes of `b` and the rest (zeros past the end: callers check lengths first).
fn take<const N: usize>(b: &[u8]) -> ([u8; N], &[u8]) {
    match b.split_first_chunk::<N>() {
        Some((h, t)) => (*h, t),
        None => ([0; N], &[]),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRow {
    pub camera: CameraId,
    pub start_utc: i64,
    pub end_utc: i64,
    pub reason: String,
    pub created_utc: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionRow {
    pub camera: CameraId,
    pub segment_start: i64,
    pub segment_end: i64,
    pub bytes: u64,
    pub reason: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_in_time_order() {
        let times = [i64::MIN, -1, 0, 1, 1_700_000_000_000_000, i64::MAX];
        for w in times.windows(2) {
            assert!(camera_time_key(3, w[0]) < camera_time_key(3, w[1]));
            assert_eq!(
                parse_camera_time_key(&camera_time_key(3, w[0])),
                Some((3, w[0]))
            );
        }
        assert!(camera_time_key(3, i64::MAX) < camera_time_key(4, i64::MIN));
    }

    #[test]
    fn corrupt_rows_are_errors() {
        let row = HoldRow {
            camera: 1,
            start_utc: 2,
            end_utc: 3,
            reason: "case 42".into(),
            created_utc: 4,
        };
        let v = encode(&row);
        assert_eq!(decode::<HoldRow>(cf::HOLDS, b"k", &v).unwrap(), row);
        assert!(decode::<HoldRow>(cf::HOLDS, b"k", &[]).is_err());
        assert!(decode::<HoldRow>(cf::HOLDS, b"k", &[9, 1, 2]).is_err());
        assert!(decode::<HoldRow>(cf::HOLDS, b"k", &v[..v.len() - 3]).is_err());
    }

    #[test]
    fn layouts_round_trip_and_reject_bad_lengths() {
        let row = |i: u32| FragmentRow {
            segment_start: -5,
            run: 9,
            offset: 1000 + u64::from(i) * 70_000,
            len: 70_000 - i,
            end_utc: i64::from(i) * 1_000_000 + 999_999,
            base_decode_90k: u64::from(i) * 90_000,
            duration_90k: 90_000 + i,
            frames: 30 - i,
            flags: FragmentFlags::new(i.is_multiple_of(2), i.is_multiple_of(3)),
        };
        let frags: Vec<(i64, FragmentRow)> = (0..5)
            .map(|i| (i64::from(i) * 1_000_000 - 5, row(i)))
            .collect();
        let v = encode_layout(&frags);
        let mut back = Vec::new();
        decode_layout(b"k", &v, -5, 9, |t, r| back.push((t, r))).unwrap();
        assert_eq!(back, frags);
        let mut n = 0;
        decode_layout(b"k", &encode_layout(&[]), 0, 0, |_, _| n += 1).unwrap();
        assert_eq!(n, 0);
        for bad in [&v[..v.len() - 1], &v[..3], &[][..], &[7, 0, 0, 0, 0][..]] {
            assert!(decode_layout(b"k", bad, -5, 9, |_, _| ()).is_err());
        }
        let mut longer = v.clone();
        longer.push(0);
        assert!(decode_layout(b"k", &longer, -5, 9, |_, _| ()).is_err());
    }
}
