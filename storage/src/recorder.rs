//! The per-camera recorder: drives the recording rules ([`crate::timeline`], pure) with a
//! camera's frames and carries out their steps — fragments to the writer pool, segment files
//! sealed — counting what happens for health. The run row joins its first fragment's index
//! batch, so no synchronous RocksDB write happens on an async worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::fmp4::TrackParams;
use crate::index::{CameraId, RunRow};
use crate::store::Store;
use crate::timeline::{Fragment, Ids, Step, Timeline};
pub use crate::timeline::{RecFrame, RecorderOptions};
use crate::writer::{Op, OpenSegment};
use crate::{Error, Result};

/// Counters a recorder keeps; shared with whoever reports health.
#[derive(Debug, Default)]
pub struct RecorderStats {
    pub frames: AtomicU64,
    pub fragments: AtomicU64,
    pub bytes: AtomicU64,
    pub runs: AtomicU64,
    pub segments_closed: AtomicU64,
    /// Frames dropped while waiting for the first keyframe of a run.
    pub frames_before_keyframe: AtomicU64,
    /// Of those, frames dropped after a timestamp anomaly ended a run mid-session (lost
    /// video; the wait at a session's start is not counted here).
    pub frames_dropped_resync: AtomicU64,
    /// Recent share of a session's frames dropped, parts per million: a moving average over
    /// about the last 64 frames, so health can say "dropping 96 %" now, not since boot.
    pub drop_ppm: AtomicU64,
    /// Timestamp jumps or reversals that ended a run.
    pub timestamp_anomalies: AtomicU64,
    /// Access units that carried the previous one's timestamp and were joined to it.
    pub frames_merged: AtomicU64,
    /// Fragments that could not be written (disk full, I/O error) and their frames.
    pub write_errors: AtomicU64,
    pub frames_lost: AtomicU64,
    /// End of the last committed fragment, microseconds since the epoch (0 if none).
    pub last_commit_end_utc: AtomicU64,
    /// Sum and count of (commit time − first frame arrival) per fragment, for latency reports.
    pub commit_latency_us_sum: AtomicU64,
    /// Arrival of the last committed fragment's first frame minus its index time, µs: how far
    /// the camera's clock has pulled the index from the server clock (positive: the index is
    /// behind). The drift clamp works this toward zero at `max_drift_ppm`.
    pub drift_us: AtomicI64,
}

/// Records one camera. Feed it with [`Recorder::push`]; call [`Recorder::close`] on shutdown so
/// the fragment in progress is committed and the segment sealed.
#[derive(Debug)]
pub struct Recorder {
    store: Arc<Store>,
    camera: CameraId,
    stats: Arc<RecorderStats>,
    timeline: Timeline,
    seg: Option<OpenSegment>,
    /// The current run's row until a fragment carrying it is committed (a failed write
    /// passes it on to the next fragment).
    run_row: Option<(u64, RunRow)>,
}

/// Run and segment ids from the store's counters.
struct StoreIds<'a>(&'a Store);

impl Ids for StoreIds<'_> {
    fn run_id(&mut self) -> u64 {
        self.0.next_run_id()
    }
    fn segment_id(&mut self) -> u64 {
        self.0.next_segment_id()
    }
}

impl Store {
    /// Creates the recorder for `camera`. There must be at most one per camera.
    pub fn recorder(self: &Arc<Self>, camera: CameraId, opts: RecorderOptions) -> Result<Recorder> {
        let last_end_utc = self
            .last_segment(camera)?
            .map_or(i64::MIN, |(_, r)| r.end_utc);
        Ok(Recorder {
            store: self.clone(),
            camera,
            stats: Arc::default(),
            timeline: Timeline::new(camera, opts, last_end_utc),
            seg: None,
            run_row: None,
        })
    }
}

impl Recorder {
    /// The camera's measured clock offset (camera − server, µs), recorded with every run that
    /// starts after this call, for the evidence manifest.
    pub fn set_clock_offset(&mut self, offset_us: Option<i64>) {
        self.timeline.set_clock_offset(offset_us);
    }

    pub fn stats(&self) -> &Arc<RecorderStats> {
        &self.stats
    }

    pub fn camera(&self) -> CameraId {
        self.camera
    }

    /// Adds one frame. Errors writing to disk are counted and logged here and do not stop
    /// recording; the returned error is only for a store that is shutting down.
    pub async fn push(&mut self, f: RecFrame) -> Result<()> {
        let steps = self.timeline.push(f, &mut StoreIds(&self.store));
        // The recent drop rate counts only video lost mid-session (after an anomaly).
        self.note_drop(
            steps
                .iter()
                .any(|s| matches!(s, Step::Dropped { resync: true })),
        );
        self.apply(steps).await
    }

    /// Ends the current run (the camera session ended): commits what is buffered, giving the
    /// last frame the previous frame's duration, and seals the segment.
    pub async fn end_run(&mut self) -> Result<()> {
        let steps = self.timeline.end_run(&mut StoreIds(&self.store));
        self.apply(steps).await
    }

    /// Commits everything and seals the open segment. A normal stop loses nothing.
    pub async fn close(mut self) -> Result<()> {
        self.end_run().await
    }

    /// Carries out the timeline's steps in order.
    async fn apply(&mut self, steps: Vec<Step>) -> Result<()> {
        for step in steps {
            match step {
                Step::RunStarted { run, params } => {
                    tracing::info!(camera = self.camera, run, codec = %params.codec, width = params.width, height = params.height, "run started");
                    self.stats.runs.fetch_add(1, Ordering::Relaxed);
                }
                Step::Fragment(f) => self.append(*f).await?,
                Step::CloseSegment => self.close_segment().await?,
                Step::Anomaly { anomaly, pts_90k } => {
                    self.stats
                        .timestamp_anomalies
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        camera = self.camera,
                        ?anomaly,
                        pts_90k,
                        "timestamp anomaly; starting a new run"
                    );
                }
                Step::Dropped { resync } => {
                    self.stats
                        .frames_before_keyframe
                        .fetch_add(1, Ordering::Relaxed);
                    if resync {
                        self.stats
                            .frames_dropped_resync
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
                Step::Lost { frames, error } => self.count_lost(frames, &error),
                Step::Merged => {
                    self.stats.frames_merged.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    /// Appends one fragment through the writer pool and counts the outcome.
    async fn append(&mut self, f: Fragment) -> Result<()> {
        if let Some(row) = f.new_segment {
            // A segment the timeline opens replaces any the driver still holds (sealed).
            self.seg = Some(OpenSegment::new(self.camera, row));
        }
        if f.run_row.is_some() {
            self.run_row = f.run_row;
        }
        let Some(seg) = self.seg.take() else {
            return Ok(());
        };
        let frames = f.row.frames;
        let end_utc = f.row.end_utc;
        let op = Op::Append {
            init: f.init,
            header: f.header,
            data: f.data,
            start_utc: f.start_utc,
            row: f.row,
            run: self.run_row.clone().map(Box::new),
        };
        let writer = self.store.writer()?;
        let (seg, result) = writer.submit(seg, op).await;
        self.seg = seg;
        match result {
            Ok(()) => {
                self.run_row = None;
                let s = &self.stats;
                s.frames.fetch_add(u64::from(frames), Ordering::Relaxed);
                s.fragments.fetch_add(1, Ordering::Relaxed);
                s.bytes.fetch_add(f.data_bytes, Ordering::Relaxed);
                s.last_commit_end_utc
                    .store(end_utc.max(0) as u64, Ordering::Relaxed);
                s.drift_us.store(f.drift_us, Ordering::Relaxed);
                let now = crate::clock::system_now_micros();
                s.commit_latency_us_sum
                    .fetch_add((now - f.first_wall_us).max(0) as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(Error::ShuttingDown) => Err(Error::ShuttingDown),
            Err(e) => {
                self.count_lost(frames, &e.to_string());
                Ok(())
            }
        }
    }

    /// Moves the recent drop rate one frame along (α = 1/64).
    fn note_drop(&self, dropped: bool) {
        let old = self.stats.drop_ppm.load(Ordering::Relaxed);
        let new = old - old / 64 + if dropped { 1_000_000 / 64 } else { 0 };
        self.stats.drop_ppm.store(new, Ordering::Relaxed);
    }

    fn count_lost(&self, frames: u32, error: &str) {
        self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
        self.stats
            .frames_lost
            .fetch_add(u64::from(frames), Ordering::Relaxed);
        tracing::error!(camera = self.camera, frames, error, "fragment not recorded");
    }

    async fn close_segment(&mut self) -> Result<()> {
        let Some(seg) = self.seg.take() else {
            return Ok(());
        };
        let file = seg.row.file.clone();
        let writer = self.store.writer()?;
        let (_, result) = writer.submit(seg, Op::Close).await;
        match result {
            Ok(()) => {
                self.stats.segments_closed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(camera = self.camera, file, "segment closed");
                Ok(())
            }
            Err(Error::ShuttingDown) => Err(Error::ShuttingDown),
            Err(e) => {
                // Recovery on the next start seals it from the bytes the index vouches for.
                tracing::error!(camera = self.camera, file, error = %e, "sealing segment failed");
                Ok(())
            }
        }
    }

    /// Track parameters of the current run, if any.
    pub fn params(&self) -> Option<&Arc<TrackParams>> {
        self.timeline.params()
    }
}
