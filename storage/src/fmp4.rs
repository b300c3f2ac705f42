//! Fragmented MP4 (ISO/IEC 14496-12) boxes for recording: an init segment (`ftyp` + `moov`) per
//! run and one `prft` + `moof` + `mdat` fragment per GOP.
//!
//! Hand-written rather than through the `mp4` crate: recording needs exactly one video track in
//! fragmented form with sample data appended as-is (no copy into an intermediate model), and the
//! `mp4` crate's writer produces progressive (non-fragmented) files only. See
//! `docs/design/recording.md`. Everything here is pure: bytes in, bytes out.

use bytes::{BufMut, Bytes};

/// Media timescale of every recorded track: RTP's 90 kHz video clock, so durations need no
/// rescaling and stay exact.
pub const TIMESCALE: u32 = 90_000;

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970), for `prft` boxes.
const NTP_UNIX_OFFSET_SECS: u64 = 2_208_988_800;

/// What a track's init segment needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackParams {
    /// RFC 6381 codec string, e.g. `avc1.4D401F` or `hvc1.1.6.L93.B0`.
    pub codec: String,
    pub width: u16,
    pub height: u16,
    /// The complete `VisualSampleEntry` box (`avc1`/`hvc1` with `avcC`/`hvcC`), as the RTSP
    /// client builds it from the stream's parameter sets.
    pub sample_entry: Bytes,
}

/// One sample (access unit) in a fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleInfo {
    /// Duration in [`TIMESCALE`] units.
    pub duration: u32,
    /// Size in bytes of the sample's data (length-prefixed NAL units).
    pub size: u32,
    pub keyframe: bool,
    /// Presentation minus decode time, [`TIMESCALE`] units: non-zero only for streams with
    /// B-frames, whose frames arrive (and are decoded) out of presentation order. Signed
    /// (`trun` version 1), so decode times can be the presentation times sorted.
    pub composition_offset: i32,
}

/// Errors from building or parsing boxes. Small on purpose: callers add camera and file context.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BoxError {
    #[error("truncated {0} box")]
    Truncated(&'static str),
    #[error("expected {expected} box, found {found:?}")]
    Unexpected {
        expected: &'static str,
        found: [u8; 4],
    },
    #[error("invalid {0} box")]
    Invalid(&'static str),
    #[error("fragment too large ({0} bytes)")]
    TooLarge(usize),
}

/// Appends a box: reserves the size field, runs `body`, then patches the size.
fn write_box(buf: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.put_u32(0);
    buf.put_slice(kind);
    body(buf);
    let len = u32::try_from(buf.len() - start).unwrap_or(u32::MAX);
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Appends a full box (version and 24-bit flags after the header).
fn write_full_box(
    buf: &mut Vec<u8>,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    write_box(buf, kind, |b| {
        b.put_u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
        body(b);
    });
}

const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// Builds the init segment (`ftyp` + `moov` with `mvex`) for one video track.
pub fn init_segment(track: &TrackParams) -> Vec<u8> {
    let mut buf = Vec::with_capacity(700 + track.sample_entry.len());
    write_box(&mut buf, b"ftyp", |b| {
        b.put_slice(b"isom");
        b.put_u32(0x200);
        for brand in [b"isom", b"iso6", b"iso2", b"avc1", b"mp41"] {
            b.put_slice(brand);
        }
    });
    write_box(&mut buf, b"moov", |b| {
        write_full_box(b, b"mvhd", 0, 0, |b| {
            b.put_u32(0); // creation_time
            b.put_u32(0); // modification_time
            b.put_u32(TIMESCALE);
            b.put_u32(0); // duration: unknown, fragments carry it
            b.put_u32(0x0001_0000); // rate 1.0
            b.put_u16(0x0100); // volume 1.0
            b.put_slice(&[0; 10]); // reserved
            UNITY_MATRIX.iter().for_each(|v| b.put_u32(*v));
            b.put_slice(&[0; 24]); // pre_defined
            b.put_u32(2); // next_track_ID
        });
        write_box(b, b"trak", |b| {
            write_full_box(b, b"tkhd", 0, 0x3, |b| {
                b.put_u32(0);
                b.put_u32(0);
                b.put_u32(1); // track_ID
                b.put_u32(0); // reserved
                b.put_u32(0); // duration
                b.put_slice(&[0; 8]); // reserved
                b.put_u16(0); // layer
                b.put_u16(0); // alternate_group
                b.put_u16(0); // volume (video)
                b.put_u16(0); // reserved
                UNITY_MATRIX.iter().for_each(|v| b.put_u32(*v));
                b.put_u32(u32::from(track.width) << 16);
                b.put_u32(u32::from(track.height) << 16);
            });
            write_box(b, b"mdia", |b| {
                write_full_box(b, b"mdhd", 0, 0, |b| {
                    b.put_u32(0);
                    b.put_u32(0);
                    b.put_u32(TIMESCALE);
                    b.put_u32(0);
                    b.put_u16(0x55c4); // language "und"
                    b.put_u16(0);
                });
                write_full_box(b, b"hdlr", 0, 0, |b| {
                    b.put_u32(0);
                    b.put_slice(b"vide");
                    b.put_slice(&[0; 12]);
                    b.put_slice(b"VideoHandler\0");
                });
                write_box(b, b"minf", |b| {
                    write_full_box(b, b"vmhd", 0, 1, |b| b.put_slice(&[0; 8]));
                    write_box(b, b"dinf", |b| {
                        write_full_box(b, b"dref", 0, 0, |b| {
                            b.put_u32(1);
                            write_full_box(b, b"url ", 0, 1, |_| {});
                        });
                    });
                    write_box(b, b"stbl", |b| {
                        write_full_box(b, b"stsd", 0, 0, |b| {
                            b.put_u32(1);
                            b.put_slice(&track.sample_entry);
                        });
                        write_full_box(b, b"stts", 0, 0, |b| b.put_u32(0));
                        write_full_box(b, b"stsc", 0, 0, |b| b.put_u32(0));
                        write_full_box(b, b"stsz", 0, 0, |b| b.put_slice(&[0; 8]));
                        write_full_box(b, b"stco", 0, 0, |b| b.put_u32(0));
                    });
                });
            });
        });
        write_box(b, b"mvex", |b| {
            write_full_box(b, b"trex", 0, 0, |b| {
                b.put_u32(1); // track_ID
                b.put_u32(1); // default_sample_description_index
                b.put_u32(0);
                b.put_u32(0);
                b.put_u32(0);
            });
        });
    });
    buf
}

const SAMPLE_FLAGS_SYNC: u32 = 0x0200_0000; // sample_depends_on = 2 (does not depend on others)
const SAMPLE_FLAGS_NON_SYNC: u32 = 0x0101_0000; // depends on others, sample_is_non_sync_sample

/// Header of one fragment: everything before the sample data. `mdat`'s payload is the samples'
/// data concatenated in order, so the fragment is `header ++ data` without copying the data.
#[derive(Debug)]
pub struct FragmentHeader {
    pub bytes: Vec<u8>,
}

/// Whether any sample of a fragment presents at other than its decode time (B-frames): its
/// `trun` then carries composition offsets, 4 bytes more per sample.
pub fn has_composition_offsets(samples: &[SampleInfo]) -> bool {
    samples.iter().any(|s| s.composition_offset != 0)
}

/// Builds `prft` + `moof` + the `mdat` header for a fragment.
///
/// `base_decode_time` is the first sample's decode time within the run (in [`TIMESCALE`]
/// units); `utc_micros` is that sample's wall-clock time, written as the `prft` NTP timestamp
/// so the file itself says when each fragment was captured.
pub fn fragment_header(
    sequence: u32,
    base_decode_time: u64,
    utc_micros: i64,
    samples: &[SampleInfo],
) -> Result<FragmentHeader, BoxError> {
    let data_len: usize = samples.iter().map(|s| s.size as usize).sum();
    let mut buf = Vec::with_capacity(120 + samples.len() * 12);
    write_full_box(&mut buf, b"prft", 1, 0, |b| {
        b.put_u32(1); // reference_track_ID
        b.put_u64(ntp_from_unix_micros(utc_micros));
        b.put_u64(base_decode_time);
    });
    let moof_start = buf.len();
    let mut data_offset_pos = 0;
    write_box(&mut buf, b"moof", |b| {
        write_full_box(b, b"mfhd", 0, 0, |b| b.put_u32(sequence));
        write_box(b, b"traf", |b| {
            // default-base-is-moof: trun offsets count from the start of this moof.
            write_full_box(b, b"tfhd", 0, 0x02_0000, |b| b.put_u32(1));
            write_full_box(b, b"tfdt", 1, 0, |b| b.put_u64(base_decode_time));
            // data-offset, sample-duration, sample-size, sample-flags present; with B-frames
            // also signed (version 1) sample-composition-time-offsets.
            let cto = has_composition_offsets(samples);
            let (version, flags) = if cto { (1, 0x000_f01) } else { (0, 0x000_701) };
            write_full_box(b, b"trun", version, flags, |b| {
                b.put_u32(u32::try_from(samples.len()).unwrap_or(u32::MAX));
                data_offset_pos = b.len();
                b.put_u32(0); // data_offset, patched below
                for s in samples {
                    b.put_u32(s.duration);
                    b.put_u32(s.size);
                    b.put_u32(if s.keyframe {
                        SAMPLE_FLAGS_SYNC
                    } else {
                        SAMPLE_FLAGS_NON_SYNC
                    });
                    if cto {
                        b.put_i32(s.composition_offset);
                    }
                }
            });
        });
    });
    let moof_len = buf.len() - moof_start;
    let data_offset =
        u32::try_from(moof_len + 8).map_err(|_| BoxError::TooLarge(moof_len + data_len))?;
    buf[data_offset_pos..data_offset_pos + 4].copy_from_slice(&data_offset.to_be_bytes());
    let mdat_len = u32::try_from(8 + data_len).map_err(|_| BoxError::TooLarge(data_len))?;
    buf.put_u32(mdat_len);
    buf.put_slice(b"mdat");
    Ok(FragmentHeader { bytes: buf })
}

/// Length of what [`fragment_header`] writes for `samples` samples: `prft` (32) + `moof` with
/// `mfhd`, `tfhd`, `tfdt` and a `trun` of 12 bytes a sample, 16 with composition offsets
/// (88 + 12 n or 16 n) + the `mdat` header (8). Fixed by construction, so a fragment's sample
/// data can be located from its index row alone (playback lays out a whole virtual file without
/// reading any fragment); the row says whether the fragment has composition offsets.
pub const fn fragment_header_len(samples: u32, composition_offsets: bool) -> u64 {
    128 + if composition_offsets { 16 } else { 12 } * samples as u64
}

/// Converts Unix microseconds to a 64-bit NTP timestamp (32.32 fixed point since 1900).
pub fn ntp_from_unix_micros(micros: i64) -> u64 {
    let secs = (micros.div_euclid(1_000_000) + NTP_UNIX_OFFSET_SECS as i64).max(0) as u64;
    // Round the fraction up so that converting back (rounding down) gives the same microsecond.
    let frac = ((micros.rem_euclid(1_000_000) as u64) << 32).div_ceil(1_000_000);
    (secs << 32) | frac
}

/// Converts a 64-bit NTP timestamp back to Unix microseconds (rounded down).
pub fn unix_micros_from_ntp(ntp: u64) -> i64 {
    let secs = (ntp >> 32) as i64 - NTP_UNIX_OFFSET_SECS as i64;
    let frac = (((ntp & 0xffff_ffff) * 1_000_000) >> 32) as i64;
    secs * 1_000_000 + frac
}

/// What [`parse_fragment`] learns from a fragment's boxes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedFragment {
    /// Total length: `prft` (if any) + `moof` + `mdat`.
    pub len: u64,
    pub sequence: u32,
    pub base_decode_time: u64,
    pub utc_micros: Option<i64>,
    pub samples: Vec<SampleInfo>,
}

impl ParsedFragment {
    pub fn duration(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.duration)).sum()
    }
}

/// A cursor over big-endian fields that reports truncation instead of panicking.
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], BoxError> {
        if self.buf.len() < n {
            return Err(BoxError::Truncated(self.what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    pub(crate) fn u16(&mut self) -> Result<u16, BoxError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, BoxError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, BoxError> {
        Ok((u64::from(self.u32()?) << 32) | u64::from(self.u32()?))
    }
    fn kind(&mut self) -> Result<[u8; 4], BoxError> {
        let b = self.take(4)?;
        Ok([b[0], b[1], b[2], b[3]])
    }
}

/// Splits a box header: returns (kind, whole box including header, rest after the box).
/// A box split off a buffer: its type, the whole box (header included), and what follows it.
pub(crate) type SplitBox<'a> = ([u8; 4], &'a [u8], &'a [u8]);

pub(crate) fn next_box<'a>(buf: &'a [u8], what: &'static str) -> Result<SplitBox<'a>, BoxError> {
    let mut r = Reader { buf, what };
    let size = r.u32()? as usize;
    let kind = r.kind()?;
    if size < 8 {
        return Err(BoxError::Invalid(what));
    }
    if buf.len() < size {
        return Err(BoxError::Truncated(what));
    }
    Ok((kind, &buf[..size], &buf[size..]))
}

/// Parses the boxes of one fragment from its first bytes: at least everything up to and
/// including the `mdat` header. Used by recovery and `vms check` to verify that an index row
/// points at a well-formed fragment. `buf` may extend past the fragment.
pub fn parse_fragment(buf: &[u8]) -> Result<ParsedFragment, BoxError> {
    let mut rest = buf;
    let mut utc_micros = None;
    let (mut kind, mut whole, mut after) = next_box(rest, "fragment")?;
    let mut prefix = 0usize;
    if &kind == b"prft" {
        let mut r = Reader {
            buf: &whole[8..],
            what: "prft",
        };
        let version = r.u32()? >> 24;
        r.u32()?; // reference_track_ID
        utc_micros = Some(unix_micros_from_ntp(r.u64()?));
        if version == 0 {
            r.u32()?;
        } else {
            r.u64()?;
        }
        prefix = whole.len();
        rest = after;
        (kind, whole, after) = next_box(rest, "moof")?;
    }
    if &kind != b"moof" {
        return Err(BoxError::Unexpected {
            expected: "moof",
            found: kind,
        });
    }
    let moof_len = whole.len();
    let mut sequence = 0;
    let mut base_decode_time = 0;
    let mut samples = Vec::new();
    let mut data_offset = None;
    let mut children = &whole[8..];
    while !children.is_empty() {
        let (k, b, next) = next_box(children, "moof child")?;
        children = next;
        match &k {
            b"mfhd" => {
                let mut r = Reader {
                    buf: &b[8..],
                    what: "mfhd",
                };
                r.u32()?;
                sequence = r.u32()?;
            }
            b"traf" => {
                let mut traf = &b[8..];
                while !traf.is_empty() {
                    let (k, b, next) = next_box(traf, "traf child")?;
                    traf = next;
                    match &k {
                        b"tfdt" => {
                            let mut r = Reader {
                                buf: &b[8..],
                                what: "tfdt",
                            };
                            let version = r.u32()? >> 24;
                            base_decode_time = if version == 1 {
                                r.u64()?
                            } else {
                                u64::from(r.u32()?)
                            };
                        }
                        b"trun" => {
                            let (off, s) = parse_trun(&b[8..])?;
                            data_offset = off;
                            samples = s;
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let (mkind, _, _) = {
        let mut r = Reader {
            buf: after,
            what: "mdat",
        };
        let size = r.u32()?;
        (r.kind()?, size, ())
    };
    if &mkind != b"mdat" {
        return Err(BoxError::Unexpected {
            expected: "mdat",
            found: mkind,
        });
    }
    let mdat_size = u64::from(u32::from_be_bytes([after[0], after[1], after[2], after[3]]));
    let data_len: u64 = samples.iter().map(|s| u64::from(s.size)).sum();
    if mdat_size != data_len + 8 || data_offset != Some(moof_len as u32 + 8) {
        return Err(BoxError::Invalid("trun/mdat size"));
    }
    Ok(ParsedFragment {
        len: prefix as u64 + moof_len as u64 + mdat_size,
        sequence,
        base_decode_time,
        utc_micros,
        samples,
    })
}

fn parse_trun(body: &[u8]) -> Result<(Option<u32>, Vec<SampleInfo>), BoxError> {
    let mut r = Reader {
        buf: body,
        what: "trun",
    };
    let version_flags = r.u32()?;
    let (version, flags) = (version_flags >> 24, version_flags & 0x00ff_ffff);
    let count = r.u32()? as usize;
    let data_offset = if flags & 0x1 != 0 {
        Some(r.u32()?)
    } else {
        None
    };
    let first_flags = if flags & 0x4 != 0 {
        Some(r.u32()?)
    } else {
        None
    };
    let per_sample = [0x100, 0x200, 0x400, 0x800]
        .iter()
        .filter(|f| flags & **f != 0)
        .count();
    if r.buf.len() < count.saturating_mul(per_sample * 4) {
        return Err(BoxError::Truncated("trun"));
    }
    if per_sample == 0 && count > 0 {
        // Sizes and durations from defaults are never written here; without per-sample
        // fields a lying count would only allocate.
        return Err(BoxError::Invalid("trun"));
    }
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        let duration = if flags & 0x100 != 0 { r.u32()? } else { 0 };
        let size = if flags & 0x200 != 0 { r.u32()? } else { 0 };
        let sflags = if flags & 0x400 != 0 {
            r.u32()?
        } else if i == 0 {
            first_flags.unwrap_or(0)
        } else {
            0
        };
        let composition_offset = if flags & 0x800 != 0 {
            let raw = r.u32()?;
            // Version 0 offsets are unsigned; larger than i32 would be nonsense anyway.
            if version == 0 {
                i32::try_from(raw).map_err(|_| BoxError::Invalid("trun"))?
            } else {
                raw as i32
            }
        } else {
            0
        };
        samples.push(SampleInfo {
            duration,
            size,
            keyframe: sflags & 0x0001_0000 == 0,
            composition_offset,
        });
    }
    Ok((data_offset, samples))
}

/// Splits an init segment at its end: the first `ftyp` + `moov` boxes. Lets recovery skip the
/// init segment at the head of a segment file.
pub fn init_segment_len(buf: &[u8]) -> Result<usize, BoxError> {
    let (k1, b1, rest) = next_box(buf, "ftyp")?;
    if &k1 != b"ftyp" {
        return Err(BoxError::Unexpected {
            expected: "ftyp",
            found: k1,
        });
    }
    let (k2, b2, _) = next_box(rest, "moov")?;
    if &k2 != b"moov" {
        return Err(BoxError::Unexpected {
            expected: "moov",
            found: k2,
        });
    }
    Ok(b1.len() + b2.len())
}

/// The visual sample entry (`avc1`/`hvc1` box) inside an init segment written by
/// [`init_segment`]: `moov/trak/mdia/minf/stbl/stsd`, first entry.
pub fn sample_entry(init: &[u8]) -> Result<&[u8], BoxError> {
    fn child<'a>(mut buf: &'a [u8], kind: &'static [u8; 4]) -> Result<&'a [u8], BoxError> {
        while !buf.is_empty() {
            let (k, whole, rest) = next_box(buf, "init segment")?;
            if &k == kind {
                return Ok(&whole[8..]);
            }
            buf = rest;
        }
        Err(BoxError::Invalid("init segment: missing box"))
    }
    let mut b = child(init, b"moov")?;
    for kind in [b"trak", b"mdia", b"minf", b"stbl", b"stsd"] {
        b = child(b, kind)?;
    }
    // stsd: version/flags, entry_count, then the entries.
    let entries = b.get(8..).ok_or(BoxError::Truncated("stsd"))?;
    let (_, entry, _) = next_box(entries, "sample entry")?;
    Ok(entry)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn track() -> TrackParams {
        TrackParams {
            codec: "avc1.4D401F".into(),
            width: 1280,
            height: 720,
            sample_entry: Bytes::from_static(b"\0\0\0\x08avc1"),
        }
    }

    #[test]
    fn fragment_round_trips() {
        let samples = [
            SampleInfo {
                duration: 3000,
                size: 10,
                keyframe: true,
                composition_offset: 0,
            },
            SampleInfo {
                duration: 3003,
                size: 5,
                keyframe: false,
                composition_offset: 0,
            },
        ];
        let h = fragment_header(7, 123_456_789_000, 1_700_000_000_123_456, &samples).unwrap();
        let mut f = h.bytes.clone();
        f.extend_from_slice(&[0u8; 15]);
        let p = parse_fragment(&f).unwrap();
        assert_eq!(p.len, f.len() as u64);
        assert_eq!(p.sequence, 7);
        assert_eq!(p.base_decode_time, 123_456_789_000);
        assert_eq!(p.utc_micros, Some(1_700_000_000_123_456));
        assert_eq!(p.samples, samples);
        assert_eq!(p.duration(), 6003);
        // The header alone (without sample data) is enough to parse.
        assert_eq!(parse_fragment(&h.bytes).unwrap(), p);
    }

    #[test]
    fn truncated_and_garbage_fragments_are_errors() {
        let h = fragment_header(
            1,
            0,
            0,
            &[SampleInfo {
                duration: 1,
                size: 1,
                keyframe: true,
                composition_offset: 0,
            }],
        )
        .unwrap();
        for n in 0..h.bytes.len() {
            assert!(parse_fragment(&h.bytes[..n]).is_err(), "prefix {n}");
        }
        assert!(parse_fragment(&[0xff; 64]).is_err());
        assert!(parse_fragment(&[0; 64]).is_err());
    }

    #[test]
    fn ntp_conversion_round_trips() {
        for us in [0i64, 1, 999_999, 1_700_000_000_000_001, -5] {
            let back = unix_micros_from_ntp(ntp_from_unix_micros(us));
            assert_eq!(back, us);
        }
    }

    #[test]
    fn fragment_header_len_matches_what_is_written() {
        for n in [1u32, 2, 30, 600] {
            for cto in [0, -3000] {
                let mut samples = vec![
                    SampleInfo {
                        duration: 3000,
                        size: 7,
                        keyframe: false,
                        composition_offset: 0,
                    };
                    n as usize
                ];
                samples[n as usize - 1].composition_offset = cto;
                let h = fragment_header(1, 0, 0, &samples).unwrap();
                assert_eq!(
                    h.bytes.len() as u64,
                    fragment_header_len(n, has_composition_offsets(&samples))
                );
            }
        }
    }

    #[test]
    fn composition_offsets_round_trip_signed() {
        // Decode order I P B B, presented I B B P: decode times are the sorted presentation
        // times, so the B-frames present before their decode time.
        let samples: Vec<SampleInfo> = [(true, 0), (false, 6000), (false, -3000), (false, -3000)]
            .into_iter()
            .map(|(keyframe, composition_offset)| SampleInfo {
                duration: 3000,
                size: 4,
                keyframe,
                composition_offset,
            })
            .collect();
        let h = fragment_header(2, 90_000, 0, &samples).unwrap();
        let trun = h.bytes.windows(4).position(|w| w == b"trun").unwrap();
        assert_eq!(h.bytes[trun + 4], 1, "signed offsets need trun version 1");
        assert_eq!(parse_fragment(&h.bytes).unwrap().samples, samples);
    }

    #[test]
    fn sample_entry_comes_back_out_of_the_init_segment() {
        let mut t = track();
        t.sample_entry = Bytes::from_static(b"\0\0\0\x0cavc1abcd");
        let init = init_segment(&t);
        assert_eq!(sample_entry(&init).unwrap(), &t.sample_entry[..]);
        assert!(sample_entry(&init[..40]).is_err());
        assert!(sample_entry(b"garbage").is_err());
    }

    #[test]
    fn init_segment_is_well_formed() {
        let init = init_segment(&track());
        assert_eq!(init_segment_len(&init).unwrap(), init.len());
        assert_eq!(&init[4..8], b"ftyp");
    }
}
