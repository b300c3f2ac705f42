//! What the upload handlers share across requests: the running intake hash of each upload in
//! progress (with the offset it covers), which uploads a request is writing right now, a cap on
//! uploads written at once, and which received files are being identified.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use sha2::Sha256;

/// Uploads written at once, server-wide (each holds a file, a connection and a 4 MiB buffer).
pub const MAX_WRITERS: usize = 64;

#[derive(Debug)]
pub struct UploadHashes {
    running: Mutex<HashMap<u64, (u64, Sha256)>>,
    busy: Mutex<HashSet<u64>>,
    writers: Arc<tokio::sync::Semaphore>,
    identifying: Mutex<HashSet<u64>>,
}

impl Default for UploadHashes {
    fn default() -> Self {
        UploadHashes {
            running: Mutex::default(),
            busy: Mutex::default(),
            writers: Arc::new(tokio::sync::Semaphore::new(MAX_WRITERS)),
            identifying: Mutex::default(),
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

    /// Marks `id` as being identified; false if it already is (one examination at a time per
    /// file, however often the case page asks).
    pub fn begin_identifying(&self, id: u64) -> bool {
        self.identifying.lock().is_ok_and(|mut s| s.insert(id))
    }

    pub fn end_identifying(&self, id: u64) {
        if let Ok(mut s) = self.identifying.lock() {
            s.remove(&id);
        }
    }

    pub fn forget(&self, id: u64) {
        if let Ok(mut m) = self.running.lock() {
            m.remove(&id);
        }
    }
}
