//! ONVIF against independent implementations: the `ipycam` virtual camera (its SOAP services
//! and WS-Discovery responder), `onvif-zeep` as a second client whose answers must match ours,
//! and `WSDiscovery` as a second device and a second discovery client.
//!
//! Network safety: each test re-executes itself under `unshare -n`, so it runs in a network
//! namespace of its own with nothing but `lo` and a veth pair. The emulated devices run in a
//! second, nested namespace on the far end of the veth (10.99.0.2), the test on the near end
//! (10.99.0.1, `veth0`), so probes and answers really cross a link — and no packet can reach
//! the machine's real interfaces. The peers stop when their stdin closes, which happens when
//! the test process ends, however it ends.
//!
//! The peers are installed by `scripts/install-onvif-test-deps` into `$VMS_PYDEPS`
//! (default `~/.cache/vms-pydeps/onvif`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use vms_ingest::onvif::{self, ClientOptions, DiscoveryOptions, OnvifClient, OnvifError};
use vms_ingest::{Credentials, Secret};

/// Bound on one test, namespace set-up and peers included.
const TEST_LIMIT: Duration = Duration::from_secs(28);
const DEVICE_IP: &str = "10.99.0.2";

fn python() -> PathBuf {
    let venv = std::env::var_os("VMS_PYDEPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/vms-pydeps/onvif")
        });
    let py = venv.join("bin/python");
    assert!(
        py.exists(),
        "{} missing: run scripts/install-onvif-test-deps (scripts/install-deps --test does)",
        py.display()
    );
    py
}

fn peer(script: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/onvif/peers")
        .join(script)
        .to_string_lossy()
        .into_owned()
}

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "`{cmd}` failed: {st}");
}

/// Outside the namespace: runs this test again inside a fresh one (IPv4 only: keeps the
/// peers' IPv6 threads and router solicitations out of the way) and returns false once it
/// passed. Inside: returns true, and the caller runs the test body.
fn in_netns(test: &str) -> bool {
    vms_testkit::netns::in_netns(
        test,
        &[
            "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true",
        ],
        TEST_LIMIT,
    )
}

/// A peer process; stopped (stdin closed, then killed) on drop.
struct Peer {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(mut cmd: Command) -> Peer {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Peer { child, out }
    }

    /// Reads stdout until a line starting with `prefix` and returns the rest of it.
    fn wait_for(&mut self, prefix: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.out.read_line(&mut line).unwrap();
            assert!(n > 0, "peer exited before printing {prefix:?}");
            if let Some(rest) = line.trim_end().strip_prefix(prefix) {
                return rest.trim().to_owned();
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The far end of the link: a nested network namespace holding `veth1` = 10.99.0.2, in which
/// `program` runs. Returns the peer and the pid whose namespace others can join.
fn device_namespace(program: &[String]) -> (Peer, u32) {
    sh("ip link add veth0 type veth peer name veth1");
    let script = format!(
        "i=0; while ! ip link show veth1 >/dev/null 2>&1; do i=$((i+1)); [ $i -gt 500 ] && exit 97; sleep 0.01; done; \
         sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null; \
         ip link set lo up && ip addr add {DEVICE_IP}/24 dev veth1 && ip link set veth1 up && \
         ip route add 239.0.0.0/8 dev veth1 && exec \"$@\""
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "sh", "-c", &script, "sh"]).args(program);
    let peer = Peer::spawn(cmd);
    let pid = peer.child.id();
    // Move the link only once the child has its own namespace: before `unshare` runs, the
    // pid still lives in ours and the move would be a no-op.
    let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .ok()
        .as_ref()
        == Some(&ours)
    {
        assert!(Instant::now() < deadline, "device namespace not created");
        std::thread::sleep(Duration::from_millis(5));
    }
    sh(&format!("ip link set veth1 netns {pid}"));
    sh(
        "ip addr add 10.99.0.1/24 dev veth0 && ip link set veth0 up && ip route add 239.0.0.0/8 dev veth0",
    );
    (peer, pid)
}

fn ipycam_args(extra: &[&str]) -> Vec<String> {
    let mut v = vec![
        python().to_string_lossy().into_owned(),
        peer("ipycam_device.py"),
        "--ip".into(),
        DEVICE_IP.into(),
        "--port".into(),
        "8080".into(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// Starts ipycam in the device namespace; returns it and its ONVIF port.
fn start_ipycam(extra: &[&str]) -> (Peer, u32, u16) {
    let (mut p, pid) = device_namespace(&ipycam_args(extra));
    let port: u16 = p.wait_for("READY").parse().unwrap();
    (p, pid, port)
}

fn creds(user: &str, pw: &str) -> Credentials {
    Credentials {
        username: user.into(),
        password: Secret::new(pw),
    }
}

fn opts() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        ..ClientOptions::default()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn run_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(python())
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", out.status);
    serde_json::from_slice(&out.stdout).unwrap()
}

const PASSWORD: &str = "pa$$ w<rd&";

/// Enrollment against ipycam with credentials (ipycam checks them even on
/// GetSystemDateAndTime, which ONVIF says must be open: the client must retry with them), and
/// the same questions asked by onvif-zeep must get the same answers.
#[test]
fn ipycam_enrollment_agrees_with_onvif_zeep() {
    if !in_netns("ipycam_enrollment_agrees_with_onvif_zeep") {
        return;
    }
    let (_cam, _pid, port) = start_ipycam(&["--user", "admin", "--password", PASSWORD]);
    let addr = format!("{DEVICE_IP}:{port}");
    let e = rt()
        .block_on(onvif::enroll(
            &addr,
            Some(creds("admin", PASSWORD)),
            &opts(),
        ))
        .unwrap();

    assert_eq!(e.device.manufacturer.as_deref(), Some("PythonCam"));
    assert_eq!(e.device.model.as_deref(), Some("VirtualCam-1"));
    assert_eq!(e.media.version, onvif::MediaVersion::Media1);
    assert_eq!(e.profiles.len(), 2);
    assert_eq!(e.main.profile.token, "Profile_Main");
    assert_eq!(
        e.main.profile.video.as_ref().unwrap().resolution,
        Some((1920, 1080))
    );
    assert_eq!(e.main.uri.as_str(), "rtsp://10.99.0.2:8554/video_main");
    let sub = e.sub.as_ref().unwrap();
    assert_eq!(sub.profile.token, "Profile_Sub");
    assert_eq!(sub.uri.as_str(), "rtsp://10.99.0.2:8554/video_sub");
    assert!(e.clock.offset_ms.abs() < 2_000, "{:?}", e.clock);
    assert!(
        e.notes
            .iter()
            .any(|n| n.contains("GetSystemDateAndTime requires credentials")),
        "{:?}",
        e.notes
    );
    assert!(format!("{e:?}").find(PASSWORD).is_none());
    let cfg = e.camera_config("partner-1", Some(creds("admin", PASSWORD)));
    assert_eq!(cfg.url, e.main.uri);

    // The independent client.
    let z = run_json(&[
        &peer("zeep_client.py"),
        DEVICE_IP,
        &port.to_string(),
        "admin",
        PASSWORD,
    ]);
    assert_eq!(z["manufacturer"], "PythonCam");
    assert_eq!(z["model"], e.device.model.as_deref().unwrap());
    assert_eq!(
        z["firmware_version"],
        e.device.firmware_version.as_deref().unwrap()
    );
    assert_eq!(
        z["serial_number"],
        e.device.serial_number.as_deref().unwrap()
    );
    assert_eq!(z["hardware_id"], e.device.hardware_id.as_deref().unwrap());
    let zp = z["profiles"].as_array().unwrap();
    assert_eq!(zp.len(), e.profiles.len());
    for (theirs, ours) in zp.iter().zip(&e.profiles) {
        assert_eq!(theirs["token"], ours.token.as_str());
        let (w, h) = ours.video.as_ref().unwrap().resolution.unwrap();
        assert_eq!(
            (theirs["width"].as_u64(), theirs["height"].as_u64()),
            (Some(w.into()), Some(h.into()))
        );
    }
    let uri_of = |token: &str| {
        zp.iter()
            .find(|p| p["token"] == token)
            .and_then(|p| p["stream_uri"].as_str())
            .unwrap()
            .to_owned()
    };
    assert_eq!(uri_of("Profile_Main"), e.main.uri.as_str());
    assert_eq!(uri_of("Profile_Sub"), sub.uri.as_str());
    assert_eq!(
        z["snapshot_uri"].as_str(),
        e.snapshot_uri.as_ref().map(|u| u.as_str())
    );
}

/// The camera's clock runs an hour ahead and it rejects tokens more than five minutes off its
/// clock (ipycam's WS-Security freshness check). The offset must be measured and used: tokens
/// dated by the server clock are refused, ours are accepted, and onvif-zeep (adjust_time)
/// measures the same offset.
#[test]
fn ipycam_skewed_clock_is_measured_and_used_for_tokens() {
    if !in_netns("ipycam_skewed_clock_is_measured_and_used_for_tokens") {
        return;
    }
    let (_cam, _pid, port) = start_ipycam(&[
        "--user",
        "op",
        "--password",
        "secret",
        "--clock-skew",
        "3600",
        "--preauth-datetime",
    ]);
    let addr = format!("{DEVICE_IP}:{port}");
    let rt = rt();

    // Without measuring the clock first, tokens are dated by the server: refused.
    let naive = OnvifClient::new(&addr, Some(creds("op", "secret")), &opts()).unwrap();
    let err = rt.block_on(naive.device_information()).unwrap_err();
    assert!(err.is_not_authorized(), "{err}");

    let client = OnvifClient::new(&addr, Some(creds("op", "secret")), &opts()).unwrap();
    let clock = rt.block_on(client.clock()).unwrap();
    assert!(
        (clock.offset_ms - 3_600_000).abs() < 2_500,
        "offset {} ms",
        clock.offset_ms
    );
    assert!(clock.quirks.is_empty(), "{:?}", clock.quirks);
    let info = rt.block_on(client.device_information()).unwrap();
    assert_eq!(info.manufacturer.as_deref(), Some("PythonCam"));

    let e = rt
        .block_on(onvif::enroll(&addr, Some(creds("op", "secret")), &opts()))
        .unwrap();
    assert!((e.clock.offset_ms - 3_600_000).abs() < 2_500);

    let z = run_json(&[
        &peer("zeep_client.py"),
        DEVICE_IP,
        &port.to_string(),
        "op",
        "secret",
    ]);
    let theirs = z["clock_offset_secs"].as_f64().unwrap();
    assert!(
        (theirs * 1000.0 - clock.offset_ms as f64).abs() < 2_500.0,
        "zeep {theirs} s, ours {} ms",
        clock.offset_ms
    );

    // Re-resolving the main stream (what the supervisor does after repeated RTSP failures).
    let r = rt
        .block_on(onvif::resolve_stream_uri(
            &e.main.locator,
            Some(creds("op", "secret")),
            &opts(),
        ))
        .unwrap();
    assert_eq!(r.uri, e.main.uri);
    assert_eq!(r.locator, e.main.locator);
}

#[test]
fn ipycam_wrong_password_is_not_authorized() {
    if !in_netns("ipycam_wrong_password_is_not_authorized") {
        return;
    }
    let (_cam, _pid, port) = start_ipycam(&["--user", "admin", "--password", "right"]);
    let err = rt()
        .block_on(onvif::enroll(
            &format!("{DEVICE_IP}:{port}"),
            Some(creds("admin", "wrong-horse-battery")),
            &opts(),
        ))
        .unwrap_err();
    assert!(err.is_not_authorized(), "{err}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("wrong-horse-battery"), "{shown}");
}

/// Multicast on the named interface finds both independent devices (ipycam and a WSDiscovery
/// publisher) with their scopes; WSDiscovery's own client finds the same endpoints.
#[test]
fn multicast_discovery_finds_ipycam_and_wsdiscovery_publisher() {
    if !in_netns("multicast_discovery_finds_ipycam_and_wsdiscovery_publisher") {
        return;
    }
    let (_cam, pid, port) = start_ipycam(&["--discovery", "--name", "PartnerCam-1"]);
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net=/proc/{pid}/ns/net"))
        .arg(python())
        .args([
            &peer("wsd_publisher.py"),
            "http://10.99.0.2:8081/onvif/device_service",
            "Corner%20Store",
            "Main%20St%20%26%205th",
            "WSD-1",
        ]);
    let mut publisher = Peer::spawn(cmd);
    publisher.wait_for("READY");

    let found = rt()
        .block_on(onvif::discovery::discover(
            "veth0",
            &DiscoveryOptions {
                wait: Duration::from_millis(2500),
                ..DiscoveryOptions::default()
            },
        ))
        .unwrap();
    let ipycam_xaddr = format!("http://{DEVICE_IP}:{port}/onvif/device_service");
    let cam = found
        .iter()
        .find(|d| d.xaddrs.contains(&ipycam_xaddr))
        .unwrap_or_else(|| panic!("ipycam not found in {found:#?}"));
    assert_eq!(cam.name.as_deref(), Some("PartnerCam-1"));
    assert!(cam.is_video_transmitter());
    assert_eq!(
        cam.from.unwrap().ip().to_string(),
        DEVICE_IP,
        "the answer crossed the veth"
    );
    let wsd = found
        .iter()
        .find(|d| d.xaddrs.iter().any(|x| x.contains(":8081/")))
        .unwrap_or_else(|| panic!("publisher not found in {found:#?}"));
    assert_eq!(wsd.name.as_deref(), Some("Corner Store"));
    assert_eq!(wsd.location.as_deref(), Some("Main St & 5th"));
    assert_eq!(wsd.hardware.as_deref(), Some("WSD-1"));
    assert!(wsd.is_video_transmitter());
    assert_eq!(found.len(), 2, "{found:#?}");

    // WSDiscovery's own client sees the publisher exactly as we do. It does not list ipycam:
    // ipycam's ProbeMatch lacks the ProbeMatches wrapper the schema requires, which we accept
    // (see probe_match_ipycam_no_wrapper.xml) and it does not.
    let theirs = run_json(&[&peer("wsd_probe.py"), "2"]);
    let theirs = theirs.as_array().unwrap();
    for t in theirs {
        let ep = t["endpoint"].as_str().unwrap();
        assert!(
            found.iter().any(|d| d.endpoint == ep),
            "{ep} found by WSDiscovery but not by us: {found:#?}"
        );
    }
    let t = theirs
        .iter()
        .find(|t| t["endpoint"] == wsd.endpoint.as_str())
        .unwrap_or_else(|| panic!("WSDiscovery did not find its own publisher: {theirs:?}"));
    assert_eq!(t["xaddrs"], serde_json::json!(wsd.xaddrs));
    // WSDiscovery hands scopes back half-decoded; compare fully decoded forms.
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut their_scopes: Vec<String> = t["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| decode(s.as_str().unwrap()))
        .collect();
    let mut our_scopes: Vec<String> = wsd.scopes.iter().map(|s| decode(s)).collect();
    their_scopes.sort();
    our_scopes.sort();
    assert_eq!(their_scopes, our_scopes);
}

#[test]
fn unicast_probe_reaches_one_device() {
    if !in_netns("unicast_probe_reaches_one_device") {
        return;
    }
    let (_cam, _pid, port) = start_ipycam(&["--discovery", "--name", "Uni"]);
    let found = rt()
        .block_on(onvif::discovery::probe_unicast(
            format!("{DEVICE_IP}:3702").parse().unwrap(),
            &DiscoveryOptions {
                wait: Duration::from_millis(1500),
                ..DiscoveryOptions::default()
            },
        ))
        .unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        found[0].xaddrs,
        [format!("http://{DEVICE_IP}:{port}/onvif/device_service")]
    );
    assert_eq!(found[0].name.as_deref(), Some("Uni"));
}

#[test]
fn discovery_needs_an_existing_interface() {
    if !in_netns("discovery_needs_an_existing_interface") {
        return;
    }
    let rt = rt();
    for bad in ["vmsnope0", "", "../etc", "a-very-long-interface-name"] {
        let err = rt
            .block_on(onvif::discovery::discover(
                bad,
                &DiscoveryOptions::default(),
            ))
            .unwrap_err();
        assert!(matches!(err, OnvifError::NoInterface(_)), "{bad}: {err}");
    }
    // `lo` exists but cannot carry multicast here: the probe cannot be sent, nothing answers.
    let r = rt.block_on(onvif::discovery::discover(
        "lo",
        &DiscoveryOptions {
            wait: Duration::from_millis(200),
            ..DiscoveryOptions::default()
        },
    ));
    match r {
        Ok(found) => assert!(found.is_empty()),
        Err(e) => assert!(matches!(e, OnvifError::Discovery(_)), "{e}"),
    }
}
