//! Offline verification of an export package: the signature over the manifest, every file's
//! size and SHA-256, and each master's sample table and fragment data against the manifest.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use super::{Item, MANIFEST_FORMATS_READ, Manifest, SignatureFile};
use crate::mp4read::{parse_moov, top_level_boxes};

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
    pub(super) fn pass(&mut self, s: String) {
        self.lines.push(format!("ok    {s}"));
    }
    pub(super) fn fail(&mut self, s: String) {
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
    if !MANIFEST_FORMATS_READ.contains(&manifest.format.as_str()) {
        r.fail(format!("unknown manifest format {:?}", manifest.format));
    }
    r.pass(format!(
        "export {} · case {} · exported by {} · {} camera item(s), {} submitted file(s)",
        manifest.export_id,
        manifest.case_number,
        manifest.exporter,
        manifest.items.len(),
        manifest.submissions.len()
    ));
    for item in &manifest.items {
        check_item(dir, item, &mut r);
    }
    for item in &manifest.submissions {
        super::submitted::check(dir, item, &mut r);
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
