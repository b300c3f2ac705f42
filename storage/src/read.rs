//! The reader API playback and export build on: recorded spans, segments and fragments of a
//! camera over a time range (from the index, never by listing files), and fragment bytes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::index::{
    self, CameraId, FragmentRow, SegmentRow, camera_time_key, cf, parse_camera_time_key,
};
use crate::store::Store;
use crate::{Error, Result};

/// Whether an unusable layout row has been reported at warn level yet (once per process: a
/// 24 h request could otherwise log 1,440 warnings).
static UNUSABLE_LAYOUT_WARNED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// A recorded, gap-free stretch of a camera's video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start_utc: i64,
    pub end_utc: i64,
}

/// A fragment found by [`Store::fragments`], with where its bytes live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragmentRef {
    pub camera: CameraId,
    pub start_utc: i64,
    pub row: FragmentRow,
    /// Path of the segment file, relative to the store root (shared by its segment's fragments).
    pub file: Arc<str>,
}

impl Store {
    /// Rows of a camera-keyed column family that overlap `[start, end)`, in time order,
    /// including one that starts before `start` but reaches into the range.
    fn scan_range<T: serde::de::DeserializeOwned>(
        &self,
        cf_name: &'static str,
        camera: CameraId,
        start: i64,
        end: i64,
        end_of: impl Fn(&T) -> i64,
    ) -> Result<Vec<(i64, T)>> {
        let handle = self.db.cf(cf_name)?;
        let mut out = Vec::new();
        // One raw iterator for both steps: creating a RocksDB iterator costs more than a seek,
        // and the raw one does not copy every key and value into a new allocation.
        let mut it = self.db.db.raw_iterator_cf(handle);
        // The row at or before `start` may overlap it.
        it.seek_for_prev(camera_time_key(camera, start));
        if let (Some(k), Some(v)) = (it.key(), it.value())
            && let Some((c, t)) = parse_camera_time_key(k)
            && c == camera
        {
            let row: T = index::decode(cf_name, k, v)?;
            if end_of(&row) > start {
                out.push((t, row));
            }
        }
        it.status()?;
        it.seek(camera_time_key(camera, start));
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let Some((c, t)) = parse_camera_time_key(k) else {
                return Err(Error::Corrupt {
                    cf: cf_name,
                    key: hex::encode(k),
                    why: "bad key length".into(),
                });
            };
            if c != camera || t >= end {
                break;
            }
            if out.last().is_none_or(|(lt, _)| *lt != t) {
                out.push((t, index::decode(cf_name, k, v)?));
            }
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// The camera's most recent segment, if any.
    pub fn last_segment(&self, camera: CameraId) -> Result<Option<(i64, SegmentRow)>> {
        let mut it = self.db.db.raw_iterator_cf(self.db.cf(cf::SEGMENTS)?);
        it.seek_for_prev(camera_time_key(camera, i64::MAX));
        let found = match (it.key(), it.value()) {
            (Some(k), Some(v)) => match parse_camera_time_key(k) {
                Some((c, t)) if c == camera => Some((t, index::decode(cf::SEGMENTS, k, v)?)),
                _ => None,
            },
            _ => None,
        };
        it.status()?;
        Ok(found)
    }

    /// Segments of a camera overlapping `[start, end)`, keyed by start time.
    pub fn segments(
        &self,
        camera: CameraId,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, SegmentRow)>> {
        self.scan_range(cf::SEGMENTS, camera, start, end, |r: &SegmentRow| r.end_utc)
    }

    /// Recorded spans of a camera within `[start, end)`, clipped to the range; neighbours closer
    /// than `max_gap_us` are merged. Built from segment rows (one per ~minute), not fragments.
    pub fn spans(
        &self,
        camera: CameraId,
        start: i64,
        end: i64,
        max_gap_us: i64,
    ) -> Result<Vec<Span>> {
        if end <= start {
            return Err(Error::Invalid("end must be after start".into()));
        }
        let mut spans: Vec<Span> = Vec::new();
        for (seg_start, row) in self.segments(camera, start, end)? {
            let s = Span {
                start_utc: seg_start.max(start),
                end_utc: row.end_utc.min(end),
            };
            if s.end_utc <= s.start_utc {
                continue;
            }
            match spans.last_mut() {
                Some(last) if s.start_utc - last.end_utc <= max_gap_us => {
                    last.end_utc = last.end_utc.max(s.end_utc)
                }
                _ => spans.push(s),
            }
        }
        Ok(spans)
    }

    /// Fragments of a camera overlapping `[start, end)`, in time order.
    pub fn fragments(&self, camera: CameraId, start: i64, end: i64) -> Result<Vec<FragmentRef>> {
        let mut out = Vec::new();
        self.for_each_fragment(camera, start, end, |file, start_utc, row| {
            out.push(FragmentRef {
                camera,
                start_utc,
                row: row.clone(),
                file: file.clone(),
            });
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `each(segment file, start UTC, row)` for the fragments of a camera overlapping
    /// `[start, end)`, in time order, without collecting them (a day is ~86 400 fragments).
    ///
    /// Sealed segments are read from their packed [`cf::LAYOUTS`] row (one read per ~minute of
    /// video); the open segment, and any whose layout row is missing or disagrees with the
    /// segment row, from its fragment rows.
    pub fn for_each_fragment(
        &self,
        camera: CameraId,
        start: i64,
        end: i64,
        mut each: impl FnMut(&Arc<str>, i64, &FragmentRow) -> Result<()>,
    ) -> Result<()> {
        if end <= start {
            return Err(Error::Invalid("end must be after start".into()));
        }
        let sh = &*self.db;
        let segs = self.segments(camera, start, end)?;
        let mut layouts = sh.db.raw_iterator_cf(sh.cf(cf::LAYOUTS)?);
        if let Some((first, _)) = segs.first() {
            layouts.seek(camera_time_key(camera, *first));
        }
        let mut rows: Vec<(i64, FragmentRow)> = Vec::new();
        for (seg_start, seg) in &segs {
            let key = camera_time_key(camera, *seg_start);
            while layouts.key().is_some_and(|k| k < &key[..]) {
                layouts.next();
            }
            rows.clear();
            let mut packed = false;
            if seg.closed()
                && let (Some(k), Some(v)) = (layouts.key(), layouts.value())
                && k == key
            {
                let decoded =
                    index::decode_layout(k, v, *seg_start, seg.run, |t, row| rows.push((t, row)));
                // The segment row changes whenever its fragment rows do (sealing, repair), so a
                // table that disagrees with it is stale or another segment's.
                let fits = match (rows.first(), rows.last()) {
                    (Some((first, _)), Some((_, last))) => {
                        *first >= *seg_start
                            && last.end_utc == seg.end_utc
                            && last.offset + u64::from(last.len) <= seg.size
                    }
                    _ => seg.fragments == 0,
                };
                packed = decoded.is_ok() && rows.len() == seg.fragments as usize && fits;
                if !packed {
                    // Derived data: fall back to the rows it was built from.
                    let why = decoded.err().map(|e| e.to_string());
                    if UNUSABLE_LAYOUT_WARNED.swap(true, Ordering::Relaxed) {
                        tracing::debug!(camera, file = %seg.file, why, "layout row unusable");
                    } else {
                        tracing::warn!(camera, file = %seg.file, why, "layout row unusable; reading fragment rows (`vms check --repair` rebuilds it; further cases are logged at debug level)");
                    }
                }
            }
            layouts.status()?;
            if !packed {
                rows = sh.segment_fragment_rows(camera, *seg_start, seg)?;
            }
            let file: Arc<str> = Arc::from(seg.file.as_str());
            for (t, row) in &rows {
                if *t < end && row.end_utc > start {
                    each(&file, *t, row)?;
                }
            }
        }
        Ok(())
    }

    /// Reads a fragment's bytes (`prft` + `moof` + `mdat`). Blocking: call from a blocking pool.
    pub fn read_fragment(&self, f: &FragmentRef) -> Result<Vec<u8>> {
        let mut buf = vec![0; f.row.len as usize];
        self.db
            .segments
            .open(&f.file)?
            .read_exact_at(&mut buf, f.row.offset)?;
        Ok(buf)
    }
}
