//! Submitted files in an export package: each accepted file's original, bit-exact as received
//! (`submission-<id>[.ext]`), and its derived working copy if it has one
//! (`submission-<id>-working-copy.mp4`, labelled derived), with the intake record, the
//! submitter's statement (declared clock offset included) and the review in the manifest.
//!
//! Each original is hashed again while it is copied and compared with the SHA-256 recorded at
//! intake, and each working copy with the hash recorded when it was made: a mismatch stops the
//! export ([`Error::Fixity`]).

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Progress, VerifyReport};
use crate::intake::{LinkRow, Review, Statement, UploadRow};
use crate::{Error, Result, Store};

/// One submitted file to export, with the link it came through. The caller has checked that
/// it belongs to the case and was accepted.
#[derive(Clone, Debug)]
pub struct SubmissionSpec {
    pub upload: UploadRow,
    pub link: LinkRow,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmittedItem {
    pub upload_id: u64,
    pub link_id: u64,
    pub request_id: Option<u64>,
    /// Who the link was sent to, in the investigator's words.
    pub recipient: String,
    /// The submitted file name (sanitised metadata; the package names the file by id).
    pub submitted_filename: String,
    pub declared_type: String,
    pub received_us: i64,
    pub from_address: String,
    pub user_agent: String,
    /// The camera's clock minus true time as the submitter declared it, seconds.
    pub declared_clock_offset_secs: Option<i64>,
    pub statement: Option<Statement>,
    /// What the file is by its content (FFmpeg's reading).
    pub identified: Option<String>,
    pub review: Option<Review>,
    /// SHA-256 recorded at intake, over exactly the bytes received.
    pub intake_sha256: String,
    pub master: SubmittedFile,
    pub working_copy: Option<DerivedFile>,
    /// For a ZIP archive: the entries extracted from it at intake, with their hashes (the
    /// archive is the master; `vms verify` reads each entry from it again and compares).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub archive_entries: Vec<ExtractedEntry>,
}

/// One entry extracted from a submitted archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractedEntry {
    pub index: u32,
    /// Its name in the archive (metadata).
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// The original as received: the evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmittedFile {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// A copy derived from the master for viewing: not the evidence itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DerivedFile {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub derived_from_sha256: String,
    pub tool: String,
    pub made_us: i64,
}

/// Bytes the submitted files add to the package.
pub(super) fn bytes(subs: &[SubmissionSpec]) -> u64 {
    subs.iter()
        .map(|s| s.upload.length + s.upload.working_copy.as_ref().map_or(0, |w| w.length))
        .sum()
}

/// Copies one submitted file (and its working copy) into `dir`, checking both against their
/// recorded hashes.
pub(super) fn write(
    store: &Store,
    sub: &SubmissionSpec,
    dir: &Path,
    progress: &Progress,
) -> Result<SubmittedItem> {
    let up = &sub.upload;
    let (Some(received), Some(src)) = (&up.received, store.original_path(up)) else {
        return Err(Error::Invalid(format!(
            "submitted file {} has no original",
            up.id
        )));
    };
    let intake = hex::encode(received.sha256);
    let name = format!("submission-{}{}", up.id, extension(&up.declared.filename));
    let (size, sha) = copy_checked(&src, &dir.join(&name), &intake, progress)?;
    let working_copy = match (&up.working_copy, store.working_copy_path(up)) {
        (Some(w), Some(path)) => {
            let wname = format!("submission-{}-working-copy.mp4", up.id);
            let want = hex::encode(w.sha256);
            let (size, sha256) = copy_checked(&path, &dir.join(&wname), &want, progress)?;
            Some(DerivedFile {
                name: wname,
                size,
                sha256,
                derived_from_sha256: intake.clone(),
                tool: w.tool.clone(),
                made_us: w.made_us,
            })
        }
        _ => None,
    };
    Ok(SubmittedItem {
        upload_id: up.id,
        link_id: sub.link.id,
        request_id: sub.link.request_id,
        recipient: sub.link.recipient.clone(),
        submitted_filename: up.declared.filename.clone(),
        declared_type: up.declared.filetype.clone(),
        received_us: received.received_us,
        from_address: up.declared.remote_addr.clone(),
        user_agent: up.declared.user_agent.clone(),
        declared_clock_offset_secs: sub
            .link
            .statement
            .as_ref()
            .and_then(|s| s.clock_offset_secs),
        statement: sub.link.statement.clone(),
        identified: up.identified.as_ref().map(|i| i.summary.clone()),
        review: up.review.clone(),
        intake_sha256: intake,
        master: SubmittedFile {
            name,
            size,
            sha256: sha,
        },
        working_copy,
        archive_entries: up
            .archive
            .iter()
            .flat_map(|a| a.entries.iter())
            .filter_map(|e| {
                e.sha256.map(|h| ExtractedEntry {
                    index: e.entry.index,
                    name: e.entry.name.clone(),
                    size: e.entry.size,
                    sha256: hex::encode(h),
                })
            })
            .collect(),
    })
}

/// Extensions a package file may keep from its submitted name: media and archive types only.
const MEDIA_EXTENSIONS: [&str; 26] = [
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "ts", "mts", "m2ts", "ps", "mpg", "mpeg", "dav",
    "h264", "264", "h265", "265", "hevc", "3gp", "asf", "wmv", "flv", "jpg", "jpeg", "png", "zip",
];

/// `.ext` of a submitted name when it is a known media extension, for the convenience of
/// whoever opens the package (the content decides what the file is, not this).
fn extension(filename: &str) -> String {
    match filename.rsplit_once('.') {
        Some((stem, ext))
            if !stem.is_empty()
                && MEDIA_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()) =>
        {
            format!(".{}", ext.to_ascii_lowercase())
        }
        _ => String::new(),
    }
}

/// Copies `src` to `dest` (via a `.partial` file, synced, then renamed), hashing the bytes as
/// they are read; refuses the copy if they are not what `want_sha256` says.
fn copy_checked(
    src: &Path,
    dest: &Path,
    want_sha256: &str,
    progress: &Progress,
) -> Result<(u64, String)> {
    let mut partial = dest.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let mut input = File::open(src).map_err(|e| Error::io(src, e))?;
    let out = File::create(&partial).map_err(|e| Error::io(&partial, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, out);
    let mut h = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buf).map_err(|e| Error::io(src, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        w.write_all(&buf[..n]).map_err(|e| Error::io(&partial, e))?;
        size += n as u64;
        progress.bytes_done.fetch_add(n as u64, Ordering::Relaxed);
    }
    let found = hex::encode(h.finalize());
    if found != want_sha256 {
        let _ = std::fs::remove_file(&partial);
        return Err(Error::Fixity {
            file: src.display().to_string(),
            expected: want_sha256.to_owned(),
            found,
        });
    }
    let file = w
        .into_inner()
        .map_err(|e| Error::io(&partial, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(&partial, e))?;
    std::fs::rename(&partial, dest).map_err(|e| Error::io(dest, e))?;
    Ok((size, found))
}

/// Verifies one submitted file of a package: the master's size and hash against the manifest
/// and the intake record, and the working copy's against the manifest and its master.
pub(super) fn check(dir: &Path, item: &SubmittedItem, r: &mut VerifyReport) {
    let m = &item.master;
    match hash_file(dir, &m.name) {
        Err(e) => r.fail(format!("{}: {e}", m.name)),
        Ok((size, sha)) if size == m.size && sha == m.sha256 && sha == item.intake_sha256 => r
            .pass(format!(
                "{}: submitted master (upload {}, received {} µs UTC), bit-exact as received: \
                 {size} bytes, SHA-256 {sha}",
                m.name, item.upload_id, item.received_us
            )),
        Ok((size, sha)) => r.fail(format!(
            "{}: {size} bytes, SHA-256 {sha}; the manifest says {} bytes, SHA-256 {} \
             (recorded at intake: {})",
            m.name, m.size, m.sha256, item.intake_sha256
        )),
    }
    check_entries(dir, item, r);
    let Some(w) = &item.working_copy else {
        return;
    };
    match hash_file(dir, &w.name) {
        Err(e) => r.fail(format!("{}: {e}", w.name)),
        Ok((size, sha))
            if size == w.size && sha == w.sha256 && w.derived_from_sha256 == m.sha256 =>
        {
            r.pass(format!(
                "{}: DERIVED working copy of {} (made by {}), not the evidence itself: \
                 {size} bytes, SHA-256 {sha}",
                w.name, m.name, w.tool
            ))
        }
        Ok((size, sha)) => r.fail(format!(
            "{}: {size} bytes, SHA-256 {sha}; the manifest says {} bytes, SHA-256 {}, derived \
             from {} (the master is {})",
            w.name, w.size, w.sha256, w.derived_from_sha256, m.sha256
        )),
    }
}

/// Each entry the manifest says was extracted from a submitted archive, read from the
/// package's master again and compared.
fn check_entries(dir: &Path, item: &SubmittedItem, r: &mut VerifyReport) {
    if item.archive_entries.is_empty() || hash_file(dir, &item.master.name).is_err() {
        return;
    }
    let path = dir.join(&item.master.name);
    let mut bad = 0;
    for e in &item.archive_entries {
        match vms_media::archive::hash_entry(&path, e.index, e.size) {
            Ok((size, sha)) if size == e.size && hex::encode(sha) == e.sha256 => {}
            Ok((size, sha)) => {
                bad += 1;
                r.fail(format!(
                    "{}: entry {} ({:?}) is {size} bytes, SHA-256 {}; the manifest says {} bytes, \
                     SHA-256 {}",
                    item.master.name,
                    e.index,
                    e.name,
                    hex::encode(sha),
                    e.size,
                    e.sha256
                ));
            }
            Err(err) => {
                bad += 1;
                r.fail(format!("{}: entry {}: {err}", item.master.name, e.index));
            }
        }
    }
    if bad == 0 {
        r.pass(format!(
            "{}: the {} entries extracted at intake read the same from the archive",
            item.master.name,
            item.archive_entries.len()
        ));
    }
}

/// Size and SHA-256 of a package file named in the manifest (never outside the package).
fn hash_file(dir: &Path, name: &str) -> std::result::Result<(u64, String), String> {
    if name.is_empty() || name.contains('/') || name.contains('\\') || name.contains("..") {
        return Err("file name outside the package".into());
    }
    let (sha, size) = crate::intake::sha256_of(&dir.join(name)).map_err(|e| e.to_string())?;
    Ok((size, hex::encode(sha)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn extensions_are_plain_or_absent() {
        for (name, want) in [
            ("porch.MKV", ".mkv"),
            ("export.dav", ".dav"),
            ("noext", ""),
            (".hidden", ""),
            ("a.b c", ""),
            ("a.toolongext", ""),
            ("x.mp4.exe", ""),
            ("clip.svg", ""),
        ] {
            assert_eq!(super::extension(name), want, "{name}");
        }
    }
}
