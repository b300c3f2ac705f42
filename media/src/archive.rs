//! ZIP archives people submit (a DVR's export of several clips, a phone's share): listed and
//! extracted only within bounds, with the `zip` crate doing the reading.
//!
//! Bounds, checked before anything is written: the central directory's size and entry count
//! (read from the end-of-central-directory record first, so the library never allocates for a
//! million entries), the total the entries would expand to, and each entry's compression
//! ratio (a ZIP bomb). An entry is written under a name the caller chooses (its index), never
//! its path in the archive: a name that would leave the directory (`../`, absolute), a folder
//! or a link is listed and skipped. Each extracted entry is hashed as it is written and cut off
//! if it holds more bytes than the archive declares. Nested archives are extracted as files,
//! not opened.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bounds on one archive.
#[derive(Clone, Copy, Debug)]
pub struct ArchiveLimits {
    pub max_entries: u64,
    /// All entries together, uncompressed.
    pub max_total: u64,
    /// Uncompressed to compressed size, per entry.
    pub max_ratio: u64,
    /// The central directory, bytes (what the library reads into memory).
    pub max_directory: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_entries: 1000,
            max_total: 4 << 30,
            max_ratio: 100,
            max_directory: 16 << 20,
        }
    }
}

/// One entry as listed (and, when `extracted`, written).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub index: u32,
    /// Its name in the archive, as metadata only (control characters removed).
    pub name: String,
    pub size: u64,
    pub compressed_size: u64,
    /// Why it was not extracted, if it was not.
    pub skipped: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("not a readable ZIP archive: {0}")]
    Unreadable(String),
    #[error("{0}")]
    OutOfBounds(String),
    #[error("{path}: {e}")]
    Io { path: String, e: std::io::Error },
}

/// Whether `path` starts like a ZIP archive (a local file header, or an empty archive).
pub fn is_zip(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06")
}

/// Lists the archive's entries within `limits`, marking those that will not be extracted.
pub fn list(path: &Path, limits: ArchiveLimits) -> Result<Vec<Entry>, ArchiveError> {
    let (count, directory) = directory_bounds(path)?;
    if count > limits.max_entries {
        return Err(ArchiveError::OutOfBounds(format!(
            "{count} entries; at most {} are taken",
            limits.max_entries
        )));
    }
    if directory > limits.max_directory {
        return Err(ArchiveError::OutOfBounds(format!(
            "a central directory of {directory} bytes; at most {} are read",
            limits.max_directory
        )));
    }
    let mut zip = open(path)?;
    let mut entries = Vec::with_capacity(zip.len());
    let mut total = 0u64;
    for i in 0..zip.len() {
        let f = zip
            .by_index_raw(i)
            .map_err(|e| ArchiveError::Unreadable(e.to_string()))?;
        let name: String = String::from_utf8_lossy(f.name_raw())
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        let (size, compressed) = (f.size(), f.compressed_size());
        let skipped = if f.is_dir() {
            Some("a folder".to_owned())
        } else if f.is_symlink() {
            Some("a link, never followed".to_owned())
        } else if f.enclosed_name().is_none() {
            Some("its name leads outside the archive; not extracted".to_owned())
        } else if f.encrypted() {
            Some("encrypted; ask the submitter for the password or an unencrypted copy".to_owned())
        } else if size > compressed.max(1).saturating_mul(limits.max_ratio) {
            Some(format!(
                "compressed {}:1 (more than {}:1, as a ZIP bomb is); not extracted",
                size / compressed.max(1),
                limits.max_ratio
            ))
        } else {
            None
        };
        if skipped.is_none() {
            total = total.saturating_add(size);
        }
        entries.push(Entry {
            index: u32::try_from(i).unwrap_or(u32::MAX),
            name,
            size,
            compressed_size: compressed,
            skipped,
        });
    }
    if total > limits.max_total {
        return Err(ArchiveError::OutOfBounds(format!(
            "the entries would expand to {total} bytes; at most {} are taken",
            limits.max_total
        )));
    }
    Ok(entries)
}

/// Size and SHA-256 of entry `index` as the archive holds it (at most `declared` bytes are
/// read): how an extraction is checked again later without writing anything.
pub fn hash_entry(path: &Path, index: u32, declared: u64) -> Result<(u64, [u8; 32]), ArchiveError> {
    let mut zip = open(path)?;
    let entry = zip
        .by_index(index as usize)
        .map_err(|e| ArchiveError::Unreadable(e.to_string()))?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut entry.take(declared.saturating_add(1)), &mut h)
        .map_err(|e| ArchiveError::Unreadable(e.to_string()))?;
    if n > declared {
        return Err(ArchiveError::OutOfBounds(format!(
            "entry {index} holds more than the {declared} bytes the archive declares"
        )));
    }
    Ok((n, h.finalize().into()))
}

/// Writes entry `index` to `dest` (replacing it), at most `declared` bytes; returns its size
/// and SHA-256. An entry with more bytes than declared is refused and nothing is left.
pub fn extract(
    path: &Path,
    index: u32,
    declared: u64,
    dest: &Path,
) -> Result<(u64, [u8; 32]), ArchiveError> {
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |e| ArchiveError::Io { path, e }
    };
    let mut zip = open(path)?;
    let entry = zip
        .by_index(index as usize)
        .map_err(|e| ArchiveError::Unreadable(e.to_string()))?;
    let mut out = File::create(dest).map_err(io(dest))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    let mut r = entry.take(declared.saturating_add(1));
    loop {
        let k = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) => {
                drop(out);
                let _ = std::fs::remove_file(dest);
                return Err(ArchiveError::Unreadable(e.to_string()));
            }
        };
        n += k as u64;
        if n > declared {
            drop(out);
            let _ = std::fs::remove_file(dest);
            return Err(ArchiveError::OutOfBounds(format!(
                "entry {index} holds more than the {declared} bytes the archive declares"
            )));
        }
        h.update(&buf[..k]);
        out.write_all(&buf[..k]).map_err(io(dest))?;
    }
    out.sync_all().map_err(io(dest))?;
    Ok((n, h.finalize().into()))
}

fn open(path: &Path) -> Result<zip::ZipArchive<File>, ArchiveError> {
    let f = File::open(path).map_err(|e| ArchiveError::Io {
        path: path.display().to_string(),
        e,
    })?;
    zip::ZipArchive::new(f).map_err(|e| ArchiveError::Unreadable(e.to_string()))
}

/// Entry count and central directory size from the end-of-central-directory record (and its
/// ZIP64 form), read before the library parses the directory.
fn directory_bounds(path: &Path) -> Result<(u64, u64), ArchiveError> {
    let unreadable = |why: &str| ArchiveError::Unreadable(why.to_owned());
    let io = |e| ArchiveError::Io {
        path: path.display().to_string(),
        e,
    };
    let mut f = File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    // The record is 22 bytes plus a comment of at most 65535.
    let tail_len = len.min(22 + 65_535);
    let mut tail = vec![0u8; tail_len as usize];
    f.seek(SeekFrom::Start(len - tail_len)).map_err(io)?;
    f.read_exact(&mut tail).map_err(io)?;
    let at = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..i + 4] == *b"PK\x05\x06")
        .ok_or_else(|| unreadable("no end of central directory"))?;
    let u16_at = |i: usize| u64::from(u16::from_le_bytes([tail[i], tail[i + 1]]));
    let u32_at = |i: usize| {
        u64::from(u32::from_le_bytes([
            tail[i],
            tail[i + 1],
            tail[i + 2],
            tail[i + 3],
        ]))
    };
    let (count, size) = (u16_at(at + 10), u32_at(at + 12));
    if count != 0xFFFF && size != 0xFFFF_FFFF {
        return Ok((count, size));
    }
    // ZIP64: the locator sits just before the record and points at the ZIP64 record.
    let loc = at
        .checked_sub(20)
        .filter(|&l| tail[l..l + 4] == *b"PK\x06\x07")
        .ok_or_else(|| unreadable("a ZIP64 archive without its locator"))?;
    let mut off = [0u8; 8];
    off.copy_from_slice(&tail[loc + 8..loc + 16]);
    let mut rec = [0u8; 56];
    f.seek(SeekFrom::Start(u64::from_le_bytes(off)))
        .and_then(|_| f.read_exact(&mut rec))
        .map_err(io)?;
    if rec[..4] != *b"PK\x06\x06" {
        return Err(unreadable("a ZIP64 locator pointing nowhere"));
    }
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&rec[i..i + 8]);
        u64::from_le_bytes(b)
    };
    Ok((u64_at(32), u64_at(40)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// An archive written by Python's `zipfile` (an independent writer): `entries` are
    /// `(name, bytes)`.
    fn python_zip(dir: &Path, entries: &[(&str, Vec<u8>)]) -> std::path::PathBuf {
        let path = dir.join("a.zip");
        let mut script = String::from(
            "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\n",
        );
        for (i, (name, data)) in entries.iter().enumerate() {
            let file = dir.join(format!("in{i}"));
            std::fs::write(&file, data).unwrap();
            script.push_str(&format!(
                "z.write({:?}, arcname={name:?})\n",
                file.display().to_string()
            ));
        }
        script.push_str("z.close()\n");
        let ok = std::process::Command::new("python3")
            .args(["-c", &script])
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success());
        path
    }

    #[test]
    fn entries_are_listed_and_extracted_within_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let clip: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let zip = python_zip(
            dir.path(),
            &[
                ("DVR/ch1 0200.mp4", clip.clone()),
                ("../../etc/evil.sh", b"echo pwned".to_vec()),
                ("zeros.bin", vec![0u8; 2 << 20]),
            ],
        );
        assert!(is_zip(&zip));
        let entries = list(&zip, ArchiveLimits::default()).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].name, "DVR/ch1 0200.mp4");
        assert_eq!(entries[0].skipped, None);
        assert!(
            entries[1].skipped.as_deref().unwrap().contains("outside"),
            "{entries:?}"
        );
        assert!(
            entries[2].skipped.as_deref().unwrap().contains("ZIP bomb"),
            "{entries:?}"
        );
        let dest = dir.path().join("0");
        let (n, sha) = extract(&zip, 0, entries[0].size, &dest).unwrap();
        assert_eq!(n, clip.len() as u64);
        assert_eq!(sha.as_slice(), Sha256::digest(&clip).as_slice());
        assert_eq!(std::fs::read(&dest).unwrap(), clip);
        assert_eq!(hash_entry(&zip, 0, entries[0].size).unwrap(), (n, sha));
        // Fewer bytes declared than the entry holds: refused, nothing left.
        let e = extract(&zip, 0, 10, &dest).unwrap_err();
        assert!(matches!(e, ArchiveError::OutOfBounds(_)), "{e}");
        assert!(!dest.exists());
    }

    #[test]
    fn archives_out_of_bounds_or_unreadable_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let zip = python_zip(
            dir.path(),
            &[
                ("a", b"1".to_vec()),
                ("b", b"2".to_vec()),
                ("c", b"3".to_vec()),
            ],
        );
        let few = ArchiveLimits {
            max_entries: 2,
            ..ArchiveLimits::default()
        };
        assert!(matches!(list(&zip, few), Err(ArchiveError::OutOfBounds(_))));
        let small = ArchiveLimits {
            max_total: 2,
            ..ArchiveLimits::default()
        };
        assert!(matches!(
            list(&zip, small),
            Err(ArchiveError::OutOfBounds(_))
        ));
        // Cut short, or not a ZIP at all: a clear error, never a panic.
        let bytes = std::fs::read(&zip).unwrap();
        for (i, cut) in [
            bytes[..bytes.len() - 10].to_vec(),
            b"PK\x03\x04junk".to_vec(),
        ]
        .into_iter()
        .enumerate()
        {
            let p = dir.path().join(format!("bad{i}.zip"));
            std::fs::write(&p, cut).unwrap();
            assert!(matches!(
                list(&p, ArchiveLimits::default()),
                Err(ArchiveError::Unreadable(_))
            ));
        }
        let html = dir.path().join("x.zip");
        std::fs::write(&html, "<html>").unwrap();
        assert!(!is_zip(&html));
    }
}
