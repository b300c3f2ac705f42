//! The per-camera recorder: turns a camera's frames into runs, fragments (one per GOP, at most
//! `max_fragment`) and segment files (about `segment_target` each).
//!
//! Timestamps are where recorders break, so the rules live here, next to the fMP4 invariant
//! they protect (every sample duration positive). RTP timestamps are presentation times and
//! frames arrive in decode order, so with B-frames they go backwards by design: decode times
//! are the presentation times sorted over a small window ([`crate::reorder`]) and each sample
//! carries its composition offset. A frame that presents before a decode time already given
//! out (deeper reordering than the window, a clock stepping back), repeats one, or jumps
//! further than `max_frame_gap` ends the run and starts a new one at the next keyframe.
//! Recording never stops because of bad timestamps.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;

use crate::fmp4::{self, SampleInfo, TIMESCALE, TrackParams};
use crate::index::{CameraId, FragmentFlags, FragmentRow, RunRow, SegmentRow};
use crate::reorder::{Reorder, Timed};
use crate::segments;
use crate::store::Store;
use crate::writer::{Op, OpenSegment};
use crate::{Error, Result};

/// One access unit handed to the recorder.
#[derive(Clone, Debug)]
pub struct RecFrame {
    /// Set on the first frame of a new camera session or when the codec parameters changed:
    /// the recorder starts a new run with these parameters.
    pub new_run: Option<Arc<TrackParams>>,
    /// RTP timestamp in 90 kHz units, extended to 64 bits (monotonic within a session).
    pub pts_90k: i64,
    /// Server wall-clock time the frame arrived, microseconds since the Unix epoch.
    pub wall_us: i64,
    pub keyframe: bool,
    /// Length-prefixed NAL units, exactly as they go into the MP4.
    pub data: Bytes,
}

#[derive(Clone, Debug)]
pub struct RecorderOptions {
    /// Close a segment file at the first keyframe after this many seconds.
    pub segment_target_secs: u32,
    /// Cut a fragment after this long even without a keyframe (long-GOP cameras).
    pub max_fragment_ms: u32,
    /// A timestamp step larger than this between consecutive frames is a jump (new run).
    pub max_frame_gap_ms: u32,
    /// Largest rate, in parts per million, at which index time is pulled toward the server
    /// clock when the camera's clock drifts.
    pub max_drift_ppm: u32,
    /// Deepest frame reordering (B-frames) the recorder follows; each fragment is committed
    /// this many frames after its last frame arrives.
    pub max_reorder_frames: u8,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            segment_target_secs: 60,
            max_fragment_ms: 2_000,
            max_frame_gap_ms: 5_000,
            max_drift_ppm: 500,
            max_reorder_frames: 4,
        }
    }
}

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

#[derive(Debug)]
struct Run {
    id: u64,
    init: Arc<[u8]>,
    params: Arc<TrackParams>,
    /// Decode time of the run's first sample (its smallest presentation time).
    first_dts: Option<i64>,
    /// UTC where the next fragment starts (fragments are contiguous within a run).
    next_utc: i64,
    sequence: u32,
}

/// A frame waiting for its decode time.
#[derive(Debug)]
struct Pending {
    wall_us: i64,
    keyframe: bool,
    data: Bytes,
}

#[derive(Debug, Default)]
struct FragmentBuilder {
    samples: Vec<SampleInfo>,
    data: Vec<Bytes>,
    first_dts: i64,
    first_wall_us: i64,
    duration: u64,
}

/// Records one camera. Feed it with [`Recorder::push`]; call [`Recorder::close`] on shutdown so
/// the fragment in progress is committed and the segment sealed.
#[derive(Debug)]
pub struct Recorder {
    store: Arc<Store>,
    camera: CameraId,
    opts: RecorderOptions,
    stats: Arc<RecorderStats>,
    params: Option<Arc<TrackParams>>,
    run: Option<Run>,
    seg: Option<OpenSegment>,
    /// The current run's frames until their decode times are known.
    reorder: Reorder<Pending>,
    frag: FragmentBuilder,
    last_duration: u32,
    /// End of the camera's last committed video, so a stepped-back system clock can never
    /// make a new run overlap (and overwrite) recorded keys.
    last_end_utc: i64,
    /// Camera clock minus server clock, stored with each run that starts from now on.
    clock_offset_us: Option<i64>,
    /// A timestamp anomaly ended the run mid-session: frames until the next keyframe are lost.
    resync: bool,
}

impl Store {
    /// Creates the recorder for `camera`. There must be at most one per camera.
    pub fn recorder(self: &Arc<Self>, camera: CameraId, opts: RecorderOptions) -> Result<Recorder> {
        let last_end_utc = self
            .last_segment(camera)?
            .map_or(i64::MIN, |(_, r)| r.end_utc);
        let depth = opts.max_reorder_frames;
        Ok(Recorder {
            store: self.clone(),
            camera,
            opts,
            stats: Arc::default(),
            params: None,
            run: None,
            seg: None,
            reorder: Reorder::new(usize::from(depth)),
            frag: FragmentBuilder::default(),
            last_duration: 3000,
            last_end_utc,
            clock_offset_us: None,
            resync: false,
        })
    }
}

impl Recorder {
    /// The camera's measured clock offset (camera − server, µs), recorded with every run that
    /// starts after this call, for the evidence manifest.
    pub fn set_clock_offset(&mut self, offset_us: Option<i64>) {
        self.clock_offset_us = offset_us;
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
        if let Some(params) = f.new_run.clone() {
            self.end_run().await?;
            self.params = Some(params);
            self.resync = false;
        }
        if !self.reorder.is_empty() {
            let max_gap = i64::from(self.opts.max_frame_gap_ms) * i64::from(TIMESCALE) / 1000;
            if let Err(anomaly) = self.reorder.check(f.pts_90k, max_gap) {
                self.stats
                    .timestamp_anomalies
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    camera = self.camera,
                    ?anomaly,
                    pts_90k = f.pts_90k,
                    "timestamp anomaly; starting a new run"
                );
                self.end_run().await?;
                self.resync = true;
            }
        }
        if self.run.is_none() && !self.start_run(&f)? {
            self.stats
                .frames_before_keyframe
                .fetch_add(1, Ordering::Relaxed);
            if self.resync {
                self.stats
                    .frames_dropped_resync
                    .fetch_add(1, Ordering::Relaxed);
            }
            self.note_drop(self.resync);
            return Ok(());
        }
        self.resync = false;
        self.note_drop(false);
        self.reorder.push(
            f.pts_90k,
            Pending {
                wall_us: f.wall_us,
                keyframe: f.keyframe,
                data: f.data,
            },
        );
        while let Some(t) = self.reorder.pop_ready() {
            self.add_sample(t).await?;
        }
        Ok(())
    }

    /// Ends the current run (the camera session ended): commits what is buffered, giving the
    /// last frame the previous frame's duration, and seals the segment.
    pub async fn end_run(&mut self) -> Result<()> {
        for t in self.reorder.drain(i64::from(self.last_duration)) {
            self.add_sample(t).await?;
        }
        self.flush_fragment().await?;
        self.close_segment().await?;
        self.run = None;
        Ok(())
    }

    /// Commits everything and seals the open segment. A normal stop loses nothing.
    pub async fn close(mut self) -> Result<()> {
        self.end_run().await
    }

    fn start_run(&mut self, f: &RecFrame) -> Result<bool> {
        let Some(params) = self.params.clone() else {
            return Ok(false);
        };
        if !f.keyframe {
            return Ok(false);
        }
        let init: Arc<[u8]> = fmp4::init_segment(&params).into();
        let start_utc = f.wall_us.max(self.last_end_utc);
        let id = self.store.create_run(&RunRow {
            camera: self.camera,
            start_utc,
            codec: params.codec.clone(),
            width: params.width,
            height: params.height,
            init_segment: init.to_vec(),
            clock_offset_us: self.clock_offset_us,
        })?;
        tracing::info!(camera = self.camera, run = id, codec = %params.codec, width = params.width, height = params.height, "run started");
        self.stats.runs.fetch_add(1, Ordering::Relaxed);
        self.run = Some(Run {
            id,
            init,
            params,
            first_dts: None,
            next_utc: start_utc,
            sequence: 1,
        });
        Ok(true)
    }

    /// Appends a frame whose decode time is settled to the fragment, first committing the
    /// fragment so far when this frame starts a GOP or the fragment is long enough.
    async fn add_sample(&mut self, t: Timed<Pending>) -> Result<()> {
        let max_frag = u64::from(self.opts.max_fragment_ms) * u64::from(TIMESCALE) / 1000;
        if !self.frag.samples.is_empty() && (t.item.keyframe || self.frag.duration >= max_frag) {
            self.flush_fragment().await?;
        }
        // Durations are positive by construction (strictly increasing decode times); a
        // composition offset beyond ±6 h of 90 kHz ticks cannot come from a real stream.
        let duration = u32::try_from(t.duration).unwrap_or(u32::MAX).max(1);
        let composition_offset = i32::try_from(t.composition_offset()).unwrap_or(0);
        self.last_duration = duration;
        if let Some(run) = self.run.as_mut() {
            run.first_dts.get_or_insert(t.dts);
        }
        let fr = &mut self.frag;
        if fr.samples.is_empty() {
            fr.first_dts = t.dts;
            fr.first_wall_us = t.item.wall_us;
        }
        fr.samples.push(SampleInfo {
            duration,
            size: u32::try_from(t.item.data.len()).unwrap_or(u32::MAX),
            keyframe: t.item.keyframe,
            composition_offset,
        });
        fr.duration += u64::from(duration);
        fr.data.push(t.item.data);
        Ok(())
    }

    async fn flush_fragment(&mut self) -> Result<()> {
        if self.frag.samples.is_empty() {
            return Ok(());
        }
        let frag = std::mem::take(&mut self.frag);
        let Some(run) = self.run.as_mut() else {
            return Ok(());
        };
        let frames = frag.samples.len() as u32;
        let starts_with_key = frag.samples[0].keyframe;
        // Index time: contiguous within the run, nudged toward the server clock at a bounded
        // rate so a drifting camera clock neither jumps nor wanders off.
        let start_utc = run.next_utc;
        let nominal_us =
            i64::try_from(frag.duration * 1_000_000 / u64::from(TIMESCALE)).unwrap_or(i64::MAX);
        let err = frag.first_wall_us - start_utc;
        let allowed = nominal_us * i64::from(self.opts.max_drift_ppm) / 1_000_000;
        let end_utc = start_utc + nominal_us + err.clamp(-allowed, allowed);
        let base_decode =
            u64::try_from(frag.first_dts - run.first_dts.unwrap_or(frag.first_dts)).unwrap_or(0);
        let composition_offsets = fmp4::has_composition_offsets(&frag.samples);

        // Roll the segment over at a keyframe once it is long enough.
        let target = i64::from(self.opts.segment_target_secs) * 1_000_000;
        if let Some(seg) = &self.seg
            && (seg.row.run != run.id
                || (starts_with_key && start_utc - seg.row.start_utc >= target))
        {
            self.close_segment().await?;
        }
        let Some(run) = self.run.as_mut() else {
            return Ok(());
        };
        let seg = match self.seg.take() {
            Some(s) => s,
            None => {
                let id = self.store.next_segment_id();
                OpenSegment::new(
                    self.camera,
                    SegmentRow {
                        id,
                        run: run.id,
                        file: segments::file_name(self.camera, id),
                        start_utc,
                        end_utc: start_utc,
                        size: 0,
                        fragments: 0,
                        frames: 0,
                        sha256: None,
                    },
                )
            }
        };
        let header =
            match fmp4::fragment_header(run.sequence, base_decode, start_utc, &frag.samples) {
                Ok(h) => h,
                Err(e) => {
                    self.count_lost(frames, &e.to_string());
                    self.seg = Some(seg);
                    return Ok(());
                }
            };
        let data_bytes: u64 = frag.data.iter().map(|d| d.len() as u64).sum();
        let row = FragmentRow {
            segment_start: seg.row.start_utc,
            run: run.id,
            offset: 0,
            len: 0,
            end_utc,
            base_decode_90k: base_decode,
            duration_90k: u32::try_from(frag.duration).unwrap_or(u32::MAX),
            frames,
            flags: FragmentFlags::new(starts_with_key, composition_offsets),
        };
        let op = Op::Append {
            init: run.init.clone(),
            header: header.bytes,
            data: frag.data,
            start_utc,
            row,
        };
        run.sequence = run.sequence.wrapping_add(1);
        let writer = self.store.writer()?;
        let (seg, result) = writer.submit(seg, op).await;
        self.seg = seg;
        match result {
            Ok(()) => {
                if let Some(run) = self.run.as_mut() {
                    run.next_utc = end_utc;
                }
                self.last_end_utc = end_utc;
                let s = &self.stats;
                s.frames.fetch_add(u64::from(frames), Ordering::Relaxed);
                s.fragments.fetch_add(1, Ordering::Relaxed);
                s.bytes.fetch_add(data_bytes, Ordering::Relaxed);
                s.last_commit_end_utc
                    .store(end_utc.max(0) as u64, Ordering::Relaxed);
                s.drift_us.store(err, Ordering::Relaxed);
                let now = crate::clock::system_now_micros();
                s.commit_latency_us_sum
                    .fetch_add((now - frag.first_wall_us).max(0) as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(Error::ShuttingDown) => Err(Error::ShuttingDown),
            Err(e) => {
                // Keep the run's time line moving so later fragments do not overlap this gap.
                if let Some(run) = self.run.as_mut() {
                    run.next_utc = end_utc;
                }
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
        self.run.as_ref().map(|r| &r.params)
    }
}
