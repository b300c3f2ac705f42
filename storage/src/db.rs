//! The database floor: the RocksDB handle with its column families and options, the store's
//! counters, id allocation, generic row access, and the segment-row writes every path that
//! seals a segment shares. Everything above (writer, reader, retention, recovery, check, the
//! program's records) goes through this.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, DB, Options, WriteBatch};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::Clock;
use crate::index::{
    self, AuditHead, CameraId, FragmentRow, SegmentRow, camera_time_key, cf, parse_camera_time_key,
    parse_u64_key, u64_key,
};
use crate::segments::Segments;
use crate::{Error, Result};

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

/// The open database and what every layer of the store shares.
#[derive(Debug)]
pub(crate) struct Db {
    pub db: DB,
    pub root: PathBuf,
    pub opts: StoreOptions,
    pub segments: Segments,
    /// Bytes of recorded video the index accounts for (the quota's count).
    pub total_bytes: AtomicU64,
    /// Bytes of video appended since the store was opened (only ever grows).
    pub written_bytes: AtomicU64,
    pub next_run: AtomicU64,
    pub next_segment: AtomicU64,
    /// Serialises camera id allocation.
    pub camera_lock: Mutex<()>,
    /// The highest camera id ever allocated (0: not loaded yet); changed under `camera_lock`.
    pub camera_high: std::sync::atomic::AtomicU32,
    /// Serialises id allocation (and the insert that uses the id) for u64-keyed records.
    id_lock: Mutex<()>,
    /// Serialises read-modify-writes of accounts and sessions (failed-login counters, TOTP
    /// steps, `last_seen`) against each other and against session deletion.
    pub account_lock: Mutex<()>,
    /// The audit chain's head; held while appending so the chain stays linear.
    pub audit_head: Mutex<AuditHead>,
}

impl Db {
    /// Opens (creating if needed) the database under `dir/index` with every column family.
    pub fn open(dir: &Path, opts: StoreOptions) -> Result<Db> {
        let segments = Segments::new(dir);
        segments.prepare()?;
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        db_opts.set_keep_log_file_num(4);
        let cfs = cf::ALL
            .iter()
            .map(|n| ColumnFamilyDescriptor::new(*n, Options::default()));
        let db = DB::open_cf_descriptors(&db_opts, dir.join("index"), cfs)?;
        let db = Db {
            db,
            root: dir.to_path_buf(),
            opts,
            segments,
            total_bytes: AtomicU64::new(0),
            written_bytes: AtomicU64::new(0),
            next_run: AtomicU64::new(1),
            next_segment: AtomicU64::new(1),
            camera_lock: Mutex::new(()),
            camera_high: std::sync::atomic::AtomicU32::new(0),
            id_lock: Mutex::new(()),
            account_lock: Mutex::new(()),
            audit_head: Mutex::new(AuditHead::default()),
        };
        let head = db.load_audit_head()?;
        if let Ok(mut h) = db.audit_head.lock() {
            *h = head;
        }
        Ok(db)
    }

    /// The audit chain's persisted head (what `verify` compares the chain against).
    pub(crate) fn load_audit_head(&self) -> Result<AuditHead> {
        Ok(
            match self.db.get_cf(self.cf(cf::META)?, index::AUDIT_HEAD_KEY)? {
                Some(v) => index::decode(cf::META, index::AUDIT_HEAD_KEY, &v)?,
                None => AuditHead::default(),
            },
        )
    }

    pub fn cf(&self, name: &'static str) -> Result<&ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| Error::NotFound(format!("column family {name}")))
    }

    pub fn now_us(&self) -> i64 {
        self.opts.clock.now_utc_micros()
    }

    /// Stores one row, synced.
    pub fn put_row<T: Serialize>(&self, cf_name: &'static str, key: &[u8], row: &T) -> Result<()> {
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db
            .put_cf_opt(self.cf(cf_name)?, key, index::encode(row), &wo)?;
        Ok(())
    }

    pub fn get_row<T: DeserializeOwned>(
        &self,
        cf_name: &'static str,
        key: &[u8],
    ) -> Result<Option<T>> {
        match self.db.get_cf(self.cf(cf_name)?, key)? {
            Some(v) => Ok(Some(index::decode(cf_name, key, &v)?)),
            None => Ok(None),
        }
    }

    pub fn delete_row(&self, cf_name: &'static str, key: &[u8]) -> Result<()> {
        self.db.delete_cf(self.cf(cf_name)?, key)?;
        Ok(())
    }

    /// Every row of a column family, in key order.
    pub fn all_rows<T: DeserializeOwned>(&self, cf_name: &'static str) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(cf_name)?, rocksdb::IteratorMode::Start)
        {
            let (k, v) = item?;
            out.push(index::decode(cf_name, &k, &v)?);
        }
        Ok(out)
    }

    /// Every row of a column family with its key, in key order.
    pub fn all_rows_with_keys<T: DeserializeOwned>(
        &self,
        cf_name: &'static str,
    ) -> Result<Vec<(Box<[u8]>, T)>> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(cf_name)?, rocksdb::IteratorMode::Start)
        {
            let (k, v) = item?;
            let row = index::decode(cf_name, &k, &v)?;
            out.push((k, row));
        }
        Ok(out)
    }

    /// Every row of a u64-keyed column family with its id, in id order.
    pub fn all_rows_with_ids<T: DeserializeOwned>(
        &self,
        cf_name: &'static str,
    ) -> Result<Vec<(u64, T)>> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(cf_name)?, rocksdb::IteratorMode::Start)
        {
            let (k, v) = item?;
            let id = parse_u64_key(&k).ok_or_else(|| Error::Corrupt {
                cf: cf_name,
                key: hex::encode(&k),
                why: "bad key length".into(),
            })?;
            out.push((id, index::decode(cf_name, &k, &v)?));
        }
        Ok(out)
    }

    /// Allocates the next id of a u64-keyed column family and stores the row `make` builds for
    /// it, under one lock: two callers never get the same id, and no row is overwritten.
    pub fn insert_next<T: Serialize>(
        &self,
        cf_name: &'static str,
        make: impl FnOnce(u64) -> T,
    ) -> Result<T> {
        let _guard = self.id_lock.lock().map_err(|_| Error::ShuttingDown)?;
        let last = self
            .db
            .iterator_cf(self.cf(cf_name)?, rocksdb::IteratorMode::End)
            .next()
            .transpose()?
            .and_then(|(k, _)| parse_u64_key(&k))
            .unwrap_or(0);
        let id = last + 1;
        let row = make(id);
        self.put_row(cf_name, &u64_key(id), &row)?;
        Ok(row)
    }

    /// A segment's fragment rows, in order, from the fragments column family.
    pub fn segment_fragment_rows(
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
    pub fn put_segment(
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
    pub fn put_layout(
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
