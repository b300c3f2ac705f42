//! Decode times for streams whose frames arrive out of presentation order (B-frames).
//!
//! RTP carries presentation times; frames arrive in decode order. With B-frames a frame can
//! present before frames decoded ahead of it, so its RTP timestamp is *lower* than theirs — by
//! design, not a clock fault. MP4 wants a strictly increasing decode time per sample and a
//! composition offset (presentation − decode). The decode times used here are the stream's
//! presentation times in sorted order: the n-th frame decoded gets the n-th smallest
//! presentation time. That keeps every duration positive, makes composition times exactly the
//! camera's presentation times, and equals the presentation time (offset 0) for streams
//! without B-frames.
//!
//! The n-th smallest presentation time is known once no later frame can present earlier,
//! that is `depth` frames later, where `depth` bounds the stream's reorder depth
//! (`max_num_reorder_frames`; 1–2 for common encoders, x264's B-pyramid 2). A frame that
//! presents before a decode time already handed out means the stream reorders deeper than
//! `depth` (or its clock stepped back); the caller treats it as a timestamp anomaly.
//!
//! Pure: no I/O, no clocks; the recorder drives it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Why a frame cannot join the current run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anomaly {
    /// It presents at or before a decode time already handed out (deeper reordering than the
    /// window, or a clock stepping back).
    Backward,
    /// Another frame in flight presents at the same time (it would last zero ticks).
    Duplicate,
    /// It presents further from the latest presentation time than the largest allowed gap,
    /// forwards or (before any decode time was handed out to catch it) backwards.
    Jump,
}

/// A frame with its decode time and duration settled.
#[derive(Debug, PartialEq, Eq)]
pub struct Timed<T> {
    pub item: T,
    pub pts: i64,
    pub dts: i64,
    /// Until the next frame's decode time, in the stream's ticks.
    pub duration: i64,
}

impl<T> Timed<T> {
    /// Presentation minus decode time.
    pub fn composition_offset(&self) -> i64 {
        self.pts - self.dts
    }
}

#[derive(Debug)]
struct InFlight<T> {
    item: T,
    pts: i64,
    dts: Option<i64>,
}

/// Assigns decode times to one run's frames, in the order they arrive.
#[derive(Debug)]
pub struct Reorder<T> {
    depth: usize,
    frames: VecDeque<InFlight<T>>,
    /// Presentation times of frames in flight that no decode time was taken from yet.
    unassigned: BinaryHeap<Reverse<i64>>,
    last_dts: Option<i64>,
    max_pts: Option<i64>,
}

impl<T> Reorder<T> {
    /// A window for streams that reorder at most `depth` frames.
    pub fn new(depth: usize) -> Self {
        Reorder {
            depth,
            frames: VecDeque::new(),
            unassigned: BinaryHeap::new(),
            last_dts: None,
            max_pts: None,
        }
    }

    /// Whether no frame is in flight (no run, or one just drained).
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Checks whether a frame presenting at `pts` can follow the frames so far, allowing a
    /// step of at most `max_gap` past the latest presentation time.
    pub fn check(&self, pts: i64, max_gap: i64) -> Result<(), Anomaly> {
        if self.last_dts.is_some_and(|d| pts <= d) {
            return Err(Anomaly::Backward);
        }
        if self.unassigned.iter().any(|Reverse(p)| *p == pts) {
            return Err(Anomaly::Duplicate);
        }
        // Reordering moves a frame a few frame intervals back, never by more than the gap: a
        // larger step back is a clock fault even while the window hands out no decode time.
        if self
            .max_pts
            .is_some_and(|m| pts - m > max_gap || m - pts > max_gap)
        {
            return Err(Anomaly::Jump);
        }
        Ok(())
    }

    /// Offers the frame pushed last to `merge` if it presents at `pts` too (one picture that
    /// reached the recorder as two access units: a camera or packetizer splitting it, parameter
    /// sets sent apart). `merge` extends it and says whether it did.
    pub fn merge_into_last(&mut self, pts: i64, merge: impl FnOnce(&mut T) -> bool) -> bool {
        match self.frames.back_mut() {
            Some(last) if last.pts == pts => merge(&mut last.item),
            _ => false,
        }
    }

    /// Adds the next frame in decode order (after [`Reorder::check`]).
    pub fn push(&mut self, pts: i64, item: T) {
        self.frames.push_back(InFlight {
            item,
            pts,
            dts: None,
        });
        self.unassigned.push(Reverse(pts));
        self.max_pts = Some(self.max_pts.map_or(pts, |m| m.max(pts)));
        while self.unassigned.len() > self.depth {
            self.assign_next();
        }
    }

    /// The oldest frame, once its duration is known (the next frame's decode time is).
    pub fn pop_ready(&mut self) -> Option<Timed<T>> {
        let next_dts = self.frames.get(1)?.dts?;
        let f = self.frames.pop_front()?;
        let dts = f.dts?;
        Some(Timed {
            item: f.item,
            pts: f.pts,
            dts,
            duration: next_dts - dts,
        })
    }

    /// Ends the run: settles every frame in flight, the last lasting `last_duration`, and
    /// forgets the run's times.
    pub fn drain(&mut self, last_duration: i64) -> Vec<Timed<T>> {
        while !self.unassigned.is_empty() {
            self.assign_next();
        }
        let mut out = Vec::with_capacity(self.frames.len());
        while let Some(t) = self.pop_ready() {
            out.push(t);
        }
        if let Some(f) = self.frames.pop_front()
            && let Some(dts) = f.dts
        {
            out.push(Timed {
                item: f.item,
                pts: f.pts,
                dts,
                duration: last_duration,
            });
        }
        self.last_dts = None;
        self.max_pts = None;
        out
    }

    /// Gives the smallest unassigned presentation time to the oldest frame without a decode
    /// time.
    fn assign_next(&mut self) {
        let Some(Reverse(dts)) = self.unassigned.pop() else {
            return;
        };
        if let Some(f) = self.frames.iter_mut().find(|f| f.dts.is_none()) {
            f.dts = Some(dts);
            self.last_dts = Some(dts);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// (pts, dts, duration) of one frame.
    type Settled = (i64, i64, i64);

    /// Runs presentation times through a window of `depth`, checking each (largest step
    /// 50 000), and returns
    /// (pts, dts, duration) per frame in decode order, or the first anomaly's index and kind.
    fn run(depth: usize, pts: &[i64]) -> Result<Vec<Settled>, (usize, Anomaly)> {
        let mut r = Reorder::new(depth);
        let mut out = Vec::new();
        for (i, &p) in pts.iter().enumerate() {
            r.check(p, 50_000).map_err(|a| (i, a))?;
            r.push(p, i);
            while let Some(t) = r.pop_ready() {
                out.push(t);
            }
        }
        out.extend(r.drain(3000));
        assert!(r.is_empty());
        let items: Vec<usize> = out.iter().map(|t| t.item).collect();
        assert_eq!(
            items,
            (0..pts.len()).collect::<Vec<_>>(),
            "decode order kept"
        );
        Ok(out
            .into_iter()
            .map(|t| (t.pts, t.dts, t.duration))
            .collect())
    }

    #[test]
    fn without_b_frames_decode_is_presentation() {
        let got = run(4, &[0, 3000, 6000, 9003]).unwrap();
        assert_eq!(
            got,
            [
                (0, 0, 3000),
                (3000, 3000, 3000),
                (6000, 6000, 3003),
                (9003, 9003, 3000)
            ]
        );
    }

    #[test]
    fn b_frames_get_sorted_decode_times_and_signed_offsets() {
        // x264 with B-pyramid: decode I0 P4 B2 b1 b3 P8 B6 b5 b7 (frame numbers × 3000).
        let order = [0, 4, 2, 1, 3, 8, 6, 5, 7].map(|n| n * 3000);
        let got = run(2, &order).unwrap();
        let dts: Vec<i64> = got.iter().map(|g| g.1).collect();
        assert_eq!(dts, (0..9).map(|n| n * 3000).collect::<Vec<_>>());
        assert!(got.iter().all(|g| g.2 == 3000), "{got:?}");
        let cto: Vec<i64> = got.iter().map(|g| g.0 - g.1).collect();
        assert_eq!(cto, [0, 9000, 0, -6000, -3000, 9000, 0, -6000, -3000]);
    }

    #[test]
    fn reordering_deeper_than_the_window_is_an_anomaly() {
        // Depth 2 is needed: a window of 1 has handed out decode time 6000 when b1 (3000) arrives.
        let order = [0, 4, 2, 1, 3].map(|n| n * 3000);
        assert_eq!(run(1, &order), Err((3, Anomaly::Backward)));
    }

    #[test]
    fn stepping_back_repeating_and_jumping_are_anomalies() {
        assert_eq!(run(0, &[0, 3000, 3000]), Err((2, Anomaly::Backward)));
        assert_eq!(run(4, &[0, 3000, 3000]), Err((2, Anomaly::Duplicate)));
        assert_eq!(run(4, &[0, 3000, 1000]).map(|_| ()), Ok(()));
        assert_eq!(run(4, &[0, 3000, 60_000]), Err((2, Anomaly::Jump)));
        assert_eq!(run(0, &[6000, 3000]), Err((1, Anomaly::Backward)));
        // Found by fuzzing: within the first window no decode time is out yet, so a huge step
        // back was taken for reordering and made a 13-hour sample.
        assert_eq!(run(4, &[0, -4_000_000_000]), Err((1, Anomaly::Jump)));
    }

    #[test]
    fn draining_settles_every_frame_and_starts_afresh() {
        let mut r = Reorder::new(4);
        for (i, p) in [0, 6000, 3000].into_iter().enumerate() {
            r.push(p, i);
        }
        assert!(r.pop_ready().is_none(), "nothing settles inside the window");
        let got: Vec<_> = r
            .drain(1500)
            .into_iter()
            .map(|t| (t.dts, t.duration))
            .collect();
        assert_eq!(got, [(0, 3000), (3000, 3000), (6000, 1500)]);
        // A new run may start anywhere, earlier too.
        assert_eq!(r.check(-90_000, 10), Ok(()));
    }

    /// Random timestamp sequences (a fixed-seed generator, so failures reproduce): shuffled
    /// within windows, repeated, stepped back and jumped. After every step: decode times
    /// strictly increase, durations are positive, composition time is the presentation time,
    /// and every frame pushed comes out exactly once (none silently dropped).
    #[test]
    fn random_sequences_keep_the_invariants() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..2000 {
            let depth = next(5) as usize;
            let mut r = Reorder::new(depth);
            let (mut pushed, mut out, mut anomalies) = (0usize, Vec::new(), 0usize);
            let mut base = next(1000) as i64 - 500;
            for _ in 0..next(60) {
                // A block of up to 4 frames, presented in a random order.
                let n = 1 + next(4) as i64;
                let mut block: Vec<i64> = (0..n).map(|k| base + k * 3000).collect();
                for k in (1..block.len()).rev() {
                    block.swap(k, next(k as u64 + 1) as usize);
                }
                base += n * 3000;
                match next(20) {
                    0 => block.push(block[0]),
                    1 => base -= 30_000,
                    2 => base += 600_000,
                    _ => {}
                }
                for pts in block {
                    if r.check(pts, 450_000).is_err() {
                        anomalies += 1;
                        out.extend(r.drain(3000));
                    }
                    r.push(pts, pushed);
                    pushed += 1;
                    while let Some(t) = r.pop_ready() {
                        out.push(t);
                    }
                }
            }
            out.extend(r.drain(3000));
            let items: Vec<usize> = out.iter().map(|t| t.item).collect();
            assert_eq!(
                items,
                (0..pushed).collect::<Vec<_>>(),
                "every frame, in order"
            );
            for t in &out {
                assert!(t.duration > 0, "{t:?}");
                assert_eq!(t.dts + t.composition_offset(), t.pts);
            }
            // Within a run (between anomalies) decode times strictly increase.
            let increasing = out.windows(2).filter(|w| w[1].dts <= w[0].dts).count();
            assert!(
                increasing <= anomalies,
                "{increasing} reversals, {anomalies} runs ended"
            );
        }
    }
}
