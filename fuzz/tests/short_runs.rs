//! Short fuzzing runs on stable, in CI: each target gets a few thousand inputs mutated from a
//! seed corpus of real inputs (so the runs reach past the first length check) by a fixed-seed
//! generator (so a failure reproduces). libFuzzer under nightly runs the same targets for
//! longer (`fuzz_targets/`).
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use vms_storage::fmp4::{self, SampleInfo, TrackParams};
use vms_testkit::Rng;

/// One mutation of `input`: flip a bit, set a byte (often to a boundary value), insert or
/// delete a run, duplicate a slice, or truncate.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    let interesting = [0u8, 1, 0x7f, 0x80, 0xff];
    match rng.below(6) {
        0 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] ^= 1 << rng.below(8);
        }
        1 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] = interesting[rng.below(interesting.len())];
        }
        2 => {
            let i = rng.below(input.len() + 1);
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            input.splice(i..i, bytes);
        }
        3 if !input.is_empty() => {
            let i = rng.below(input.len());
            let n = rng.below(input.len() - i + 1).min(16);
            input.drain(i..i + n);
        }
        4 if !input.is_empty() => {
            let i = rng.below(input.len());
            let n = rng.below(input.len() - i + 1).min(32);
            let copy = input[i..i + n].to_vec();
            let at = rng.below(input.len() + 1);
            input.splice(at..at, copy);
        }
        _ => input.truncate(rng.below(input.len() + 1)),
    }
}

/// Runs `target` on every seed and on `rounds` mutants (1–4 mutations each) of them, times
/// `VMS_FUZZ_FACTOR` (default 1) for a longer run by hand, with `VMS_FUZZ_SEED` choosing
/// other mutants.
fn run(seeds: &[Vec<u8>], rounds: usize, target: impl Fn(&[u8])) {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let rounds = rounds * env("VMS_FUZZ_FACTOR", 1) as usize;
    let mut rng = Rng::new(env("VMS_FUZZ_SEED", 0x9e37_79b9_7f4a_7c15));
    for s in seeds {
        target(s);
    }
    for _ in 0..rounds {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &mut input);
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(&input)));
        if let Err(e) = r {
            eprintln!("failing input ({} bytes): {input:?}", input.len());
            std::panic::resume_unwind(e);
        }
    }
}

fn random_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

#[test]
fn timeline() {
    // A clean 30 fps camera, keyframe every 30 frames: flags, pts step (×30 ticks), arrival ms.
    let clean: Vec<u8> = (0..120u8)
        .flat_map(|i| [u8::from(i % 30 == 0), 0, 100, 33])
        .collect();
    // I P B B …: steps +3, −2, +1 frames.
    let bframes: Vec<u8> = (0..120u8)
        .flat_map(|i| {
            let step: i16 = [300, -200, 100][usize::from(i % 3)];
            let [a, b] = step.to_be_bytes();
            [u8::from(i % 30 == 0), a, b, 33]
        })
        .collect();
    let mut rng = Rng::new(7);
    let noise = random_bytes(&mut rng, 400);
    run(&[clean, bframes, noise], 10_000, vms_fuzz::timeline);
}

#[test]
fn mp4() {
    let samples: Vec<SampleInfo> = [(true, 0), (false, 6000), (false, -3000)]
        .into_iter()
        .map(|(keyframe, composition_offset)| SampleInfo {
            duration: 3000,
            size: 3,
            keyframe,
            composition_offset,
        })
        .collect();
    let mut fragment = fmp4::fragment_header(1, 0, 0, &samples).unwrap().bytes;
    fragment.extend_from_slice(&[0; 9]);
    let init = fmp4::init_segment(&TrackParams {
        codec: "avc1.4D401F".into(),
        width: 64,
        height: 64,
        sample_entry: Bytes::from_static(b"\0\0\0\x08avc1"),
    });
    // The `moov` alone, as the verifier's reader takes it.
    let at = init.windows(4).position(|w| w == b"moov").unwrap() - 4;
    let moov = init[at..].to_vec();
    run(&[fragment, init, moov], 20_000, vms_fuzz::mp4);
}

#[test]
fn package() {
    let dir = tempfile_dir();
    let manifest =
        br#"{"format":1,"items":[{"files":[{"name":"camera-1.mp4","size":3,"sha256":"00"}]}]}"#;
    let mut seed = manifest.to_vec();
    seed.extend_from_slice(br#"{"algorithm":"ed25519","public_key":"00","signature":"00"}"#);
    run(&[seed], 1000, |d| vms_fuzz::package(&dir, d));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn avcc() {
    // avcC: version 1, Main@3.1, 4-byte lengths, one SPS, one PPS; then one IDR NAL unit.
    // The first byte is the record's length, where the target splits.
    let mut seed = vec![
        17u8, 1, 0x4d, 0x40, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x4d, 0x40, 0x1f,
    ];
    seed.extend_from_slice(&[1, 0, 2, 0x68, 0xee]);
    seed.extend_from_slice(&[0, 0, 0, 2, 0x65, 0x88]);
    run(&[seed], 20_000, vms_fuzz::avcc);
}

#[test]
fn range() {
    let seeds: Vec<Vec<u8>> = ["bytes=0-10", "bytes=-5, 7-", "bytes=1-1,3-4,,", "bytes=9-2"]
        .iter()
        .map(|v| {
            let mut s = 100u64.to_be_bytes().to_vec();
            s.extend_from_slice(v.as_bytes());
            s
        })
        .collect();
    run(&seeds, 20_000, vms_fuzz::range);
}

#[test]
fn onvif_soap() {
    let seeds: Vec<Vec<u8>> = [
        include_bytes!("../../ingest/testdata/onvif/gsdt_hikvision_cst8.xml").as_slice(),
        include_bytes!("../../ingest/testdata/onvif/profiles_media2_h265_main.xml"),
        include_bytes!("../../ingest/testdata/onvif/probe_matches_standard.xml"),
        include_bytes!("../../ingest/testdata/onvif/fault_not_authorized.xml"),
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    run(&seeds, 5000, vms_fuzz::onvif_soap);
}

/// A scratch directory for the package target.
fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("vms-fuzz-short-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn reorder_depth() {
    // SPS written by x264 (High, B-frames) and x265 (B-frames), and an `avc1` sample entry.
    let h264 = hex::decode("6764000dacd94141fb011000000300100000030320f1429960").unwrap();
    let h265 = hex::decode(
        "42010101600000030090000003000003003ca00a080f16595964932bc05a020000030002000003003210",
    )
    .unwrap();
    let mut avcc = vec![1, 0x64, 0, 0x0d, 0xff, 0xe1, 0, h264.len() as u8];
    avcc.extend_from_slice(&h264);
    let mut entry = ((8 + 78 + 8 + avcc.len()) as u32).to_be_bytes().to_vec();
    entry.extend_from_slice(b"avc1");
    entry.extend_from_slice(&[0; 78]);
    entry.extend_from_slice(&((8 + avcc.len()) as u32).to_be_bytes());
    entry.extend_from_slice(b"avcC");
    entry.extend_from_slice(&avcc);
    let seeds = [
        [&[0u8][..], &h264].concat(),
        [&[1u8][..], &h265].concat(),
        [&[2u8][..], &entry].concat(),
    ];
    run(&seeds, 20_000, vms_fuzz::reorder_depth);
}
