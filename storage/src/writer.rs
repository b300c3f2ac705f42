//! The disk writer pool: dedicated threads that append fragments to segment files, make them
//! durable and then commit their index rows — blocking I/O kept off the async workers.
//!
//! Each thread drains whatever jobs are queued and commits them in one RocksDB `WriteBatch`
//! (group commit), so a thousand cameras cost a handful of WAL syncs per second, not one each.
//! A camera always goes to the same thread, which keeps its jobs in order.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use rocksdb::WriteBatch;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::db::{Db, SyncPolicy};
use crate::index::{self, CameraId, FragmentRow, RunRow, SegmentRow, camera_time_key, cf, u64_key};
use crate::segments::Appender;
use crate::{Error, Result};

/// A segment file being written. Owned by its recorder between jobs and moved into the writer
/// thread for each job, so no lock guards it.
#[derive(Debug)]
pub(crate) struct OpenSegment {
    pub camera: CameraId,
    pub row: SegmentRow,
    file: Option<Appender>,
    hasher: Sha256,
}

impl OpenSegment {
    pub fn new(camera: CameraId, row: SegmentRow) -> Self {
        OpenSegment {
            camera,
            row,
            file: None,
            hasher: Sha256::new(),
        }
    }
}

#[derive(Debug)]
pub(crate) enum Op {
    /// Append one fragment (creating the file with `init` first if it does not exist yet).
    Append {
        init: Arc<[u8]>,
        header: Vec<u8>,
        data: Vec<Bytes>,
        start_utc: i64,
        row: FragmentRow,
        /// The run's row, committed with the run's first fragment (and again with the next
        /// if that write failed).
        run: Option<Box<(u64, RunRow)>>,
    },
    /// Seal the segment: store its SHA-256 and stop writing to it.
    Close,
}

#[derive(Debug)]
pub(crate) struct Job {
    pub seg: OpenSegment,
    pub op: Op,
    pub reply: oneshot::Sender<(OpenSegment, Result<()>)>,
}

/// Handle to the writer threads.
#[derive(Debug)]
pub(crate) struct WriterPool {
    senders: Vec<mpsc::Sender<Job>>,
    threads: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>,
}

/// How many jobs one group commit takes at most.
const MAX_BATCH: usize = 256;

impl WriterPool {
    pub fn start(db: Arc<Db>, threads: usize) -> Result<Self> {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for i in 0..threads.max(1) {
            let (tx, rx) = mpsc::channel(1024);
            let db = db.clone();
            let h = std::thread::Builder::new()
                .name(format!("vms-writer-{i}"))
                .spawn(move || run(db, rx))
                .map_err(|e| Error::io("writer thread", e))?;
            senders.push(tx);
            handles.push(h);
        }
        Ok(WriterPool {
            senders,
            threads: std::sync::Mutex::new(handles),
        })
    }

    /// Runs a job on the camera's writer thread and waits for its outcome.
    pub async fn submit(&self, seg: OpenSegment, op: Op) -> (Option<OpenSegment>, Result<()>) {
        let i = seg.camera as usize % self.senders.len();
        let (reply, rx) = oneshot::channel();
        if self.senders[i].send(Job { seg, op, reply }).await.is_err() {
            return (None, Err(Error::ShuttingDown));
        }
        match rx.await {
            Ok((seg, r)) => (Some(seg), r),
            Err(_) => (None, Err(Error::ShuttingDown)),
        }
    }

    /// Stops the threads once their queues are empty.
    pub fn shutdown(&mut self) {
        self.senders.clear();
        let handles = match self.threads.lock() {
            Ok(mut h) => std::mem::take(&mut *h),
            Err(_) => return,
        };
        for h in handles {
            let _ = h.join();
        }
    }
}

fn run(db: Arc<Db>, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        commit_batch(&db, jobs);
    }
}

/// What a job changed on disk, so it can be undone if the index commit fails.
struct Applied {
    prev_row: SegmentRow,
    prev_hasher: Sha256,
    appended: u64,
}

fn commit_batch(db: &Db, jobs: Vec<Job>) {
    let mut batch = WriteBatch::default();
    let mut done = Vec::with_capacity(jobs.len());
    for mut job in jobs {
        let outcome = apply(db, &mut job.seg, &job.op, &mut batch);
        done.push((job, outcome));
    }
    let sync = db.opts.sync == SyncPolicy::Always;
    let mut wo = rocksdb::WriteOptions::default();
    wo.set_sync(sync);
    let commit = if batch.is_empty() {
        Ok(())
    } else {
        db.db.write_opt(batch, &wo)
    };
    for (mut job, outcome) in done {
        let result = match (outcome, &commit) {
            (Ok(applied), Ok(())) => {
                db.total_bytes
                    .fetch_add(applied.appended, Ordering::Relaxed);
                db.written_bytes
                    .fetch_add(applied.appended, Ordering::Relaxed);
                Ok(())
            }
            (Ok(applied), Err(e)) => {
                // The index did not take the rows: put the file back as the index knows it.
                rollback(&mut job.seg, applied);
                Err(Error::Db(e.clone()))
            }
            (Err(e), _) => Err(e),
        };
        let _ = job.reply.send((job.seg, result));
    }
}

fn rollback(seg: &mut OpenSegment, applied: Applied) {
    if let Some(f) = &seg.file
        && let Err(e) = f.truncate(applied.prev_row.size)
    {
        tracing::error!(file = %seg.row.file, error = %e, "rollback truncate failed");
    }
    seg.row = applied.prev_row;
    seg.hasher = applied.prev_hasher;
}

fn apply(db: &Db, seg: &mut OpenSegment, op: &Op, batch: &mut WriteBatch) -> Result<Applied> {
    let prev = Applied {
        prev_row: seg.row.clone(),
        prev_hasher: seg.hasher.clone(),
        appended: 0,
    };
    let sync = db.opts.sync == SyncPolicy::Always;
    match op {
        Op::Append {
            init,
            header,
            data,
            start_utc,
            row,
            run,
        } => {
            let mut appended = 0u64;
            if seg.file.is_none() {
                let f = db.segments.create(&seg.row.file, init, sync)?;
                seg.hasher.update(init);
                seg.row.size = init.len() as u64;
                appended += init.len() as u64;
                seg.file = Some(f);
            }
            let Some(f) = seg.file.as_mut() else {
                return Err(Error::Invalid("segment file not open".into()));
            };
            // One vectored write per fragment instead of one write per frame.
            let mut slices: Vec<std::io::IoSlice<'_>> = Vec::with_capacity(data.len() + 1);
            slices.push(std::io::IoSlice::new(header));
            slices.extend(data.iter().map(|d| std::io::IoSlice::new(d)));
            if let Err(e) = f.append(&mut slices, sync) {
                // Leave the file exactly as the index describes it (e.g. after ENOSPC).
                let _ = f.truncate(seg.row.size);
                seg.row = prev.prev_row;
                seg.hasher = prev.prev_hasher;
                return Err(e);
            }
            let len = header.len() as u64 + data.iter().map(|d| d.len() as u64).sum::<u64>();
            seg.hasher.update(header);
            for d in data {
                seg.hasher.update(d);
            }
            let mut frag = row.clone();
            frag.offset = seg.row.size;
            frag.len =
                u32::try_from(len).map_err(|_| Error::Invalid("fragment over 4 GiB".into()))?;
            seg.row.size += len;
            seg.row.end_utc = frag.end_utc;
            seg.row.fragments += 1;
            seg.row.frames += u64::from(frag.frames);
            batch.put_cf(
                db.cf(cf::FRAGMENTS)?,
                camera_time_key(seg.camera, *start_utc),
                index::encode(&frag),
            );
            db.put_segment(batch, seg.camera, seg.row.start_utc, &seg.row)?;
            if let Some(run) = run {
                let (id, row) = &**run;
                batch.put_cf(db.cf(cf::RUNS)?, u64_key(*id), index::encode(row));
            }
            Ok(Applied {
                appended: appended + len,
                ..prev
            })
        }
        Op::Close => {
            if let Some(f) = seg.file.take()
                && sync
            {
                f.sync_all()?;
            }
            if seg.row.fragments == 0 {
                // Nothing was ever indexed here: the file holds at most an init segment.
                let _ = db.segments.remove(&seg.row.file);
                return Ok(prev);
            }
            let digest: [u8; 32] = std::mem::take(&mut seg.hasher).finalize().into();
            seg.row.sha256 = Some(digest);
            // Every append of this segment was committed before its close was submitted, so
            // the layout row put with the sealed row packs all of them.
            db.put_segment(batch, seg.camera, seg.row.start_utc, &seg.row)?;
            Ok(prev)
        }
    }
}
