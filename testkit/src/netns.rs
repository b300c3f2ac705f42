//! Running a test inside its own network namespace (`unshare -n`), so that nothing it binds,
//! multicasts or sends can reach beyond the namespace; or its own mount namespace
//! (`unshare -m`), so that a small file system it mounts (a full disk) is seen by it alone.
//! Needs root (CI runs as root).

use std::process::Command;
use std::time::{Duration, Instant};

const INSIDE: &str = "VMS_NETNS_TEST";

/// Outside: runs the test named `test` again in a fresh network namespace and returns false
/// once it passed (its output is shown if it fails or takes longer than `limit`; its lines
/// starting with `report:` are echoed either way). Inside: brings `lo` up, runs each shell
/// command of `setup`, and returns true: the caller runs the test body.
pub fn in_netns(test: &str, setup: &[&str], limit: Duration) -> bool {
    let setup: Vec<&str> = std::iter::once("ip link set lo up")
        .chain(setup.iter().copied())
        .collect();
    in_namespace(test, &["-n"], &setup, limit)
}

/// As [`in_netns`], in a fresh mount namespace (mounts stay private to it): the caller mounts
/// what it needs inside.
pub fn in_mountns(test: &str, limit: Duration) -> bool {
    in_namespace(test, &["-m", "--propagation", "private"], &[], limit)
}

fn in_namespace(test: &str, unshare: &[&str], setup: &[&str], limit: Duration) -> bool {
    if std::env::var(INSIDE).as_deref() == Ok(test) {
        for cmd in setup.iter().copied() {
            let st = Command::new("sh").arg("-c").arg(cmd).status();
            assert!(st.is_ok_and(|s| s.success()), "`{cmd}` failed");
        }
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    // The inner run's output (and its peers') goes to a file, shown only if it fails.
    let log_path =
        std::env::temp_dir().join(format!("vms-netns-{}-{test}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).expect("creating the namespace log");
    let mut child = Command::new("unshare")
        .args(unshare)
        .arg(&exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, test)
        .stdout(log.try_clone().expect("cloning the log handle"))
        .stderr(log)
        .spawn()
        .expect("unshare (util-linux) runs; these tests need root for network namespaces");
    let start = Instant::now();
    let outcome = loop {
        if let Some(st) = child.try_wait().expect("waiting for the namespace run") {
            break if st.success() {
                Ok(())
            } else {
                Err(format!("failed ({st})"))
            };
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break Err(format!("took longer than {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_file(&log_path);
    for l in output.lines().filter(|l| l.starts_with("report:")) {
        eprintln!("{l}");
    }
    if let Err(why) = outcome {
        panic!("{test} {why} inside its namespace; its output:\n{output}");
    }
    false
}
