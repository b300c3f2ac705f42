//! Virtual MP4 tests against a real RocksDB and real segment files: every byte of the virtual
//! file is checked against the frames that were recorded, through this crate's own sample-table
//! reader and, independently, the `mp4` crate.
#![allow(clippy::unwrap_used)]

use std::io::Cursor;
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use vms_storage::mp4read::{Movie, parse_moov, top_level_boxes};
use vms_storage::vmp4::{Reader, VirtualMp4};
use vms_storage::{ManualClock, RecFrame, RecorderOptions, Store, StoreOptions, TrackParams};

use vms_testkit::T0;

fn track(entry: Entry) -> Arc<TrackParams> {
    Arc::new(TrackParams {
        codec: "avc1.4D401F".into(),
        width: entry.width(),
        height: 720,
        sample_entry: entry.bytes(),
    })
}

/// Two cameras' sample entries: well-formed `avc1` boxes (built by the `mp4` crate, so its
/// reader can check our files independently) that differ in width.
#[derive(Clone, Copy)]
enum Entry {
    A,
    B,
}

impl Entry {
    fn width(self) -> u16 {
        match self {
            Entry::A => 1280,
            Entry::B => 640,
        }
    }
    /// An `avc1` VisualSampleEntry with its `avcC` (ISO/IEC 14496-12 §12.1.3, 14496-15 §5.3.3).
    fn bytes(self) -> Bytes {
        let sps = [0x67, 0x4d, 0x40, 0x1f, self.width() as u8];
        let pps = [0x68, 0xee, 0x3c, 0x80];
        let mut avcc = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1];
        avcc.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        avcc.extend_from_slice(&sps);
        avcc.push(1);
        avcc.extend_from_slice(&(pps.len() as u16).to_be_bytes());
        avcc.extend_from_slice(&pps);
        let mut e = vec![0u8; 6];
        e.extend_from_slice(&1u16.to_be_bytes()); // data_reference_index
        e.extend_from_slice(&[0; 16]);
        e.extend_from_slice(&self.width().to_be_bytes());
        e.extend_from_slice(&720u16.to_be_bytes());
        e.extend_from_slice(&0x0048_0000u32.to_be_bytes());
        e.extend_from_slice(&0x0048_0000u32.to_be_bytes());
        e.extend_from_slice(&[0; 4]);
        e.extend_from_slice(&1u16.to_be_bytes()); // frame_count
        e.extend_from_slice(&[0; 32]); // compressorname
        e.extend_from_slice(&0x0018u16.to_be_bytes());
        e.extend_from_slice(&(-1i16).to_be_bytes());
        e.extend_from_slice(&((avcc.len() + 8) as u32).to_be_bytes());
        e.extend_from_slice(b"avcC");
        e.extend_from_slice(&avcc);
        let mut out = ((e.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(b"avc1");
        out.extend_from_slice(&e);
        Bytes::from(out)
    }
}

/// Capture time of frame `i` of a run that started at `T0`.
fn at(i: i64) -> i64 {
    T0 + i * 1_000_000 / 30
}

/// Bytes of frame `i` of a run: distinct per frame and run, varying in size.
fn frame_bytes(run: u8, i: usize) -> Vec<u8> {
    let mut v = vec![run; 50 + (i * 37) % 200];
    v[..8].copy_from_slice(&(i as u64).to_be_bytes());
    v
}

/// One run of `n` frames at 30 fps starting at `t0`, a keyframe every `gop`.
fn run(entry: Entry, run: u8, n: usize, gop: usize, t0: i64) -> Vec<RecFrame> {
    (0..n)
        .map(|i| RecFrame {
            new_run: (i == 0).then(|| track(entry)),
            pts_90k: 5_000 + i as i64 * 3000,
            wall_us: t0 + i as i64 * 1_000_000 / 30,
            keyframe: i % gop == 0,
            data: Bytes::from(frame_bytes(run, i)),
        })
        .collect()
}

async fn setup(runs: Vec<Vec<RecFrame>>) -> (tempfile::TempDir, Arc<Store>, u32) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            clock: Arc::new(ManualClock::new(T0)),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let cam = store.camera_id("porch").unwrap();
    let opts = RecorderOptions {
        segment_target_secs: 3,
        ..RecorderOptions::default()
    };
    let mut rec = store.recorder(cam, opts).unwrap();
    for r in runs {
        for f in r {
            rec.push(f).await.unwrap();
        }
        rec.end_run().await.unwrap();
    }
    rec.close().await.unwrap();
    (dir, store, cam)
}

fn whole(mp4: &Arc<VirtualMp4>) -> Vec<u8> {
    let mut out = Vec::new();
    Reader::new(Arc::clone(mp4))
        .read(0..mp4.len(), &mut out)
        .unwrap();
    assert_eq!(out.len() as u64, mp4.len(), "Content-Length is exact");
    out
}

fn movie(bytes: &[u8]) -> Movie {
    let boxes = top_level_boxes(&mut Cursor::new(bytes)).unwrap();
    let kinds: Vec<&[u8; 4]> = boxes.iter().map(|b| &b.kind).collect();
    assert_eq!(kinds, [b"ftyp", b"moov", b"mdat"]);
    let m = &boxes[1];
    parse_moov(&bytes[m.offset as usize..(m.offset + m.size) as usize]).unwrap()
}

/// Sample data of every sample, in order.
fn sample_data(bytes: &[u8], m: &Movie) -> Vec<Vec<u8>> {
    m.samples
        .iter()
        .map(|s| bytes[s.offset as usize..s.offset as usize + s.size as usize].to_vec())
        .collect()
}

#[tokio::test]
async fn whole_recording_round_trips_bit_exact() {
    let (_d, store, cam) = setup(vec![run(Entry::A, 1, 300, 30, T0)]).await;
    let mp4 = Arc::new(VirtualMp4::build(&store, cam, T0, T0 + 10_000_000).unwrap());
    assert_eq!(mp4.frames(), 300);
    assert_eq!(mp4.lead_in_90k(), 0);
    assert_eq!(mp4.actual(), (T0, T0 + 10_000_000));
    let bytes = whole(&mp4);
    let m = movie(&bytes);
    assert_eq!(m.timescale, 90_000);
    assert_eq!(m.entries, vec![Entry::A.bytes().to_vec()]);
    assert_eq!(m.edit, Some((900_000, 0)));
    let data = sample_data(&bytes, &m);
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d, &frame_bytes(1, i), "sample {i}");
    }
    assert!(m.samples.iter().all(|s| s.duration == 3000));
    let syncs: Vec<usize> = (0..300).filter(|i| m.samples[*i].sync).collect();
    assert_eq!(syncs, (0..300).step_by(30).collect::<Vec<_>>());

    // An independent reader agrees on count, sizes and bytes.
    let mut r = mp4::Mp4Reader::read_header(Cursor::new(&bytes), bytes.len() as u64).unwrap();
    let id = *r.tracks().keys().next().unwrap();
    assert_eq!(r.sample_count(id).unwrap(), 300);
    for i in [1u32, 2, 31, 150, 300] {
        let s = r.read_sample(id, i).unwrap().unwrap();
        assert_eq!(
            &s.bytes[..],
            &frame_bytes(1, i as usize - 1)[..],
            "sample {i}"
        );
        assert_eq!(s.is_sync, (i - 1) % 30 == 0);
    }
}

#[tokio::test]
async fn starts_at_the_keyframe_before_start_and_ends_at_end() {
    let (_d, store, cam) = setup(vec![run(Entry::A, 1, 300, 30, T0)]).await;
    // From frame 45 (1.5 s) to frame 100 (3.333 s): decoding starts at keyframe 30.
    let start = at(45);
    let end = at(100);
    let mp4 = Arc::new(VirtualMp4::build(&store, cam, start, end).unwrap());
    let bytes = whole(&mp4);
    let m = movie(&bytes);
    let data = sample_data(&bytes, &m);
    // Frames 30..100: the last one kept is the last that starts before `end`.
    assert_eq!(data.len(), 70);
    assert_eq!(data[0], frame_bytes(1, 30));
    assert_eq!(data[69], frame_bytes(1, 99));
    let (dur, media_time) = m.edit.unwrap();
    assert_eq!(media_time, 15 * 3000, "lead-in of 15 frames hidden");
    assert!(
        (dur as i64 - 55 * 3000).abs() <= 1,
        "presents 55 frames: {dur}"
    );
    assert_eq!(m.duration, dur);
    assert!(m.samples[0].sync);
    assert_eq!(mp4.actual().0, start);
}

/// A long-GOP camera (a keyframe every 5 s) has fragments cut every 2 s without one: a range
/// starting in such a fragment reaches back to the keyframe through earlier fragments.
#[tokio::test]
async fn long_gop_lead_in_reaches_back_through_fragments_to_the_keyframe() {
    let (_d, store, cam) = setup(vec![run(Entry::A, 1, 300, 150, T0)]).await;
    let frags = store.fragments(cam, at(100), at(101)).unwrap();
    assert_eq!(frags.len(), 1);
    assert!(
        !frags[0].row.starts_with_key(),
        "the test needs a non-key fragment"
    );
    let mp4 = Arc::new(VirtualMp4::build(&store, cam, at(100), at(130)).unwrap());
    let bytes = whole(&mp4);
    let m = movie(&bytes);
    let data = sample_data(&bytes, &m);
    assert_eq!(data.len(), 130);
    assert_eq!(data[0], frame_bytes(1, 0));
    assert_eq!(data[129], frame_bytes(1, 129));
    assert!(m.samples[0].sync);
    assert_eq!(
        m.edit.unwrap().1,
        100 * 3000,
        "lead-in of 100 frames hidden"
    );
    assert_eq!(mp4.first_sample_utc(), T0);
}

#[tokio::test]
async fn range_inside_one_fragment() {
    let (_d, store, cam) = setup(vec![run(Entry::A, 1, 300, 30, T0)]).await;
    let start = at(100) + 10;
    let end = at(105);
    let mp4 = Arc::new(VirtualMp4::build(&store, cam, start, end).unwrap());
    let bytes = whole(&mp4);
    let m = movie(&bytes);
    assert_eq!(m.samples.len(), 15, "keyframe 90 through frame 104");
    assert_eq!(sample_data(&bytes, &m)[0], frame_bytes(1, 90));
}

#[tokio::test]
async fn gap_between_runs_is_held_and_a_codec_change_gets_its_own_entry() {
    // Run 1: 0–4 s. Camera offline 4–7 s. Run 2 (new parameters): 7–10 s.
    let (_d, store, cam) = setup(vec![
        run(Entry::A, 1, 120, 30, T0),
        run(Entry::B, 2, 90, 30, T0 + 7_000_000),
    ])
    .await;
    let mp4 = Arc::new(VirtualMp4::build(&store, cam, T0, T0 + 10_000_000).unwrap());
    let bytes = whole(&mp4);
    let m = movie(&bytes);
    assert_eq!(
        m.entries,
        vec![Entry::A.bytes().to_vec(), Entry::B.bytes().to_vec()]
    );
    assert_eq!(m.samples.len(), 210);
    let data = sample_data(&bytes, &m);
    assert_eq!(data[119], frame_bytes(1, 119));
    assert_eq!(data[120], frame_bytes(2, 0));
    assert!(m.samples[..120].iter().all(|s| s.description == 1));
    assert!(m.samples[120..].iter().all(|s| s.description == 2));
    // The last frame before the gap lasts until run 2 starts: media time = capture time.
    let until_run2: u64 = m.samples[..120].iter().map(|s| u64::from(s.duration)).sum();
    assert_eq!(until_run2, 7 * 90_000);
    assert!(m.samples[120].sync);
    let total: u64 = m.samples.iter().map(|s| u64::from(s.duration)).sum();
    assert_eq!(m.edit, Some((total, 0)));

    // A reconnect with the same parameters shares one entry.
    let (_d2, store2, cam2) = setup(vec![
        run(Entry::A, 1, 60, 30, T0),
        run(Entry::A, 2, 60, 30, T0 + 3_000_000),
    ])
    .await;
    let mp4 = Arc::new(VirtualMp4::build(&store2, cam2, T0, T0 + 5_000_000).unwrap());
    assert_eq!(movie(&whole(&mp4)).entries.len(), 1);
}

#[tokio::test]
async fn any_byte_range_equals_the_same_bytes_of_the_whole_file() {
    let (_d, store, cam) = setup(vec![
        run(Entry::A, 1, 150, 30, T0),
        run(Entry::B, 2, 150, 15, T0 + 6_000_000),
    ])
    .await;
    let mp4 = Arc::new(VirtualMp4::build(&store, cam, T0 + 500_000, T0 + 10_500_000).unwrap());
    let bytes = whole(&mp4);
    let len = mp4.len();
    // A cheap deterministic generator: ranges of every size, including region boundaries.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut reader = Reader::new(Arc::clone(&mp4));
    for _ in 0..500 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let a = x % len;
        let b = (a + 1 + (x >> 20) % 5000).min(len);
        let mut out = Vec::new();
        reader.read(a..b, &mut out).unwrap();
        assert_eq!(out, bytes[a as usize..b as usize], "range {a}..{b}");
    }
    let mut out = Vec::new();
    assert!(reader.read(0..len + 1, &mut out).is_err());
}

#[tokio::test]
async fn etag_changes_with_the_rows_and_nothing_recorded_is_not_found() {
    let (_d, store, cam) = setup(vec![run(Entry::A, 1, 90, 30, T0)]).await;
    let a = VirtualMp4::build(&store, cam, T0, T0 + 3_000_000).unwrap();
    let b = VirtualMp4::build(&store, cam, T0, T0 + 3_000_000).unwrap();
    let c = VirtualMp4::build(&store, cam, T0, T0 + 2_000_000).unwrap();
    assert_eq!(a.etag(), b.etag());
    assert_ne!(a.etag(), c.etag());

    // More video recorded into the range (appends to an open segment, then a new run) changes it.
    let wide = (T0, T0 + 20_000_000);
    let before = VirtualMp4::build(&store, cam, wide.0, wide.1).unwrap();
    let mut rec = store.recorder(cam, RecorderOptions::default()).unwrap();
    let mut seen = vec![before.etag().to_owned()];
    for (i, f) in run(Entry::A, 3, 95, 30, T0 + 5_000_000)
        .into_iter()
        .enumerate()
    {
        rec.push(f).await.unwrap();
        if i == 61 || i == 91 {
            // Two and three fragments of the new run are committed.
            let v = VirtualMp4::build(&store, cam, wide.0, wide.1).unwrap();
            assert!(!seen.contains(&v.etag().to_owned()), "ETag after frame {i}");
            seen.push(v.etag().to_owned());
        }
    }
    rec.close().await.unwrap();
    let v = VirtualMp4::build(&store, cam, wide.0, wide.1).unwrap();
    assert!(!seen.contains(&v.etag().to_owned()), "ETag after sealing");
    assert!(matches!(
        VirtualMp4::build(&store, cam, T0 + 60_000_000, T0 + 70_000_000),
        Err(vms_storage::Error::NotFound(_))
    ));
    assert!(matches!(
        VirtualMp4::build(&store, cam, T0, T0),
        Err(vms_storage::Error::Invalid(_))
    ));
}

#[tokio::test]
async fn a_fragment_that_no_longer_matches_its_row_is_an_error_not_bad_bytes() {
    let (dir, store, cam) = setup(vec![run(Entry::A, 1, 90, 30, T0)]).await;
    let mp4 = Arc::new(VirtualMp4::build(&store, cam, T0, T0 + 3_000_000).unwrap());
    let piece = mp4.pieces().nth(1).unwrap();
    // Overwrite the second fragment's trun sample count.
    let path = dir.path().join(&piece.file);
    let mut file = std::fs::read(&path).unwrap();
    let at = piece.offset as usize + 32 + 8 + 16 + 8 + 16 + 20 + 12;
    file[at..at + 4].copy_from_slice(&7u32.to_be_bytes());
    std::fs::write(&path, file).unwrap();
    let mut out = Vec::new();
    assert!(
        Reader::new(mp4.clone())
            .read(0..mp4.len(), &mut out)
            .is_err()
    );
}

/// The bytes of one generated MP4, pinned on purpose: a change here is a format change, which
/// also changes every ETag (bump `vmp4::FORMAT_VERSION` with it).
#[tokio::test]
async fn golden_digest() {
    let (_d, store, cam) = setup(vec![
        run(Entry::A, 1, 60, 30, T0),
        run(Entry::B, 2, 45, 15, T0 + 3_000_000),
    ])
    .await;
    let start = at(10);
    let mp4 = Arc::new(VirtualMp4::build(&store, cam, start, T0 + 4_000_000).unwrap());
    let digest = hex::encode(Sha256::digest(whole(&mp4)));
    assert_eq!(
        digest, "07d4f3ae2b1f516fdb66a76e29ac37db2482bdeebe2e2891fac272ef6c29c714",
        "virtual MP4 bytes changed: if on purpose, bump FORMAT_VERSION and update this digest"
    );
}

/// The bytes of every segment file one recording writes, pinned on purpose: sealed segments
/// are evidence whose SHA-256 exports cite, and recovery and `check` read them back. A change
/// here is a storage format change: keep reading the old files, and update these digests.
#[tokio::test]
async fn golden_segment_files() {
    let (d, _store, _cam) = setup(vec![
        run(Entry::A, 1, 60, 30, T0),
        run(Entry::B, 2, 45, 15, T0 + 3_000_000),
    ])
    .await;
    let mut files = Vec::new();
    let mut dirs = vec![d.path().join("segments")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let name = p.strip_prefix(d.path()).unwrap().display().to_string();
                files.push(format!(
                    "{name} {}",
                    hex::encode(Sha256::digest(std::fs::read(&p).unwrap()))
                ));
            }
        }
    }
    files.sort();
    assert_eq!(
        files,
        [
            "segments/00000001/0000000000000001.mp4 7e8c989db8d5c8584a45216eb021bea1f368dc9581b3f412dedfceca335a0f7c",
            "segments/00000001/0000000000000002.mp4 c0f44cc5a4bf056b9a48e959d09f94c1c18c8c39c0e3c9d23c05bcac12665bc7",
        ],
        "segment file bytes changed: if on purpose, keep reading the old format and update these digests"
    );
}
