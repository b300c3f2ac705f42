//! The store: opening (schema check and crash recovery), the reader API for playback and
//! export, legal holds, retention and the `check` (fsck) of index against files.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch,
};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::index::{
    self, CameraId, CameraRow, DeletionRow, FragmentRow, HoldRow, RunRow, SegmentRow,
    camera_time_key, cf, parse_camera_time_key, parse_u64_key, u64_key,
};
use crate::writer::WriterPool;
use crate::{Error, Result, fmp4};

/// When fragment bytes and index commits are forced to stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// `fdatasync` each fragment and sync the index WAL before acknowledging: survives power
    /// loss with at most the fragment in flight lost.
    #[default]
    Always,
    /// Leave flushing to the OS: survives a process crash (`kill -9`) but not power loss.
    Os,
}

impl std::str::FromStr for SyncPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(SyncPolicy::Always),
            "os" => Ok(SyncPolicy::Os),
            _ => Err(format!(
                "unknown sync policy {s:?}; expected \"always\" or \"os\""
            )),
        }
    }
}

#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub sync: SyncPolicy,
    /// Disk writer threads (one pool per store, i.e. per disk). With `sync = always` each
    /// thread has one `fdatasync` in flight at a time, so this is how many the disk sees at
    /// once; 8 measured 1.45–1.9× the fragments per second of 2 at 1000 cameras
    /// (`docs/performance.md`).
    pub writer_threads: usize,
    /// Run crash recovery on open (truncate unindexed bytes, seal open segments). `vms check`
    /// opens without it so that it reports what it finds.
    pub recover: bool,
    pub clock: Arc<dyn Clock>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            sync: SyncPolicy::Always,
            writer_threads: 8,
            recover: true,
            clock: Arc::new(crate::clock::SystemClock),
        }
    }
}

/// State the writer threads share with the store.
#[derive(Debug)]
pub(crate) struct Shared {
    pub db: DB,
    pub root: PathBuf,
    pub opts: StoreOptions,
    pub total_bytes: AtomicU64,
    /// Bytes of video appended since the store was opened (only ever grows).
    pub written_bytes: AtomicU64,
    next_run: AtomicU64,
    next_segment: AtomicU64,
    camera_lock: Mutex<()>,
    /// Serialises id allocation for partners and requests.
    pub registry_lock: Mutex<()>,
    /// The audit chain's head; held while appending so the chain stays linear.
    pub audit_head: Mutex<crate::audit::AuditHead>,
}

impl Shared {
    pub fn cf(&self, name: &'static str) -> Result<&ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| Error::NotFound(format!("column family {name}")))
    }

    /// A segment's fragment rows, in order, from the fragments column family.
    pub(crate) fn segment_fragment_rows(
        &self,
        camera: CameraId,
        seg_start: i64,
        seg: &SegmentRow,
    ) -> Result<Vec<(i64, FragmentRow)>> {
        let mut out = Vec::with_capacity(seg.fragments as usize);
        let mut it = self.db.raw_iterator_cf(self.cf(cf::FRAGMENTS)?);
        it.seek(camera_time_key(camera, seg_start));
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            match parse_camera_time_key(k) {
                Some((c, t)) if c == camera && t < seg.end_utc.max(seg_start + 1) => {
                    let row: FragmentRow = index::decode(cf::FRAGMENTS, k, v)?;
                    if row.segment_start == seg_start {
                        out.push((t, row));
                    }
                }
                _ => break,
            }
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Adds a segment row to `batch` and, if it is sealed, its layout row with it (so a sealed
    /// row never lands without one): every path that seals or re-seals goes through here.
    pub(crate) fn put_segment(
        &self,
        batch: &mut WriteBatch,
        camera: CameraId,
        seg_start: i64,
        seg: &SegmentRow,
    ) -> Result<()> {
        if seg.closed() {
            self.put_layout(batch, camera, seg_start, seg);
        }
        batch.put_cf(
            self.cf(cf::SEGMENTS)?,
            camera_time_key(camera, seg_start),
            index::encode(seg),
        );
        Ok(())
    }

    /// Adds a sealed segment's packed layout row to `batch`, built from its fragment rows as
    /// committed (so call it once every append of the segment is committed). Never fails the
    /// sealing, opening or repair it is part of: a segment whose rows cannot be read gets no
    /// layout row (playback reads its fragment rows, `vms check` reports both).
    pub(crate) fn put_layout(
        &self,
        batch: &mut WriteBatch,
        camera: CameraId,
        seg_start: i64,
        seg: &SegmentRow,
    ) {
        let built = self.cf(cf::LAYOUTS).and_then(|h| {
            let rows = self.segment_fragment_rows(camera, seg_start, seg)?;
            Ok((h, index::encode_layout(&rows)))
        });
        match built {
            Ok((h, v)) => batch.put_cf(h, camera_time_key(camera, seg_start), v),
            Err(e) => {
                tracing::warn!(camera, file = %seg.file, error = %e, "no layout row for segment; playback reads its fragment rows")
            }
        }
    }
}

/// Whether an unusable layout row has been reported at warn level yet (once per process: a
/// 24 h request could otherwise log 1,440 warnings).
static UNUSABLE_LAYOUT_WARNED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// A recorded, gap-free stretch of a camera's video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start_utc: i64,
    pub end_utc: i64,
}

/// A fragment found by [`Store::fragments`], with where its bytes live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragmentRef {
    pub camera: CameraId,
    pub start_utc: i64,
    pub row: FragmentRow,
    /// Path of the segment file, relative to the store root (shared by its segment's fragments).
    pub file: Arc<str>,
}

/// Retention settings, applied by [`Store::enforce_retention`].
#[derive(Clone, Debug)]
pub struct RetentionPolicy {
    pub default_max_age_secs: i64,
    pub max_age_secs: HashMap<CameraId, i64>,
    /// Delete oldest video once the store holds more than this…
    pub quota_bytes: Option<u64>,
    /// …until it holds at most this.
    pub low_watermark_bytes: Option<u64>,
}

impl RetentionPolicy {
    /// The low watermark when none is configured: 90 % of the quota, so quota deletion frees a
    /// margin at once instead of deleting a segment at a time at the edge.
    pub fn default_low_watermark(quota_bytes: u64) -> u64 {
        quota_bytes / 10 * 9
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub deleted_segments: u64,
    pub deleted_bytes: u64,
    /// Segments that were due but kept because a hold covers them.
    pub held_segments: u64,
    /// True when the quota could not be met (everything left is held or still open).
    pub over_quota: bool,
}

/// One finding of [`Store::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub what: String,
    /// Whether `--repair` fixed it.
    pub repaired: bool,
    /// Crash leftovers that recovery handles are notes, not failures.
    pub note_only: bool,
}

#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    pub segments: u64,
    pub fragments: u64,
    pub bytes: u64,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// True when nothing is wrong (notes about crash leftovers aside).
    pub fn ok(&self) -> bool {
        self.problems.iter().all(|p| p.note_only || p.repaired)
    }
}

/// The recording store: one data directory with `index/` (RocksDB) and `segments/`.
#[derive(Debug)]
pub struct Store {
    pub(crate) shared: Arc<Shared>,
    pub(crate) writer: Mutex<Option<Arc<WriterPool>>>,
}

impl Store {
    /// Opens (creating if needed) the store under `dir`, checks the schema version and, unless
    /// disabled, recovers from a crash.
    pub fn open(dir: &Path, opts: StoreOptions) -> Result<Arc<Store>> {
        std::fs::create_dir_all(dir.join("segments")).map_err(|e| Error::io(dir, e))?;
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        db_opts.set_keep_log_file_num(4);
        let cfs = cf::ALL
            .iter()
            .map(|n| ColumnFamilyDescriptor::new(*n, Options::default()));
        let db = DB::open_cf_descriptors(&db_opts, dir.join("index"), cfs)?;
        let writer_threads = opts.writer_threads;
        let shared = Arc::new(Shared {
            db,
            root: dir.to_path_buf(),
            opts,
            total_bytes: AtomicU64::new(0),
            written_bytes: AtomicU64::new(0),
            next_run: AtomicU64::new(1),
            next_segment: AtomicU64::new(1),
            camera_lock: Mutex::new(()),
            registry_lock: Mutex::new(()),
            audit_head: Mutex::new(Default::default()),
        });
        check_schema(&shared)?;
        let recover = shared.opts.recover;
        let store = Store {
            shared: shared.clone(),
            writer: Mutex::new(None),
        };
        store.scan_on_open(recover)?;
        let head = store.load_audit_head()?;
        if let Ok(mut h) = store.shared.audit_head.lock() {
            *h = head;
        }
        let pool = WriterPool::start(shared, writer_threads)?;
        if let Ok(mut w) = store.writer.lock() {
            *w = Some(Arc::new(pool));
        }
        Ok(Arc::new(store))
    }

    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.opts.clock
    }

    /// Bytes of recorded video the index accounts for.
    pub fn total_bytes(&self) -> u64 {
        self.shared.total_bytes.load(Ordering::Relaxed)
    }

    /// Bytes of video appended (and indexed) since the store was opened. Unlike
    /// [`Store::total_bytes`] retention does not take from it, so it is the write rate's
    /// counter.
    pub fn written_bytes(&self) -> u64 {
        self.shared.written_bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn writer(&self) -> Result<Arc<WriterPool>> {
        self.writer
            .lock()
            .ok()
            .and_then(|w| w.clone())
            .ok_or(Error::ShuttingDown)
    }

    /// Stops the writer threads after their queued jobs; call after every recorder is closed.
    pub fn shutdown(&self) {
        let pool = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(pool) = pool {
            match Arc::try_unwrap(pool) {
                Ok(mut p) => p.shutdown(),
                Err(_) => tracing::warn!("writer pool still in use at shutdown"),
            }
        }
        if let Err(e) = self.shared.db.flush_wal(true) {
            tracing::warn!(error = %e, "index WAL flush at shutdown failed");
        }
    }

    /// Looks up a camera's numeric id, assigning the next free one on first use.
    pub fn camera_id(&self, name: &str) -> Result<CameraId> {
        if name.is_empty() || name.len() > 128 {
            return Err(Error::Invalid(format!("bad camera name {name:?}")));
        }
        let _guard = self
            .shared
            .camera_lock
            .lock()
            .map_err(|_| Error::ShuttingDown)?;
        let cams = self.shared.cf(cf::CAMERAS)?;
        if let Some(v) = self.shared.db.get_cf(cams, name.as_bytes())? {
            return Ok(index::decode::<CameraRow>(cf::CAMERAS, name.as_bytes(), &v)?.id);
        }
        let mut max = 0;
        for item in self.shared.db.iterator_cf(cams, IteratorMode::Start) {
            let (k, v) = item?;
            max = max.max(index::decode::<CameraRow>(cf::CAMERAS, &k, &v)?.id);
        }
        let id = max + 1;
        self.shared
            .db
            .put_cf(cams, name.as_bytes(), index::encode(&CameraRow { id }))?;
        Ok(id)
    }

    /// Every camera the index knows, by name.
    pub fn cameras(&self) -> Result<Vec<(String, CameraId)>> {
        let cams = self.shared.cf(cf::CAMERAS)?;
        let mut out = Vec::new();
        for item in self.shared.db.iterator_cf(cams, IteratorMode::Start) {
            let (k, v) = item?;
            let id = index::decode::<CameraRow>(cf::CAMERAS, &k, &v)?.id;
            out.push((String::from_utf8_lossy(&k).into_owned(), id));
        }
        Ok(out)
    }

    pub(crate) fn create_run(&self, row: &RunRow) -> Result<u64> {
        let id = self.shared.next_run.fetch_add(1, Ordering::SeqCst);
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(self.shared.opts.sync == SyncPolicy::Always);
        self.shared.db.put_cf_opt(
            self.shared.cf(cf::RUNS)?,
            u64_key(id),
            index::encode(row),
            &wo,
        )?;
        Ok(id)
    }

    pub(crate) fn next_segment_id(&self) -> u64 {
        self.shared.next_segment.fetch_add(1, Ordering::SeqCst)
    }

    /// A run's row, with its init segment.
    pub fn run(&self, id: u64) -> Result<RunRow> {
        let key = u64_key(id);
        let v = self
            .shared
            .db
            .get_cf(self.shared.cf(cf::RUNS)?, key)?
            .ok_or_else(|| Error::NotFound(format!("run {id}")))?;
        index::decode(cf::RUNS, &key, &v)
    }

    /// Rows of a camera-keyed column family that overlap `[start, end)`, in time order,
    /// including one that starts before `start` but reaches into the range.
    fn scan_range<T: serde::de::DeserializeOwned>(
        &self,
        cf_name: &'static str,
        camera: CameraId,
        start: i64,
        end: i64,
        end_of: impl Fn(&T) -> i64,
    ) -> Result<Vec<(i64, T)>> {
        let handle = self.shared.cf(cf_name)?;
        let mut out = Vec::new();
        // One raw iterator for both steps: creating a RocksDB iterator costs more than a seek,
        // and the raw one does not copy every key and value into a new allocation.
        let mut it = self.shared.db.raw_iterator_cf(handle);
        // The row at or before `start` may overlap it.
        it.seek_for_prev(camera_time_key(camera, start));
        if let (Some(k), Some(v)) = (it.key(), it.value())
            && let Some((c, t)) = parse_camera_time_key(k)
            && c == camera
        {
            let row: T = index::decode(cf_name, k, v)?;
            if end_of(&row) > start {
                out.push((t, row));
            }
        }
        it.status()?;
        it.seek(camera_time_key(camera, start));
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let Some((c, t)) = parse_camera_time_key(k) else {
                return Err(Error::Corrupt {
                    cf: cf_name,
                    key: hex::encode(k),
                    why: "bad key length".into(),
                });
            };
            if c != camera || t >= end {
                break;
            }
            if out.last().is_none_or(|(lt, _)| *lt != t) {
                out.push((t, index::decode(cf_name, k, v)?));
            }
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// The camera's most recent segment, if any.
    pub fn last_segment(&self, camera: CameraId) -> Result<Option<(i64, SegmentRow)>> {
        let mut it = self
            .shared
            .db
            .raw_iterator_cf(self.shared.cf(cf::SEGMENTS)?);
        it.seek_for_prev(camera_time_key(camera, i64::MAX));
        let found = match (it.key(), it.value()) {
            (Some(k), Some(v)) => match parse_camera_time_key(k) {
                Some((c, t)) if c == camera => Some((t, index::decode(cf::SEGMENTS, k, v)?)),
                _ => None,
            },
            _ => None,
        };
        it.status()?;
        Ok(found)
    }

    /// Segments of a camera overlapping `[start, end)`, keyed by start time.
    pub fn segments(
        &self,
        camera: CameraId,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, SegmentRow)>> {
        self.scan_range(cf::SEGMENTS, camera, start, end, |r: &SegmentRow| r.end_utc)
    }

    /// Recorded spans of a camera within `[start, end)`, clipped to the range; neighbours closer
    /// than `max_gap_us` are merged. Built from segment rows (one per ~minute), not fragments.
    pub fn spans(
        &self,
        camera: CameraId,
        start: i64,
        end: i64,
        max_gap_us: i64,
    ) -> Result<Vec<Span>> {
        if end <= start {
            return Err(Error::Invalid("end must be after start".into()));
        }
        let mut spans: Vec<Span> = Vec::new();
        for (seg_start, row) in self.segments(camera, start, end)? {
            let s = Span {
                start_utc: seg_start.max(start),
                end_utc: row.end_utc.min(end),
            };
            if s.end_utc <= s.start_utc {
                continue;
            }
            match spans.last_mut() {
                Some(last) if s.start_utc - last.end_utc <= max_gap_us => {
                    last.end_utc = last.end_utc.max(s.end_utc)
                }
                _ => spans.push(s),
            }
        }
        Ok(spans)
    }

    /// Fragments of a camera overlapping `[start, end)`, in time order.
    pub fn fragments(&self, camera: CameraId, start: i64, end: i64) -> Result<Vec<FragmentRef>> {
        let mut out = Vec::new();
        self.for_each_fragment(camera, start, end, |file, start_utc, row| {
            out.push(FragmentRef {
                camera,
                start_utc,
                row: row.clone(),
                file: file.clone(),
            });
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `each(segment file, start UTC, row)` for the fragments of a camera overlapping
    /// `[start, end)`, in time order, without collecting them (a day is ~86 400 fragments).
    ///
    /// Sealed segments are read from their packed [`cf::LAYOUTS`] row (one read per ~minute of
    /// video); the open segment, and any whose layout row is missing or disagrees with the
    /// segment row, from its fragment rows.
    pub fn for_each_fragment(
        &self,
        camera: CameraId,
        start: i64,
        end: i64,
        mut each: impl FnMut(&Arc<str>, i64, &FragmentRow) -> Result<()>,
    ) -> Result<()> {
        if end <= start {
            return Err(Error::Invalid("end must be after start".into()));
        }
        let sh = &self.shared;
        let segs = self.segments(camera, start, end)?;
        let mut layouts = sh.db.raw_iterator_cf(sh.cf(cf::LAYOUTS)?);
        if let Some((first, _)) = segs.first() {
            layouts.seek(camera_time_key(camera, *first));
        }
        let mut rows: Vec<(i64, FragmentRow)> = Vec::new();
        for (seg_start, seg) in &segs {
            let key = camera_time_key(camera, *seg_start);
            while layouts.key().is_some_and(|k| k < &key[..]) {
                layouts.next();
            }
            rows.clear();
            let mut packed = false;
            if seg.closed()
                && let (Some(k), Some(v)) = (layouts.key(), layouts.value())
                && k == key
            {
                let decoded =
                    index::decode_layout(k, v, *seg_start, seg.run, |t, row| rows.push((t, row)));
                // The segment row changes whenever its fragment rows do (sealing, repair), so a
                // table that disagrees with it is stale or another segment's.
                let fits = match (rows.first(), rows.last()) {
                    (Some((first, _)), Some((_, last))) => {
                        *first >= *seg_start
                            && last.end_utc == seg.end_utc
                            && last.offset + u64::from(last.len) <= seg.size
                    }
                    _ => seg.fragments == 0,
                };
                packed = decoded.is_ok() && rows.len() == seg.fragments as usize && fits;
                if !packed {
                    // Derived data: fall back to the rows it was built from.
                    let why = decoded.err().map(|e| e.to_string());
                    if UNUSABLE_LAYOUT_WARNED.swap(true, Ordering::Relaxed) {
                        tracing::debug!(camera, file = %seg.file, why, "layout row unusable");
                    } else {
                        tracing::warn!(camera, file = %seg.file, why, "layout row unusable; reading fragment rows (`vms check --repair` rebuilds it; further cases are logged at debug level)");
                    }
                }
            }
            layouts.status()?;
            if !packed {
                rows = sh.segment_fragment_rows(camera, *seg_start, seg)?;
            }
            let file: Arc<str> = Arc::from(seg.file.as_str());
            for (t, row) in &rows {
                if *t < end && row.end_utc > start {
                    each(&file, *t, row)?;
                }
            }
        }
        Ok(())
    }

    /// Reads a fragment's bytes (`prft` + `moof` + `mdat`). Blocking: call from a blocking pool.
    pub fn read_fragment(&self, f: &FragmentRef) -> Result<Vec<u8>> {
        let path = self.shared.root.join(&*f.file);
        let mut file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        file.seek(SeekFrom::Start(f.row.offset))
            .map_err(|e| Error::io(&path, e))?;
        let mut buf = vec![0; f.row.len as usize];
        file.read_exact(&mut buf).map_err(|e| Error::io(&path, e))?;
        Ok(buf)
    }

    /// Places a hold: retention will not delete video of `camera` overlapping `[start, end)`.
    pub fn add_hold(&self, camera: CameraId, start: i64, end: i64, reason: &str) -> Result<u64> {
        if end <= start {
            return Err(Error::Invalid("hold end must be after start".into()));
        }
        let holds = self.shared.cf(cf::HOLDS)?;
        let last = self
            .shared
            .db
            .iterator_cf(holds, IteratorMode::End)
            .next()
            .transpose()?
            .and_then(|(k, _)| parse_u64_key(&k))
            .unwrap_or(0);
        let id = last + 1;
        let row = HoldRow {
            camera,
            start_utc: start,
            end_utc: end,
            reason: reason.to_owned(),
            created_utc: self.shared.opts.clock.now_utc_micros(),
        };
        self.shared
            .db
            .put_cf(holds, u64_key(id), index::encode(&row))?;
        tracing::info!(hold = id, camera, start, end, reason, "hold placed");
        Ok(id)
    }

    pub fn remove_hold(&self, id: u64) -> Result<()> {
        let holds = self.shared.cf(cf::HOLDS)?;
        if self.shared.db.get_cf(holds, u64_key(id))?.is_none() {
            return Err(Error::NotFound(format!("hold {id}")));
        }
        self.shared.db.delete_cf(holds, u64_key(id))?;
        tracing::info!(hold = id, "hold lifted");
        Ok(())
    }

    pub fn holds(&self) -> Result<Vec<(u64, HoldRow)>> {
        let holds = self.shared.cf(cf::HOLDS)?;
        let mut out = Vec::new();
        for item in self.shared.db.iterator_cf(holds, IteratorMode::Start) {
            let (k, v) = item?;
            let id = parse_u64_key(&k).ok_or_else(|| Error::Corrupt {
                cf: cf::HOLDS,
                key: hex::encode(&k),
                why: "bad key length".into(),
            })?;
            out.push((id, index::decode(cf::HOLDS, &k, &v)?));
        }
        Ok(out)
    }

    /// The retention log: every segment deletion, oldest first.
    pub fn deletions(&self) -> Result<Vec<DeletionRow>> {
        let h = self.shared.cf(cf::DELETIONS)?;
        let mut out = Vec::new();
        for item in self.shared.db.iterator_cf(h, IteratorMode::Start) {
            let (k, v) = item?;
            out.push(index::decode(cf::DELETIONS, &k, &v)?);
        }
        Ok(out)
    }

    /// Oldest closed segments of each camera, in time order, until one that must stay.
    fn oldest_segments(&self, camera: CameraId, limit: usize) -> Result<Vec<(i64, SegmentRow)>> {
        let h = self.shared.cf(cf::SEGMENTS)?;
        let from = camera_time_key(camera, i64::MIN);
        let mut out = Vec::new();
        for item in self
            .shared
            .db
            .iterator_cf(h, IteratorMode::From(&from, Direction::Forward))
        {
            let (k, v) = item?;
            match parse_camera_time_key(&k) {
                Some((c, t)) if c == camera => {
                    out.push((t, index::decode::<SegmentRow>(cf::SEGMENTS, &k, &v)?));
                }
                _ => break,
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn delete_segment(
        &self,
        camera: CameraId,
        start: i64,
        row: &SegmentRow,
        reason: &str,
    ) -> Result<()> {
        let path = self.shared.root.join(&row.file);
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.shared.cf(cf::FRAGMENTS)?,
            camera_time_key(camera, start),
            camera_time_key(camera, row.end_utc),
        );
        batch.delete_cf(
            self.shared.cf(cf::SEGMENTS)?,
            camera_time_key(camera, start),
        );
        batch.delete_cf(self.shared.cf(cf::LAYOUTS)?, camera_time_key(camera, start));
        let now = self.shared.opts.clock.now_utc_micros();
        batch.put_cf(
            self.shared.cf(cf::DELETIONS)?,
            index::deletion_key(now, camera, start),
            index::encode(&DeletionRow {
                camera,
                segment_start: start,
                segment_end: row.end_utc,
                bytes: row.size,
                reason: reason.to_owned(),
            }),
        );
        // Index first: a crash between the two leaves an orphan file, never a dangling row.
        self.shared.db.write(batch)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&path, e)),
        }
        self.shared
            .total_bytes
            .fetch_sub(row.size.min(self.total_bytes()), Ordering::Relaxed);
        tracing::info!(camera, start, end = row.end_utc, bytes = row.size, file = %row.file, reason, "segment deleted");
        Ok(())
    }

    /// Deletes video past each camera's maximum age, then oldest video while over the quota,
    /// never touching held ranges or open segments. Every deletion is logged and recorded.
    pub fn enforce_retention(&self, policy: &RetentionPolicy) -> Result<RetentionReport> {
        let now = self.shared.opts.clock.now_utc_micros();
        let holds = self.holds()?;
        let held = |camera: CameraId, row: &SegmentRow, start: i64| {
            holds
                .iter()
                .any(|(_, h)| h.camera == camera && h.start_utc < row.end_utc && start < h.end_utc)
        };
        let mut report = RetentionReport::default();
        let cameras = self.cameras()?;
        // By age.
        for (_, camera) in &cameras {
            let max_age = policy
                .max_age_secs
                .get(camera)
                .copied()
                .unwrap_or(policy.default_max_age_secs);
            let cutoff = now.saturating_sub(max_age.saturating_mul(1_000_000));
            loop {
                let batch = self.oldest_segments(*camera, 256)?;
                let mut deleted_any = false;
                let mut done = batch.len() < 256;
                for (start, row) in &batch {
                    if row.end_utc > cutoff || !row.closed() {
                        done = true;
                        break;
                    }
                    if held(*camera, row, *start) {
                        report.held_segments += 1;
                        continue;
                    }
                    self.delete_segment(*camera, *start, row, "max age")?;
                    report.deleted_segments += 1;
                    report.deleted_bytes += row.size;
                    deleted_any = true;
                }
                if done || !deleted_any {
                    break;
                }
            }
        }
        // By quota: repeatedly delete the globally oldest deletable segment.
        if let Some(quota) = policy.quota_bytes
            && self.total_bytes() > quota
        {
            let target = policy.low_watermark_bytes.unwrap_or(quota).min(quota);
            self.delete_oldest_until(target, &cameras, &held, &mut report)?;
            report.over_quota = self.total_bytes() > quota;
            if report.over_quota {
                tracing::warn!(
                    total = self.total_bytes(),
                    quota,
                    "over disk quota; remaining video is held or still being written"
                );
            }
        }
        Ok(report)
    }

    /// Deletes the globally oldest deletable segments until the store is at most `target`
    /// bytes: a k-way merge over the cameras' oldest segments, a page at a time, so memory
    /// stays bounded however many segments the store holds.
    fn delete_oldest_until(
        &self,
        target: u64,
        cameras: &[(String, CameraId)],
        held: &dyn Fn(CameraId, &SegmentRow, i64) -> bool,
        report: &mut RetentionReport,
    ) -> Result<()> {
        use std::cmp::Reverse;
        use std::collections::{BinaryHeap, VecDeque};
        const PAGE: usize = 64;
        // Per camera: a page of its oldest segments, and whether more may follow.
        type Pages = HashMap<CameraId, (VecDeque<(i64, SegmentRow)>, bool)>;
        let mut pages: Pages = HashMap::new();
        let mut heap = BinaryHeap::new();
        let mut skipped: HashMap<CameraId, usize> = HashMap::new();
        let mut refill = |camera: CameraId,
                          pages: &mut Pages,
                          heap: &mut BinaryHeap<Reverse<(i64, CameraId)>>,
                          report: &mut RetentionReport|
         -> Result<()> {
            let skip = skipped.entry(camera).or_default();
            let rows = self.oldest_segments(camera, *skip + PAGE)?;
            let more = rows.len() == *skip + PAGE;
            let mut page = VecDeque::new();
            for (start, row) in rows.into_iter().skip(*skip) {
                if !row.closed() || held(camera, &row, start) {
                    // Kept: skipped on later pages too.
                    *skip += 1;
                    if row.closed() {
                        report.held_segments += 1;
                    }
                    continue;
                }
                page.push_back((start, row));
            }
            if let Some((start, _)) = page.front() {
                heap.push(Reverse((*start, camera)));
            }
            pages.insert(camera, (page, more));
            Ok(())
        };
        for (_, camera) in cameras {
            refill(*camera, &mut pages, &mut heap, report)?;
        }
        while self.total_bytes() > target {
            let Some(Reverse((_, camera))) = heap.pop() else {
                break;
            };
            let Some((page, more)) = pages.get_mut(&camera) else {
                continue;
            };
            let Some((start, row)) = page.pop_front() else {
                continue;
            };
            self.delete_segment(camera, start, &row, "disk quota")?;
            report.deleted_segments += 1;
            report.deleted_bytes += row.size;
            match page.front() {
                Some((next, _)) => heap.push(Reverse((*next, camera))),
                None if *more => refill(camera, &mut pages, &mut heap, report)?,
                None => {}
            }
        }
        Ok(())
    }

    /// Scans segment rows on open: totals bytes, finds the next ids and (if `recover`) seals
    /// segments left open by a crash and removes unindexed files.
    fn scan_on_open(&self, recover: bool) -> Result<()> {
        let sh = &self.shared;
        if let Some(item) = sh
            .db
            .iterator_cf(sh.cf(cf::RUNS)?, IteratorMode::End)
            .next()
        {
            let (k, _) = item?;
            sh.next_run
                .store(parse_u64_key(&k).unwrap_or(0) + 1, Ordering::SeqCst);
        }
        let mut total = 0u64;
        let mut max_id = 0u64;
        let mut max_id_per_camera: HashMap<CameraId, u64> = HashMap::new();
        let mut open = Vec::new();
        for item in sh.db.iterator_cf(sh.cf(cf::SEGMENTS)?, IteratorMode::Start) {
            let (k, v) = item?;
            let Some((camera, start)) = parse_camera_time_key(&k) else {
                continue;
            };
            let row: SegmentRow = match index::decode(cf::SEGMENTS, &k, &v) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "skipping corrupt segment row; run `vms check --repair`");
                    continue;
                }
            };
            total += row.size;
            max_id = max_id.max(row.id);
            let m = max_id_per_camera.entry(camera).or_default();
            *m = (*m).max(row.id);
            if !row.closed() {
                open.push((camera, start, row));
            }
        }
        sh.total_bytes.store(total, Ordering::Relaxed);
        sh.next_segment.store(max_id + 1, Ordering::SeqCst);
        if !recover {
            return Ok(());
        }
        for (camera, start, row) in open {
            self.seal_after_crash(camera, start, row)?;
        }
        // Files created after a camera's last indexed segment never got a fragment committed.
        for (_, camera) in self.cameras()? {
            let dir = sh.root.join(segment_dir(camera));
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let max = max_id_per_camera.get(&camera).copied().unwrap_or(0);
            for e in entries.flatten() {
                let name = e.file_name();
                let id = name
                    .to_str()
                    .and_then(|n| n.strip_suffix(".mp4"))
                    .and_then(|n| u64::from_str_radix(n, 16).ok());
                if let Some(id) = id {
                    if id > max {
                        tracing::warn!(file = %e.path().display(), "removing segment file with no indexed fragment (crash leftover)");
                        let _ = std::fs::remove_file(e.path());
                    }
                    sh.next_segment.fetch_max(id + 1, Ordering::SeqCst);
                }
            }
        }
        Ok(())
    }

    /// Seals a segment that was open when the process died: truncates bytes past the last
    /// indexed fragment, hashes the rest, and marks it closed.
    fn seal_after_crash(&self, camera: CameraId, start: i64, mut row: SegmentRow) -> Result<()> {
        let sh = &self.shared;
        let path = sh.root.join(&row.file);
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if len > row.size {
            tracing::warn!(file = %path.display(), extra = len - row.size, "truncating unindexed bytes after crash");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            f.set_len(row.size).map_err(|e| Error::io(&path, e))?;
            f.sync_all().map_err(|e| Error::io(&path, e))?;
        } else if len < row.size {
            // Only possible after power loss with `sync = "os"`: drop rows past the end.
            tracing::error!(file = %path.display(), have = len, indexed = row.size, "segment shorter than its index; dropping fragments past the end");
            self.drop_fragments_past(camera, start, &mut row, len)?;
        }
        row.sha256 = Some(hash_file(&path, row.size)?);
        let mut batch = WriteBatch::default();
        sh.put_segment(&mut batch, camera, start, &row)?;
        sh.db.write(batch)?;
        tracing::info!(file = %row.file, fragments = row.fragments, "sealed segment left open by a crash");
        Ok(())
    }

    fn drop_fragments_past(
        &self,
        camera: CameraId,
        seg_start: i64,
        row: &mut SegmentRow,
        len: u64,
    ) -> Result<()> {
        let sh = &self.shared;
        let frags = sh.cf(cf::FRAGMENTS)?;
        let mut keep_size = 0u64;
        let mut keep = (0u32, 0u64, seg_start);
        let mut batch = WriteBatch::default();
        for (t, f) in sh.segment_fragment_rows(camera, seg_start, row)? {
            if f.offset + u64::from(f.len) <= len {
                keep_size = keep_size.max(f.offset + u64::from(f.len));
                keep = (keep.0 + 1, keep.1 + u64::from(f.frames), f.end_utc);
            } else {
                batch.delete_cf(frags, camera_time_key(camera, t));
            }
        }
        sh.db.write(batch)?;
        let indexed = row.size;
        row.fragments = keep.0;
        row.frames = keep.1;
        row.end_utc = keep.2;
        row.size = if keep_size > 0 {
            keep_size
        } else {
            len.min(row.size)
        };
        // The quota counts what the index holds.
        sh.total_bytes
            .fetch_sub(indexed.saturating_sub(row.size), Ordering::Relaxed);
        // Cut the partial fragment too, so the file ends where the index does.
        let path = sh.root.join(&row.file);
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) {
            f.set_len(row.size).map_err(|e| Error::io(&path, e))?;
        }
        Ok(())
    }

    /// Verifies the index against the segment files; with `repair`, fixes what can be fixed
    /// without inventing data (truncates leftovers, drops rows that point at missing bytes,
    /// deletes undecodable rows). Content that fails its SHA-256 is reported, never "repaired".
    pub fn check(&self, repair: bool) -> Result<CheckReport> {
        let sh = &self.shared;
        let mut report = CheckReport::default();
        let seg_cf = sh.cf(cf::SEGMENTS)?;
        let frag_cf = sh.cf(cf::FRAGMENTS)?;
        let problem = |report: &mut CheckReport, what: String, repaired: bool, note_only: bool| {
            report.problems.push(Problem {
                what,
                repaired,
                note_only,
            });
        };
        let mut segments: HashMap<(CameraId, i64), SegmentRow> = HashMap::new();
        for item in sh.db.iterator_cf(seg_cf, IteratorMode::Start) {
            let (k, v) = item?;
            let key = parse_camera_time_key(&k);
            match (key, index::decode::<SegmentRow>(cf::SEGMENTS, &k, &v)) {
                (Some(key), Ok(row)) => {
                    segments.insert(key, row);
                }
                (_, Err(e)) => {
                    if repair {
                        sh.db.delete_cf(seg_cf, &k)?;
                    }
                    problem(&mut report, e.to_string(), repair, false);
                }
                (None, Ok(_)) => problem(
                    &mut report,
                    format!("segment key {} malformed", hex::encode(&k)),
                    false,
                    false,
                ),
            }
        }
        for ((camera, start), row) in segments.iter_mut() {
            report.segments += 1;
            report.bytes += row.size;
            let path = sh.root.join(&row.file);
            let len = match std::fs::metadata(&path) {
                Ok(m) => m.len(),
                Err(_) => {
                    problem(
                        &mut report,
                        format!("segment file {} is missing", row.file),
                        false,
                        false,
                    );
                    continue;
                }
            };
            if len > row.size {
                let closed = row.closed();
                let what = format!(
                    "{}: {} bytes past the last indexed fragment{}",
                    row.file,
                    len - row.size,
                    if closed {
                        ""
                    } else {
                        " (crash leftover; recovery truncates)"
                    }
                );
                if repair {
                    let f = std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| Error::io(&path, e))?;
                    f.set_len(row.size).map_err(|e| Error::io(&path, e))?;
                }
                problem(&mut report, what, repair, !closed);
            } else if len < row.size {
                let what = format!(
                    "{}: file has {len} bytes, index says {}",
                    row.file, row.size
                );
                if repair {
                    // The lost bytes are gone for good: keep what is intact and re-seal it.
                    self.drop_fragments_past(*camera, *start, row, len)?;
                    if row.closed() {
                        row.sha256 = Some(hash_file(&path, row.size)?);
                    }
                    let mut batch = WriteBatch::default();
                    sh.put_segment(&mut batch, *camera, *start, row)?;
                    sh.db.write(batch)?;
                    problem(
                        &mut report,
                        format!("{what}; dropped the fragments past the end"),
                        true,
                        false,
                    );
                    continue;
                }
                problem(&mut report, what, false, false);
                continue;
            }
            if let Some(want) = row.sha256 {
                if len >= row.size {
                    let got = hash_file(&path, row.size)?;
                    if got != want {
                        problem(
                            &mut report,
                            format!(
                                "{}: SHA-256 mismatch (index {}, file {})",
                                row.file,
                                hex::encode(want),
                                hex::encode(got)
                            ),
                            false,
                            false,
                        );
                    }
                }
            } else {
                problem(
                    &mut report,
                    format!(
                        "{}: segment still open (recording in progress or crashed)",
                        row.file
                    ),
                    false,
                    true,
                );
            }
        }
        // Fragments: decodable, inside their file, and well-formed boxes.
        let mut file_cache: Option<(String, Vec<u8>)> = None;
        for item in sh.db.iterator_cf(frag_cf, IteratorMode::Start) {
            let (k, v) = item?;
            report.fragments += 1;
            let Some((camera, t)) = parse_camera_time_key(&k) else {
                problem(
                    &mut report,
                    format!("fragment key {} malformed", hex::encode(&k)),
                    false,
                    false,
                );
                continue;
            };
            let row: FragmentRow = match index::decode(cf::FRAGMENTS, &k, &v) {
                Ok(r) => r,
                Err(e) => {
                    if repair {
                        sh.db.delete_cf(frag_cf, &k)?;
                    }
                    problem(&mut report, e.to_string(), repair, false);
                    continue;
                }
            };
            let Some(seg) = segments.get(&(camera, row.segment_start)) else {
                if repair {
                    sh.db.delete_cf(frag_cf, &k)?;
                }
                problem(
                    &mut report,
                    format!("fragment camera {camera} at {t} has no segment row"),
                    repair,
                    false,
                );
                continue;
            };
            let end = row.offset + u64::from(row.len);
            if end > seg.size {
                if repair {
                    sh.db.delete_cf(frag_cf, &k)?;
                }
                problem(
                    &mut report,
                    format!(
                        "fragment camera {camera} at {t} ends past its segment {}",
                        seg.file
                    ),
                    repair,
                    false,
                );
                continue;
            }
            if file_cache.as_ref().is_none_or(|(f, _)| *f != seg.file) {
                let path = sh.root.join(&seg.file);
                let data = std::fs::read(&path).unwrap_or_default();
                file_cache = Some((seg.file.clone(), data));
            }
            let Some((_, data)) = &file_cache else {
                continue;
            };
            let Some(bytes) = data.get(row.offset as usize..end as usize) else {
                problem(
                    &mut report,
                    format!(
                        "fragment camera {camera} at {t}: bytes missing from {}",
                        seg.file
                    ),
                    false,
                    false,
                );
                continue;
            };
            match fmp4::parse_fragment(bytes) {
                Ok(p)
                    if p.len == u64::from(row.len)
                        && p.samples.len() == row.frames as usize
                        && p.duration() == u64::from(row.duration_90k) => {}
                Ok(_) => problem(
                    &mut report,
                    format!(
                        "fragment camera {camera} at {t} in {}: boxes disagree with the index",
                        seg.file
                    ),
                    false,
                    false,
                ),
                Err(e) => problem(
                    &mut report,
                    format!(
                        "fragment camera {camera} at {t} in {} offset {}: {e}",
                        seg.file, row.offset
                    ),
                    false,
                    false,
                ),
            }
        }
        // Segment rows count what their fragment rows hold, and a sealed segment's layout row
        // packs them. Counts disagree after a repair (this one, or an interrupted or older one)
        // dropped fragment rows: `--repair` recounts, then rebuilds the layout from that.
        let layout_cf = sh.cf(cf::LAYOUTS)?;
        for ((camera, start), row) in segments.iter_mut() {
            // A segment with an undecodable fragment row is reported above already.
            let Ok(rows) = sh.segment_fragment_rows(*camera, *start, row) else {
                continue;
            };
            let fragments = rows.len() as u32;
            let frames = rows.iter().map(|(_, r)| u64::from(r.frames)).sum();
            let end_utc = rows.last().map_or(*start, |(_, r)| r.end_utc);
            let key = camera_time_key(*camera, *start);
            if (fragments, frames, end_utc) != (row.fragments, row.frames, row.end_utc) {
                let what = format!(
                    "{}: segment row counts {} fragments, its fragment rows {fragments}",
                    row.file, row.fragments
                );
                if repair {
                    row.fragments = fragments;
                    row.frames = frames;
                    row.end_utc = end_utc;
                    sh.db.put_cf(seg_cf, key, index::encode(&*row))?;
                }
                problem(&mut report, what, repair, false);
            }
            if !row.closed() {
                continue;
            }
            let want = index::encode_layout(&rows);
            let have = sh.db.get_pinned_cf(layout_cf, key)?;
            if have.as_deref() != Some(&want[..]) {
                let what = format!(
                    "{}: layout row {} (playback reads the fragment rows instead)",
                    row.file,
                    if have.is_some() { "stale" } else { "missing" }
                );
                if repair {
                    sh.db.put_cf(layout_cf, key, want)?;
                }
                problem(&mut report, what, repair, false);
            }
        }
        for item in sh.db.iterator_cf(layout_cf, IteratorMode::Start) {
            let (k, _) = item?;
            let sealed = parse_camera_time_key(&k)
                .and_then(|key| segments.get(&key))
                .is_some_and(SegmentRow::closed);
            if !sealed {
                if repair {
                    sh.db.delete_cf(layout_cf, &k)?;
                }
                problem(
                    &mut report,
                    format!("layout row {} has no sealed segment", hex::encode(&k)),
                    repair,
                    false,
                );
            }
        }
        Ok(report)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Schema 1 → 2: packs the fragment rows of every sealed segment into its layout row.
fn upgrade_to_layouts(sh: &Shared) -> Result<()> {
    let mut batch = WriteBatch::default();
    let mut n = 0u64;
    for item in sh.db.iterator_cf(sh.cf(cf::SEGMENTS)?, IteratorMode::Start) {
        let (k, v) = item?;
        let Some((camera, start)) = parse_camera_time_key(&k) else {
            continue;
        };
        // Undecodable rows are left for `vms check` to report, as on any open.
        let Ok(row) = index::decode::<SegmentRow>(cf::SEGMENTS, &k, &v) else {
            continue;
        };
        if row.closed() {
            sh.put_layout(&mut batch, camera, start, &row);
            n += 1;
            if batch.len() >= 256 {
                sh.db.write(std::mem::take(&mut batch))?;
            }
        }
    }
    sh.db.write(batch)?;
    tracing::info!(segments = n, "built layout rows for sealed segments");
    Ok(())
}

/// Directory of a camera's segment files, relative to the root.
pub(crate) fn segment_dir(camera: CameraId) -> String {
    format!("segments/{camera:08x}")
}

/// SHA-256 of the first `len` bytes of a file (how sealed segments are fingerprinted).
pub(crate) fn hash_file(path: &Path, len: u64) -> Result<[u8; 32]> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f.take(len), &mut h).map_err(|e| Error::io(path, e))?;
    Ok(h.finalize().into())
}

fn check_schema(sh: &Shared) -> Result<()> {
    let meta = sh.cf(cf::META)?;
    match sh.db.get_cf(meta, index::SCHEMA_KEY)? {
        None => {
            sh.db
                .put_cf(meta, index::SCHEMA_KEY, index::SCHEMA_VERSION.to_be_bytes())?;
            Ok(())
        }
        Some(v) => {
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
            // Upgraders from older versions, in order.
            if found < 2 {
                upgrade_to_layouts(sh)?;
            }
            if found < index::SCHEMA_VERSION {
                sh.db
                    .put_cf(meta, index::SCHEMA_KEY, index::SCHEMA_VERSION.to_be_bytes())?;
                tracing::info!(
                    from = found,
                    to = index::SCHEMA_VERSION,
                    "index schema upgraded"
                );
            }
            Ok(())
        }
    }
}
