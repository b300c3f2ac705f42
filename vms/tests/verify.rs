//! `vms verify` as a court's expert runs it: on a package made by the export path, offline,
//! with and without a pinned agency key; one changed byte fails it with exit status 3.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use vms_storage::export::{ExportItemSpec, ExportSpec, Progress, write_package};
use vms_storage::{ManualClock, RecFrame, RecorderOptions, Store, StoreOptions, TrackParams};

const VMS: &str = env!("CARGO_BIN_EXE_vms");
use vms_testkit::T0;

/// Records 4 s of a 30 fps camera and exports 1–3 s of it; returns the package directory.
async fn package(dir: &Path, key: &ed25519_dalek::SigningKey) -> std::path::PathBuf {
    package_of(dir, key, |d| d).await
}

/// As [`package`], the camera sending frames in decode order `order(d)` (presentation frame
/// numbers); frames presented at whole seconds are keyframes.
async fn package_of(
    dir: &Path,
    key: &ed25519_dalek::SigningKey,
    order: fn(i64) -> i64,
) -> std::path::PathBuf {
    let store = Store::open(
        &dir.join("data"),
        StoreOptions {
            clock: Arc::new(ManualClock::new(T0 + 60_000_000)),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let cam = store.camera_id("porch").unwrap();
    let track = Arc::new(TrackParams {
        codec: "avc1.4D401F".into(),
        width: 1280,
        height: 720,
        sample_entry: Bytes::from_static(b"\0\0\0\x0cavc1test"),
    });
    let mut rec = store.recorder(cam, RecorderOptions::default()).unwrap();
    for i in 0..120i64 {
        let frame = order(i);
        rec.push(RecFrame {
            new_run: (i == 0).then(|| track.clone()),
            pts_90k: frame * 3000,
            wall_us: T0 + i * 1_000_000 / 30,
            keyframe: frame % 30 == 0,
            data: Bytes::from(vec![i as u8; 500 + i as usize]),
        })
        .await
        .unwrap();
    }
    rec.close().await.unwrap();
    let out = dir.join("package");
    write_package(
        &store,
        &ExportSpec {
            id: 1,
            items: vec![ExportItemSpec {
                camera: cam,
                camera_name: "porch".into(),
                partner_pseudonym: "P-0001".into(),
                masks_defined: 0,
                within_range: false,
            }],
            start_us: T0 + 1_000_000,
            end_us: T0 + 3_000_000,
            case_number: "2026-42".into(),
            request_id: None,
            legal_basis: "test".into(),
            purpose: "test".into(),
            exporter: "k.lee".into(),
            approver: None,
            tool_name: "vms".into(),
            submissions: Vec::new(),
            tool_version: "test".into(),
        },
        key,
        &out,
        &Progress::default(),
    )
    .unwrap();
    out
}

fn verify(pkg: &Path, key: Option<&str>) -> (i32, String) {
    let mut cmd = Command::new(VMS);
    cmd.arg("verify").arg(pkg);
    if let Some(k) = key {
        cmd.args(["--key", k]);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Issue 15: footage from a camera with B-frames exports with its composition offsets
/// (`ctts`) and verifies like any other; the sample data stays the recorded bytes.
#[tokio::test]
async fn a_package_of_b_frame_video_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let pkg = package_of(dir.path(), &key, vms_testkit::ipbb_presentation).await;
    let (code, out) = verify(&pkg, None);
    assert_eq!(code, 0, "{out}");
    let video = std::fs::read_dir(&pkg)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "mp4"))
        .unwrap();
    let bytes = std::fs::read(video).unwrap();
    assert!(
        bytes.windows(4).any(|w| w == b"ctts"),
        "no composition offsets in the export"
    );
}

#[tokio::test]
async fn verify_passes_a_package_and_fails_any_change() {
    let dir = tempfile::tempdir().unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let pkg = package(dir.path(), &key).await;
    let public = hex::encode(key.verifying_key().as_bytes());

    let (code, out) = verify(&pkg, None);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("PACKAGE VERIFIED") && out.contains(&public),
        "{out}"
    );
    assert!(out.contains("camera-1.mp4: 60 frames"), "{out}");
    let (code, out) = verify(&pkg, Some(&public));
    assert_eq!(code, 0, "{out}");
    let (code, out) = verify(&pkg, Some(&"ab".repeat(32)));
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("different key"), "{out}");
    let (code, out) = verify(&pkg, Some("not-hex"));
    assert_ne!(code, 0, "{out}");

    let video = pkg.join("camera-1.mp4");
    let original = std::fs::read(&video).unwrap();
    let mut t = original.clone();
    let at = t.len() - 100;
    t[at] ^= 0x40;
    std::fs::write(&video, &t).unwrap();
    let (code, out) = verify(&pkg, None);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("FAIL") && out.contains("SHA-256"), "{out}");
    assert!(
        out.contains("does not match the manifest"),
        "the damaged fragment is named: {out}"
    );
    std::fs::write(&video, &original).unwrap();

    std::fs::remove_file(pkg.join("signature.json")).unwrap();
    let (code, out) = verify(&pkg, None);
    assert_eq!(code, 3, "{out}");
    let (code, out) = verify(&dir.path().join("no-such-package"), None);
    assert_eq!(code, 3, "{out}");
}

/// The export manifest, signature and video of one package, pinned on purpose: experts verify
/// these files years later with `vms verify`, so a changed field or byte is a deliberate,
/// versioned decision (bump the manifest's `format` and keep verifying the old one).
#[tokio::test]
async fn golden_package_files() {
    use sha2::Digest as _;
    let dir = tempfile::tempdir().unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let pkg = package(dir.path(), &key).await;
    let mut files: Vec<String> = std::fs::read_dir(&pkg)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let digest = hex::encode(sha2::Sha256::digest(std::fs::read(&p).unwrap()));
            format!("{} {digest}", p.file_name().unwrap().to_string_lossy())
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "camera-1.mp4 85f986b378a8e9e686644e66d0ee45ac6c06a043999e4c6fae9c0926128154c7",
            "manifest.json 1fc85f0892feee92fe9b629a4b59575a1a6460ea618d0c32ff193b44f604851d",
            "signature.json 5104795cbe3658bff7b9b9c6c93ea9e5b1cf24d56bbb3da91cf2258640ee4f3e",
        ],
        "export package bytes changed: if on purpose, version the manifest format"
    );
}

/// Packages written before submitted files (format 1) still verify: the same package with its
/// manifest stated as format 1 and signed again passes `vms verify`; an unknown format fails.
#[tokio::test]
async fn format_1_packages_still_verify() {
    use ed25519_dalek::Signer as _;
    let dir = tempfile::tempdir().unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let pkg = package(dir.path(), &key).await;
    let resign = |format: &str| {
        let mut m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(pkg.join("manifest.json")).unwrap()).unwrap();
        m["format"] = format.into();
        let body = serde_json::to_vec_pretty(&m).unwrap();
        std::fs::write(pkg.join("manifest.json"), &body).unwrap();
        let sig = serde_json::json!({
            "algorithm": "Ed25519",
            "public_key": hex::encode(key.verifying_key().as_bytes()),
            "signature": hex::encode(key.sign(&body).to_bytes()),
        });
        std::fs::write(pkg.join("signature.json"), sig.to_string()).unwrap();
    };
    resign("vms-evidence-export/1");
    let (code, out) = verify(&pkg, None);
    assert_eq!(code, 0, "{out}");
    resign("vms-evidence-export/99");
    let (code, out) = verify(&pkg, None);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("unknown manifest format"), "{out}");
}
