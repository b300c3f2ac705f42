//! What the upload handlers share across requests: the running intake hash of each upload in
//! progress (with the offset it covers), which uploads a request is writing right now, a cap on
//! uploads written at once; and where the examination of each received file stands.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use sha2::Sha256;

/// Uploads written at once, server-wide (each holds a file, a connection and a 4 MiB buffer).
pub const MAX_WRITERS: usize = 64;

#[derive(Debug)]
pub struct UploadHashes {
    running: Mutex<HashMap<u64, (u64, Sha256)>>,
    busy: Mutex<HashSet<u64>>,
    writers: Arc<tokio::sync::Semaphore>,
}

impl Default for UploadHashes {
    fn default() -> Self {
        UploadHashes {
            running: Mutex::default(),
            busy: Mutex::default(),
            writers: Arc::new(tokio::sync::Semaphore::new(MAX_WRITERS)),
        }
    }
}

/// Exclusive use of one upload. Held in an `Arc` by every blocking task that touches the
/// upload's file, so it is released when the last of them ends — not when a request whose
/// client went away is dropped while its write still runs.
#[derive(Debug)]
pub struct Busy {
    hashes: Arc<UploadHashes>,
    id: u64,
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Ok(mut b) = self.hashes.busy.lock() {
            b.remove(&self.id);
        }
    }
}

impl UploadHashes {
    /// Takes upload `id` for one request; `None` if another request has it.
    pub fn take(self: &Arc<Self>, id: u64) -> Option<Arc<Busy>> {
        let mut b = self.busy.lock().ok()?;
        b.insert(id).then(|| {
            Arc::new(Busy {
                hashes: self.clone(),
                id,
                _slot: None,
            })
        })
    }

    /// Takes upload `id` and a writer slot; `Err(true)` when every slot is in use, `Err(false)`
    /// when another request has this upload.
    pub fn take_for_writing(self: &Arc<Self>, id: u64) -> Result<Arc<Busy>, bool> {
        let slot = self.writers.clone().try_acquire_owned().map_err(|_| true)?;
        let mut b = self.busy.lock().map_err(|_| false)?;
        if !b.insert(id) {
            return Err(false);
        }
        Ok(Arc::new(Busy {
            hashes: self.clone(),
            id,
            _slot: Some(slot),
        }))
    }

    /// The running hash of `id` if it covers exactly `offset` bytes (taken out of the map).
    pub fn running(&self, id: u64, offset: u64) -> Option<Sha256> {
        let (at, h) = self.running.lock().ok()?.remove(&id)?;
        (at == offset).then_some(h)
    }

    /// Keeps the running hash of `id` over its first `offset` bytes.
    pub fn keep(&self, id: u64, offset: u64, h: Sha256) {
        if let Ok(mut m) = self.running.lock() {
            m.insert(id, (offset, h));
        }
    }

    pub fn forget(&self, id: u64) {
        if let Ok(mut m) = self.running.lock() {
            m.remove(&id);
        }
    }
}

/// Where a file's examination stands, for the case page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    Identifying,
    /// Waiting for another file's conversion to end.
    Queued,
    Converting {
        percent: u8,
    },
}

#[derive(Debug)]
pub struct Examinations {
    running: Mutex<HashMap<u64, Stage>>,
    /// Files no working copy could be made of since this process started (not retried until
    /// the next start: the failure is audited).
    failed: Mutex<HashSet<u64>>,
    conversions: tokio::sync::Semaphore,
    /// Identifications (ffprobe, archive listing) at once: a thousand files arriving together
    /// must not start a thousand child processes.
    probes: tokio::sync::Semaphore,
}

impl Default for Examinations {
    fn default() -> Self {
        Examinations {
            running: Mutex::default(),
            failed: Mutex::default(),
            conversions: tokio::sync::Semaphore::new(1),
            probes: tokio::sync::Semaphore::new(2),
        }
    }
}

impl Examinations {
    /// Where the examination of `id` stands, if one runs.
    pub fn stage(&self, id: u64) -> Option<Stage> {
        self.running.lock().ok()?.get(&id).copied()
    }

    pub(crate) fn set(&self, id: u64, stage: Stage) {
        if let Ok(mut m) = self.running.lock() {
            m.insert(id, stage);
        }
    }

    /// Claims `id` for one examination; false if one runs already.
    pub(crate) fn begin(&self, id: u64) -> bool {
        self.running.lock().is_ok_and(|mut m| {
            if m.contains_key(&id) {
                return false;
            }
            m.insert(id, Stage::Identifying);
            true
        })
    }

    pub(crate) fn end(&self, id: u64) {
        if let Ok(mut m) = self.running.lock() {
            m.remove(&id);
        }
    }

    pub(crate) fn has_failed(&self, id: u64) -> bool {
        self.failed.lock().is_ok_and(|f| f.contains(&id))
    }

    pub(crate) fn fail(&self, id: u64) {
        if let Ok(mut f) = self.failed.lock() {
            f.insert(id);
        }
    }

    /// One of the identification slots.
    pub(crate) async fn probe(
        &self,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, tokio::sync::AcquireError> {
        self.probes.acquire().await
    }

    /// The one conversion slot (conversions run one at a time).
    pub(crate) async fn conversion(
        &self,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, tokio::sync::AcquireError> {
        self.conversions.acquire().await
    }
}
