//! The reconnect wait (issue 21): a camera whose port was closed is probed with bare TCP
//! connects and reconnected as soon as it accepts again; one that accepts connections but
//! failed otherwise waits out its backoff. Real sockets on loopback.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use vms_ingest::destinations::Destinations;
use vms_ingest::session::wait_before_retry;

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_camera_that_comes_back_ends_the_wait_at_the_next_probe() {
    let port = closed_port();
    let started = Instant::now();
    let reopen = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap()
    });
    let back = wait_before_retry(
        Some(("127.0.0.1".into(), port)),
        Duration::from_secs(60),
        Duration::from_millis(100),
        &Destinations::unrestricted(),
    )
    .await;
    assert!(back, "the wait ended because the camera came back");
    // Not the 60 s backoff: the port opened at 0.6 s and is probed every 0.1 s.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(reopen.await.unwrap());
}

#[tokio::test]
async fn a_camera_that_accepts_connections_waits_out_its_backoff() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let started = Instant::now();
    let back = wait_before_retry(
        Some(("127.0.0.1".into(), port)),
        Duration::from_millis(400),
        Duration::from_millis(50),
        &Destinations::unrestricted(),
    )
    .await;
    assert!(!back);
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn without_a_probe_target_the_wait_is_the_backoff() {
    let started = Instant::now();
    let any = Destinations::unrestricted();
    assert!(
        !wait_before_retry(
            None,
            Duration::from_millis(200),
            Duration::from_millis(50),
            &any
        )
        .await
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
}

/// Issue 22 F3: the probe obeys the partner destination rules: a refused address is never
/// connected to, and the wait is the plain backoff.
#[tokio::test]
async fn probes_never_reach_a_refused_destination() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let back = wait_before_retry(
        Some(("127.0.0.1".into(), port)),
        Duration::from_millis(400),
        Duration::from_millis(50),
        &Destinations::default(),
    )
    .await;
    assert!(!back);
    let accepted = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
    assert!(accepted.is_err(), "the probe connected to loopback");
}
