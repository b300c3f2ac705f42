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
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod submitted;
mod verify;

pub use submitted::{DerivedFile, ExtractedEntry, SubmissionSpec, SubmittedFile, SubmittedItem};
pub use verify::{VerifyReport, parse_public_key, verify_package};

use crate::index::CameraId;
use crate::vmp4::{Reader, VirtualMp4};
use crate::{AuditFilter, Error, Result, Store};

/// The manifest format; bump on any incompatible change. (2: submitted files.)
pub const MANIFEST_FORMAT: &str = "vms-evidence-export/2";
/// Earlier formats `vms verify` still reads.
pub const MANIFEST_FORMATS_READ: [&str; 2] = ["vms-evidence-export/1", MANIFEST_FORMAT];

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
    /// Submitted files accepted into the case.
    pub submissions: Vec<SubmissionSpec>,
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
    /// Files people submitted for the case (format 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub submissions: Vec<SubmittedItem>,
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
    /// What the event says, for the submitted files' events (which upload, which hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
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
    if spec.items.is_empty() && spec.submissions.is_empty() {
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
    progress.bytes_total.store(
        mp4s.iter().map(|v| v.len()).sum::<u64>() + submitted::bytes(&spec.submissions),
        Ordering::Relaxed,
    );

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

    let mut submissions = Vec::with_capacity(spec.submissions.len());
    for sub in &spec.submissions {
        let item = submitted::write(store, sub, dir, progress)?;
        bytes += item.master.size + item.working_copy.as_ref().map_or(0, |w| w.size);
        submissions.push(item);
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
        submissions,
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
                    case_number,
                    reason,
                    ..custody_event(&ev)
                });
            }
        }
    }
    // The submitted files' own trail: links, statements, receipt, copies, reviews, views.
    if !spec.submissions.is_empty() {
        let events = store.audit_search(&AuditFilter {
            case_number: Some(spec.case_number.clone()),
            limit: 100_000,
            ..Default::default()
        })?;
        for ev in events {
            let e = &ev.event;
            if e.action.starts_with("submission.") {
                out.push(CustodyEvent {
                    detail: Some(e.detail.clone()).filter(|d| !d.is_empty()),
                    ..custody_event(&ev)
                });
            }
        }
    }
    out.sort_by_key(|e| e.seq);
    out.dedup_by_key(|e| e.seq);
    Ok(out)
}

/// An audit event as the chain of custody lists it (case, reason and detail as they are;
/// callers withhold what is not theirs to show).
fn custody_event(ev: &crate::AuditEvent) -> CustodyEvent {
    let e = &ev.event;
    CustodyEvent {
        seq: ev.seq,
        hash: hex::encode(ev.hash),
        at_us: ev.at_us,
        actor: e.actor.clone(),
        action: e.action.clone(),
        outcome: e.outcome.clone(),
        camera: e.camera,
        range: e.range,
        case_number: e.case_number.clone(),
        reason: e.reason.clone(),
        request: e.request,
        detail: None,
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}
