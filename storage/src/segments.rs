//! Segment files: the one module that touches them. Creating, appending (with the durability
//! the store's sync policy asks for), truncating back to what the index vouches for, hashing,
//! reading ranges, listing and deleting all go through [`Segments`], so the rest of the crate
//! speaks in relative file names and a later tier (object storage, another node's disk) has
//! exactly one seam to replace.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::index::CameraId;
use crate::{Error, Result};

/// Directory of a camera's segment files, relative to the store root.
pub(crate) fn camera_dir(camera: CameraId) -> String {
    format!("segments/{camera:08x}")
}

/// Relative name of segment `id` of `camera`.
pub(crate) fn file_name(camera: CameraId, id: u64) -> String {
    format!("{}/{id:016x}.mp4", camera_dir(camera))
}

/// The segment files under one store root.
#[derive(Clone, Debug)]
pub(crate) struct Segments {
    root: PathBuf,
}

impl Segments {
    pub fn new(root: &Path) -> Segments {
        Segments {
            root: root.to_path_buf(),
        }
    }

    /// Makes sure the segments directory exists.
    pub fn prepare(&self) -> Result<()> {
        let dir = self.root.join("segments");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))
    }

    /// The absolute path of a segment file (for messages and for tools that read it).
    pub fn path(&self, file: &str) -> PathBuf {
        self.root.join(file)
    }

    /// Creates a new segment file holding `init` (the run's `ftyp`+`moov`); with `sync`, its
    /// directory entry is made durable too. Fails if the file exists.
    pub fn create(&self, file: &str, init: &[u8], sync: bool) -> Result<Appender> {
        let path = self.path(file);
        let dir: PathBuf = path.parent().map(Path::to_path_buf).unwrap_or_default();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut f = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        if let Err(e) = f.write_all(init) {
            let _ = std::fs::remove_file(&path);
            return Err(Error::io(&path, e));
        }
        if sync && let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(Appender { file: f, path })
    }

    /// The file's length on disk, or `None` if it is missing.
    pub fn len(&self, file: &str) -> Option<u64> {
        std::fs::metadata(self.path(file)).map(|m| m.len()).ok()
    }

    /// Cuts a file back to `len` bytes (what the index vouches for); with `sync`, durably.
    pub fn truncate(&self, file: &str, len: u64, sync: bool) -> Result<()> {
        let path = self.path(file);
        let f = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        f.set_len(len).map_err(|e| Error::io(&path, e))?;
        if sync {
            f.sync_all().map_err(|e| Error::io(&path, e))?;
        }
        Ok(())
    }

    /// Deletes a file; one that is already gone is not an error.
    pub fn remove(&self, file: &str) -> Result<()> {
        let path = self.path(file);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// SHA-256 of the first `len` bytes (how sealed segments are fingerprinted).
    pub fn hash(&self, file: &str, len: u64) -> Result<[u8; 32]> {
        let path = self.path(file);
        let f = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let mut h = Sha256::new();
        std::io::copy(&mut f.take(len), &mut h).map_err(|e| Error::io(&path, e))?;
        Ok(h.finalize().into())
    }

    /// The whole file (for `check`, which parses every fragment of it).
    pub fn read_all(&self, file: &str) -> Result<Vec<u8>> {
        let path = self.path(file);
        std::fs::read(&path).map_err(|e| Error::io(&path, e))
    }

    /// Opens a file for positioned reads.
    pub fn open(&self, file: &str) -> Result<Reader> {
        let path = self.path(file);
        let f = File::open(&path).map_err(|e| Error::io(&path, e))?;
        Ok(Reader { file: f, path })
    }

    /// The segment ids found on disk for `camera` (file names `<id hex>.mp4`).
    pub fn ids_on_disk(&self, camera: CameraId) -> Vec<u64> {
        let Ok(entries) = std::fs::read_dir(self.root.join(camera_dir(camera))) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".mp4"))
                    .and_then(|n| u64::from_str_radix(n, 16).ok())
            })
            .collect()
    }
}

/// A segment file open for appending fragments.
#[derive(Debug)]
pub(crate) struct Appender {
    file: File,
    path: PathBuf,
}

impl Appender {
    /// Appends `slices` in as few vectored writes as the kernel allows, then (with `sync`)
    /// `fdatasync`s. On failure the caller truncates back with [`Appender::truncate`].
    pub fn append(&mut self, slices: &mut [IoSlice<'_>], sync: bool) -> Result<()> {
        let mut rest = slices;
        let r = (|| {
            while !rest.is_empty() {
                match self.file.write_vectored(rest) {
                    Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                    Ok(n) => IoSlice::advance_slices(&mut rest, n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if sync {
                self.file.sync_data()?;
            }
            Ok::<_, std::io::Error>(())
        })();
        r.map_err(|e| Error::io(&self.path, e))
    }

    /// Cuts the file back to `len` bytes (undoing an append the index did not take).
    pub fn truncate(&self, len: u64) -> Result<()> {
        self.file.set_len(len).map_err(|e| Error::io(&self.path, e))
    }

    /// Makes everything written durable (when the segment is sealed).
    pub fn sync_all(&self) -> Result<()> {
        self.file.sync_all().map_err(|e| Error::io(&self.path, e))
    }
}

/// A segment file open for positioned reads (playback, export).
#[derive(Debug)]
pub(crate) struct Reader {
    file: File,
    path: PathBuf,
}

impl Reader {
    /// Fills `buf` from byte `offset`.
    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| Error::io(&self.path, e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
