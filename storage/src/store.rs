//! The store: one data directory with `index/` (RocksDB) and `segments/`. Opening it checks
//! and upgrades the schema, recovers from a crash and starts the disk writers; the reader
//! API ([`crate::read`]), retention ([`crate::retention`]), `check` ([`crate::check`]), the
//! audit log and the program's records are methods on [`Store`] defined in their own modules.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::clock::Clock;
use crate::db::{Db, StoreOptions};
use crate::index::{self, CameraId, CameraRow, RunRow, cf, u64_key};
use crate::writer::WriterPool;
use crate::{Error, Result, recovery, schema};

/// The recording store. See the module documentation.
#[derive(Debug)]
pub struct Store {
    pub(crate) db: Arc<Db>,
    pub(crate) writer: Mutex<Option<Arc<WriterPool>>>,
}

/// Index-name prefix of enrolled cameras (`enrolled/<id>`): configured names are plain
/// words, so the two can never meet.
pub(crate) const ENROLLED_PREFIX: &str = "enrolled/";

impl Store {
    /// Opens (creating if needed) the store under `dir`, checks the schema version and, unless
    /// disabled, recovers from a crash.
    pub fn open(dir: &Path, opts: StoreOptions) -> Result<Arc<Store>> {
        let writer_threads = opts.writer_threads;
        let recover = opts.recover;
        let db = Arc::new(Db::open(dir, opts)?);
        schema::check_and_upgrade(&db)?;
        recovery::scan_on_open(&db, recover)?;
        let pool = WriterPool::start(db.clone(), writer_threads)?;
        Ok(Arc::new(Store {
            db,
            writer: Mutex::new(Some(Arc::new(pool))),
        }))
    }

    pub fn root(&self) -> &Path {
        &self.db.root
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.db.opts.clock
    }

    /// Bytes of recorded video the index accounts for.
    pub fn total_bytes(&self) -> u64 {
        self.db.total_bytes.load(Ordering::Relaxed)
    }

    /// Bytes of video appended (and indexed) since the store was opened. Unlike
    /// [`Store::total_bytes`] retention does not take from it, so it is the write rate's
    /// counter.
    pub fn written_bytes(&self) -> u64 {
        self.db.written_bytes.load(Ordering::Relaxed)
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
        if let Err(e) = self.db.db.flush_wal(true) {
            tracing::warn!(error = %e, "index WAL flush at shutdown failed");
        }
    }

    /// Looks up a configured camera's numeric id by its name, assigning the next free one on
    /// first use. Only for cameras named by the operator (the config file, tools): enrolled
    /// cameras get theirs from [`Store::enroll_camera`], keyed by owner, so a name can never
    /// lead to another owner's camera.
    pub fn camera_id(&self, name: &str) -> Result<CameraId> {
        if name.is_empty() || name.len() > 128 || name.starts_with(ENROLLED_PREFIX) {
            return Err(Error::Invalid(format!("bad camera name {name:?}")));
        }
        let _guard = self
            .db
            .camera_lock
            .lock()
            .map_err(|_| Error::ShuttingDown)?;
        if let Some(row) = self.db.get_row::<CameraRow>(cf::CAMERAS, name.as_bytes())? {
            return Ok(row.id);
        }
        let id = self.next_camera_id_locked()?;
        self.db.db.put_cf(
            self.db.cf(cf::CAMERAS)?,
            name.as_bytes(),
            index::encode(&CameraRow { id }),
        )?;
        Ok(id)
    }

    /// The next camera id never used before; the caller holds `camera_lock`. The high-water
    /// mark is kept in `meta`, so the id of a removed registration is never given to another
    /// camera (its audit trail names it), and read once per process rather than by a scan of
    /// every camera on each enrollment.
    pub(crate) fn next_camera_id_locked(&self) -> Result<CameraId> {
        let meta = self.db.cf(cf::META)?;
        let mut high = self.db.camera_high.load(Ordering::Relaxed);
        if high == 0 {
            let stored = self
                .db
                .db
                .get_cf(meta, index::CAMERA_HIGH_KEY)?
                .and_then(|v| <[u8; 4]>::try_from(v.as_slice()).ok())
                .map_or(0, u32::from_be_bytes);
            let scanned = recovery::camera_ids(&self.db)?
                .into_iter()
                .max()
                .unwrap_or(0);
            high = stored.max(scanned);
        }
        let id = high
            .checked_add(1)
            .ok_or_else(|| Error::Invalid("camera ids exhausted".into()))?;
        self.db
            .db
            .put_cf(meta, index::CAMERA_HIGH_KEY, id.to_be_bytes())?;
        self.db.camera_high.store(id, Ordering::Relaxed);
        Ok(id)
    }

    /// Every camera the index knows, by name.
    pub fn cameras(&self) -> Result<Vec<(String, CameraId)>> {
        let cams = self.db.cf(cf::CAMERAS)?;
        let mut out = Vec::new();
        for item in self.db.db.iterator_cf(cams, rocksdb::IteratorMode::Start) {
            let (k, v) = item?;
            let id = index::decode::<CameraRow>(cf::CAMERAS, &k, &v)?.id;
            out.push((String::from_utf8_lossy(&k).into_owned(), id));
        }
        Ok(out)
    }

    /// A new run id; the run's row is written with its first fragment.
    pub(crate) fn next_run_id(&self) -> u64 {
        self.db.next_run.fetch_add(1, Ordering::SeqCst)
    }

    pub(crate) fn next_segment_id(&self) -> u64 {
        self.db.next_segment.fetch_add(1, Ordering::SeqCst)
    }

    /// A run's row, with its init segment.
    pub fn run(&self, id: u64) -> Result<RunRow> {
        self.db
            .get_row(cf::RUNS, &u64_key(id))?
            .ok_or_else(|| Error::NotFound(format!("run {id}")))
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shutdown();
    }
}
