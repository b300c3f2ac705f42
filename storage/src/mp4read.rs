//! Reads the sample table of a progressive MP4 with one video track: what offline verification
//! of an export needs (every sample's offset, size, duration and sync flag, the chunks, the edit
//! list). Pure: [`parse_moov`] is fed the `moov` box; [`top_level_boxes`] only reads headers.
//!
//! Not a general MP4 demuxer (ffprobe and the `mp4` crate serve as independent readers in the
//! tests): it accepts what ISO/IEC 14496-12 allows for the boxes it reads (`stco` or `co64`,
//! version 0 or 1 headers, run-length `stts` and `stsc`) and rejects anything inconsistent with
//! a clear error instead of guessing.

use std::io::{Read, Seek, SeekFrom};

use crate::fmp4::{BoxError, Reader as Cur, next_box};

/// One sample of the track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Absolute file offset of the sample's data.
    pub offset: u64,
    pub size: u32,
    pub duration: u32,
    pub sync: bool,
    /// 1-based sample description (`stsd` entry).
    pub description: u32,
    /// 0-based chunk the sample belongs to.
    pub chunk: u32,
}

/// The track as the `moov` describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Movie {
    pub timescale: u32,
    /// Presented duration (`mvhd`), in the movie timescale.
    pub duration: u64,
    /// The single edit (`segment_duration`, `media_time`), if there is an edit list.
    pub edit: Option<(u64, i64)>,
    /// Sample entries (`avc1`/`hvc1` boxes), in `stsd` order.
    pub entries: Vec<Vec<u8>>,
    pub samples: Vec<Sample>,
}

/// A top-level box: its type, offset and total size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopBox {
    pub kind: [u8; 4],
    pub offset: u64,
    pub size: u64,
}

/// Lists the top-level boxes of a file, reading only their headers.
pub fn top_level_boxes(r: &mut (impl Read + Seek)) -> std::io::Result<Vec<TopBox>> {
    let len = r.seek(SeekFrom::End(0))?;
    let mut out = Vec::new();
    let mut pos = 0u64;
    while pos < len {
        r.seek(SeekFrom::Start(pos))?;
        let mut h = [0u8; 16];
        let have = (len - pos).min(16) as usize;
        r.read_exact(&mut h[..have])?;
        if have < 8 {
            return Err(bad("truncated box header"));
        }
        let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let kind = [h[4], h[5], h[6], h[7]];
        let size = match size32 {
            0 => len - pos,
            1 if have == 16 => {
                u64::from_be_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]])
            }
            1 => return Err(bad("truncated 64-bit box size")),
            s => u64::from(s),
        };
        if size < 8 || pos.checked_add(size).is_none_or(|end| end > len) {
            return Err(bad("box size runs past the end of the file"));
        }
        out.push(TopBox {
            kind,
            offset: pos,
            size,
        });
        pos += size;
    }
    Ok(out)
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

/// A count of entries that each take `entry` bytes, checked against what is left in `c`, so a
/// corrupt count cannot make us allocate gigabytes.
fn entry_count(c: &mut Cur<'_>, entry: usize) -> Result<usize, BoxError> {
    let n = c.u32()? as usize;
    if n.saturating_mul(entry) > c.buf.len() {
        return Err(BoxError::Truncated("sample table"));
    }
    Ok(n)
}

/// A child box: its type and body (without the 8-byte header).
type Child<'a> = ([u8; 4], &'a [u8]);

/// The children of a container box body.
fn children(mut buf: &[u8]) -> Result<Vec<Child<'_>>, BoxError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (kind, whole, rest) = next_box(buf, "box")?;
        out.push((kind, &whole[8..]));
        buf = rest;
    }
    Ok(out)
}

fn child<'a>(
    kids: &[Child<'a>],
    kind: &'static [u8; 4],
    what: &'static str,
) -> Result<&'a [u8], BoxError> {
    kids.iter()
        .find(|(k, _)| k == kind)
        .map(|(_, b)| *b)
        .ok_or(BoxError::Invalid(what))
}

/// Parses the `moov` box (with its 8-byte header) of a one-track progressive MP4.
pub fn parse_moov(moov: &[u8]) -> Result<Movie, BoxError> {
    let body = moov.get(8..).ok_or(BoxError::Truncated("moov"))?;
    if moov.get(4..8) != Some(b"moov") {
        return Err(BoxError::Invalid("not a moov box"));
    }
    let kids = children(body)?;
    let mut movie = Movie::default();

    let mut c = Cur::new(child(&kids, b"mvhd", "missing mvhd")?, "mvhd");
    let version = c.u32()? >> 24;
    if version == 1 {
        c.take(16)?;
        movie.timescale = c.u32()?;
        movie.duration = c.u64()?;
    } else {
        c.take(8)?;
        movie.timescale = c.u32()?;
        movie.duration = u64::from(c.u32()?);
    }

    let traks: Vec<&[u8]> = kids
        .iter()
        .filter(|(k, _)| k == b"trak")
        .map(|(_, b)| *b)
        .collect();
    let [trak] = traks[..] else {
        return Err(BoxError::Invalid("expected exactly one trak"));
    };
    let trak = children(trak)?;
    if let Ok(edts) = child(&trak, b"edts", "") {
        let edts = children(edts)?;
        let mut c = Cur::new(child(&edts, b"elst", "missing elst")?, "elst");
        let version = c.u32()? >> 24;
        let n = c.u32()?;
        if n != 1 {
            return Err(BoxError::Invalid("edit list with more than one edit"));
        }
        movie.edit = Some(if version == 1 {
            (c.u64()?, c.u64()? as i64)
        } else {
            (u64::from(c.u32()?), i64::from(c.u32()? as i32))
        });
        if c.u16()? != 1 {
            return Err(BoxError::Invalid("edit rate other than 1"));
        }
    }
    let mdia = children(child(&trak, b"mdia", "missing mdia")?)?;
    let minf = children(child(&mdia, b"minf", "missing minf")?)?;
    let stbl = children(child(&minf, b"stbl", "missing stbl")?)?;

    // stsd
    let mut c = Cur::new(child(&stbl, b"stsd", "missing stsd")?, "stsd");
    c.u32()?;
    let n = entry_count(&mut c, 8)?;
    let mut rest = c.buf;
    for _ in 0..n {
        let mut e = Cur::new(rest, "sample entry");
        let size = e.u32()? as usize;
        if size < 8 || size > rest.len() {
            return Err(BoxError::Invalid("sample entry size"));
        }
        movie.entries.push(rest[..size].to_vec());
        rest = &rest[size..];
    }

    // stsz
    let mut c = Cur::new(child(&stbl, b"stsz", "missing stsz")?, "stsz");
    c.u32()?;
    let fixed = c.u32()?;
    let count = if fixed == 0 {
        entry_count(&mut c, 4)?
    } else {
        c.u32()? as usize
    };
    let mut sizes = Vec::with_capacity(count.min(1 << 24));
    for _ in 0..count {
        sizes.push(if fixed == 0 { c.u32()? } else { fixed });
    }

    // stts (run-length)
    let mut c = Cur::new(child(&stbl, b"stts", "missing stts")?, "stts");
    c.u32()?;
    let n = entry_count(&mut c, 8)?;
    let mut durations = Vec::with_capacity(count.min(1 << 24));
    for _ in 0..n {
        let k = c.u32()? as usize;
        let d = c.u32()?;
        if durations.len() + k > count {
            return Err(BoxError::Invalid("stts covers more samples than stsz"));
        }
        durations.extend(std::iter::repeat_n(d, k));
    }
    if durations.len() != count {
        return Err(BoxError::Invalid("stts and stsz sample counts differ"));
    }

    // chunk offsets
    let chunk_offsets: Vec<u64> = if let Ok(b) = child(&stbl, b"co64", "") {
        let mut c = Cur::new(b, "co64");
        c.u32()?;
        let n = entry_count(&mut c, 8)?;
        (0..n).map(|_| c.u64()).collect::<Result<_, _>>()?
    } else {
        let mut c = Cur::new(child(&stbl, b"stco", "missing stco/co64")?, "stco");
        c.u32()?;
        let n = entry_count(&mut c, 4)?;
        (0..n)
            .map(|_| c.u32().map(u64::from))
            .collect::<Result<_, _>>()?
    };

    // stsc: (first_chunk, samples_per_chunk, description) runs
    let mut c = Cur::new(child(&stbl, b"stsc", "missing stsc")?, "stsc");
    c.u32()?;
    let n = entry_count(&mut c, 12)?;
    let mut runs = Vec::with_capacity(n);
    for _ in 0..n {
        runs.push((c.u32()?, c.u32()?, c.u32()?));
    }

    // sync samples (absent: every sample is sync)
    let sync: Option<Vec<u32>> = match child(&stbl, b"stss", "") {
        Ok(b) => {
            let mut c = Cur::new(b, "stss");
            c.u32()?;
            let n = entry_count(&mut c, 4)?;
            Some((0..n).map(|_| c.u32()).collect::<Result<_, _>>()?)
        }
        Err(_) => None,
    };

    let mut samples = Vec::with_capacity(count);
    for (ri, &(first, per, desc)) in runs.iter().enumerate() {
        let last = runs
            .get(ri + 1)
            .map(|r| r.0)
            .unwrap_or(chunk_offsets.len() as u32 + 1);
        if first == 0 || last < first || desc == 0 || desc as usize > movie.entries.len() {
            return Err(BoxError::Invalid("stsc entry"));
        }
        for chunk in first..last {
            let mut off = *chunk_offsets
                .get(chunk as usize - 1)
                .ok_or(BoxError::Invalid("stsc names a chunk with no offset"))?;
            for _ in 0..per {
                let i = samples.len();
                let (Some(&size), Some(&duration)) = (sizes.get(i), durations.get(i)) else {
                    return Err(BoxError::Invalid("stsc covers more samples than stsz"));
                };
                samples.push(Sample {
                    offset: off,
                    size,
                    duration,
                    sync: sync.is_none(),
                    description: desc,
                    chunk: chunk - 1,
                });
                off += u64::from(size);
            }
        }
    }
    if samples.len() != count {
        return Err(BoxError::Invalid("stsc and stsz sample counts differ"));
    }
    for s in sync.iter().flatten() {
        let s = samples
            .get_mut((*s as usize).wrapping_sub(1))
            .ok_or(BoxError::Invalid("stss names a sample that does not exist"))?;
        s.sync = true;
    }
    movie.samples = samples;
    Ok(movie)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        assert!(parse_moov(b"").is_err());
        assert!(parse_moov(b"\0\0\0\x08moov").is_err());
        let mut junk = b"\0\0\0\x20moov".to_vec();
        junk.extend_from_slice(&[0xff; 24]);
        assert!(parse_moov(&junk).is_err());
        let mut c = std::io::Cursor::new(vec![0, 0, 0, 9, b'f', b't', b'y', b'p']);
        assert!(top_level_boxes(&mut c).is_err());
    }
}
