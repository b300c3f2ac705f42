//! A stand-in ONVIF device on 127.0.0.1 that answers SOAP calls with responses captured from
//! real cameras (`ingest/testdata/onvif`: a Milesight camera behind NAT, Media2, an H.265 main
//! profile, a clock 8 hours off).

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One captured response. Found beside this crate's sources as they were when it was built,
/// or — when that checkout is gone (a build shared with another clone) — beside the running
/// test's package, which cargo names at run time.
pub fn capture(name: &str) -> String {
    let rel = std::path::Path::new("../ingest/testdata/onvif").join(name);
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(&rel);
    let path = match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(running) if !built.exists() => std::path::PathBuf::from(running).join(&rel),
        _ => built,
    };
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Serves the device until the runtime ends; returns its port. `stream`, when given, replaces
/// the stream URI the device reports for every profile (e.g. a simulated camera's, so that
/// what is enrolled can be recorded).
pub async fn stand_in_device(stream: Option<String>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let stream = stream.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 8192];
                loop {
                    let n = s.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    let text = String::from_utf8_lossy(&buf);
                    let Some(head_end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let len = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() < head_end + 4 + len {
                        continue;
                    }
                    let body = &text[head_end + 4..];
                    let answer = answer(body, stream.as_deref());
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                    return;
                }
            });
        }
    });
    port
}

fn answer(body: &str, stream: Option<&str>) -> String {
    if body.contains("GetSystemDateAndTime") {
        capture("gsdt_hikvision_cst8.xml")
    } else if body.contains("GetDeviceInformation") {
        capture("device_info_milesight.xml")
    } else if body.contains("GetServices") {
        capture("services_media2_nat.xml")
    } else if body.contains("GetProfiles") {
        capture("profiles_media2_h265_main.xml")
    } else if body.contains("GetStreamUri") {
        let token = body
            .split("ProfileToken>")
            .nth(1)
            .unwrap_or("")
            .split('<')
            .next()
            .unwrap_or("")
            .to_owned();
        let xml = capture("stream_uri_media2.xml");
        match stream {
            Some(uri) => xml.replace("rtsp://0.0.0.0:8554/live/{{PROFILE}}", uri),
            None => xml.replace("{{PROFILE}}", &token),
        }
    } else if body.contains("GetSnapshotUri") {
        capture("snapshot_uri_media2.xml")
    } else {
        String::new()
    }
}

/// A WS-Discovery responder on 127.0.0.1 (UDP): answers every probe with the captured
/// `ProbeMatches` of a camera named "Corner Store Cam" at 192.168.1.87:2000, relating it to the
/// probe's message id. Returns its port; runs until the runtime ends.
pub async fn discovery_responder() -> u16 {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let probe = String::from_utf8_lossy(&buf[..n]).into_owned();
            let id = probe
                .split("MessageID>")
                .nth(1)
                .and_then(|s| s.split('<').next())
                .unwrap_or_default()
                .to_owned();
            let answer = capture("probe_matches_standard.xml")
                .replace("urn:uuid:00000000-1111-4222-8333-444444444444", &id);
            let _ = sock.send_to(answer.as_bytes(), from).await;
        }
    });
    port
}
