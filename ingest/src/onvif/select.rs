//! Enrollment decisions, pure: which profiles to record and show, and how to repair the
//! addresses a device reports (service XAddrs and media URIs) before using them.
//!
//! Devices behind NAT or with a second interface report addresses we cannot reach (their
//! private IP, `0.0.0.0`, `localhost`), and some put credentials inside the RTSP URI. Every
//! repair is recorded as a note so an operator can see what was changed and why.

use std::net::IpAddr;

use url::Url;

use super::OnvifError;
use super::soap::{Profile, VideoCodec};

/// Default path of the device service (ONVIF Core 5.1.1).
pub const DEVICE_SERVICE_PATH: &str = "/onvif/device_service";

/// Turns what an operator types (`10.1.2.3`, `cam.example:8080`, `http://10.1.2.3/onvif/device_service`)
/// into the device service URL. Credentials inside the address are refused: they belong in the
/// credential store, not in URLs that end up in logs.
pub fn device_url(address: &str) -> Result<Url, OnvifError> {
    let a = address.trim();
    if a.is_empty() {
        return Err(OnvifError::BadAddress(String::new(), "empty".into()));
    }
    let with_scheme = if a.contains("://") {
        a.to_owned()
    } else {
        format!("http://{a}")
    };
    let mut url = Url::parse(&with_scheme)
        .map_err(|e| OnvifError::BadAddress(a.to_owned(), e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(OnvifError::BadAddress(
            "(address with credentials, not shown)".into(),
            "credentials must not be part of the address; pass them separately".into(),
        ));
    }
    match url.scheme() {
        "http" => {}
        other => return Err(OnvifError::UnsupportedScheme(other.to_owned())),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(OnvifError::BadAddress(a.to_owned(), "no host".into()));
    }
    if url.path() == "/" || url.path().is_empty() {
        url.set_path(DEVICE_SERVICE_PATH);
    }
    Ok(url)
}

/// The host as a comparable key. Non-special schemes such as `rtsp` keep IP hosts as opaque
/// names in the `url` crate, so IP literals are normalised here.
fn host_key(u: &Url) -> Option<String> {
    let h = u.host_str()?.trim_start_matches('[').trim_end_matches(']');
    Some(match h.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => h.to_ascii_lowercase(),
    })
}

fn is_unroutable(u: &Url) -> bool {
    match host_key(u) {
        None => true,
        Some(h) => match h.parse::<IpAddr>() {
            Ok(ip) => ip.is_unspecified() || ip.is_loopback(),
            Err(_) => h == "localhost",
        },
    }
}

fn same_host(a: &Url, b: &Url) -> bool {
    host_key(a).is_some() && host_key(a) == host_key(b)
}

/// A service address as the device reported it, repaired to point where we actually reached the
/// device. A different host in the XAddr (the camera's private address behind a NAT, or
/// `0.0.0.0`) is replaced by the host and port we used; the path is kept.
pub fn service_url(reported: &str, device: &Url, notes: &mut Vec<String>) -> Option<Url> {
    let mut url = match Url::parse(reported.trim()) {
        Ok(u) => u,
        Err(_) => {
            notes.push(format!("ignored unparseable service address {reported:?}"));
            return None;
        }
    };
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
        notes.push("removed credentials from a service address".into());
    }
    if url.scheme() == "https" {
        // No TLS client is built in; the device service answered over HTTP, so the same host
        // and port serve the other services too on every camera seen so far.
        notes.push(format!(
            "service {} is https; using http on the device address instead",
            url.path()
        ));
        let mut u = device.clone();
        u.set_path(url.path());
        return Some(u);
    }
    if !same_host(&url, device) {
        let mut u = device.clone();
        u.set_path(url.path());
        u.set_query(url.query());
        notes.push(format!(
            "service {} was reported at {}; using {} (the address that answered)",
            url.path(),
            url.host_str().unwrap_or("?"),
            device.host_str().unwrap_or("?")
        ));
        return Some(u);
    }
    Some(url)
}

/// A stream (or snapshot) URI from the device, made usable: credentials inside it are removed
/// (they come from the credential store), and an unroutable or foreign host is replaced by the
/// device's host. An RTSP port is kept (port forwards map it separately); an HTTP URI (the
/// snapshot) is served by the same web server as ONVIF, so it takes the device's port too.
/// `schemes` lists what the consumer speaks.
pub fn media_url(
    reported: &str,
    device: &Url,
    schemes: &[&str],
    notes: &mut Vec<String>,
) -> Result<Url, OnvifError> {
    let mut url = Url::parse(reported.trim()).map_err(|e| OnvifError::BadValue {
        field: "media URI",
        value: format!("{e}"),
    })?;
    if !schemes.contains(&url.scheme()) {
        return Err(OnvifError::UnsupportedScheme(url.scheme().to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
        notes.push(format!(
            "{} URI carried credentials; removed (the stored credentials are used)",
            url.scheme()
        ));
    }
    if !same_host(&url, device) {
        let unroutable = is_unroutable(&url);
        let from = url.host_str().unwrap_or("").to_owned();
        let to = device.host_str().unwrap_or("").to_owned();
        let set = match device.host() {
            Some(url::Host::Ipv4(ip)) => url.set_ip_host(IpAddr::V4(ip)).is_ok(),
            Some(url::Host::Ipv6(ip)) => url.set_ip_host(IpAddr::V6(ip)).is_ok(),
            Some(url::Host::Domain(d)) => url.set_host(Some(d)).is_ok(),
            None => false,
        };
        if set && url.scheme().starts_with("http") {
            let _ = url.set_port(device.port());
        }
        if set {
            notes.push(format!(
                "{} URI host {from}{} replaced by the device address {to}",
                url.scheme(),
                if unroutable { " (unroutable)" } else { "" }
            ));
        }
    }
    Ok(url)
}

/// Which profiles to use: the main one to record and an optional smaller one for live grids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub main: usize,
    pub sub: Option<usize>,
    pub notes: Vec<String>,
}

fn area(p: &Profile) -> u64 {
    p.video
        .as_ref()
        .and_then(|v| v.resolution)
        .map_or(0, |(w, h)| u64::from(w) * u64::from(h))
}

fn rank(p: &Profile) -> (u64, i64, u32) {
    let v = p.video.as_ref();
    (
        area(p),
        v.and_then(|v| v.fps).map_or(0, |f| (f * 1000.0) as i64),
        v.and_then(|v| v.bitrate_kbps).unwrap_or(0),
    )
}

/// Main: the highest-resolution H.264 profile (then frame rate, then bitrate; H.265 only if
/// there is no H.264 at all, since browsers' live view needs H.264). Sub: the smallest H.264
/// profile strictly smaller than the main one, preferring the main one's video source.
pub fn choose_profiles(profiles: &[Profile]) -> Result<Choice, OnvifError> {
    let usable = |codec: VideoCodec| {
        profiles.iter().enumerate().filter(move |(_, p)| {
            p.video
                .as_ref()
                .is_some_and(|v| v.codec == codec && v.resolution.is_some())
        })
    };
    let mut notes = Vec::new();
    let best = |codec| {
        usable(codec)
            .max_by(|(ia, a), (ib, b)| rank(a).cmp(&rank(b)).then(ib.cmp(ia)))
            .map(|(i, _)| i)
    };
    let main = match best(VideoCodec::H264) {
        Some(i) => i,
        None => {
            let i = best(VideoCodec::H265).ok_or(OnvifError::NoUsableProfile)?;
            notes.push("no H.264 profile; recording H.265 (live view may need transcoding)".into());
            i
        }
    };
    let main_p = &profiles[main];
    let main_area = area(main_p);
    let sub = usable(VideoCodec::H264)
        .filter(|(i, p)| *i != main && area(p) < main_area)
        .min_by_key(|(i, p)| {
            let other_source =
                main_p.video_source.is_some() && p.video_source != main_p.video_source;
            (other_source, area(p), *i)
        })
        .map(|(i, _)| i);
    Ok(Choice { main, sub, notes })
}
