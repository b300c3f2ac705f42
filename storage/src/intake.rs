//! Community submissions as storage keeps them: submission links (the credential a citizen
//! uploads with, stored as the SHA-256 of its token), uploads in progress, and received files.
//!
//! Files live in their own tree, apart from the recording segments and named by id, never by
//! the submitted name: `submissions/parts/<id>` while an upload is in progress, then
//! `submissions/files/<id>`, read-only. An upload's row holds the *acknowledged* offset: bytes
//! are appended, `fsync`ed, and only then is the offset stored and told to the client, so after
//! a crash the part file is cut back to that offset and the client resumes from there.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::index::{cf, u64_key};
use crate::{Error, Result, Store};

/// A link an investigator sends to one recipient for one case (and optionally one request).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRow {
    pub id: u64,
    /// SHA-256 of the token; the token itself is shown once, to its creator.
    pub token_hash: [u8; 32],
    pub case_number: String,
    pub request_id: Option<u64>,
    /// Who the link is for, in the investigator's words ("owner of 12 Elm St doorbell").
    pub recipient: String,
    pub created_by: String,
    pub created_us: i64,
    pub expires_us: i64,
    pub revoked_us: Option<i64>,
    /// What the submitter declared about the footage, before any file was taken.
    pub statement: Option<Statement>,
}

/// A public call for video about one incident of a case: a page anyone may open to send
/// footage (each who does gets a link of their own, made by the call).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicCallRow {
    pub id: u64,
    pub case_number: String,
    /// What the page asks for ("Collision at Elm St and 3rd").
    pub title: String,
    /// When it happened, as the public is told.
    pub window: String,
    /// A general area, never an exact address.
    pub area: String,
    pub created_by: String,
    pub created_us: i64,
    pub closes_us: i64,
    pub closed_us: Option<i64>,
}

impl PublicCallRow {
    /// Taking submissions at `now_us`.
    pub fn open_at(&self, now_us: i64) -> bool {
        self.closed_us.is_none() && now_us < self.closes_us
    }
}

/// The submitter's own account of the footage, and the attestation they agreed to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub name: String,
    pub contact: String,
    /// Where the camera is.
    pub camera_location: String,
    /// What the footage shows.
    pub shows: String,
    /// When it was recorded, in the submitter's words or as a time.
    pub recorded_when: String,
    /// The camera's clock minus true time, seconds, if the submitter knows ("7 minutes fast"
    /// is +420).
    pub clock_offset_secs: Option<i64>,
    /// The attestation's version and its exact text, as agreed to.
    pub attestation_version: String,
    pub attestation_text: String,
    pub made_us: i64,
    pub remote_addr: String,
}

/// What the submitter declared about a file and how it arrived.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declared {
    /// The submitted file name, sanitised (metadata only: the stored file is named by id).
    pub filename: String,
    /// The type the client declared (never trusted: content decides).
    pub filetype: String,
    pub remote_addr: String,
    pub user_agent: String,
}

/// One file of a submission: in progress until `received` is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRow {
    pub id: u64,
    pub link: u64,
    pub case_number: String,
    pub declared: Declared,
    /// Length the client announced (`Upload-Length`).
    pub length: u64,
    /// Bytes received, written and synced (what `HEAD` reports).
    pub offset: u64,
    pub created_us: i64,
    pub expires_us: i64,
    pub received: Option<Received>,
    /// Ended unfinished (the submitter's termination, or expiry): its bytes are deleted, its
    /// row stays so ids are never reused and the audit log's references stay unambiguous.
    pub terminated_us: Option<i64>,
    /// What the received file is, by its content (set after receipt).
    pub identified: Option<vms_media::Identified>,
    /// The investigator's decision in force (every decision is also an audit event).
    pub review: Option<Review>,
    /// A derived copy a browser can play, when the original is not one.
    pub working_copy: Option<WorkingCopy>,
    /// Retention deleted the original (and its working copy); the row stays as the record.
    pub deleted: Option<Deleted>,
    /// A ZIP archive's entries, listed and (within bounds) extracted.
    pub archive: Option<Archive>,
}

/// What a submitted ZIP archive holds. The archive is the original; its extracted entries
/// are derived from it (each hashed as written).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Archive {
    /// Why nothing was extracted (out of bounds, unreadable), if so.
    pub refused: Option<String>,
    pub entries: Vec<ArchiveEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveEntry {
    pub entry: vms_media::archive::Entry,
    /// `submissions/extracted/<upload>/<index>`, read-only, when extracted.
    pub file: Option<String>,
    pub sha256: Option<[u8; 32]>,
    pub identified: Option<vms_media::Identified>,
}

/// An investigator's decision on a received file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// Accepted into its case as evidence, or rejected.
    pub accepted: bool,
    pub reason: String,
    pub by: String,
    pub at_us: i64,
}

/// A copy derived from the original for viewing: never the evidence itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingCopy {
    /// Relative to the store root (`submissions/derived/<id>.mp4`), read-only.
    pub file: String,
    pub length: u64,
    pub sha256: [u8; 32],
    /// The tool and settings that made it (`FFmpeg 5.1.6 libx264 crf 20 …`).
    pub tool: String,
    pub made_us: i64,
}

/// Why and when retention deleted a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    pub at_us: i64,
    pub why: String,
}

impl UploadRow {
    /// Still taking bytes (neither received nor ended).
    pub fn open(&self) -> bool {
        self.received.is_none() && self.terminated_us.is_none()
    }

    /// Bytes this file takes in the submissions tree (or is reserved to take while it
    /// arrives): the original, its working copy and its extracted archive entries; none once
    /// retention deleted them.
    pub fn bytes_kept(&self) -> u64 {
        if self.deleted.is_some() {
            return 0;
        }
        let derived: u64 = self
            .archive
            .iter()
            .flat_map(|a| a.entries.iter())
            .filter(|e| e.file.is_some())
            .map(|e| e.entry.size)
            .sum();
        self.length + self.working_copy.as_ref().map_or(0, |w| w.length) + derived
    }
}

/// A completely received file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    /// SHA-256 of exactly the bytes received, in order.
    pub sha256: [u8; 32],
    pub received_us: i64,
    /// The read-only original, relative to the store root.
    pub file: String,
}

impl Store {
    /// Stores a new link and the index from its token's hash to it.
    pub fn create_link(&self, mut row: LinkRow) -> Result<LinkRow> {
        let row = self.db.insert_next(cf::LINKS, |id| {
            row.id = id;
            row
        })?;
        self.db.put_row(cf::LINK_TOKENS, &row.token_hash, &row.id)?;
        Ok(row)
    }

    pub fn link(&self, id: u64) -> Result<Option<LinkRow>> {
        self.db.get_row(cf::LINKS, &u64_key(id))
    }

    pub fn put_link(&self, row: &LinkRow) -> Result<()> {
        self.db.put_row(cf::LINKS, &u64_key(row.id), row)
    }

    pub fn links(&self) -> Result<Vec<LinkRow>> {
        self.db.all_rows(cf::LINKS)
    }

    /// The link whose token hashes to `hash` (a point lookup in the token index).
    pub fn link_by_token(&self, hash: &[u8; 32]) -> Result<Option<LinkRow>> {
        let Some(id) = self.db.get_row::<u64>(cf::LINK_TOKENS, hash)? else {
            return Ok(None);
        };
        Ok(self.link(id)?.filter(|l| l.token_hash == *hash))
    }

    pub fn create_public_call(&self, mut row: PublicCallRow) -> Result<PublicCallRow> {
        self.db.insert_next(cf::PUBLIC_CALLS, |id| {
            row.id = id;
            row
        })
    }

    pub fn public_call(&self, id: u64) -> Result<Option<PublicCallRow>> {
        self.db.get_row(cf::PUBLIC_CALLS, &u64_key(id))
    }

    pub fn put_public_call(&self, row: &PublicCallRow) -> Result<()> {
        self.db.put_row(cf::PUBLIC_CALLS, &u64_key(row.id), row)
    }

    pub fn public_calls(&self) -> Result<Vec<PublicCallRow>> {
        self.db.all_rows(cf::PUBLIC_CALLS)
    }

    pub fn uploads(&self) -> Result<Vec<UploadRow>> {
        self.db.all_rows(cf::UPLOADS)
    }

    pub fn upload(&self, id: u64) -> Result<Option<UploadRow>> {
        self.db.get_row(cf::UPLOADS, &u64_key(id))
    }

    fn put_upload(&self, row: &UploadRow) -> Result<()> {
        self.db.put_row(cf::UPLOADS, &u64_key(row.id), row)
    }

    fn part_path(&self, id: u64) -> PathBuf {
        self.root().join(format!("submissions/parts/{id:08}"))
    }

    /// Creates an upload and its empty part file.
    pub fn create_upload(&self, mut row: UploadRow) -> Result<UploadRow> {
        let dir = self.root().join("submissions/parts");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        row.offset = 0;
        row.received = None;
        row.terminated_us = None;
        row.identified = None;
        row.review = None;
        row.working_copy = None;
        row.deleted = None;
        row.archive = None;
        let row = self.db.insert_next(cf::UPLOADS, |id| {
            row.id = id;
            row
        })?;
        let path = self.part_path(row.id);
        File::create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(row)
    }

    /// Opens upload `id`'s part file for appending at its acknowledged offset, cutting off
    /// anything past it (bytes a crash or a refused request left behind).
    pub fn upload_writer(&self, id: u64) -> Result<UploadWriter> {
        let row = self
            .upload(id)?
            .ok_or_else(|| Error::NotFound(format!("upload {id}")))?;
        if !row.open() {
            return Err(Error::Invalid(format!("upload {id} is not open")));
        }
        let path = self.part_path(id);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        if len < row.offset {
            return Err(Error::Corrupt {
                cf: cf::UPLOADS,
                key: id.to_string(),
                why: format!(
                    "part file holds {len} bytes, {} were acknowledged",
                    row.offset
                ),
            });
        }
        file.set_len(row.offset).map_err(|e| Error::io(&path, e))?;
        file.seek(SeekFrom::Start(row.offset))
            .map_err(|e| Error::io(&path, e))?;
        Ok(UploadWriter {
            file,
            path,
            written: row.offset,
            row,
        })
    }

    /// SHA-256 state over the first `len` bytes of upload `id`'s part file: how the intake
    /// hash resumes when its running state was lost (a restart).
    pub fn upload_prefix_hash(&self, id: u64, len: u64) -> Result<Sha256> {
        let path = self.part_path(id);
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let mut h = Sha256::new();
        let mut r = std::io::BufReader::with_capacity(1 << 20, file.take(len));
        let n = std::io::copy(&mut r, &mut h).map_err(|e| Error::io(&path, e))?;
        if n != len {
            return Err(Error::Invalid(format!(
                "upload {id}: {n} bytes on disk, {len} expected"
            )));
        }
        Ok(h)
    }

    /// Records what a received file turned out to be.
    pub fn set_identified(&self, id: u64, what: vms_media::Identified) -> Result<UploadRow> {
        let mut row = self
            .upload(id)?
            .ok_or_else(|| Error::NotFound(format!("upload {id}")))?;
        row.identified = Some(what);
        self.put_upload(&row)?;
        Ok(row)
    }

    /// The path of a received file's original (none once retention deleted it).
    pub fn original_path(&self, row: &UploadRow) -> Option<PathBuf> {
        if row.deleted.is_some() {
            return None;
        }
        row.received.as_ref().map(|r| self.root().join(&r.file))
    }

    /// The path of a received file's working copy, if it has one.
    pub fn working_copy_path(&self, row: &UploadRow) -> Option<PathBuf> {
        if row.deleted.is_some() {
            return None;
        }
        row.working_copy.as_ref().map(|w| self.root().join(&w.file))
    }

    /// Where a working copy of upload `id` is written before [`Self::place_working_copy`].
    pub fn working_copy_scratch(&self, id: u64) -> Result<PathBuf> {
        let dir = self.root().join("submissions/derived");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(dir.join(format!("{id:08}.part.mp4")))
    }

    /// Records the working copy written at `scratch` (hashed here, over the bytes on disk),
    /// makes it read-only under its final name, and stores it with the row.
    pub fn place_working_copy(
        &self,
        id: u64,
        scratch: &std::path::Path,
        tool: String,
        now_us: i64,
    ) -> Result<UploadRow> {
        let mut row = self
            .upload(id)?
            .ok_or_else(|| Error::NotFound(format!("upload {id}")))?;
        if row.received.is_none() || row.deleted.is_some() {
            return Err(Error::Invalid(format!("upload {id} has no original")));
        }
        let file = format!("submissions/derived/{id:08}.mp4");
        let dest = self.root().join(&file);
        let (sha256, length) = sha256_of(scratch)?;
        std::fs::rename(scratch, &dest).map_err(|e| Error::io(&dest, e))?;
        set_readonly(&dest)?;
        sync_dir(&dest)?;
        row.working_copy = Some(WorkingCopy {
            file,
            length,
            sha256,
            tool,
            made_us: now_us,
        });
        self.put_upload(&row)?;
        Ok(row)
    }

    /// Where entry `index` of upload `id`'s archive is extracted before [`Self::place_archive`].
    pub fn archive_scratch(&self, id: u64, index: u32) -> Result<PathBuf> {
        let dir = self.root().join(format!("submissions/extracted/{id:08}"));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(dir.join(format!("{index}.part")))
    }

    /// Records what upload `id`'s archive holds: each extracted entry (written at its
    /// [`Self::archive_scratch`] path and hashed) is renamed to its place and made read-only.
    pub fn place_archive(&self, id: u64, mut archive: Archive) -> Result<UploadRow> {
        let mut row = self
            .upload(id)?
            .ok_or_else(|| Error::NotFound(format!("upload {id}")))?;
        if row.received.is_none() || row.deleted.is_some() {
            return Err(Error::Invalid(format!("upload {id} has no original")));
        }
        for e in archive.entries.iter_mut().filter(|e| e.sha256.is_some()) {
            let file = format!("submissions/extracted/{id:08}/{}", e.entry.index);
            let dest = self.root().join(&file);
            let scratch = self.archive_scratch(id, e.entry.index)?;
            std::fs::rename(&scratch, &dest).map_err(|err| Error::io(&dest, err))?;
            set_readonly(&dest)?;
            e.file = Some(file);
        }
        if let Some(e) = archive.entries.iter().find_map(|e| e.file.as_ref()) {
            sync_dir(&self.root().join(e))?;
        }
        row.archive = Some(archive);
        self.put_upload(&row)?;
        Ok(row)
    }

    /// Records what extracted entry `index` of upload `id` is.
    pub fn set_entry_identified(
        &self,
        id: u64,
        index: u32,
        what: vms_media::Identified,
    ) -> Result<UploadRow> {
        let mut row = self
            .upload(id)?
            .ok_or_else(|| Error::NotFound(format!("upload {id}")))?;
        if let Some(e) = row
            .archive
            .as_mut()
            .and_then(|a| a.entries.iter_mut().find(|e| e.entry.index == index))
        {
            e.identified = Some(what);
            self.put_upload(&row)?;
        }
        Ok(row)
    }

    /// The path of an extracted archive entry.
    pub fn entry_path(&self, row: &UploadRow, index: u32) -> Option<PathBuf> {
        if row.deleted.is_some() {
            return None;
        }
        row.archive
            .as_ref()?
            .entries
            .iter()
            .find(|e| e.entry.index == index)?
            .file
            .as_ref()
            .map(|f| self.root().join(f))
    }

    /// Records an investigator's decision on received upload `id`.
    pub fn set_review(&self, id: u64, review: Review) -> Result<UploadRow> {
        let mut row = self
            .upload(id)?
            .ok_or_else(|| Error::NotFound(format!("upload {id}")))?;
        if row.received.is_none() || row.deleted.is_some() {
            return Err(Error::Invalid(format!("upload {id} has no original")));
        }
        row.review = Some(review);
        self.put_upload(&row)?;
        Ok(row)
    }

    /// Deletes a received file's original and working copy (retention): the row says so
    /// first, then the files go. Idempotent, so a crash in between is finished by the next run.
    pub fn delete_submission_files(&self, id: u64, at_us: i64, why: String) -> Result<UploadRow> {
        let mut row = self
            .upload(id)?
            .ok_or_else(|| Error::NotFound(format!("upload {id}")))?;
        let files: Vec<String> = row
            .received
            .iter()
            .map(|r| r.file.clone())
            .chain(row.working_copy.iter().map(|w| w.file.clone()))
            .collect();
        if row.deleted.is_none() {
            row.deleted = Some(Deleted { at_us, why });
            self.put_upload(&row)?;
        }
        for f in files {
            remove_if_there(&self.root().join(f))?;
        }
        self.remove_extracted(id)?;
        Ok(row)
    }

    /// Ends an unfinished upload (tus termination, expiry): its row says so first, then its
    /// bytes are deleted. A received file is never touched.
    pub fn end_upload(&self, id: u64, now_us: i64) -> Result<()> {
        let mut row = self
            .upload(id)?
            .ok_or_else(|| Error::NotFound(format!("upload {id}")))?;
        if row.received.is_some() {
            return Err(Error::Invalid(format!("upload {id} was received")));
        }
        if row.terminated_us.is_none() {
            row.terminated_us = Some(now_us);
            self.put_upload(&row)?;
        }
        remove_if_there(&self.part_path(id))
    }

    fn extracted_dir(&self, id: u64) -> PathBuf {
        self.root().join(format!("submissions/extracted/{id:08}"))
    }

    /// Removes upload `id`'s extracted entries (read-only files in a writable directory).
    fn remove_extracted(&self, id: u64) -> Result<()> {
        let dir = self.extracted_dir(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&dir, e)),
        }
    }

    /// Brings part files and rows back in step after a crash: a received file left in the
    /// parts directory is moved to its place, a part whose upload ended is deleted, and an
    /// open upload whose part file never got created gets an empty one (its offset is 0).
    /// Returns how many things it fixed.
    pub fn reconcile_uploads(&self) -> Result<usize> {
        let mut fixed = 0;
        for row in self.uploads()? {
            // A working copy being written when the process stopped is made again.
            let scratch = self
                .root()
                .join(format!("submissions/derived/{:08}.part.mp4", row.id));
            if scratch.exists() {
                remove_if_there(&scratch)?;
                fixed += 1;
            }
            // Entries being extracted when the process stopped are extracted again.
            if row.archive.is_none() && self.extracted_dir(row.id).exists() {
                self.remove_extracted(row.id)?;
                fixed += 1;
            }
            // A deletion the row records whose files were not all removed yet.
            if row.deleted.is_some() && self.extracted_dir(row.id).exists() {
                self.remove_extracted(row.id)?;
                fixed += 1;
            }
            if row.deleted.is_some() {
                for f in row
                    .received
                    .iter()
                    .map(|r| &r.file)
                    .chain(row.working_copy.iter().map(|w| &w.file))
                {
                    let path = self.root().join(f);
                    if path.exists() {
                        remove_if_there(&path)?;
                        fixed += 1;
                    }
                }
            }
            let part = self.part_path(row.id);
            let part_there = part.exists();
            match (&row.received, row.terminated_us) {
                (Some(r), _) if part_there => {
                    let dest = self.root().join(&r.file);
                    if dest.exists() {
                        remove_if_there(&part)?;
                    } else {
                        self.place_original(&part, &dest)?;
                    }
                    fixed += 1;
                }
                (None, Some(_)) if part_there => {
                    remove_if_there(&part)?;
                    fixed += 1;
                }
                (None, None) if !part_there && row.offset == 0 => {
                    File::create(&part).map_err(|e| Error::io(&part, e))?;
                    fixed += 1;
                }
                _ => {}
            }
        }
        Ok(fixed)
    }

    /// Links the part file as the read-only original (never replacing a file), removes the
    /// part's name, and syncs the directory.
    fn place_original(&self, part: &std::path::Path, dest: &std::path::Path) -> Result<()> {
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        match std::fs::hard_link(part, dest) {
            Ok(()) => {}
            Err(e) => return Err(Error::io(dest, e)),
        }
        set_readonly(dest)?;
        remove_if_there(part)?;
        sync_dir(dest)
    }
}

/// Appends to one upload's part file. Nothing counts as received until [`Self::commit`].
#[derive(Debug)]
pub struct UploadWriter {
    file: File,
    path: PathBuf,
    written: u64,
    row: UploadRow,
}

impl UploadWriter {
    pub fn row(&self) -> &UploadRow {
        &self.row
    }

    /// Bytes in the file so far (acknowledged and not yet).
    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        let end = self.written + data.len() as u64;
        if end > self.row.length {
            return Err(Error::Invalid(format!(
                "{end} bytes is more than the {} declared",
                self.row.length
            )));
        }
        self.file
            .write_all(data)
            .map_err(|e| Error::io(&self.path, e))?;
        self.written = end;
        Ok(())
    }

    /// Forgets what was written since the last commit (a refused checksum).
    pub fn discard(mut self) -> Result<()> {
        self.file
            .set_len(self.row.offset)
            .map_err(|e| Error::io(&self.path, e))?;
        self.written = self.row.offset;
        Ok(())
    }

    /// Syncs what was written and stores it as acknowledged. When that completes the file,
    /// the row records `sha256` (over all of it) first; then the file becomes the read-only
    /// original. A crash between the two is finished by [`Store::reconcile_uploads`].
    pub fn commit(
        mut self,
        store: &Store,
        now_us: i64,
        sha256: Option<[u8; 32]>,
    ) -> Result<UploadRow> {
        self.file
            .sync_data()
            .map_err(|e| Error::io(&self.path, e))?;
        self.row.offset = self.written;
        if self.row.offset == self.row.length {
            let sha256 = sha256.ok_or_else(|| {
                Error::Invalid(format!("upload {}: complete without a hash", self.row.id))
            })?;
            self.row.received = Some(Received {
                sha256,
                received_us: now_us,
                file: format!("submissions/files/{:08}", self.row.id),
            });
        }
        store.put_upload(&self.row)?;
        if let Some(r) = &self.row.received {
            store.place_original(&self.path, &store.root().join(&r.file))?;
        }
        Ok(self.row)
    }
}

fn set_readonly(path: &std::path::Path) -> Result<()> {
    let mut perms = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(path, perms).map_err(|e| Error::io(path, e))
}

/// Syncs the directory holding `path`, so a new name in it survives a crash.
fn sync_dir(path: &std::path::Path) -> Result<()> {
    match path.parent() {
        Some(dir) => File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e)),
        None => Ok(()),
    }
}

/// SHA-256 and length of a file's bytes as they are on disk.
pub fn sha256_of(path: &std::path::Path) -> Result<([u8; 32], u64)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut r = std::io::BufReader::with_capacity(1 << 20, file);
    let n = std::io::copy(&mut r, &mut h).map_err(|e| Error::io(path, e))?;
    Ok((h.finalize().into(), n))
}

fn remove_if_there(path: &std::path::Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}
