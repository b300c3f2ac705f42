//! Virtual MP4: one progressive (non-fragmented) `.mp4` for any camera and UTC range, laid out
//! from index rows and served from byte ranges of segment files — never materialised.
//!
//! Why progressive rather than re-serving the recorded fragments: an edit list that hides the
//! lead-in before `start` (decoding must begin at a keyframe) and a sample table that ends at
//! `end` are honoured by every player for progressive files, while edit lists in fragmented
//! files are not. Why lazy: a 24 h range has ~2.6 M samples; their `stts`/`stsz` entries live
//! in each fragment's `moof` on disk. Every box size is known from the index rows alone (a
//! fragment's header length is fixed by its sample count, see
//! [`fmp4::fragment_header_len`]), so the layout, `Content-Length` and `ETag` come without
//! reading any fragment, and a fragment's `moof` is read only when bytes of its table entries are
//! asked for.
//!
//! The file:
//! ```text
//! ftyp
//! moov  mvhd · trak(tkhd · edts/elst · mdia(mdhd · hdlr · minf(vmhd · dinf · stbl(
//!         stsd · stsc · co64 · stss · stts[lazy] · ctts[lazy, B-frames only] · stsz[lazy]))))
//! mdat  (64-bit size) the fragments' sample data, in order; one chunk per fragment
//! ```
//!
//! Time: media time 0 is the first included keyframe. Within a run, durations are the camera's
//! RTP durations, unchanged. Where the camera was offline (a new run starts later), the last
//! sample before the gap lasts until the next run starts, so media time plus the start UTC
//! stays the capture time across gaps and players show the gap as a held frame. With B-frames
//! the recorded decode times are the presentation times sorted and `ctts` (version 1, signed,
//! one entry per sample) carries each frame's offset, so composition time is the camera's
//! presentation time and media time stays UTC-aligned as without them. The edit list
//! starts presentation exactly at the requested `start` and ends it at `end`; frames after the
//! last one that starts before `end` are not included at all.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::BufMut;
use sha2::{Digest, Sha256};

use crate::fmp4::{self, SampleInfo, TIMESCALE};
use crate::index::{CameraId, FragmentRow};
use crate::segments::{Reader as SegmentReader, Segments};
use crate::{Error, FragmentRef, Result, Store};

/// Changes whenever the bytes produced for the same index rows change; part of the `ETag`.
pub const FORMAT_VERSION: u32 = 1;

/// Seconds from 1904-01-01 (MP4's epoch) to 1970-01-01.
const MP4_UNIX_OFFSET_SECS: i64 = 2_082_844_800;

/// How far back [`VirtualMp4::build`] looks for the keyframe that starts decoding.
const MAX_KEYFRAME_LOOKBACK_US: i64 = 5 * 60 * 1_000_000;

/// One fragment's place in the virtual file.
#[derive(Clone, Debug)]
struct Piece {
    /// Index into [`VirtualMp4::files`].
    file: u32,
    /// Where the fragment (its `prft`) starts in the segment file.
    offset: u64,
    /// Samples the fragment holds on disk (fixes its header length, with
    /// `composition_offsets`).
    recorded_frames: u32,
    composition_offsets: bool,
    /// Samples used: all, or fewer in the last fragment when it reaches past `end`.
    frames: u32,
    /// Bytes of sample data used.
    data_len: u64,
    /// Duration of the used samples, 90 kHz, without `extra_90k`.
    duration_90k: u64,
    /// Added to the last used sample: the gap until the next run starts.
    extra_90k: u32,
    /// 1-based `stsd` entry of the fragment's run.
    sample_description: u32,
    starts_with_key: bool,
    start_utc: i64,
    run: u64,
    /// Media (decode) time of the first sample, 90 kHz.
    media_start_90k: u64,
}

/// A fragment as listed in an export manifest: when it starts and which frames it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PieceInfo {
    pub start_utc: i64,
    /// Index of its first frame in the file's sample table (0-based).
    pub first_frame: u64,
    pub frames: u32,
    pub starts_with_key: bool,
    /// Media (decode) time of its first frame in the file, 90 kHz.
    pub media_time_90k: u64,
    /// Where its sample data (one chunk) lies in the virtual file.
    pub data: Range<u64>,
    pub run: u64,
    /// Segment file (relative to the store root) and offset of the recorded fragment.
    pub file: String,
    pub offset: u64,
}

/// A laid-out virtual MP4. Cheap to build (index rows only); bytes come from [`Reader`].
#[derive(Debug)]
pub struct VirtualMp4 {
    camera: CameraId,
    segments: Segments,
    files: Vec<String>,
    pieces: Vec<Piece>,
    /// `cum_frames[i]`: samples before piece `i` (len = pieces + 1).
    cum_frames: Vec<u64>,
    /// `cum_data[i]`: sample-data bytes before piece `i` (len = pieces + 1).
    cum_data: Vec<u64>,
    /// `ftyp` through the `stts` header.
    head: Vec<u8>,
    /// The `ctts` header; empty when no frame has a composition offset.
    ctts_head: Vec<u8>,
    /// The `stsz` header.
    stsz_head: Vec<u8>,
    /// The `mdat` header.
    mdat_head: Vec<u8>,
    len: u64,
    etag: String,
    requested: (i64, i64),
    actual: (i64, i64),
    codecs: Vec<String>,
    media_time_90k: u64,
    presentation_90k: u64,
}

/// Where a byte of the file comes from.
#[derive(Clone, Copy)]
enum Region {
    Head,
    Stts,
    CttsHead,
    Ctts,
    StszHead,
    Stsz,
    MdatHead,
    Data,
}

impl Piece {
    /// Length of the recorded fragment's header, before its sample data.
    fn header_len(&self) -> u64 {
        fmp4::fragment_header_len(self.recorded_frames, self.composition_offsets)
    }
}

/// The lazily filled sample tables.
#[derive(Clone, Copy)]
enum Table {
    Stts,
    Ctts,
    Stsz,
}

impl Table {
    /// Bytes per sample.
    fn width(self) -> u64 {
        match self {
            Table::Stts | Table::Ctts => 8,
            Table::Stsz => 4,
        }
    }
}

/// Turns fragment rows, as the index yields them, into pieces.
struct Collect<'a> {
    store: &'a Store,
    camera: CameraId,
    pieces: Vec<Piece>,
    files: Vec<String>,
    /// Distinct sample entries (a reconnect with unchanged parameters shares one).
    entries: Vec<Vec<u8>>,
    /// Run id → 1-based sample entry.
    run_entry: HashMap<u64, u32>,
    codecs: Vec<String>,
    /// Width and height of the first run.
    size: Option<(u16, u16)>,
    /// The run of the previous row and its entry: rows come in runs of thousands.
    current: Option<(u64, u32)>,
    /// End of the last fragment as recorded (before trimming to `end`).
    last_end_utc: i64,
}

impl Collect<'_> {
    fn add(&mut self, file: &str, start_utc: i64, row: &FragmentRow) -> Result<()> {
        let sample_description = match self.current {
            Some((run, entry)) if run == row.run => entry,
            _ => {
                let entry = self.entry_of(row.run)?;
                self.current = Some((row.run, entry));
                entry
            }
        };
        let file = match self.files.last() {
            Some(f) if f == file => self.files.len() - 1,
            _ => {
                self.files.push(file.to_owned());
                self.files.len() - 1
            }
        };
        let header = row.header_len();
        let data_len = u64::from(row.len).checked_sub(header).ok_or_else(|| {
            corrupt_row(self.camera, start_utc, "fragment shorter than its header")
        })?;
        self.pieces.push(Piece {
            file: file as u32,
            offset: row.offset,
            recorded_frames: row.frames,
            composition_offsets: row.flags.composition_offsets(),
            frames: row.frames,
            data_len,
            duration_90k: u64::from(row.duration_90k),
            extra_90k: 0,
            sample_description,
            starts_with_key: row.starts_with_key(),
            start_utc,
            run: row.run,
            media_start_90k: 0,
        });
        self.last_end_utc = row.end_utc;
        Ok(())
    }

    fn entry_of(&mut self, run_id: u64) -> Result<u32> {
        if let Some(e) = self.run_entry.get(&run_id) {
            return Ok(*e);
        }
        let run = self.store.run(run_id)?;
        let entry = fmp4::sample_entry(&run.init_segment).map_err(|source| Error::Mp4 {
            path: format!("run {run_id} init segment"),
            offset: 0,
            source,
        })?;
        let idx = match self.entries.iter().position(|e| e == entry) {
            Some(i) => i,
            None => {
                self.entries.push(entry.to_vec());
                self.entries.len() - 1
            }
        };
        let entry = idx as u32 + 1;
        self.run_entry.insert(run_id, entry);
        if !self.codecs.contains(&run.codec) {
            self.codecs.push(run.codec.clone());
        }
        self.size.get_or_insert((run.width, run.height));
        Ok(entry)
    }
}

impl VirtualMp4 {
    /// Lays out the MP4 for `camera` over `[start, end)` (UTC microseconds). It starts at the
    /// keyframe at or before `start` (the lead-in before `start` is in the file, hidden by the
    /// edit list). `NotFound` if nothing was recorded in the range.
    pub fn build(store: &Store, camera: CameraId, start: i64, end: i64) -> Result<Self> {
        Self::build_with(store, camera, start, end, true)
    }

    /// As [`VirtualMp4::build`], but no frame captured before `start` is in the file: it starts
    /// at the first keyframe at or after `start`. For footage whose authority covers exactly the
    /// range (a partner's approval): the frames between `start` and that keyframe cannot be
    /// decoded without the earlier one and are left out with it (issue 22 F17).
    pub fn build_within(store: &Store, camera: CameraId, start: i64, end: i64) -> Result<Self> {
        Self::build_with(store, camera, start, end, false)
    }

    fn build_with(
        store: &Store,
        camera: CameraId,
        start: i64,
        end: i64,
        lead_in: bool,
    ) -> Result<Self> {
        if end <= start {
            return Err(Error::Invalid("end must be after start".into()));
        }
        let mut c = Collect {
            store,
            camera,
            pieces: Vec::new(),
            files: Vec::new(),
            entries: Vec::new(),
            run_entry: HashMap::new(),
            codecs: Vec::new(),
            size: None,
            current: None,
            last_end_utc: i64::MIN,
        };
        store.for_each_fragment(camera, start, end, |file, t, row| {
            if !lead_in && c.pieces.is_empty() && (t < start || !row.starts_with_key()) {
                return Ok(());
            }
            if c.pieces.is_empty() && !row.starts_with_key() {
                for lead in lead_in_from_keyframe(store, camera, row.run, t)? {
                    c.add(&lead.file, lead.start_utc, &lead.row)?;
                }
            }
            c.add(file, t, row)
        })?;
        if c.pieces.is_empty() {
            return Err(Error::NotFound(format!(
                "no recordings of camera {camera} in the range"
            )));
        }
        let Collect {
            mut pieces,
            files,
            entries,
            codecs,
            size,
            last_end_utc,
            ..
        } = c;
        let (width, height) = size.unwrap_or((0, 0));
        let segments = store.db.segments.clone();

        // Trim the last fragment to the frames that start before `end`: footage after the
        // range is not in the file at all (the lead-in before `start` has to be, to decode).
        if let Some(last) = pieces.last_mut()
            && last_end_utc > end
        {
            let samples = read_samples_from(&segments.open(&files[last.file as usize])?, last)?;
            let mut t_us = last.start_utc;
            let (mut frames, mut data, mut dur) = (0u32, 0u64, 0u64);
            for s in &samples {
                if t_us >= end && frames > 0 {
                    break;
                }
                frames += 1;
                data += u64::from(s.size);
                dur += u64::from(s.duration);
                t_us = last.start_utc + ticks_to_us(dur);
            }
            last.frames = frames;
            last.data_len = data;
            last.duration_90k = dur;
        }

        // Media positions; stretch the last sample before a later run across the gap.
        let t0 = pieces.first().map(|p| p.start_utc).unwrap_or(start);
        let mut media_start = Vec::with_capacity(pieces.len());
        let mut pos = 0u64;
        for i in 0..pieces.len() {
            media_start.push(pos);
            pos += pieces[i].duration_90k;
            if let Some(next) = pieces.get(i + 1)
                && next.run != pieces[i].run
            {
                let target = us_to_ticks(next.start_utc - t0);
                let gap = target.saturating_sub(pos).min(u64::from(u32::MAX / 2));
                pieces[i].extra_90k = gap as u32;
                pos += gap;
            }
        }
        let media_total = pos;
        for (p, m) in pieces.iter_mut().zip(&media_start) {
            p.media_start_90k = *m;
        }

        // The edit: from `start` (inside the piece that holds it) to `end`.
        let media_at = |utc: i64| -> u64 {
            let i = pieces
                .partition_point(|p| p.start_utc <= utc)
                .saturating_sub(1);
            let p = &pieces[i];
            media_start[i]
                + us_to_ticks(utc - p.start_utc).min(p.duration_90k + u64::from(p.extra_90k))
        };
        let media_time = if start > t0 { media_at(start) } else { 0 };
        let last = pieces.len() - 1;
        let end_media = (media_start[last] + pieces[last].duration_90k)
            .min(media_at(end))
            .max(media_time);
        let presentation = end_media - media_time;
        let actual = (
            start.max(t0),
            start.max(t0) + ticks_to_us(presentation).max(0),
        );

        let mut cum_frames = Vec::with_capacity(pieces.len() + 1);
        let mut cum_data = Vec::with_capacity(pieces.len() + 1);
        let (mut nf, mut nd) = (0u64, 0u64);
        for p in &pieces {
            cum_frames.push(nf);
            cum_data.push(nd);
            nf += u64::from(p.frames);
            nd += p.data_len;
        }
        cum_frames.push(nf);
        cum_data.push(nd);

        let mut v = VirtualMp4 {
            camera,
            segments,
            files,
            pieces,
            cum_frames,
            cum_data,
            head: Vec::new(),
            ctts_head: Vec::new(),
            stsz_head: Vec::new(),
            mdat_head: Vec::new(),
            len: 0,
            etag: String::new(),
            requested: (start, end),
            actual,
            codecs,
            media_time_90k: media_time,
            presentation_90k: presentation,
        };
        v.lay_out(&entries, width, height, media_total)?;
        v.etag = v.compute_etag();
        Ok(v)
    }

    /// Writes the fixed parts (every box but the lazy table entries and the sample data).
    fn lay_out(
        &mut self,
        entries: &[Vec<u8>],
        width: u16,
        height: u16,
        media_total: u64,
    ) -> Result<()> {
        let n = self.frames();
        let f = self.pieces.len() as u64;
        let keys = self.pieces.iter().filter(|p| p.starts_with_key).count() as u64;
        let entries_len: u64 = entries.iter().map(|e| e.len() as u64).sum();

        // Sizes, innermost first.
        let stsd = 16 + entries_len;
        let stsc = 16 + 12 * f;
        let co64 = 16 + 8 * f;
        let stss = 16 + 4 * keys;
        let stts = 16 + 8 * n;
        let ctts = if self.has_ctts() { 16 + 8 * n } else { 0 };
        let stsz = 20 + 4 * n;
        let stbl = 8 + stsd + stsc + co64 + stss + stts + ctts + stsz;
        let vmhd = 20;
        let dinf = 36;
        let minf = 8 + vmhd + dinf + stbl;
        let mdhd = 44;
        let hdlr = 45;
        let mdia = 8 + mdhd + hdlr + minf;
        let tkhd = 104;
        let edts = 8 + 36;
        let trak = 8 + tkhd + edts + mdia;
        let mvhd = 120;
        let moov = 8 + mvhd + trak;
        if moov > u64::from(u32::MAX) {
            return Err(Error::Invalid(format!(
                "range too long for one MP4 ({n} frames)"
            )));
        }
        let ftyp = 32u64;
        let data_start = ftyp + moov + 16;

        let created = (self.actual.0.div_euclid(1_000_000) + MP4_UNIX_OFFSET_SECS).max(0) as u64;
        let h = &mut self.head;
        h.reserve(usize::try_from(ftyp + moov - 8 * n - 4 * n).unwrap_or(0));
        let ctts_entries = if ctts > 0 { 8 * n } else { 0 };
        boxed(h, ftyp, b"ftyp");
        h.put_slice(b"isom");
        h.put_u32(0x200);
        for brand in [b"isom", b"iso2", b"avc1", b"mp41"] {
            h.put_slice(brand);
        }
        boxed(h, moov, b"moov");
        full(h, mvhd, b"mvhd", 1, 0);
        h.put_u64(created);
        h.put_u64(created);
        h.put_u32(TIMESCALE);
        h.put_u64(self.presentation_90k);
        h.put_u32(0x0001_0000); // rate 1.0
        h.put_u16(0x0100); // volume 1.0
        h.put_slice(&[0; 10]);
        UNITY_MATRIX.iter().for_each(|v| h.put_u32(*v));
        h.put_slice(&[0; 24]);
        h.put_u32(2); // next_track_ID
        boxed(h, trak, b"trak");
        full(h, tkhd, b"tkhd", 1, 0x3);
        h.put_u64(created);
        h.put_u64(created);
        h.put_u32(1); // track_ID
        h.put_u32(0);
        h.put_u64(self.presentation_90k);
        h.put_slice(&[0; 8]);
        h.put_u16(0); // layer
        h.put_u16(0); // alternate_group
        h.put_u16(0); // volume
        h.put_u16(0);
        UNITY_MATRIX.iter().for_each(|v| h.put_u32(*v));
        h.put_u32(u32::from(width) << 16);
        h.put_u32(u32::from(height) << 16);
        boxed(h, edts, b"edts");
        full(h, 36, b"elst", 1, 0);
        h.put_u32(1);
        h.put_u64(self.presentation_90k); // segment_duration (movie timescale)
        h.put_u64(self.media_time_90k); // media_time
        h.put_u16(1); // media_rate_integer
        h.put_u16(0);
        boxed(h, mdia, b"mdia");
        full(h, mdhd, b"mdhd", 1, 0);
        h.put_u64(created);
        h.put_u64(created);
        h.put_u32(TIMESCALE);
        h.put_u64(media_total);
        h.put_u16(0x55c4); // "und"
        h.put_u16(0);
        full(h, hdlr, b"hdlr", 0, 0);
        h.put_u32(0);
        h.put_slice(b"vide");
        h.put_slice(&[0; 12]);
        h.put_slice(b"VideoHandler\0");
        boxed(h, minf, b"minf");
        full(h, vmhd, b"vmhd", 0, 1);
        h.put_slice(&[0; 8]);
        boxed(h, dinf, b"dinf");
        full(h, 28, b"dref", 0, 0);
        h.put_u32(1);
        full(h, 12, b"url ", 0, 1);
        boxed(h, stbl, b"stbl");
        full(h, stsd, b"stsd", 0, 0);
        h.put_u32(entries.len() as u32);
        entries.iter().for_each(|e| h.put_slice(e));
        full(h, stsc, b"stsc", 0, 0);
        h.put_u32(f as u32);
        for (i, p) in self.pieces.iter().enumerate() {
            h.put_u32(i as u32 + 1); // first_chunk
            h.put_u32(p.frames);
            h.put_u32(p.sample_description);
        }
        full(h, co64, b"co64", 0, 0);
        h.put_u32(f as u32);
        for d in &self.cum_data[..self.pieces.len()] {
            h.put_u64(data_start + d);
        }
        full(h, stss, b"stss", 0, 0);
        h.put_u32(keys as u32);
        for (p, first) in self.pieces.iter().zip(&self.cum_frames) {
            if p.starts_with_key {
                h.put_u32(*first as u32 + 1);
            }
        }
        full(h, stts, b"stts", 0, 0);
        h.put_u32(n as u32);

        if ctts > 0 {
            let c = &mut self.ctts_head;
            full(c, ctts, b"ctts", 1, 0);
            c.put_u32(n as u32);
        }

        let s = &mut self.stsz_head;
        full(s, stsz, b"stsz", 0, 0);
        s.put_u32(0); // sample_size: sizes follow
        s.put_u32(n as u32);

        let data_len = self.cum_data.last().copied().unwrap_or(0);
        let m = &mut self.mdat_head;
        m.put_u32(1); // 64-bit size follows
        m.put_slice(b"mdat");
        m.put_u64(16 + data_len);

        self.len = data_start + data_len;
        debug_assert_eq!(
            self.head.len() as u64 + 8 * n + self.ctts_head.len() as u64 + ctts_entries,
            ftyp + moov - 20 - 4 * n
        );
        Ok(())
    }

    /// A strong validator for exactly these bytes. Every byte is derived from the format
    /// version, the range, run rows (which never change) and the fragment rows used, so those
    /// are what is hashed. A segment's fragment rows only ever change at its tail (appends while
    /// it records, repair dropping a damaged tail) or all at once (retention), so per segment
    /// file the piece count, the first and last piece and sums of the rest identify them,
    /// without hashing 86 400 pieces for a day.
    fn compute_etag(&self) -> String {
        let mut h = Sha256::new();
        h.update(FORMAT_VERSION.to_be_bytes());
        h.update(self.camera.to_be_bytes());
        h.update(self.requested.0.to_be_bytes());
        h.update(self.requested.1.to_be_bytes());
        h.update(self.len.to_be_bytes());
        h.update(self.media_time_90k.to_be_bytes());
        h.update(self.presentation_90k.to_be_bytes());
        let piece = |h: &mut Sha256, p: &Piece| {
            let mut buf = [0u8; 60];
            let fields: [&[u8]; 10] = [
                &p.file.to_be_bytes(),
                &p.offset.to_be_bytes(),
                &p.start_utc.to_be_bytes(),
                &p.run.to_be_bytes(),
                &p.sample_description.to_be_bytes(),
                &p.recorded_frames.to_be_bytes(),
                &p.frames.to_be_bytes(),
                &p.data_len.to_be_bytes(),
                &p.duration_90k.to_be_bytes(),
                &p.extra_90k.to_be_bytes(),
            ];
            let mut at = 0;
            for f in fields {
                buf[at..at + f.len()].copy_from_slice(f);
                at += f.len();
            }
            h.update(&buf[..at]);
        };
        let mut rest = &self.pieces[..];
        while let Some(first) = rest.first() {
            let n = rest.partition_point(|p| p.file == first.file);
            let (same, next) = rest.split_at(n);
            rest = next;
            h.update(self.files[first.file as usize].as_bytes());
            h.update([0]);
            h.update((n as u64).to_be_bytes());
            piece(&mut h, first);
            if let Some(last) = same.last() {
                piece(&mut h, last);
            }
            let mut sums = [0u64; 6];
            for p in same {
                sums[0] += u64::from(p.frames);
                sums[1] += u64::from(p.recorded_frames);
                sums[2] += p.data_len;
                sums[3] += p.duration_90k + u64::from(p.extra_90k);
                sums[4] = sums[4]
                    .wrapping_add(p.offset)
                    .wrapping_add(p.start_utc as u64);
                sums[5] += u64::from(p.starts_with_key) + u64::from(p.sample_description);
            }
            sums.iter().for_each(|v| h.update(v.to_be_bytes()));
        }
        let d = h.finalize();
        format!("\"{}\"", hex::encode(&d[..12]))
    }

    /// Total length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The HTTP entity tag, quoted.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    pub fn camera(&self) -> CameraId {
        self.camera
    }

    /// The range asked for.
    pub fn requested(&self) -> (i64, i64) {
        self.requested
    }

    /// The UTC range the file presents: from `start` (or the first recording after it) to `end`
    /// (or the end of the last recording before it).
    pub fn actual(&self) -> (i64, i64) {
        self.actual
    }

    /// UTC of the first sample in the file (the keyframe decoding starts at).
    pub fn first_sample_utc(&self) -> i64 {
        self.pieces
            .first()
            .map(|p| p.start_utc)
            .unwrap_or(self.actual.0)
    }

    /// Samples in the file, including the lead-in before `start` that the edit list hides.
    pub fn frames(&self) -> u64 {
        self.cum_frames.last().copied().unwrap_or(0)
    }

    /// Presented duration (the edit), 90 kHz.
    pub fn duration_90k(&self) -> u64 {
        self.presentation_90k
    }

    /// Media time where presentation starts: the hidden lead-in, 90 kHz.
    pub fn lead_in_90k(&self) -> u64 {
        self.media_time_90k
    }

    /// RFC 6381 codec strings of the runs in the file, in order of first use.
    pub fn codecs(&self) -> &[String] {
        &self.codecs
    }

    /// Segment files the file's samples come from, relative to the store root.
    pub fn segment_files(&self) -> &[String] {
        &self.files
    }

    /// UTC of the newest recorded sample in the file (for `Last-Modified`).
    pub fn last_sample_utc(&self) -> i64 {
        self.pieces
            .last()
            .map(|p| p.start_utc + ticks_to_us(p.duration_90k))
            .unwrap_or(self.actual.1)
    }

    /// The fragments (chunks) of the file, in order.
    pub fn pieces(&self) -> impl Iterator<Item = PieceInfo> + '_ {
        let data_start = self.len - self.cum_data.last().copied().unwrap_or(0);
        self.pieces
            .iter()
            .zip(self.cum_frames.iter().zip(&self.cum_data))
            .map(move |(p, (first, data))| PieceInfo {
                start_utc: p.start_utc,
                first_frame: *first,
                frames: p.frames,
                starts_with_key: p.starts_with_key,
                media_time_90k: p.media_start_90k,
                data: data_start + data..data_start + data + p.data_len,
                run: p.run,
                file: self.files[p.file as usize].clone(),
                offset: p.offset,
            })
    }

    /// Whether any frame presents at other than its decode time (B-frames): then the file
    /// has a `ctts` box.
    fn has_ctts(&self) -> bool {
        self.pieces.iter().any(|p| p.composition_offsets)
    }

    fn regions(&self) -> [(Region, u64); 8] {
        let n = self.frames();
        let ctts = if self.ctts_head.is_empty() { 0 } else { 8 * n };
        [
            (Region::Head, self.head.len() as u64),
            (Region::Stts, 8 * n),
            (Region::CttsHead, self.ctts_head.len() as u64),
            (Region::Ctts, ctts),
            (Region::StszHead, self.stsz_head.len() as u64),
            (Region::Stsz, 4 * n),
            (Region::MdatHead, self.mdat_head.len() as u64),
            (Region::Data, self.cum_data.last().copied().unwrap_or(0)),
        ]
    }
}

/// Reads bytes of a [`VirtualMp4`]. Blocking (file reads): use it on a blocking pool. Keeps the
/// last segment file open and the last fragment's parsed samples, as reads are mostly in order.
#[derive(Debug)]
pub struct Reader {
    mp4: Arc<VirtualMp4>,
    open: Option<(u32, SegmentReader)>,
    samples: Option<(usize, Vec<SampleInfo>)>,
}

impl Reader {
    pub fn new(mp4: Arc<VirtualMp4>) -> Self {
        Reader {
            mp4,
            open: None,
            samples: None,
        }
    }

    pub fn mp4(&self) -> &Arc<VirtualMp4> {
        &self.mp4
    }

    /// Appends the bytes of `range` to `out`. `range` must lie within the file.
    pub fn read(&mut self, range: Range<u64>, out: &mut Vec<u8>) -> Result<()> {
        if range.end > self.mp4.len || range.start > range.end {
            return Err(Error::Invalid(format!(
                "range {range:?} outside a {}-byte file",
                self.mp4.len
            )));
        }
        let mp4 = Arc::clone(&self.mp4);
        let mut region_start = 0u64;
        for (region, len) in mp4.regions() {
            let region_end = region_start + len;
            let from = range.start.max(region_start);
            let to = range.end.min(region_end);
            if from < to {
                let (a, b) = (from - region_start, to - region_start);
                match region {
                    Region::Head => out.extend_from_slice(&mp4.head[a as usize..b as usize]),
                    Region::CttsHead => {
                        out.extend_from_slice(&mp4.ctts_head[a as usize..b as usize])
                    }
                    Region::StszHead => {
                        out.extend_from_slice(&mp4.stsz_head[a as usize..b as usize])
                    }
                    Region::MdatHead => {
                        out.extend_from_slice(&mp4.mdat_head[a as usize..b as usize])
                    }
                    Region::Stts => self.table(a..b, Table::Stts, out)?,
                    Region::Ctts => self.table(a..b, Table::Ctts, out)?,
                    Region::Stsz => self.table(a..b, Table::Stsz, out)?,
                    Region::Data => self.data(a..b, out)?,
                }
            }
            region_start = region_end;
        }
        Ok(())
    }

    /// Table entries (`stts` and `ctts` at 8 bytes a sample, `stsz` at 4) for bytes `r` of
    /// the table.
    fn table(&mut self, r: Range<u64>, table: Table, out: &mut Vec<u8>) -> Result<()> {
        let width = table.width();
        let mp4 = Arc::clone(&self.mp4);
        let mut pos = r.start;
        while pos < r.end {
            let sample = pos / width;
            let i = mp4.cum_frames.partition_point(|&c| c <= sample) - 1;
            let samples = self.samples_of(i)?;
            let first = mp4.cum_frames[i] * width;
            let mut piece = Vec::with_capacity(samples.len() * width as usize);
            let extra = mp4.pieces[i].extra_90k;
            for (k, s) in samples.iter().enumerate() {
                match table {
                    Table::Stts => {
                        let d = if k + 1 == samples.len() {
                            s.duration.saturating_add(extra)
                        } else {
                            s.duration
                        };
                        piece.put_u32(1);
                        piece.put_u32(d);
                    }
                    Table::Ctts => {
                        piece.put_u32(1);
                        piece.put_i32(s.composition_offset);
                    }
                    Table::Stsz => piece.put_u32(s.size),
                }
            }
            let a = (pos - first) as usize;
            let b = ((r.end - first) as usize).min(piece.len());
            out.extend_from_slice(&piece[a..b]);
            pos = first + b as u64;
        }
        Ok(())
    }

    /// Sample data bytes `r` of the `mdat` payload.
    fn data(&mut self, r: Range<u64>, out: &mut Vec<u8>) -> Result<()> {
        let mp4 = Arc::clone(&self.mp4);
        let mut pos = r.start;
        while pos < r.end {
            let i = mp4.cum_data.partition_point(|&c| c <= pos) - 1;
            let p = &mp4.pieces[i];
            let within = pos - mp4.cum_data[i];
            let n = (r.end - pos).min(p.data_len - within);
            let at = p.offset + p.header_len() + within;
            let start = out.len();
            out.resize(start + n as usize, 0);
            self.file(p.file)?.read_exact_at(&mut out[start..], at)?;
            pos += n;
        }
        Ok(())
    }

    fn file(&mut self, idx: u32) -> Result<&SegmentReader> {
        if self.open.as_ref().is_none_or(|(i, _)| *i != idx) {
            let f = self.mp4.segments.open(&self.mp4.files[idx as usize])?;
            self.open = Some((idx, f));
        }
        match &self.open {
            Some((_, f)) => Ok(f),
            None => Err(Error::ShuttingDown),
        }
    }

    /// The used samples of piece `i`, from its `moof` (checked against the index row).
    fn samples_of(&mut self, i: usize) -> Result<&[SampleInfo]> {
        if self.samples.as_ref().is_none_or(|(k, _)| *k != i) {
            let mp4 = Arc::clone(&self.mp4);
            let p = &mp4.pieces[i];
            let s = read_samples_from(self.file(p.file)?, p)?;
            self.samples = Some((i, s));
        }
        match &self.samples {
            Some((_, s)) => Ok(s),
            None => Err(Error::ShuttingDown),
        }
    }
}

/// Reads and parses piece `p`'s fragment header, checks it against the index row, and returns
/// the used samples.
fn read_samples_from(f: &SegmentReader, p: &Piece) -> Result<Vec<SampleInfo>> {
    let path = f.path();
    let mut buf = vec![0; p.header_len() as usize];
    f.read_exact_at(&mut buf, p.offset)?;
    let parsed = fmp4::parse_fragment(&buf).map_err(|source| Error::Mp4 {
        path: path.display().to_string(),
        offset: p.offset,
        source,
    })?;
    let mut samples = parsed.samples;
    if samples.len() != p.recorded_frames as usize {
        return Err(Error::Corrupt {
            cf: crate::index::cf::FRAGMENTS,
            key: format!("{}@{}", path.display(), p.offset),
            why: format!(
                "index says {} frames, fragment has {}",
                p.recorded_frames,
                samples.len()
            ),
        });
    }
    samples.truncate(p.frames as usize);
    let data: u64 = samples.iter().map(|s| u64::from(s.size)).sum();
    if data != p.data_len {
        return Err(Error::Corrupt {
            cf: crate::index::cf::FRAGMENTS,
            key: format!("{}@{}", path.display(), p.offset),
            why: format!("index says {} data bytes, fragment has {data}", p.data_len),
        });
    }
    Ok(samples)
}

/// The fragments of `run` from the last keyframe before `at` up to `at`, for a range whose
/// first fragment does not start with one (long-GOP cameras cut fragments between keyframes).
fn lead_in_from_keyframe(
    store: &Store,
    camera: CameraId,
    run: u64,
    at: i64,
) -> Result<Vec<FragmentRef>> {
    let mut window = 10_000_000i64;
    loop {
        let from = at.saturating_sub(window);
        let same_run: Vec<FragmentRef> = store
            .fragments(camera, from, at)?
            .into_iter()
            .filter(|f| f.start_utc < at && f.row.run == run)
            .collect();
        if let Some(k) = same_run.iter().rposition(|f| f.row.starts_with_key()) {
            return Ok(same_run.into_iter().skip(k).collect());
        }
        if window >= MAX_KEYFRAME_LOOKBACK_US {
            // No keyframe in reach (should not happen: runs start at one). Start where we are;
            // players show nothing until the next keyframe rather than failing.
            tracing::warn!(camera, run, "no keyframe found before playback start");
            return Ok(Vec::new());
        }
        window *= 4;
    }
}

fn corrupt_row(camera: CameraId, start_utc: i64, why: &str) -> Error {
    Error::Corrupt {
        cf: crate::index::cf::FRAGMENTS,
        key: hex::encode(crate::index::camera_time_key(camera, start_utc)),
        why: why.into(),
    }
}

const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// A box header with a size known in advance.
fn boxed(buf: &mut Vec<u8>, size: u64, kind: &[u8; 4]) {
    buf.put_u32(size as u32);
    buf.put_slice(kind);
}

/// A full box header (version and flags) with a size known in advance.
fn full(buf: &mut Vec<u8>, size: u64, kind: &[u8; 4], version: u8, flags: u32) {
    boxed(buf, size, kind);
    buf.put_u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
}

/// Microseconds to 90 kHz ticks (negative → 0), rounded to the nearest tick.
fn us_to_ticks(us: i64) -> u64 {
    (us.max(0) as u64 * 9 + 50) / 100
}

fn ticks_to_us(ticks: u64) -> i64 {
    i64::try_from(ticks * 100 / 9).unwrap_or(i64::MAX)
}
