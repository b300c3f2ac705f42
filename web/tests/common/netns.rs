//! Running a test inside its own network namespace (`unshare -n`): for tests that bind every
//! interface, multicast, or need a non-loopback address (Chromium's WebRTC), so nothing they do
//! can reach beyond the namespace.

const INSIDE: &str = "VMS_WEB_NETNS_TEST";

/// Outside: runs `test` again inside a fresh network namespace, after `ip` runs each of `setup`
/// there (`lo` is always brought up first), asserts it passed and returns false, echoing the
/// inner run's lines that start with `report:`. Inside: returns true and the caller runs the body.
pub fn in_netns(test: &str, setup: &[&str]) -> bool {
    if std::env::var(INSIDE).as_deref() == Ok(test) {
        for args in std::iter::once("link set lo up").chain(setup.iter().copied()) {
            let st = std::process::Command::new("ip")
                .args(args.split(' '))
                .status()
                .unwrap();
            assert!(st.success(), "ip {args}");
        }
        return true;
    }
    let out = std::process::Command::new("unshare")
        .arg("-n")
        .arg(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, test)
        .output()
        .expect("unshare (util-linux) runs; this test needs root for a network namespace");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for l in stdout.lines().filter(|l| l.starts_with("report:")) {
        eprintln!("{l}");
    }
    assert!(
        out.status.success(),
        "inside the namespace: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}
