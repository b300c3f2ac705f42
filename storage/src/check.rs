//! `vms check`: the index against the segment files, fsck-style. Each kind of problem has its
//! own pass; with `repair`, what can be fixed without inventing data is fixed (leftover bytes
//! truncated, rows pointing at missing bytes dropped, undecodable rows deleted, counts and
//! layout rows rebuilt). Content that fails its SHA-256 is reported, never "repaired".

use std::collections::HashMap;

use rocksdb::{IteratorMode, WriteBatch};

use crate::db::Db;
use crate::index::{
    self, CameraId, FragmentRow, SegmentRow, camera_time_key, cf, parse_camera_time_key,
};
use crate::recovery::drop_fragments_past;
use crate::store::Store;
use crate::{Result, fmp4};

/// One finding of [`Store::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub what: String,
    /// Whether `--repair` fixed it.
    pub repaired: bool,
    /// Crash leftovers that recovery handles are notes, not failures.
    pub note_only: bool,
}

#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    pub segments: u64,
    pub fragments: u64,
    pub bytes: u64,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// True when nothing is wrong (notes about crash leftovers aside).
    pub fn ok(&self) -> bool {
        self.problems.iter().all(|p| p.note_only || p.repaired)
    }
}

type Segs = HashMap<(CameraId, i64), SegmentRow>;

struct Checker<'a> {
    db: &'a Db,
    repair: bool,
    report: CheckReport,
}

impl Checker<'_> {
    fn problem(&mut self, what: String, repaired: bool, note_only: bool) {
        self.report.problems.push(Problem {
            what,
            repaired,
            note_only,
        });
    }

    /// Deletes a bad row when repairing; reports it either way.
    fn bad_row(&mut self, cf_name: &'static str, key: &[u8], what: String) -> Result<()> {
        if self.repair {
            self.db.delete_row(cf_name, key)?;
        }
        self.problem(what, self.repair, false);
        Ok(())
    }

    /// Every decodable segment row; undecodable ones are reported (and deleted).
    fn load_segments(&mut self) -> Result<Segs> {
        let mut segments = Segs::new();
        for item in self
            .db
            .db
            .iterator_cf(self.db.cf(cf::SEGMENTS)?, IteratorMode::Start)
        {
            let (k, v) = item?;
            match (
                parse_camera_time_key(&k),
                index::decode::<SegmentRow>(cf::SEGMENTS, &k, &v),
            ) {
                (Some(key), Ok(row)) => {
                    segments.insert(key, row);
                }
                (_, Err(e)) => self.bad_row(cf::SEGMENTS, &k, e.to_string())?,
                (None, Ok(_)) => self.problem(
                    format!("segment key {} malformed", hex::encode(&k)),
                    false,
                    false,
                ),
            }
        }
        Ok(segments)
    }

    /// A segment's file against its row: present, not longer (crash leftovers) or shorter
    /// (lost bytes) than the index says, and matching its sealed SHA-256.
    fn segment_file(&mut self, camera: CameraId, start: i64, row: &mut SegmentRow) -> Result<()> {
        self.report.segments += 1;
        self.report.bytes += row.size;
        let segs = &self.db.segments;
        let Some(len) = segs.len(&row.file) else {
            self.problem(
                format!("segment file {} is missing", row.file),
                false,
                false,
            );
            return Ok(());
        };
        if len > row.size {
            let closed = row.closed();
            let what = format!(
                "{}: {} bytes past the last indexed fragment{}",
                row.file,
                len - row.size,
                if closed {
                    ""
                } else {
                    " (crash leftover; recovery truncates)"
                }
            );
            if self.repair {
                segs.truncate(&row.file, row.size, false)?;
            }
            self.problem(what, self.repair, !closed);
        } else if len < row.size {
            let what = format!(
                "{}: file has {len} bytes, index says {}",
                row.file, row.size
            );
            if !self.repair {
                self.problem(what, false, false);
                return Ok(());
            }
            // The lost bytes are gone for good: keep what is intact and re-seal it.
            drop_fragments_past(self.db, camera, start, row, len)?;
            if row.closed() {
                row.sha256 = Some(segs.hash(&row.file, row.size)?);
            }
            let mut batch = WriteBatch::default();
            self.db.put_segment(&mut batch, camera, start, row)?;
            self.db.db.write(batch)?;
            self.problem(
                format!("{what}; dropped the fragments past the end"),
                true,
                false,
            );
            return Ok(());
        }
        match row.sha256 {
            Some(want) => {
                let got = segs.hash(&row.file, row.size)?;
                if got != want {
                    self.problem(
                        format!(
                            "{}: SHA-256 mismatch (index {}, file {})",
                            row.file,
                            hex::encode(want),
                            hex::encode(got)
                        ),
                        false,
                        false,
                    );
                }
            }
            None => self.problem(
                format!(
                    "{}: segment still open (recording in progress or crashed)",
                    row.file
                ),
                false,
                true,
            ),
        }
        Ok(())
    }

    /// Fragment rows: decodable, belonging to a segment, inside its file, and well-formed
    /// boxes that agree with the row.
    fn fragment_rows(&mut self, segments: &Segs) -> Result<()> {
        let mut file_cache: Option<(String, Vec<u8>)> = None;
        for item in self
            .db
            .db
            .iterator_cf(self.db.cf(cf::FRAGMENTS)?, IteratorMode::Start)
        {
            let (k, v) = item?;
            self.report.fragments += 1;
            let Some((camera, t)) = parse_camera_time_key(&k) else {
                self.problem(
                    format!("fragment key {} malformed", hex::encode(&k)),
                    false,
                    false,
                );
                continue;
            };
            let row: FragmentRow = match index::decode(cf::FRAGMENTS, &k, &v) {
                Ok(r) => r,
                Err(e) => {
                    self.bad_row(cf::FRAGMENTS, &k, e.to_string())?;
                    continue;
                }
            };
            let Some(seg) = segments.get(&(camera, row.segment_start)) else {
                self.bad_row(
                    cf::FRAGMENTS,
                    &k,
                    format!("fragment camera {camera} at {t} has no segment row"),
                )?;
                continue;
            };
            let end = row.offset + u64::from(row.len);
            if end > seg.size {
                self.bad_row(
                    cf::FRAGMENTS,
                    &k,
                    format!(
                        "fragment camera {camera} at {t} ends past its segment {}",
                        seg.file
                    ),
                )?;
                continue;
            }
            if file_cache.as_ref().is_none_or(|(f, _)| *f != seg.file) {
                let data = self.db.segments.read_all(&seg.file).unwrap_or_default();
                file_cache = Some((seg.file.clone(), data));
            }
            let Some(bytes) = file_cache
                .as_ref()
                .and_then(|(_, data)| data.get(row.offset as usize..end as usize))
            else {
                self.problem(
                    format!(
                        "fragment camera {camera} at {t}: bytes missing from {}",
                        seg.file
                    ),
                    false,
                    false,
                );
                continue;
            };
            match fmp4::parse_fragment(bytes) {
                Ok(p)
                    if p.len == u64::from(row.len)
                        && p.samples.len() == row.frames as usize
                        && p.duration() == u64::from(row.duration_90k) => {}
                Ok(_) => self.problem(
                    format!(
                        "fragment camera {camera} at {t} in {}: boxes disagree with the index",
                        seg.file
                    ),
                    false,
                    false,
                ),
                Err(e) => self.problem(
                    format!(
                        "fragment camera {camera} at {t} in {} offset {}: {e}",
                        seg.file, row.offset
                    ),
                    false,
                    false,
                ),
            }
        }
        Ok(())
    }

    /// Segment rows count what their fragment rows hold, and a sealed segment's layout row
    /// packs them. Counts disagree after a repair (this one, or an interrupted or older one)
    /// dropped fragment rows: `--repair` recounts, then rebuilds the layout from that.
    fn counts_and_layouts(&mut self, segments: &mut Segs) -> Result<()> {
        let seg_cf = self.db.cf(cf::SEGMENTS)?;
        let layout_cf = self.db.cf(cf::LAYOUTS)?;
        for ((camera, start), row) in segments.iter_mut() {
            // A segment with an undecodable fragment row is reported already.
            let Ok(rows) = self.db.segment_fragment_rows(*camera, *start, row) else {
                continue;
            };
            let fragments = rows.len() as u32;
            let frames = rows.iter().map(|(_, r)| u64::from(r.frames)).sum();
            let end_utc = rows.last().map_or(*start, |(_, r)| r.end_utc);
            let key = camera_time_key(*camera, *start);
            if (fragments, frames, end_utc) != (row.fragments, row.frames, row.end_utc) {
                let what = format!(
                    "{}: segment row counts {} fragments, its fragment rows {fragments}",
                    row.file, row.fragments
                );
                if self.repair {
                    row.fragments = fragments;
                    row.frames = frames;
                    row.end_utc = end_utc;
                    self.db.db.put_cf(seg_cf, key, index::encode(&*row))?;
                }
                self.problem(what, self.repair, false);
            }
            if !row.closed() {
                continue;
            }
            let want = index::encode_layout(&rows);
            let have = self.db.db.get_pinned_cf(layout_cf, key)?;
            if have.as_deref() != Some(&want[..]) {
                let what = format!(
                    "{}: layout row {} (playback reads the fragment rows instead)",
                    row.file,
                    if have.is_some() { "stale" } else { "missing" }
                );
                if self.repair {
                    self.db.db.put_cf(layout_cf, key, want)?;
                }
                self.problem(what, self.repair, false);
            }
        }
        Ok(())
    }

    /// Layout rows whose segment is gone or not sealed.
    fn orphan_layouts(&mut self, segments: &Segs) -> Result<()> {
        for item in self
            .db
            .db
            .iterator_cf(self.db.cf(cf::LAYOUTS)?, IteratorMode::Start)
        {
            let (k, _) = item?;
            let sealed = parse_camera_time_key(&k)
                .and_then(|key| segments.get(&key))
                .is_some_and(SegmentRow::closed);
            if !sealed {
                self.bad_row(
                    cf::LAYOUTS,
                    &k,
                    format!("layout row {} has no sealed segment", hex::encode(&k)),
                )?;
            }
        }
        Ok(())
    }
}

impl Store {
    /// Verifies the index against the segment files; with `repair`, fixes what can be fixed
    /// without inventing data. See the module documentation.
    pub fn check(&self, repair: bool) -> Result<CheckReport> {
        let mut c = Checker {
            db: &self.db,
            repair,
            report: CheckReport::default(),
        };
        let mut segments = c.load_segments()?;
        for ((camera, start), row) in segments.iter_mut() {
            c.segment_file(*camera, *start, row)?;
        }
        c.fragment_rows(&segments)?;
        c.counts_and_layouts(&mut segments)?;
        c.orphan_layouts(&segments)?;
        Ok(c.report)
    }
}
