//! The clip every simulated camera plays: parsed once from an `.mp4`, shared by all cameras.
//!
//! Frames are kept exactly as the file stores them (AVC length-prefixed NAL units) so that a
//! test can compare what a client received byte for byte with [`Clip::frames`].

use std::io::Cursor;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::SimError;

/// The RTP clock rate of H.264 video (RFC 6184).
pub(crate) const CLOCK_RATE: u64 = 90_000;

/// One access unit of the clip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClipFrame {
    /// AVC length-prefixed NAL units (4-byte big-endian lengths), as stored in the `.mp4`.
    pub data: Bytes,
    /// Whether this is a sync sample (IDR); SPS/PPS are sent in-band before it.
    pub keyframe: bool,
    /// How long this frame lasts, in 90 kHz ticks; drives both pacing and RTP timestamps.
    pub duration_90k: u32,
}

/// An H.264 clip held in memory, looped forever by every simulated camera.
#[derive(Clone, Debug)]
pub struct Clip {
    frames: Vec<ClipFrame>,
    /// Start of each frame relative to the clip start, in 90 kHz ticks (same length as `frames`).
    starts_90k: Vec<u64>,
    /// `[sps, pps]`, sent before every keyframe and in the SDP.
    param_sets: [Bytes; 2],
    width: u16,
    height: u16,
    duration_90k: u64,
    profile_level_id: [u8; 3],
    /// The `avc1` sample entry (with `avcC`) of the source file.
    sample_entry: Bytes,
}

static BUILTIN: OnceLock<Arc<Clip>> = OnceLock::new();

impl Clip {
    /// Parses an `.mp4` holding one H.264 track with 4-byte NAL lengths, no B-frames, and a
    /// keyframe first.
    ///
    /// The `mp4` crate is not hardened against hostile input (it can panic on inconsistent
    /// tables), so it runs under `catch_unwind` and a panic becomes [`SimError::Clip`].
    pub fn from_mp4(bytes: &[u8]) -> Result<Self, SimError> {
        std::panic::catch_unwind(|| Self::parse_mp4(bytes))
            .unwrap_or_else(|_| Err(clip_err("mp4 parser panicked on malformed input")))
    }

    /// The committed 10 s 720p clip, parsed on first use and shared by every caller.
    ///
    /// # Panics
    ///
    /// Only if the clip compiled into the binary is corrupt, which the unit tests rule out.
    pub fn builtin() -> Arc<Self> {
        BUILTIN
            .get_or_init(|| {
                let parsed = Self::from_mp4(include_bytes!("../testdata/clip-720p.mp4"));
                match parsed {
                    Ok(clip) => Arc::new(clip),
                    Err(e) => panic!("built-in simulator clip is corrupt: {e}"),
                }
            })
            .clone()
    }

    /// The first `n_gops` groups of pictures, so tests can exercise looping in a second or two.
    pub fn truncated(&self, n_gops: usize) -> Result<Self, SimError> {
        if n_gops == 0 {
            return Err(clip_err("cannot truncate a clip to zero GOPs"));
        }
        let end = self
            .frames
            .iter()
            .enumerate()
            .filter(|(_, f)| f.keyframe)
            .nth(n_gops)
            .map_or(self.frames.len(), |(i, _)| i);
        let frames = self.frames[..end].to_vec();
        let starts_90k = self.starts_90k[..end].to_vec();
        let duration_90k = frames.iter().map(|f| u64::from(f.duration_90k)).sum();
        Ok(Self {
            frames,
            starts_90k,
            duration_90k,
            param_sets: self.param_sets.clone(),
            sample_entry: self.sample_entry.clone(),
            ..*self
        })
    }

    pub fn frames(&self) -> &[ClipFrame] {
        &self.frames
    }

    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    pub fn keyframe_count(&self) -> usize {
        self.frames.iter().filter(|f| f.keyframe).count()
    }

    /// Average frame rate, derived from the sample durations.
    pub fn fps(&self) -> f64 {
        // Precision loss is irrelevant for clips shorter than centuries.
        #[allow(clippy::cast_precision_loss)]
        let fps = self.frames.len() as f64 * CLOCK_RATE as f64 / self.duration_90k as f64;
        fps
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn height(&self) -> u16 {
        self.height
    }

    /// Length of one loop in 90 kHz ticks.
    pub fn duration_90k(&self) -> u64 {
        self.duration_90k
    }

    /// The SDP `profile-level-id`: SPS bytes 1..4 as six hex digits.
    pub fn profile_level_id(&self) -> String {
        let [a, b, c] = self.profile_level_id;
        format!("{a:02x}{b:02x}{c:02x}")
    }

    pub fn sps(&self) -> &Bytes {
        &self.param_sets[0]
    }

    pub fn pps(&self) -> &Bytes {
        &self.param_sets[1]
    }

    /// The clip's `avc1` sample entry (with its `avcC`), as an MP4 writer stores it. With
    /// [`Clip::frames`] it lets a test record real H.264 without an RTSP session.
    pub fn sample_entry(&self) -> &Bytes {
        &self.sample_entry
    }

    /// The RFC 6381 codec string, e.g. `avc1.64001f`.
    pub fn rfc6381_codec(&self) -> String {
        format!("avc1.{}", self.profile_level_id())
    }

    /// `[sps, pps]`, in the order they are sent before a keyframe.
    pub(crate) fn param_sets(&self) -> &[Bytes] {
        &self.param_sets
    }

    /// Start of frame `i` relative to the start of its loop, in 90 kHz ticks.
    pub(crate) fn start_90k(&self, i: usize) -> u64 {
        self.starts_90k.get(i).copied().unwrap_or(self.duration_90k)
    }

    fn parse_mp4(bytes: &[u8]) -> Result<Self, SimError> {
        let size = u64::try_from(bytes.len()).map_err(|_| clip_err("file too large"))?;
        let mut reader = mp4::Mp4Reader::read_header(Cursor::new(bytes), size)
            .map_err(|e| clip_err(format!("bad mp4: {e}")))?;
        let mut video = reader
            .tracks()
            .values()
            .filter(|t| t.trak.mdia.minf.stbl.stsd.avc1.is_some());
        let track = video
            .next()
            .ok_or_else(|| clip_err("no H.264 (avc1) track"))?;
        if video.next().is_some() {
            return Err(clip_err("more than one H.264 track"));
        }
        let track_id = track.track_id();
        let avc1 = track
            .trak
            .mdia
            .minf
            .stbl
            .stsd
            .avc1
            .as_ref()
            .ok_or_else(|| clip_err("no avc1 sample entry"))?;
        if avc1.avcc.length_size_minus_one != 3 {
            return Err(clip_err(format!(
                "NAL length size {} unsupported; need 4",
                u16::from(avc1.avcc.length_size_minus_one) + 1
            )));
        }
        let sps = first_param_set(
            avc1.avcc.sequence_parameter_sets.first().map(|n| &n.bytes),
            "SPS",
        )?;
        let pps = first_param_set(
            avc1.avcc.picture_parameter_sets.first().map(|n| &n.bytes),
            "PPS",
        )?;
        let profile_level_id = match sps.get(1..4) {
            Some(&[a, b, c]) => [a, b, c],
            _ => return Err(clip_err("SPS too short")),
        };
        let timescale = u64::from(track.timescale());
        if timescale == 0 {
            return Err(clip_err("track timescale is zero"));
        }
        let stsz = &track.trak.mdia.minf.stbl.stsz;
        if stsz
            .sample_sizes
            .iter()
            .chain([&stsz.sample_size])
            .any(|&s| u64::from(s) > size)
        {
            // Guards the parser's unchecked `vec![0; sample_size]`.
            return Err(clip_err("sample larger than the file"));
        }
        let (width, height) = (avc1.width, avc1.height);
        let mut sample_entry = Vec::new();
        mp4::WriteBox::write_box(avc1, &mut sample_entry)
            .map_err(|e| clip_err(format!("re-encoding the avc1 box: {e}")))?;
        let sample_count = track.sample_count();
        if sample_count == 0 {
            return Err(clip_err("track has no samples"));
        }

        let mut frames = Vec::with_capacity(usize::try_from(sample_count).unwrap_or(0));
        let mut starts_90k = Vec::with_capacity(frames.capacity());
        let mut end_90k = 0u64;
        for id in 1..=sample_count {
            let sample = reader
                .read_sample(track_id, id)
                .map_err(|e| clip_err(format!("sample {id}: {e}")))?
                .ok_or_else(|| clip_err(format!("sample {id} missing")))?;
            if sample.rendering_offset != 0 {
                return Err(clip_err("B-frames (composition offsets) are unsupported"));
            }
            validate_avc(&sample.bytes).map_err(|e| clip_err(format!("sample {id}: {e}")))?;
            // Round the running position rather than each duration so a 1/30 s timescale that
            // doesn't divide 90 kHz still doesn't drift.
            let start = end_90k;
            let end_ticks = sample.start_time.saturating_add(u64::from(sample.duration));
            end_90k = u64::try_from(
                u128::from(end_ticks) * u128::from(CLOCK_RATE) / u128::from(timescale),
            )
            .map_err(|_| clip_err("timestamps overflow"))?;
            let duration_90k = u32::try_from(end_90k.saturating_sub(start))
                .map_err(|_| clip_err(format!("sample {id} lasts too long")))?;
            if duration_90k == 0 {
                return Err(clip_err(format!("sample {id} has zero duration")));
            }
            starts_90k.push(start);
            frames.push(ClipFrame {
                data: sample.bytes,
                keyframe: sample.is_sync,
                duration_90k,
            });
        }
        if !frames.first().is_some_and(|f| f.keyframe) {
            return Err(clip_err("first frame is not a keyframe"));
        }
        Ok(Self {
            frames,
            starts_90k,
            param_sets: [Bytes::from(sps), Bytes::from(pps)],
            width,
            height,
            duration_90k: end_90k,
            profile_level_id,
            sample_entry: Bytes::from(sample_entry),
        })
    }
}

fn clip_err(msg: impl Into<String>) -> SimError {
    SimError::Clip(msg.into())
}

fn first_param_set(first: Option<&Vec<u8>>, what: &str) -> Result<Vec<u8>, SimError> {
    match first {
        Some(nal) if !nal.is_empty() => Ok(nal.clone()),
        _ => Err(clip_err(format!("avcC has no {what}"))),
    }
}

/// Checks that `data` is a non-empty sequence of non-empty 4-byte-length-prefixed NAL units, so
/// the packetizer can walk it without further checks.
fn validate_avc(data: &[u8]) -> Result<(), String> {
    let mut nals = AvcNals::new(data);
    let mut count = 0;
    for nal in nals.by_ref() {
        if nal.is_empty() {
            return Err("empty NAL unit".to_owned());
        }
        count += 1;
    }
    if !nals.is_complete() {
        return Err("truncated NAL length prefix or unit".to_owned());
    }
    if count == 0 {
        return Err("no NAL units".to_owned());
    }
    Ok(())
}

/// Iterates over the NAL units of AVC length-prefixed data; stops at the first inconsistency.
#[derive(Clone, Debug)]
pub(crate) struct AvcNals<'a> {
    rest: &'a [u8],
}

impl<'a> AvcNals<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    /// True once every byte has been consumed as part of a whole NAL unit.
    pub(crate) fn is_complete(&self) -> bool {
        self.rest.is_empty()
    }
}

impl<'a> Iterator for AvcNals<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        if len > rest.len() {
            return None;
        }
        let (nal, rest) = rest.split_at(len);
        self.rest = rest;
        Some(nal)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn builtin_clip_matches_its_description() {
        let clip = Clip::builtin();
        assert_eq!(clip.frame_count(), 300);
        assert_eq!((clip.width(), clip.height()), (1280, 720));
        assert!((clip.fps() - 30.0).abs() < 1e-9);
        assert_eq!(clip.duration_90k(), 900_000);
        assert_eq!(clip.keyframe_count(), 10);
        for (i, f) in clip.frames().iter().enumerate() {
            assert_eq!(f.keyframe, i % 30 == 0, "frame {i}");
            assert_eq!(f.duration_90k, 3000, "frame {i}");
            assert_eq!(clip.start_90k(i), 3000 * i as u64);
        }
        assert_eq!(clip.sps()[0] & 0x1f, 7);
        assert_eq!(clip.pps()[0] & 0x1f, 8);
        assert_eq!(clip.profile_level_id(), hex3(&clip.sps()[1..4]));
        assert!(clip.profile_level_id().starts_with("4d"), "Main profile");
    }

    fn hex3(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn truncated_keeps_whole_gops() {
        let clip = Clip::builtin();
        let one = clip.truncated(1).unwrap();
        assert_eq!(one.frame_count(), 30);
        assert_eq!(one.keyframe_count(), 1);
        assert_eq!(one.duration_90k(), 90_000);
        assert_eq!(one.frames(), &clip.frames()[..30]);
        assert_eq!(clip.truncated(2).unwrap().frame_count(), 60);
        assert_eq!(clip.truncated(1000).unwrap().frame_count(), 300);
        assert!(clip.truncated(0).is_err());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let good = include_bytes!("../testdata/clip-720p.mp4");
        let inputs: Vec<Vec<u8>> = vec![
            vec![],
            b"not an mp4 at all".to_vec(),
            vec![0xff; 64],
            good[..good.len() / 2].to_vec(),
            good[..2000].to_vec(),
            good[100..].to_vec(),
        ];
        for input in inputs {
            assert!(Clip::from_mp4(&input).is_err(), "len {}", input.len());
        }
        // Flip bytes in the moov box area; whatever happens, no panic escapes.
        for pos in (good.len() - 4000..good.len()).step_by(97) {
            let mut bad = good.to_vec();
            bad[pos] ^= 0xff;
            let _ = Clip::from_mp4(&bad);
        }
    }

    #[test]
    fn avc_walker_rejects_truncation() {
        assert!(validate_avc(&[0, 0, 0, 2, 0x65, 1]).is_ok());
        assert!(validate_avc(&[0, 0, 0, 3, 0x65, 1]).is_err());
        assert!(validate_avc(&[0, 0, 0]).is_err());
        assert!(validate_avc(&[]).is_err());
        assert!(validate_avc(&[0, 0, 0, 0]).is_err());
    }
}
