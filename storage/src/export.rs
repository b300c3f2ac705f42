//! Evidence export packages, and their offline verification.
//!
//! A package is a directory a court or a defence expert can check without this system:
//! ```text
//! camera-<id>.mp4   the master per camera: the recorded samples, bit-exact (no transcoding),
//!                   as a standard progressive MP4 (the same bytes playback serves)
//! manifest.json     what, why, who, when; every file's size, codec and SHA-256; a table that
//!                   gives the UTC time and SHA-256 of every fragment (so of every frame);
//!                   the chain-of-custody events
//! signature.json    Ed25519 over the exact bytes of manifest.json, with the agency public key
//! ```
//! UTC per frame: the manifest's `fragments` table maps each fragment's first frame to its
//! capture UTC and media time; frames within a fragment follow at their MP4 durations. (Not
//! `prft` boxes: the master is progressive so that every player honours its edit list.)
//!
//! Before anything is written, every sealed segment the export reads from is hashed again and
//! compared with the SHA-256 recorded when it was sealed: a mismatch stops the export
//! ([`Error::Fixity`]) — silently corrupted evidence is never exported.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::index::CameraId;
use crate::mp4read::{parse_moov, top_level_boxes};
use crate::vmp4::{Reader, VirtualMp4};
use crate::{AuditFilter, Error, Result, Store};

/// The manifest format; bump on any incompatible change.
pub const MANIFEST_FORMAT: &str = "vms-evidence-export/1";

/// One camera to export.
#[derive(Clone, Debug)]
pub struct ExportItemSpec {
    pub camera: CameraId,
    pub camera_name: String,
    pub partner_pseudonym: String,
    /// Privacy masks defined on the camera (none are applied yet: masks need transcoding).
    pub masks_defined: usize,
    /// The authority covers exactly the range (a partner-approved request): nothing captured
    /// before the start may leave, so the file starts at the first keyframe in the range
    /// instead of the one before it (issue 22 F17).
    pub within_range: bool,
}

/// What to export and on what authority. The caller (the web layer) has already authorized it.
#[derive(Clone, Debug)]
pub struct ExportSpec {
    pub id: u64,
    pub items: Vec<ExportItemSpec>,
    pub start_us: i64,
    pub end_us: i64,
    pub case_number: String,
    pub request_id: Option<u64>,
    /// e.g. "partner-approved request 12", "exigent access granted by …", "camera shared live".
    pub legal_basis: String,
    pub purpose: String,
    pub exporter: String,
    pub approver: Option<String>,
    pub tool_name: String,
    pub tool_version: String,
}

/// Progress of a running export, readable while it runs.
#[derive(Debug, Default)]
pub struct Progress {
    pub bytes_total: AtomicU64,
    pub bytes_done: AtomicU64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub export_id: u64,
    pub case_number: String,
    pub request_id: Option<u64>,
    pub legal_basis: String,
    pub purpose: String,
    pub exporter: String,
    pub approver: Option<String>,
    pub exported_at_us: i64,
    pub tool: Tool,
    /// Hex Ed25519 public key that signs this manifest (also in `signature.json`).
    pub agency_public_key: String,
    pub masks_applied: bool,
    pub items: Vec<Item>,
    pub chain_of_custody: Vec<CustodyEvent>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub camera_id: CameraId,
    pub camera_name: String,
    pub partner_pseudonym: String,
    /// The camera's configured time zone; times here are UTC either way.
    pub camera_time_zone: Option<String>,
    /// Camera clock minus recorder clock when measured (RTCP/ONVIF), per run.
    pub clock_offsets_us: Vec<Option<i64>>,
    pub masks_defined: usize,
    pub requested_start_us: i64,
    pub requested_end_us: i64,
    /// What the file presents (its edit list): from the requested start, or the first
    /// recording after it, to the requested end or the last recording before it.
    pub actual_start_us: i64,
    pub actual_end_us: i64,
    /// UTC of the first sample: the keyframe decoding starts at, up to a GOP before
    /// `actual_start_us`; the edit list hides that lead-in.
    pub first_sample_us: i64,
    pub lead_in_90k: u64,
    pub duration_90k: u64,
    pub file: FileEntry,
    pub fragments: Vec<FragmentEntry>,
    pub source_segments: Vec<SourceSegment>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub codecs: Vec<String>,
    pub frames: u64,
}

/// One fragment (MP4 chunk) of the master: its capture UTC, where its frames are, and the
/// SHA-256 of its sample data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FragmentEntry {
    pub utc_us: i64,
    pub media_time_90k: u64,
    pub first_frame: u64,
    pub frames: u32,
    pub keyframe: bool,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSegment {
    pub file: String,
    /// SHA-256 recorded when the segment was sealed; `None` while it is still being recorded.
    pub sha256: Option<String>,
    /// Whether the file was hashed again at export time and matched.
    pub verified: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustodyEvent {
    /// Sequence number and hash in the system's hash-chained audit log.
    pub seq: u64,
    pub hash: String,
    pub at_us: i64,
    pub actor: String,
    pub action: String,
    pub outcome: String,
    pub camera: Option<CameraId>,
    pub range: Option<(i64, i64)>,
    pub case_number: Option<String>,
    pub reason: Option<String>,
    pub request: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    pub algorithm: String,
    pub public_key: String,
    pub signature: String,
}

/// What [`write_package`] produced.
#[derive(Clone, Debug)]
pub struct PackageSummary {
    pub dir: PathBuf,
    pub manifest_sha256: [u8; 32],
    pub bytes: u64,
    pub holds: Vec<u64>,
}

/// Loads the agency signing key (64 hex characters), creating it (mode 0600) if it does not
/// exist.
pub fn load_or_create_signing_key(path: &Path) -> Result<SigningKey> {
    let key = crate::sealed::load_or_create_key(path, "agency export signing key")?;
    Ok(SigningKey::from_bytes(&key))
}

/// Builds one export package in `dir` (created; must not exist). Re-verifies source segments,
/// places a legal hold on each exported range first, writes the masters, the manifest and the
/// signature. Blocking: run on a blocking pool.
pub fn write_package(
    store: &Store,
    spec: &ExportSpec,
    key: &SigningKey,
    dir: &Path,
    progress: &Progress,
) -> Result<PackageSummary> {
    if spec.items.is_empty() {
        return Err(Error::Invalid("nothing to export".into()));
    }
    let mut mp4s = Vec::with_capacity(spec.items.len());
    for item in &spec.items {
        let v = if item.within_range {
            VirtualMp4::build_within(store, item.camera, spec.start_us, spec.end_us)?
        } else {
            VirtualMp4::build(store, item.camera, spec.start_us, spec.end_us)?
        };
        mp4s.push(Arc::new(v));
    }
    // Hold first, so retention cannot delete what is being read.
    let mut holds = Vec::new();
    for (item, v) in spec.items.iter().zip(&mp4s) {
        let reason = format!("export {} case {}", spec.id, spec.case_number);
        holds.push(store.add_hold(item.camera, v.first_sample_utc(), spec.end_us, &reason)?);
    }
    let mut sources = Vec::new();
    for (item, v) in spec.items.iter().zip(&mp4s) {
        sources.push(verify_sources(store, item.camera, v)?);
    }
    progress
        .bytes_total
        .store(mp4s.iter().map(|v| v.len()).sum::<u64>(), Ordering::Relaxed);

    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    std::fs::create_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut items = Vec::with_capacity(mp4s.len());
    let mut bytes = 0;
    for ((item, v), source_segments) in spec.items.iter().zip(&mp4s).zip(sources) {
        let name = format!("camera-{}.mp4", item.camera);
        let (size, sha256, fragments) = write_master(v, &dir.join(&name), progress)?;
        bytes += size;
        let mut runs: Vec<u64> = v.pieces().map(|p| p.run).collect();
        runs.dedup();
        let clock_offsets_us = runs
            .iter()
            .map(|r| store.run(*r).map(|r| r.clock_offset_us))
            .collect::<Result<_>>()?;
        let (actual_start_us, actual_end_us) = v.actual();
        items.push(Item {
            camera_id: item.camera,
            camera_name: item.camera_name.clone(),
            partner_pseudonym: item.partner_pseudonym.clone(),
            camera_time_zone: None,
            clock_offsets_us,
            masks_defined: item.masks_defined,
            requested_start_us: spec.start_us,
            requested_end_us: spec.end_us,
            actual_start_us,
            actual_end_us,
            first_sample_us: v.first_sample_utc(),
            lead_in_90k: v.lead_in_90k(),
            duration_90k: v.duration_90k(),
            file: FileEntry {
                name,
                size,
                sha256: hex::encode(sha256),
                codecs: v.codecs().to_vec(),
                frames: v.frames(),
            },
            fragments,
            source_segments,
        });
    }

    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        export_id: spec.id,
        case_number: spec.case_number.clone(),
        request_id: spec.request_id,
        legal_basis: spec.legal_basis.clone(),
        purpose: spec.purpose.clone(),
        exporter: spec.exporter.clone(),
        approver: spec.approver.clone(),
        exported_at_us: store.clock().now_utc_micros(),
        tool: Tool {
            name: spec.tool_name.clone(),
            version: spec.tool_version.clone(),
        },
        agency_public_key: hex::encode(key.verifying_key().as_bytes()),
        masks_applied: false,
        chain_of_custody: custody(store, spec)?,
        items,
    };
    let body = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::Invalid(format!("manifest: {e}")))?;
    write_synced(&dir.join("manifest.json"), &body)?;
    let sig = SignatureFile {
        algorithm: "Ed25519".into(),
        public_key: manifest.agency_public_key.clone(),
        signature: hex::encode(key.sign(&body).to_bytes()),
    };
    let sig =
        serde_json::to_vec_pretty(&sig).map_err(|e| Error::Invalid(format!("signature: {e}")))?;
    write_synced(&dir.join("signature.json"), &sig)?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))?;
    Ok(PackageSummary {
        dir: dir.to_path_buf(),
        manifest_sha256: Sha256::digest(&body).into(),
        bytes,
        holds,
    })
}

/// Hashes every sealed segment the file reads from again and compares with the SHA-256
/// recorded at sealing.
fn verify_sources(store: &Store, camera: CameraId, v: &VirtualMp4) -> Result<Vec<SourceSegment>> {
    let (_, end) = v.requested();
    let segs = store.segments(camera, v.first_sample_utc(), end)?;
    let mut out = Vec::new();
    for file in v.segment_files() {
        let Some((_, row)) = segs.iter().find(|(_, r)| &r.file == file) else {
            return Err(Error::NotFound(format!("segment row for {file}")));
        };
        let Some(want) = row.sha256 else {
            out.push(SourceSegment {
                file: file.clone(),
                sha256: None,
                verified: false,
            });
            continue;
        };
        let got = store.db.segments.hash(file, row.size)?;
        if got != want {
            return Err(Error::Fixity {
                file: file.clone(),
                expected: hex::encode(want),
                found: hex::encode(got),
            });
        }
        out.push(SourceSegment {
            file: file.clone(),
            sha256: Some(hex::encode(want)),
            verified: true,
        });
    }
    Ok(out)
}

/// Writes the master MP4 (via a `.partial` file, synced, then renamed), hashing the whole file
/// and each fragment's sample data in the same pass.
fn write_master(
    v: &Arc<VirtualMp4>,
    path: &Path,
    progress: &Progress,
) -> Result<(u64, [u8; 32], Vec<FragmentEntry>)> {
    const CHUNK: u64 = 1 << 20;
    let partial = path.with_extension("mp4.partial");
    let file = File::create(&partial).map_err(|e| Error::io(&partial, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut whole = Sha256::new();
    let mut reader = Reader::new(Arc::clone(v));
    let mut buf = Vec::with_capacity(CHUNK as usize);
    let mut copy = |range: std::ops::Range<u64>, piece: Option<&mut Sha256>| -> Result<()> {
        let mut piece = piece;
        let mut pos = range.start;
        while pos < range.end {
            let to = (pos + CHUNK).min(range.end);
            buf.clear();
            reader.read(pos..to, &mut buf)?;
            whole.update(&buf);
            if let Some(h) = piece.as_deref_mut() {
                h.update(&buf);
            }
            w.write_all(&buf).map_err(|e| Error::io(&partial, e))?;
            progress.bytes_done.fetch_add(to - pos, Ordering::Relaxed);
            pos = to;
        }
        Ok(())
    };
    let pieces: Vec<_> = v.pieces().collect();
    let mut pos = 0;
    let mut fragments = Vec::with_capacity(pieces.len());
    for p in &pieces {
        copy(pos..p.data.start, None)?;
        let mut h = Sha256::new();
        copy(p.data.clone(), Some(&mut h))?;
        pos = p.data.end;
        fragments.push(FragmentEntry {
            utc_us: p.start_utc,
            media_time_90k: p.media_time_90k,
            first_frame: p.first_frame,
            frames: p.frames,
            keyframe: p.starts_with_key,
            sha256: hex::encode(h.finalize()),
        });
    }
    copy(pos..v.len(), None)?;
    let file = w
        .into_inner()
        .map_err(|e| Error::io(&partial, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(&partial, e))?;
    std::fs::rename(&partial, path).map_err(|e| Error::io(path, e))?;
    Ok((v.len(), whole.finalize().into(), fragments))
}

/// Audit events about the exported cameras and range (and the request), oldest first.
fn custody(store: &Store, spec: &ExportSpec) -> Result<Vec<CustodyEvent>> {
    let mut out = Vec::new();
    for item in &spec.items {
        let events = store.audit_search(&AuditFilter {
            camera: Some(item.camera),
            limit: 100_000,
            ..Default::default()
        })?;
        for ev in events {
            let e = &ev.event;
            let overlaps = e
                .range
                .is_some_and(|(a, b)| a < spec.end_us && spec.start_us < b);
            let same_request = spec.request_id.is_some() && e.request == spec.request_id;
            // Every access to this footage belongs in its chain of custody (who, when, what),
            // but another case's number and reasoning are that case's: they are withheld, the
            // event's sequence number and hash still pin it in the audit log (issue 22 F16).
            let this_case = same_request
                || e.case_number
                    .as_deref()
                    .is_some_and(|c| c.trim() == spec.case_number.trim());
            if overlaps || same_request {
                let (case_number, reason) = if this_case {
                    (e.case_number.clone(), e.reason.clone())
                } else {
                    (None, None)
                };
                out.push(CustodyEvent {
                    seq: ev.seq,
                    hash: hex::encode(ev.hash),
                    at_us: ev.at_us,
                    actor: e.actor.clone(),
                    action: e.action.clone(),
                    outcome: e.outcome.clone(),
                    camera: e.camera,
                    range: e.range,
                    case_number,
                    reason,
                    request: e.request,
                });
            }
        }
    }
    out.sort_by_key(|e| e.seq);
    out.dedup_by_key(|e| e.seq);
    Ok(out)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

/// The outcome of [`verify_package`]: one line per check, and whether all passed.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub lines: Vec<String>,
    pub failures: usize,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.failures == 0 && !self.lines.is_empty()
    }
    fn pass(&mut self, s: String) {
        self.lines.push(format!("ok    {s}"));
    }
    fn fail(&mut self, s: String) {
        self.failures += 1;
        self.lines.push(format!("FAIL  {s}"));
    }
}

/// Verifies a package offline: the signature over the manifest (against `trusted_key` if
/// given, else the key shipped in the package, which the report prints for comparison with
/// the agency's published key), every file's size and SHA-256, and that each master's sample
/// table and fragment data match the manifest. Never panics on a damaged package; every
/// problem becomes a `FAIL` line.
pub fn verify_package(dir: &Path, trusted_key: Option<&[u8; 32]>) -> VerifyReport {
    let mut r = VerifyReport::default();
    let manifest_bytes = match std::fs::read(dir.join("manifest.json")) {
        Ok(b) => b,
        Err(e) => {
            r.fail(format!("manifest.json: {e}"));
            return r;
        }
    };
    match check_signature(dir, &manifest_bytes, trusted_key) {
        Ok(line) => r.pass(line),
        Err(e) => r.fail(e),
    }
    let manifest: Manifest = match serde_json::from_slice(&manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            r.fail(format!("manifest.json does not parse: {e}"));
            return r;
        }
    };
    if manifest.format != MANIFEST_FORMAT {
        r.fail(format!("unknown manifest format {:?}", manifest.format));
    }
    r.pass(format!(
        "export {} · case {} · exported by {} · {} item(s)",
        manifest.export_id,
        manifest.case_number,
        manifest.exporter,
        manifest.items.len()
    ));
    for item in &manifest.items {
        check_item(dir, item, &mut r);
    }
    r
}

fn check_signature(
    dir: &Path,
    manifest: &[u8],
    trusted: Option<&[u8; 32]>,
) -> std::result::Result<String, String> {
    let raw =
        std::fs::read(dir.join("signature.json")).map_err(|e| format!("signature.json: {e}"))?;
    let sig: SignatureFile =
        serde_json::from_slice(&raw).map_err(|e| format!("signature.json: {e}"))?;
    if sig.algorithm != "Ed25519" {
        return Err(format!(
            "unsupported signature algorithm {:?}",
            sig.algorithm
        ));
    }
    let key: [u8; 32] = hex::decode(&sig.public_key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or("signature.json: public key is not 32 hex bytes")?;
    if trusted.is_some_and(|t| *t != key) {
        return Err("package is signed by a different key than the trusted agency key".into());
    }
    let sig_bytes: [u8; 64] = hex::decode(&sig.signature)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or("signature.json: signature is not 64 hex bytes")?;
    let vk = VerifyingKey::from_bytes(&key).map_err(|e| format!("public key: {e}"))?;
    vk.verify_strict(manifest, &Signature::from_bytes(&sig_bytes))
        .map_err(|_| "signature does not match manifest.json (manifest or signature altered)")?;
    let fingerprint = hex::encode(&Sha256::digest(key)[..8]);
    Ok(format!(
        "Ed25519 signature over manifest.json (key {}, fingerprint {fingerprint}{})",
        sig.public_key,
        if trusted.is_some() { ", trusted" } else { "" }
    ))
}

fn check_item(dir: &Path, item: &Item, r: &mut VerifyReport) {
    let f = &item.file;
    if f.name.contains('/') || f.name.contains("..") {
        r.fail(format!("{}: file name outside the package", f.name));
        return;
    }
    let path = dir.join(&f.name);
    let (size, sha, movie, file) = match read_master(&path) {
        Ok(x) => x,
        Err(e) => {
            r.fail(format!("{}: {e}", f.name));
            return;
        }
    };
    if size != f.size {
        r.fail(format!(
            "{}: {size} bytes, manifest says {}",
            f.name, f.size
        ));
    }
    if sha == f.sha256 {
        r.pass(format!("{}: {} bytes, SHA-256 {sha}", f.name, f.size));
    } else {
        r.fail(format!(
            "{}: SHA-256 {sha}, manifest says {}",
            f.name, f.sha256
        ));
    }
    let movie = match movie {
        Ok(m) => m,
        Err(e) => {
            r.fail(format!("{}: not a readable MP4: {e}", f.name));
            return;
        }
    };
    if movie.samples.len() as u64 != f.frames {
        r.fail(format!(
            "{}: {} frames, manifest says {}",
            f.name,
            movie.samples.len(),
            f.frames
        ));
    }
    if movie.edit != Some((item.duration_90k, item.lead_in_90k as i64)) {
        r.fail(format!(
            "{}: edit list {:?} differs from the manifest's range",
            f.name, movie.edit
        ));
    }
    // Every fragment: its frames (one chunk), media time, keyframe flag and sample data.
    use std::os::unix::fs::FileExt;
    let mut bad = 0usize;
    let mut media = 0u64;
    let mut next = 0usize;
    for (i, frag) in item.fragments.iter().enumerate() {
        let first = frag.first_frame as usize;
        let ok = match movie.samples.get(first..first + frag.frames as usize) {
            Some(s) if first == next && !s.is_empty() => {
                let chunk_ok = s.iter().all(|x| x.chunk == s[0].chunk);
                let start = s[0].offset;
                let len: u64 = s.iter().map(|x| u64::from(x.size)).sum();
                let mut data = vec![0; len as usize];
                let data_ok = file.read_exact_at(&mut data, start).is_ok()
                    && hex::encode(Sha256::digest(&data)) == frag.sha256;
                let key_ok = s[0].sync == frag.keyframe;
                let time_ok = media == frag.media_time_90k;
                media += s.iter().map(|x| u64::from(x.duration)).sum::<u64>();
                next = first + s.len();
                chunk_ok && data_ok && key_ok && time_ok
            }
            _ => false,
        };
        if !ok {
            bad += 1;
            if bad <= 5 {
                r.fail(format!(
                    "{}: fragment {i} (UTC {} µs, frames {}..{}) does not match the manifest",
                    f.name,
                    frag.utc_us,
                    frag.first_frame,
                    frag.first_frame + u64::from(frag.frames)
                ));
            }
        }
    }
    if next != movie.samples.len() {
        bad += 1;
        r.fail(format!(
            "{}: the manifest's fragments cover {next} of {} frames",
            f.name,
            movie.samples.len()
        ));
    }
    if bad == 0 {
        r.pass(format!(
            "{}: {} frames in {} fragments match the manifest (UTC {} µs to {} µs)",
            f.name,
            movie.samples.len(),
            item.fragments.len(),
            item.actual_start_us,
            item.actual_end_us
        ));
    }
}

/// Size, SHA-256 (streamed) and parsed `moov` of a master, and the open file.
type Master = (
    u64,
    String,
    std::result::Result<crate::mp4read::Movie, String>,
    File,
);

fn read_master(path: &Path) -> std::io::Result<Master> {
    use std::io::{Seek, SeekFrom};
    let mut file = File::open(path)?;
    let mut h = Sha256::new();
    let size = std::io::copy(&mut file, &mut h)?;
    let movie = top_level_boxes(&mut file)
        .map_err(|e| e.to_string())
        .and_then(|boxes| {
            let m = boxes
                .iter()
                .find(|b| &b.kind == b"moov")
                .ok_or("no moov box")?;
            if m.size > 1 << 30 {
                return Err("moov box larger than 1 GiB".to_owned());
            }
            let mut moov = vec![0; m.size as usize];
            file.seek(SeekFrom::Start(m.offset))
                .and_then(|_| file.read_exact(&mut moov))
                .map_err(|e| e.to_string())?;
            parse_moov(&moov).map_err(|e| e.to_string())
        });
    Ok((size, hex::encode(h.finalize()), movie, file))
}

/// Reads a 32-byte public key given as 64 hex digits (for `vms verify --key`).
pub fn parse_public_key(hex_key: &str) -> Option<[u8; 32]> {
    hex::decode(hex_key.trim()).ok()?.try_into().ok()
}
