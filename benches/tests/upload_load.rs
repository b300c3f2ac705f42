//! The upload benchmark must not rot: a small real run (the real server on loopback, a store
//! in a temporary directory) that must finish with the stored hash equal to the source's and
//! print both throughputs. The figures that matter come from release runs (closing notes).
#![allow(clippy::unwrap_used)]

#[test]
fn a_small_upload_against_cp_and_sync() {
    let work = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_upload-load"))
        .args(["--size", "24MiB", "--patch", "10MiB", "--work-dir"])
        .arg(work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("| cp + sync (baseline) |"), "{stdout}");
    assert!(stdout.contains("ratio tus/baseline throughput"), "{stdout}");
    assert!(
        stdout.contains("stored SHA-256 matches the source"),
        "{stdout}"
    );
    // The bad-size refusal is an exit status of 2 with a message, not a panic.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_upload-load"))
        .args(["--size", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
