//! The recorder's rules as a pure state machine: frames in, [`Step`]s out — runs, fragments
//! (one per GOP, at most `max_fragment`), segment roll-over, index time with the drift clamp,
//! and timestamp anomalies. No I/O, no clock, no async: [`crate::Recorder`] is the thin driver
//! that hands the steps to the writer pool, and tests and fuzzers drive this directly.
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

use bytes::Bytes;

use crate::fmp4::{self, SampleInfo, TIMESCALE, TrackParams};
use crate::index::{CameraId, FragmentFlags, FragmentRow, RunRow, SegmentRow};
use crate::reorder::{Anomaly, Reorder, Timed};
use crate::segments;

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
    /// Frame reordering (B-frames) the recorder follows when a stream's parameter sets do not
    /// say how deep it is ([`crate::codec::reorder_depth`]); a stream that says uses its own
    /// depth. Each fragment is committed this many frames after its last frame arrives.
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

/// Where run and segment ids come from (the store's counters; [`Counters`] elsewhere).
pub trait Ids {
    fn run_id(&mut self) -> u64;
    fn segment_id(&mut self) -> u64;
}

/// Ids from plain counters starting at 1, for driving a timeline without a store (tests,
/// fuzzing, benchmarks).
#[derive(Debug, Default)]
pub struct Counters {
    runs: u64,
    segments: u64,
}

impl Ids for Counters {
    fn run_id(&mut self) -> u64 {
        self.runs += 1;
        self.runs
    }
    fn segment_id(&mut self) -> u64 {
        self.segments += 1;
        self.segments
    }
}

/// What the driver must do, in order.
#[derive(Debug)]
pub enum Step {
    /// A run started at this frame (a keyframe).
    RunStarted { run: u64, params: Arc<TrackParams> },
    /// Append one fragment.
    Fragment(Box<Fragment>),
    /// Seal the open segment file.
    CloseSegment,
    /// A timestamp anomaly ended the run.
    Anomaly { anomaly: Anomaly, pts_90k: i64 },
    /// The frame was not recorded: no run and not a keyframe to start one. `resync` when an
    /// anomaly ended the run mid-session (lost video), not the wait at a session's start.
    Dropped { resync: bool },
    /// A fragment whose header could not be built (too large): its frames are lost.
    Lost { frames: u32, error: String },
    /// The frame carried the previous frame's timestamp and joined it (one picture that came
    /// as two access units).
    Merged,
}

/// One fragment to append, with everything the writer and the statistics need.
#[derive(Debug)]
pub struct Fragment {
    /// Open this segment file first (the fragment is its first).
    pub new_segment: Option<SegmentRow>,
    /// The run's row, written in the same index batch as its first fragment.
    pub run_row: Option<(u64, RunRow)>,
    pub init: Arc<[u8]>,
    /// `prft` + `moof` + `mdat` header.
    pub header: Vec<u8>,
    pub data: Vec<Bytes>,
    pub start_utc: i64,
    pub row: FragmentRow,
    /// Arrival of its first frame.
    pub first_wall_us: i64,
    /// Arrival of its first frame minus its index time (the drift being clamped).
    pub drift_us: i64,
    pub data_bytes: u64,
}

#[derive(Debug)]
struct Run {
    id: u64,
    init: Arc<[u8]>,
    /// Its row, until it goes out with the run's first fragment.
    row: Option<RunRow>,
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

#[derive(Debug)]
struct Segment {
    row: SegmentRow,
    /// Announced to the driver (it has a file).
    announced: bool,
}

/// One camera's recording rules.
#[derive(Debug)]
pub struct Timeline {
    camera: CameraId,
    opts: RecorderOptions,
    params: Option<Arc<TrackParams>>,
    run: Option<Run>,
    seg: Option<Segment>,
    /// The current run's frames until their decode times are known.
    reorder: Reorder<Pending>,
    frag: FragmentBuilder,
    last_duration: u32,
    /// End of the camera's last recorded video, so a stepped-back system clock can never
    /// make a new run overlap (and overwrite) recorded keys.
    last_end_utc: i64,
    /// Camera clock minus server clock, stored with each run that starts from now on.
    clock_offset_us: Option<i64>,
    /// A timestamp anomaly ended the run mid-session: frames until the next keyframe are lost.
    resync: bool,
}

impl Timeline {
    /// Rules for `camera`, whose recorded video so far ends at `last_end_utc`.
    pub fn new(camera: CameraId, opts: RecorderOptions, last_end_utc: i64) -> Self {
        let depth = usize::from(opts.max_reorder_frames);
        Timeline {
            camera,
            opts,
            params: None,
            run: None,
            seg: None,
            reorder: Reorder::new(depth),
            frag: FragmentBuilder::default(),
            last_duration: 3000,
            last_end_utc,
            clock_offset_us: None,
            resync: false,
        }
    }

    /// The camera's measured clock offset (camera − server, µs), recorded with every run that
    /// starts after this call, for the evidence manifest.
    pub fn set_clock_offset(&mut self, offset_us: Option<i64>) {
        self.clock_offset_us = offset_us;
    }

    /// Track parameters of the current run, if any.
    pub fn params(&self) -> Option<&Arc<TrackParams>> {
        self.run.as_ref().and(self.params.as_ref())
    }

    /// Takes one frame.
    pub fn push(&mut self, f: RecFrame, ids: &mut impl Ids) -> Vec<Step> {
        let mut steps = Vec::new();
        if let Some(params) = f.new_run.clone() {
            self.end_run_with(ids, &mut steps);
            // As deep as this stream reorders: no commit latency for a stream without
            // B-frames, enough for one with them.
            let depth = crate::codec::reorder_depth(&params.sample_entry)
                .unwrap_or(u32::from(self.opts.max_reorder_frames));
            self.reorder = Reorder::new(depth as usize);
            self.params = Some(params);
            self.resync = false;
        }
        // A second access unit with the picture's timestamp belongs to that picture if one of
        // them holds no slice that starts a picture (parameter sets sent ahead, a picture's
        // later slices); two pictures with one timestamp are an anomaly like any repeated one.
        let hevc = self
            .params
            .as_ref()
            .is_some_and(|p| p.codec.starts_with("hvc1") || p.codec.starts_with("hev1"));
        if self.run.is_some()
            && self.reorder.merge_into_last(f.pts_90k, |last| {
                if !same_picture(&last.data, &f.data, hevc) {
                    return false;
                }
                last.keyframe |= f.keyframe;
                let mut data = Vec::with_capacity(last.data.len() + f.data.len());
                data.extend_from_slice(&last.data);
                data.extend_from_slice(&f.data);
                last.data = Bytes::from(data);
                true
            })
        {
            steps.push(Step::Merged);
            return steps;
        }
        if !self.reorder.is_empty() {
            let max_gap = i64::from(self.opts.max_frame_gap_ms) * i64::from(TIMESCALE) / 1000;
            if let Err(anomaly) = self.reorder.check(f.pts_90k, max_gap) {
                steps.push(Step::Anomaly {
                    anomaly,
                    pts_90k: f.pts_90k,
                });
                self.end_run_with(ids, &mut steps);
                self.resync = true;
            }
        }
        if self.run.is_none() && !self.start_run(&f, ids, &mut steps) {
            steps.push(Step::Dropped {
                resync: self.resync,
            });
            return steps;
        }
        self.resync = false;
        self.reorder.push(
            f.pts_90k,
            Pending {
                wall_us: f.wall_us,
                keyframe: f.keyframe,
                data: f.data,
            },
        );
        while let Some(t) = self.reorder.pop_ready() {
            self.add_sample(t, ids, &mut steps);
        }
        steps
    }

    /// Ends the current run (the session ended): everything buffered becomes fragments, the
    /// last frame lasting as long as the one before, and the segment is sealed.
    pub fn end_run(&mut self, ids: &mut impl Ids) -> Vec<Step> {
        let mut steps = Vec::new();
        self.end_run_with(ids, &mut steps);
        steps
    }

    fn end_run_with(&mut self, ids: &mut impl Ids, steps: &mut Vec<Step>) {
        for t in self.reorder.drain(i64::from(self.last_duration)) {
            self.add_sample(t, ids, steps);
        }
        self.flush(ids, steps);
        self.close_segment(steps);
        self.run = None;
    }

    fn start_run(&mut self, f: &RecFrame, ids: &mut impl Ids, steps: &mut Vec<Step>) -> bool {
        let Some(params) = self.params.clone() else {
            return false;
        };
        if !f.keyframe {
            return false;
        }
        let init: Arc<[u8]> = fmp4::init_segment(&params).into();
        let start_utc = f.wall_us.max(self.last_end_utc);
        let id = ids.run_id();
        let row = RunRow {
            camera: self.camera,
            start_utc,
            codec: params.codec.clone(),
            width: params.width,
            height: params.height,
            init_segment: init.to_vec(),
            clock_offset_us: self.clock_offset_us,
        };
        steps.push(Step::RunStarted { run: id, params });
        self.run = Some(Run {
            id,
            init,
            row: Some(row),
            first_dts: None,
            next_utc: start_utc,
            sequence: 1,
        });
        true
    }

    /// Appends a frame whose decode time is settled, first cutting the fragment so far when
    /// this frame starts a GOP or the fragment is long enough.
    fn add_sample(&mut self, t: Timed<Pending>, ids: &mut impl Ids, steps: &mut Vec<Step>) {
        let max_frag = u64::from(self.opts.max_fragment_ms) * u64::from(TIMESCALE) / 1000;
        if !self.frag.samples.is_empty() && (t.item.keyframe || self.frag.duration >= max_frag) {
            self.flush(ids, steps);
        }
        // Durations are positive by construction (strictly increasing decode times); an
        // offset beyond ±6 h of 90 kHz ticks cannot come from a real stream.
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
    }

    /// Turns the samples gathered so far into a fragment step.
    fn flush(&mut self, ids: &mut impl Ids, steps: &mut Vec<Step>) {
        if self.frag.samples.is_empty() {
            return;
        }
        let frag = std::mem::take(&mut self.frag);
        let Some(run) = self.run.as_ref() else {
            return;
        };
        let frames = frag.samples.len() as u32;
        let starts_with_key = frag.samples[0].keyframe;
        // Index time: contiguous within the run, nudged toward the server clock at a bounded
        // rate so a drifting camera clock neither jumps nor wanders off.
        let start_utc = run.next_utc;
        let nominal_us =
            i64::try_from(frag.duration * 1_000_000 / u64::from(TIMESCALE)).unwrap_or(i64::MAX);
        let drift_us = frag.first_wall_us - start_utc;
        let allowed = nominal_us * i64::from(self.opts.max_drift_ppm) / 1_000_000;
        let end_utc = start_utc + nominal_us + drift_us.clamp(-allowed, allowed);
        let base_decode =
            u64::try_from(frag.first_dts - run.first_dts.unwrap_or(frag.first_dts)).unwrap_or(0);
        let composition_offsets = fmp4::has_composition_offsets(&frag.samples);
        let run_id = run.id;

        // Roll the segment over at a keyframe once it is long enough.
        let target = i64::from(self.opts.segment_target_secs) * 1_000_000;
        if let Some(seg) = &self.seg
            && (seg.row.run != run_id
                || (starts_with_key && start_utc - seg.row.start_utc >= target))
        {
            self.close_segment(steps);
        }
        let seg = self.seg.get_or_insert_with(|| {
            let id = ids.segment_id();
            Segment {
                row: SegmentRow {
                    id,
                    run: run_id,
                    file: segments::file_name(self.camera, id),
                    start_utc,
                    end_utc: start_utc,
                    size: 0,
                    fragments: 0,
                    frames: 0,
                    sha256: None,
                },
                announced: false,
            }
        });
        let Some(run) = self.run.as_mut() else {
            return;
        };
        let header =
            match fmp4::fragment_header(run.sequence, base_decode, start_utc, &frag.samples) {
                Ok(h) => h.bytes,
                Err(e) => {
                    steps.push(Step::Lost {
                        frames,
                        error: e.to_string(),
                    });
                    return;
                }
            };
        let new_segment = (!seg.announced).then(|| seg.row.clone());
        seg.announced = true;
        let data_bytes = frag.data.iter().map(|d| d.len() as u64).sum();
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
        steps.push(Step::Fragment(Box::new(Fragment {
            new_segment,
            run_row: run.row.take().map(|r| (run.id, r)),
            init: run.init.clone(),
            header,
            data: frag.data,
            start_utc,
            row,
            first_wall_us: frag.first_wall_us,
            drift_us,
            data_bytes,
        })));
        run.sequence = run.sequence.wrapping_add(1);
        // The time line moves on even if the write fails, so later fragments do not overlap
        // the hole.
        run.next_utc = end_utc;
        self.last_end_utc = end_utc;
    }

    fn close_segment(&mut self, steps: &mut Vec<Step>) {
        if let Some(seg) = self.seg.take()
            && seg.announced
        {
            steps.push(Step::CloseSegment);
        }
    }
}

/// What an access unit's first slice says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FirstSlice {
    /// No slice: parameter sets, SEI and the like only.
    None,
    /// It starts a picture: an H.264 slice whose `first_mb_in_slice` is 0 (its ue(v) code
    /// starts with a 1 bit), an H.265 segment with `first_slice_segment_in_pic_flag`.
    Starts,
    /// It continues a picture begun in an earlier access unit.
    Continues,
    /// The length prefixes do not add up.
    Malformed,
}

/// Reads an access unit (4-byte length-prefixed NAL units) up to its first slice.
fn first_slice(data: &[u8], hevc: bool) -> FirstSlice {
    let mut rest = data;
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return FirstSlice::Malformed;
        };
        let len = u32::from_be_bytes(*len) as usize;
        let Some(nal) = tail.get(..len) else {
            return FirstSlice::Malformed;
        };
        rest = &tail[len..];
        let (vcl, header) = if hevc {
            (nal.first().is_some_and(|b| (b >> 1) & 0x3f < 32), 2)
        } else {
            (nal.first().is_some_and(|b| matches!(b & 0x1f, 1..=5)), 1)
        };
        if vcl {
            return match nal.get(header) {
                Some(b) if b & 0x80 == 0 => FirstSlice::Continues,
                Some(_) => FirstSlice::Starts,
                None => FirstSlice::Malformed,
            };
        }
    }
    FirstSlice::None
}

/// Whether access unit `next`, with the same timestamp as `last`, is part of `last`'s
/// picture: it continues a picture, or `last` held no slice (parameter sets sent ahead).
/// Malformed data is never glued onto anything.
fn same_picture(last: &[u8], next: &[u8], hevc: bool) -> bool {
    match (first_slice(last, hevc), first_slice(next, hevc)) {
        (FirstSlice::Malformed, _) | (_, FirstSlice::Malformed) => false,
        (_, FirstSlice::None | FirstSlice::Continues) => true,
        (FirstSlice::None, FirstSlice::Starts) => true,
        (_, FirstSlice::Starts) => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! One table-style test per rule, driving the pure timeline with synthetic frames.
    use super::*;

    const T0: i64 = 1_790_000_000_000_000;

    fn params() -> Arc<TrackParams> {
        Arc::new(TrackParams {
            codec: "avc1.4D401F".into(),
            width: 640,
            height: 360,
            sample_entry: Bytes::from_static(b"\0\0\0\x08avc1"),
        })
    }

    /// Frame `i` of a 30 fps camera, keyframes every `gop`, arriving on the server clock.
    fn frame(i: i64, gop: i64) -> RecFrame {
        RecFrame {
            new_run: (i == 0).then(params),
            pts_90k: i * 3000,
            wall_us: T0 + i * 1_000_000 / 30,
            keyframe: i % gop == 0,
            // One slice that starts its picture, 10 bytes in all.
            data: Bytes::from_static(&[0, 0, 0, 6, 0x65, 0x88, 0, 0, 0, 0]),
        }
    }

    fn opts() -> RecorderOptions {
        RecorderOptions {
            max_reorder_frames: 0,
            ..RecorderOptions::default()
        }
    }

    /// Pushes `frames`, ends the run, returns every step.
    fn drive(t: &mut Timeline, frames: impl IntoIterator<Item = RecFrame>) -> Vec<Step> {
        let mut ids = Counters::default();
        let mut steps = Vec::new();
        for f in frames {
            steps.extend(t.push(f, &mut ids));
        }
        steps.extend(t.end_run(&mut ids));
        steps
    }

    fn fragments(steps: &[Step]) -> Vec<&Fragment> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Fragment(f) => Some(&**f),
                _ => None,
            })
            .collect()
    }

    /// A sample entry whose `avcC` holds an SPS from x264: `main` has no B-frames (reorder
    /// depth 0), `high` has two levels of them (depth 2).
    fn entry_with_sps(sps_hex: &str) -> Bytes {
        let sps = hex::decode(sps_hex).unwrap();
        let mut avcc = vec![1, 0x4d, 0, 0x0d, 0xff, 0xe1];
        avcc.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        avcc.extend_from_slice(&sps);
        let mut e = Vec::new();
        e.extend_from_slice(&((8 + 78 + 8 + avcc.len()) as u32).to_be_bytes());
        e.extend_from_slice(b"avc1");
        e.extend_from_slice(&[0; 78]);
        e.extend_from_slice(&((8 + avcc.len()) as u32).to_be_bytes());
        e.extend_from_slice(b"avcC");
        e.extend_from_slice(&avcc);
        Bytes::from(e)
    }

    #[test]
    fn the_reorder_window_is_as_deep_as_the_stream_says() {
        // The second GOP's keyframe ends the first fragment, committed when the frame after it
        // arrives (its duration is known then) when the stream says it has no B-frames, two
        // frames later when it says two, four (the default) when it says nothing.
        for (sample_entry, depth) in [
            (
                entry_with_sps("674d400dd90141fb011000000300100000030320f142a480"),
                0,
            ),
            (
                entry_with_sps("6764000dacd94141fb011000000300100000030320f1429960"),
                2,
            ),
            (params().sample_entry.clone(), 4),
        ] {
            let p = Arc::new(TrackParams {
                sample_entry,
                ..(*params()).clone()
            });
            let mut t = Timeline::new(
                1,
                RecorderOptions {
                    max_reorder_frames: 4,
                    ..RecorderOptions::default()
                },
                i64::MIN,
            );
            let mut ids = Counters::default();
            let mut first_fragment_at = None;
            for i in 0..40 {
                let mut f = frame(i, 30);
                f.new_run = (i == 0).then(|| p.clone());
                let steps = t.push(f, &mut ids);
                if first_fragment_at.is_none() && !fragments(&steps).is_empty() {
                    first_fragment_at = Some(i);
                }
            }
            assert_eq!(first_fragment_at, Some(31 + depth), "depth {depth}");
        }
    }

    #[test]
    fn frames_before_the_first_keyframe_wait_without_counting_as_lost() {
        let mut t = Timeline::new(1, opts(), i64::MIN);
        let mut ids = Counters::default();
        let mut f = frame(1, 30);
        f.new_run = Some(params());
        let steps = t.push(f, &mut ids);
        assert!(matches!(steps[..], [Step::Dropped { resync: false }]));
        let steps = t.push(frame(30, 30), &mut ids);
        assert!(matches!(steps[..], [Step::RunStarted { run: 1, .. }]));
    }

    #[test]
    fn one_fragment_per_gop_and_the_run_row_goes_with_the_first() {
        let mut t = Timeline::new(1, opts(), i64::MIN);
        let steps = drive(&mut t, (0..60).map(|i| frame(i, 30)));
        let f = fragments(&steps);
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].row.frames, f[1].row.frames), (30, 30));
        assert_eq!(
            (f[0].row.base_decode_90k, f[1].row.base_decode_90k),
            (0, 90_000)
        );
        assert!(f.iter().all(|f| f.row.starts_with_key()));
        assert!(f[0].run_row.is_some() && f[1].run_row.is_none());
        assert!(f[0].new_segment.is_some() && f[1].new_segment.is_none());
        assert_eq!(f[0].start_utc, T0);
        assert_eq!(f[1].start_utc, f[0].row.end_utc, "contiguous within a run");
        assert!(matches!(steps.last(), Some(Step::CloseSegment)));
    }

    #[test]
    fn a_long_gop_is_cut_at_max_fragment() {
        let mut t = Timeline::new(1, opts(), i64::MIN);
        let steps = drive(&mut t, (0..300).map(|i| frame(i, 300)));
        let f = fragments(&steps);
        assert_eq!(f.len(), 5);
        assert!(f.iter().all(|f| f.row.frames == 60));
        assert!(f[0].row.starts_with_key() && !f[1].row.starts_with_key());
    }

    #[test]
    fn segments_roll_over_at_the_first_keyframe_after_the_target() {
        let o = RecorderOptions {
            segment_target_secs: 2,
            ..opts()
        };
        let mut t = Timeline::new(1, o, i64::MIN);
        let steps = drive(&mut t, (0..150).map(|i| frame(i, 30)));
        let opened: Vec<usize> = fragments(&steps)
            .iter()
            .enumerate()
            .filter(|(_, f)| f.new_segment.is_some())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(opened, [0, 2, 4], "a new file every 2 s, at a GOP");
        let closes = steps
            .iter()
            .filter(|s| matches!(s, Step::CloseSegment))
            .count();
        assert_eq!(closes, 3);
    }

    #[test]
    fn the_drift_clamp_moves_index_time_toward_the_server_clock_at_a_bounded_rate() {
        // Camera clock runs 1 % slow against the server: frames arrive later and later.
        for (rate, sign) in [(1.01, 1), (0.99, -1)] {
            let mut t = Timeline::new(1, opts(), i64::MIN);
            let frames = (0..300).map(|i| RecFrame {
                wall_us: T0 + (i as f64 * 1_000_000.0 / 30.0 * rate) as i64,
                ..frame(i, 30)
            });
            let steps = drive(&mut t, frames);
            for f in fragments(&steps).iter().skip(1) {
                let nominal = 1_000_000; // 30 frames at 30 fps
                let allowed = nominal * 500 / 1_000_000;
                assert_eq!(
                    f.row.end_utc - f.start_utc,
                    nominal + sign * allowed,
                    "rate {rate}: pulled by at most 500 ppm"
                );
                assert_eq!(f.drift_us.signum(), sign, "rate {rate}");
            }
        }
    }

    #[test]
    fn an_anomaly_ends_the_run_and_frames_until_a_keyframe_are_lost() {
        let mut t = Timeline::new(1, opts(), i64::MIN);
        let mut frames: Vec<RecFrame> = (0..40).map(|i| frame(i, 30)).collect();
        frames[35].pts_90k = 0; // a step back mid-GOP
        frames.extend((60..61).map(|i| frame(i, 30)));
        let steps = drive(&mut t, frames);
        let kinds: Vec<&str> = steps
            .iter()
            .map(|s| match s {
                Step::RunStarted { .. } => "run",
                Step::Fragment(_) => "frag",
                Step::CloseSegment => "close",
                Step::Anomaly { .. } => "anomaly",
                Step::Dropped { resync: true } => "lost",
                Step::Dropped { resync: false } => "wait",
                Step::Lost { .. } => "io",
                Step::Merged => "merged",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "run", "frag", "anomaly", "frag", "close", "lost", "lost", "lost", "lost", "lost",
                "run", "frag", "close"
            ]
        );
        let f = fragments(&steps);
        assert_eq!(f[1].row.frames, 5, "frames 30..35 kept with the old run");
        assert!(f[2].run_row.is_some(), "the new run's row");
        assert!(f[2].start_utc >= f[1].row.end_utc, "no overlap");
    }

    #[test]
    fn a_picture_split_in_two_access_units_is_one_sample() {
        let mut t = Timeline::new(1, opts(), i64::MIN);
        let mut frames: Vec<RecFrame> = (0..30).map(|i| frame(i, 30)).collect();
        // The picture's second slice (first_mb_in_slice ≠ 0: its code starts with a 0 bit).
        let mut second_half = frame(1, 30);
        second_half.data = Bytes::from_static(&[0, 0, 0, 2, 0x01, 0x40]);
        frames.insert(2, second_half);
        let steps = drive(&mut t, frames);
        assert!(steps.iter().any(|s| matches!(s, Step::Merged)));
        assert!(!steps.iter().any(|s| matches!(s, Step::Anomaly { .. })));
        let f = fragments(&steps);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].row.frames, 30);
        assert_eq!(f[0].data[1].len(), 16, "both halves, in order");

        // A second *picture* with the same timestamp is not glued on: it is an anomaly.
        let mut t = Timeline::new(1, opts(), i64::MIN);
        let mut frames: Vec<RecFrame> = (0..30).map(|i| frame(i, 30)).collect();
        let mut another = frame(1, 30);
        another.data = Bytes::from_static(&[0, 0, 0, 2, 0x01, 0x80]);
        frames.insert(2, another);
        let steps = drive(&mut t, frames);
        assert!(!steps.iter().any(|s| matches!(s, Step::Merged)));
        assert!(steps.iter().any(|s| matches!(s, Step::Anomaly { .. })));
    }

    #[test]
    fn which_access_units_belong_to_the_same_picture() {
        let au = |nals: &[&[u8]]| -> Vec<u8> {
            nals.iter()
                .flat_map(|n| {
                    (n.len() as u32)
                        .to_be_bytes()
                        .into_iter()
                        .chain(n.iter().copied())
                })
                .collect()
        };
        let idr = au(&[&[0x65, 0x88]]);
        let second_slice = au(&[&[0x41, 0x40]]);
        let sets = au(&[&[0x67, 0x00], &[0x68, 0x00]]);
        let sets_and_idr = au(&[&[0x67, 0x00], &[0x68, 0x00], &[0x65, 0x88]]);
        assert_eq!(first_slice(&idr, false), FirstSlice::Starts);
        assert_eq!(first_slice(&second_slice, false), FirstSlice::Continues);
        assert_eq!(first_slice(&sets, false), FirstSlice::None);
        assert_eq!(first_slice(&sets_and_idr, false), FirstSlice::Starts);
        assert!(same_picture(&idr, &second_slice, false), "a later slice");
        assert!(
            same_picture(&sets, &idr, false),
            "parameter sets sent ahead"
        );
        assert!(same_picture(&idr, &sets, false), "parameter sets after");
        assert!(!same_picture(&idr, &idr, false), "two pictures");
        assert!(!same_picture(&idr, &[0, 0, 0, 9, 0x65], false), "malformed");
        assert!(!same_picture(&[0, 0, 0], &second_slice, false), "malformed");
        // H.265: first_slice_segment_in_pic_flag after the 2-byte header; a VPS is no slice.
        assert_eq!(
            first_slice(&au(&[&[0x26, 0x01, 0x80]]), true),
            FirstSlice::Starts
        );
        assert_eq!(
            first_slice(&au(&[&[0x02, 0x01, 0x00]]), true),
            FirstSlice::Continues
        );
        assert_eq!(
            first_slice(&au(&[&[0x40, 0x01, 0x0c]]), true),
            FirstSlice::None
        );
    }

    #[test]
    fn a_stepped_back_server_clock_never_overlaps_recorded_video() {
        let recorded_until = T0 + 3_600_000_000;
        let mut t = Timeline::new(1, opts(), recorded_until);
        let steps = drive(&mut t, (0..30).map(|i| frame(i, 30)));
        assert_eq!(fragments(&steps)[0].start_utc, recorded_until);
    }

    #[test]
    fn new_parameters_start_a_new_run_after_the_last() {
        let mut t = Timeline::new(1, opts(), i64::MIN);
        let mut frames: Vec<RecFrame> = (0..30).map(|i| frame(i, 30)).collect();
        let mut changed = frame(30, 30);
        changed.new_run = Some(params());
        changed.wall_us = T0; // the server clock stepped back meanwhile
        frames.push(changed);
        let steps = drive(&mut t, frames);
        let runs = steps
            .iter()
            .filter(|s| matches!(s, Step::RunStarted { .. }))
            .count();
        assert_eq!(runs, 2);
        let f = fragments(&steps);
        assert_eq!(f.len(), 2);
        assert!(f[1].start_utc >= f[0].row.end_utc);
        assert!(
            f[1].new_segment.is_some(),
            "a run change opens a new segment file"
        );
    }
}
