//! Unit tests of the pure ONVIF parts against captured vendor responses
//! (`ingest/testdata/onvif/`, each file says where it comes from), plus a deterministic
//! random/truncated-input run over every parser so CI exercises the "never panic" rule that
//! the cargo-fuzz target (`fuzz/`) explores further.

#![allow(clippy::unwrap_used)]

use super::clock::{ClockQuirk, ClockSource, clock_offset};
use super::discovery::{parse_probe_matches, probe_message};
use super::select::{choose_profiles, device_url, media_url, service_url};
use super::soap::*;
use super::*;

macro_rules! capture {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/onvif/",
            $name
        ))
        .as_slice()
    };
}

fn unix(y: i16, mo: i8, d: i8, h: i8, mi: i8, s: i8) -> i64 {
    jiff::civil::DateTime::new(y, mo, d, h, mi, s, 0)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_second()
}

// ---- WS-Security ----

/// The worked example of ONVIF's Application Programmer's Guide (section 6.1.1.3): nonce
/// `LKqI6G/AikKCQrN0zqZFlg==`, created `2010-09-16T07:50:45Z`, password `userpassword`.
#[test]
fn password_digest_matches_onvif_programmers_guide_example() {
    use base64::Engine as _;
    let nonce = base64::engine::general_purpose::STANDARD
        .decode("LKqI6G/AikKCQrN0zqZFlg==")
        .unwrap();
    assert_eq!(
        password_digest(&nonce, "2010-09-16T07:50:45Z", "userpassword"),
        "tuOSpGlFlIXsozq4HFNeeGeFLEI="
    );
}

#[test]
fn token_created_is_on_the_given_clock() {
    let t = UsernameToken::new("u", "p", &[0u8; 16], unix(2010, 9, 16, 7, 50, 45));
    assert_eq!(t.created, "2010-09-16T07:50:45Z");
    assert_eq!(t.nonce_b64, "AAAAAAAAAAAAAAAAAAAAAA==");
}

#[test]
fn envelope_carries_digest_not_password_and_escapes_tokens() {
    let t = UsernameToken::new("ad<min", "s3cret-password", &[7u8; 16], 1_700_000_000);
    let req = Request::GetStreamUri(MediaVersion::Media1, "prof&1<x>");
    let env = envelope(&req, Some(&t));
    assert!(!env.contains("s3cret-password"), "{env}");
    assert!(env.contains(&t.digest));
    assert!(env.contains("ad&lt;min"));
    assert!(env.contains("prof&amp;1&lt;x&gt;"));
    // It is well-formed XML our own parser reads back, namespace-resolved.
    let root = xml::parse(env.as_bytes()).unwrap();
    assert!(root.is(NS_SOAP12, "Envelope"));
    let sec = root.path(&["Header", "Security"]).unwrap();
    assert_eq!(sec.ns.as_deref(), Some(NS_WSSE));
    assert_eq!(
        sec.path(&["UsernameToken", "Created"])
            .unwrap()
            .ns
            .as_deref(),
        Some(NS_WSU)
    );
    let body = root.path(&["Body", "GetStreamUri"]).unwrap();
    assert_eq!(body.ns.as_deref(), Some(NS_MEDIA));
    assert_eq!(body.text_at(&["ProfileToken"]), Some("prof&1<x>"));
    let proto = body
        .path(&["StreamSetup", "Transport", "Protocol"])
        .unwrap();
    assert_eq!(proto.ns.as_deref(), Some(NS_SCHEMA));
    assert_eq!(
        req.action(),
        "http://www.onvif.org/ver10/media/wsdl/GetStreamUri"
    );
}

// ---- GetSystemDateAndTime and the clock ----

/// Axis capture: TZ BRT3 (UTC−3, no DST rules) while DaylightSavings says true.
#[test]
fn axis_brt3_dst_flag_contradicts_tz() {
    let dt = parse_system_date_time(capture!("gsdt_axis_brt3_dst_flag.xml")).unwrap();
    assert_eq!(dt.tz.as_deref(), Some("BRT3"));
    assert_eq!(dt.daylight_savings, Some(true));
    let cam = unix(2024, 7, 9, 19, 49, 6);
    // Server 10 s behind the camera, 200 ms round trip.
    let sent = (cam - 10) * 1000;
    let c = clock_offset(&dt, sent, sent + 200).unwrap();
    assert_eq!(c.source, ClockSource::Utc);
    assert_eq!(c.camera_unix_secs, cam);
    assert_eq!(c.offset_ms, 10_000 + 500 - 100);
    assert_eq!(c.uncertainty_ms, 600);
    assert_eq!(c.camera_utc_offset_secs, Some(-3 * 3600));
    assert_eq!(
        c.quirks,
        vec![ClockQuirk::DstFlagDisagrees {
            flag: true,
            tz_says: false
        }]
    );
    assert!(c.fallback_offsets_ms.is_empty());
}

/// Hikvision-style POSIX TZ "CST-8:00:00" means UTC+8; UTC and local agree: no quirk.
#[test]
fn hikvision_posix_tz_with_inverted_sign_is_understood() {
    let dt = parse_system_date_time(capture!("gsdt_hikvision_cst8.xml")).unwrap();
    let cam = unix(2025, 3, 1, 2, 15, 30);
    let c = clock_offset(&dt, cam * 1000, cam * 1000).unwrap();
    assert_eq!(c.offset_ms, 500);
    assert_eq!(c.camera_utc_offset_secs, Some(8 * 3600));
    assert!(c.quirks.is_empty(), "{:?}", c.quirks);
    assert_eq!(c.token_offsets(), vec![500]);
}

/// A camera whose "UTC" field holds local time: the TZ-corrected offset is offered as the
/// first fallback for dating tokens.
#[test]
fn utc_field_holding_local_time_is_flagged_with_fallbacks() {
    let dt = parse_system_date_time(capture!("gsdt_utc_is_local.xml")).unwrap();
    let field = unix(2025, 6, 10, 18, 0, 0);
    // The server's true UTC is 10:00: the camera is right, it just mislabels local time.
    let server = (field - 8 * 3600) * 1000;
    let c = clock_offset(&dt, server, server).unwrap();
    assert_eq!(c.offset_ms, 8 * 3600 * 1000 + 500);
    assert_eq!(
        c.quirks,
        vec![ClockQuirk::UtcLooksLikeLocal {
            tz_offset_secs: 8 * 3600
        }]
    );
    assert_eq!(c.fallback_offsets_ms[0], 500);
    // 0 (the server clock) is within 2 s of the 500 ms fallback, so it is not tried twice.
    assert_eq!(
        c.token_offsets(),
        vec![8 * 3600 * 1000 + 500, 500, 16 * 3600 * 1000 + 500]
    );
}

/// Local time only, POSIX TZ with DST rules: 08:30 EDT is 12:30 UTC.
#[test]
fn local_time_only_is_converted_with_posix_dst_rules() {
    let dt = parse_system_date_time(capture!("gsdt_local_only_posix_dst.xml")).unwrap();
    assert!(dt.utc.is_none());
    let c = clock_offset(&dt, 0, 0).unwrap();
    assert_eq!(c.source, ClockSource::LocalWithTz);
    assert_eq!(c.camera_unix_secs, unix(2024, 7, 4, 12, 30, 0));
    assert_eq!(c.quirks, vec![ClockQuirk::LocalTimeOnly]);
}

/// Clock reset to 1970 and a garbage UTC field: the bad field is reported, local time is used,
/// and the reset is flagged.
#[test]
fn reset_clock_and_bad_utc_field_are_reported() {
    let dt = parse_system_date_time(capture!("gsdt_clock_reset_bad_utc.xml")).unwrap();
    assert!(dt.utc.is_none());
    assert_eq!(dt.problems.len(), 1, "{:?}", dt.problems);
    let now = 1_750_000_000_000;
    let c = clock_offset(&dt, now, now).unwrap();
    assert_eq!(c.source, ClockSource::LocalWithTz);
    assert!(c.offset_ms < -50 * 365 * 86_400 * 1000);
    assert!(
        c.quirks
            .iter()
            .any(|q| matches!(q, ClockQuirk::ClockNotSet { year: 1970 }))
    );
    assert!(
        c.quirks
            .iter()
            .any(|q| matches!(q, ClockQuirk::BadField(_)))
    );
    assert!(c.quirks.contains(&ClockQuirk::LocalTimeOnly));
}

#[test]
fn unparseable_tz_and_no_time_at_all() {
    let dt = SystemDateTime {
        tz: Some("Mars/Olympus_Mons".into()),
        local: Some(CivilTime {
            year: 2025,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 60,
        }),
        ..SystemDateTime::default()
    };
    let c = clock_offset(&dt, 0, 0).unwrap();
    assert_eq!(c.source, ClockSource::LocalAssumedUtc);
    assert_eq!(c.camera_unix_secs, unix(2025, 1, 1, 0, 0, 59));
    assert!(
        c.quirks
            .contains(&ClockQuirk::TzUnparseable("Mars/Olympus_Mons".into()))
    );
    let empty = SystemDateTime::default();
    assert!(matches!(
        clock_offset(&empty, 0, 0),
        Err(OnvifError::Missing(_))
    ));
    // 31 February passes the parser's range check but not the calendar.
    let feb = SystemDateTime {
        utc: Some(CivilTime {
            year: 2025,
            month: 2,
            day: 31,
            hour: 0,
            minute: 0,
            second: 0,
        }),
        ..SystemDateTime::default()
    };
    assert!(matches!(
        clock_offset(&feb, 0, 0),
        Err(OnvifError::BadValue { .. })
    ));
}

// ---- device information ----

#[test]
fn milesight_device_information_with_gsoap_prefixes() {
    let d = parse_device_information(capture!("device_info_milesight.xml")).unwrap();
    assert_eq!(
        d.manufacturer.as_deref(),
        Some("Milesight Technology Co.,Ltd.")
    );
    assert_eq!(d.model.as_deref(), Some("MS-C8165-PE"));
    assert_eq!(d.firmware_version.as_deref(), Some("61.8.0.3-r8"));
    assert_eq!(d.hardware_id.as_deref(), Some("V1.0"));
}

#[test]
fn device_information_missing_optional_fields_and_no_prefixes() {
    let d = parse_device_information(capture!("device_info_missing_fields.xml")).unwrap();
    assert_eq!(d.manufacturer.as_deref(), Some("Acme & Sons"));
    assert_eq!(d.model.as_deref(), Some("IPC-1080"));
    assert_eq!(d.firmware_version, None);
    assert_eq!(d.serial_number, None);
    assert_eq!(d.hardware_id, None);
}

// ---- faults ----

#[test]
fn not_authorized_fault_is_recognised_by_namespace() {
    let e = parse_device_information(capture!("fault_not_authorized.xml")).unwrap_err();
    let OnvifError::Fault(f) = e else {
        panic!("{e:?}")
    };
    assert!(f.code.as_ref().unwrap().is(NS_SOAP12, "Sender"));
    assert_eq!(
        f.subcodes,
        vec![QValue {
            ns: Some(NS_ERROR.into()),
            local: "NotAuthorized".into()
        }]
    );
    assert!(f.is_not_authorized());
    assert_eq!(f.to_string(), "Sender/NotAuthorized: Sender not Authorized");
    assert_eq!(parse_fault(capture!("fault_not_authorized.xml")), Some(f));
}

/// "env:Sender" with `env` never declared; nested subcodes.
#[test]
fn fault_with_undeclared_prefix_and_nested_subcodes() {
    let e = parse_media_uri(capture!("fault_no_profile_unbound_prefix.xml")).unwrap_err();
    let OnvifError::Fault(f) = e else {
        panic!("{e:?}")
    };
    assert_eq!(f.code.as_ref().unwrap().local, "Sender");
    assert_eq!(f.code.as_ref().unwrap().ns, None);
    assert_eq!(f.subcodes.len(), 2);
    assert!(f.subcodes[1].is(NS_ERROR, "NoProfile"));
    assert!(f.is_no_profile());
    assert!(!f.is_not_authorized());
    assert_eq!(f.reason, "Argument Value Invalid");
}

#[test]
fn soap11_fault_with_unusual_prefix() {
    let e = parse_services(capture!("fault_soap11_not_supported.xml")).unwrap_err();
    let OnvifError::Fault(f) = e else {
        panic!("{e:?}")
    };
    assert!(f.code.as_ref().unwrap().is(NS_ERROR, "ActionNotSupported"));
    assert!(f.is_not_supported());
    assert_eq!(f.reason, "Optional Action Not Implemented");
}

/// A camera with ONVIF switched off answers its login page with status 200.
#[test]
fn html_login_page_is_not_soap() {
    let page = capture!("not_soap_login_page.html");
    let e = parse_device_information(page).unwrap_err();
    assert!(matches!(e, OnvifError::Xml { .. }), "{e:?}");
    assert_eq!(parse_fault(page), None);
    let e = interpret(
        200,
        &bytes::Bytes::from_static(page),
        "GetDeviceInformation",
        parse_device_information,
    )
    .unwrap_err();
    assert!(e.to_string().contains("HTML page"), "{e}");
}

// ---- services ----

#[test]
fn services_with_generic_prefixes_behind_nat_are_rewritten() {
    let s = parse_services(capture!("services_media2_nat.xml")).unwrap();
    assert_eq!(
        s.media2.as_deref(),
        Some("http://192.168.1.64/onvif/Media2")
    );
    assert_eq!(s.media.as_deref(), Some("http://192.168.1.64/onvif/Media"));
    let device = device_url("203.0.113.7:8080").unwrap();
    let mut notes = Vec::new();
    let u = service_url(s.media2.as_deref().unwrap(), &device, &mut notes).unwrap();
    assert_eq!(u.as_str(), "http://203.0.113.7:8080/onvif/Media2");
    assert_eq!(notes.len(), 1, "{notes:?}");
    // Same host, other port: kept as reported.
    let mut notes = Vec::new();
    let same = service_url("http://203.0.113.7:8999/media", &device, &mut notes).unwrap();
    assert_eq!(same.as_str(), "http://203.0.113.7:8999/media");
    assert!(notes.is_empty());
}

#[test]
fn capabilities_of_an_onvif1_device() {
    let xml =
        String::from_utf8_lossy(capture!("capabilities_media1.xml")).replace("{{PORT}}", "81");
    let s = parse_capabilities(xml.as_bytes()).unwrap();
    assert_eq!(s.media.as_deref(), Some("http://127.0.0.1:81/onvif/media"));
    assert_eq!(s.media2, None);
}

// ---- profiles and their choice ----

#[test]
fn hikvision_media1_profiles_choose_main_and_sub() {
    let p = parse_profiles(capture!("profiles_media1_hikvision.xml")).unwrap();
    assert_eq!(p.len(), 3);
    assert!(p.iter().all(|p| p.media == MediaVersion::Media1));
    let v = p[0].video.as_ref().unwrap();
    assert_eq!(v.codec, VideoCodec::H264);
    assert_eq!(v.resolution, Some((2560, 1440)));
    assert_eq!(v.fps, Some(25.0));
    assert_eq!(v.bitrate_kbps, Some(4096));
    assert_eq!(p[0].video_source.as_deref(), Some("VideoSource_1"));
    assert_eq!(p[2].video.as_ref().unwrap().codec, VideoCodec::Jpeg);
    let c = choose_profiles(&p).unwrap();
    assert_eq!((c.main, c.sub), (0, Some(1)));
}

/// H.265 4K main: the highest-resolution *H.264* profile is recorded, the smallest is the sub.
#[test]
fn media2_profiles_prefer_h264_for_main() {
    let p = parse_profiles(capture!("profiles_media2_h265_main.xml")).unwrap();
    assert_eq!(p.len(), 4);
    assert!(p.iter().all(|p| p.media == MediaVersion::Media2));
    assert_eq!(p[0].name.as_deref(), Some("Main 4K"));
    assert_eq!(p[1].name.as_deref(), Some("Main 1080p"));
    assert_eq!(p[0].video.as_ref().unwrap().codec, VideoCodec::H265);
    assert!(p[3].video.is_none());
    let c = choose_profiles(&p).unwrap();
    assert_eq!(p[c.main].token, "prof_1080");
    assert_eq!(p[c.sub.unwrap()].token, "prof_sub");
}

#[test]
fn media2_mime_encodings_missing_token_and_resolution() {
    let p = parse_profiles(capture!("profiles_media2_mime_quirks.xml")).unwrap();
    let tokens: Vec<&str> = p.iter().map(|p| p.token.as_str()).collect();
    assert_eq!(tokens, ["a", "b", "c"], "the token-less profile is skipped");
    assert_eq!(p[0].video.as_ref().unwrap().codec, VideoCodec::H265);
    assert_eq!(p[1].video.as_ref().unwrap().codec, VideoCodec::H264);
    assert_eq!(p[1].video.as_ref().unwrap().fps, None);
    assert_eq!(p[2].video.as_ref().unwrap().resolution, None);
    let c = choose_profiles(&p).unwrap();
    assert_eq!(p[c.main].token, "b");
    assert_eq!(c.sub, None);
}

#[test]
fn h265_only_device_records_h265_and_no_video_is_an_error() {
    let only_h265: Vec<Profile> = parse_profiles(capture!("profiles_media2_h265_main.xml"))
        .unwrap()
        .into_iter()
        .filter(|p| {
            p.video
                .as_ref()
                .is_some_and(|v| v.codec != VideoCodec::H264)
        })
        .collect();
    let c = choose_profiles(&only_h265).unwrap();
    assert_eq!(only_h265[c.main].token, "prof_4k");
    assert_eq!(c.notes.len(), 1);
    assert!(matches!(
        choose_profiles(&[]),
        Err(OnvifError::NoUsableProfile)
    ));
}

// ---- stream and snapshot URIs ----

#[test]
fn stream_uri_credentials_removed_and_nat_host_replaced() {
    let m = parse_media_uri(capture!("stream_uri_media1_credentials.xml")).unwrap();
    assert!(m.invalid_after_reboot);
    assert!(!m.invalid_after_connect);
    let device = device_url("203.0.113.7").unwrap();
    let mut notes = Vec::new();
    let u = media_url(&m.uri, &device, &["rtsp"], &mut notes).unwrap();
    assert_eq!(
        u.as_str(),
        "rtsp://203.0.113.7:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1"
    );
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes.iter().all(|n| !n.contains("hunter2")), "{notes:?}");
}

#[test]
fn media2_stream_uri_with_unspecified_host() {
    let xml =
        String::from_utf8_lossy(capture!("stream_uri_media2.xml")).replace("{{PROFILE}}", "p1");
    let m = parse_media_uri(xml.as_bytes()).unwrap();
    assert_eq!(m.uri, "rtsp://0.0.0.0:8554/live/p1");
    let device = device_url("http://127.0.0.1:9000/onvif/device_service").unwrap();
    let mut notes = Vec::new();
    let u = media_url(&m.uri, &device, &["rtsp"], &mut notes).unwrap();
    assert_eq!(u.as_str(), "rtsp://127.0.0.1:8554/live/p1");
    assert!(notes[0].contains("unroutable"), "{notes:?}");
    assert!(matches!(
        media_url("http://x/y", &device, &["rtsp"], &mut notes),
        Err(OnvifError::UnsupportedScheme(_))
    ));
    let snap = parse_media_uri(capture!("snapshot_uri_media2.xml")).unwrap();
    assert_eq!(
        snap.uri,
        "http://192.168.1.64/onvif/snapshot?token=prof_1080"
    );
}

#[test]
fn device_addresses() {
    assert_eq!(
        device_url("10.1.2.3").unwrap().as_str(),
        "http://10.1.2.3/onvif/device_service"
    );
    assert_eq!(
        device_url("cam.example:8080").unwrap().as_str(),
        "http://cam.example:8080/onvif/device_service"
    );
    assert_eq!(
        device_url("http://10.1.2.3/custom/path").unwrap().as_str(),
        "http://10.1.2.3/custom/path"
    );
    let e = device_url("http://admin:pw@10.1.2.3/").unwrap_err();
    assert!(!e.to_string().contains("pw@"), "{e}");
    assert!(matches!(
        device_url("https://10.1.2.3"),
        Err(OnvifError::UnsupportedScheme(_))
    ));
    assert!(device_url("").is_err());
    assert!(device_url("http://").is_err());
}

// ---- WS-Discovery ----

#[test]
fn standard_probe_matches_with_encoded_scopes_and_two_xaddrs() {
    let r = parse_probe_matches(capture!("probe_matches_standard.xml")).unwrap();
    assert_eq!(
        r.relates_to.as_deref(),
        Some("urn:uuid:00000000-1111-4222-8333-444444444444")
    );
    assert_eq!(r.matches.len(), 1);
    let d = &r.matches[0];
    assert_eq!(d.endpoint, "urn:uuid:00110300-6afb-8301-ac36-001103006afb");
    assert_eq!(d.xaddrs.len(), 2);
    assert_eq!(d.name.as_deref(), Some("Corner Store Cam"));
    assert_eq!(d.location.as_deref(), Some("Main St & 5th"));
    assert_eq!(d.hardware.as_deref(), Some("HW0100302"));
    assert_eq!(d.metadata_version, Some(10));
    assert!(d.is_video_transmitter());
    assert!(d.types[1].is(NS_DEVICE, "Device"));
}

#[test]
fn ipycam_probe_match_without_wrapper() {
    let r = parse_probe_matches(capture!("probe_match_ipycam_no_wrapper.xml")).unwrap();
    assert_eq!(r.matches.len(), 1);
    let d = &r.matches[0];
    assert_eq!(d.xaddrs, ["http://10.99.0.2:8080/onvif/device_service"]);
    // An unencoded space splits the scope: the name is cut, as any client would read it.
    assert_eq!(d.name.as_deref(), Some("Virtual"));
    assert!(d.is_video_transmitter());
}

#[test]
fn ws_discovery_1_1_namespace_and_default_namespace_types() {
    let r = parse_probe_matches(capture!("probe_matches_wsdd11.xml")).unwrap();
    let d = &r.matches[0];
    assert_eq!(d.endpoint, "urn:uuid:camera-1");
    assert!(d.is_video_transmitter(), "{:?}", d.types);
    assert_eq!(d.name.as_deref(), Some("Tapo_C210"));
}

#[test]
fn our_probe_is_a_probe_and_not_a_match() {
    let id = discovery::new_message_id();
    assert!(id.starts_with("urn:uuid:") && id.len() == 45, "{id}");
    let p = probe_message(&id);
    let root = xml::parse(p.as_bytes()).unwrap();
    let probe = root.path(&["Body", "Probe"]).unwrap();
    assert_eq!(
        probe.ns.as_deref(),
        Some("http://schemas.xmlsoap.org/ws/2005/04/discovery")
    );
    assert!(probe.child("Types").unwrap().qnames[0].is(
        "http://www.onvif.org/ver10/network/wsdl",
        "NetworkVideoTransmitter"
    ));
    assert!(
        parse_probe_matches(p.as_bytes())
            .unwrap()
            .matches
            .is_empty()
    );
}

// ---- hostile input ----

#[test]
fn malformed_and_hostile_xml_gives_clear_errors() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "empty"),
        (b"<a>", "ends inside"),
        (b"<a></b>", ""),
        (b"<a>x</a><b/>", "after the root"),
        (b"\xff\xfe<a/>", "UTF-8"),
        (
            b"<!DOCTYPE x [<!ENTITY e \"boom\">]><a>&e;</a>",
            "document type",
        ),
        (b"<a>&nope;</a>", ""),
        (b"<a x='1' x='2'/>", ""),
    ];
    for (input, needle) in cases {
        let e = xml::parse(input).unwrap_err();
        assert!(matches!(e, OnvifError::Xml { .. }), "{e:?}");
        assert!(e.to_string().contains(needle), "{e} lacks {needle:?}");
    }
    // Deep nesting is refused before it can exhaust the stack.
    let deep = "<a>".repeat(100_000);
    let e = xml::parse(deep.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("nested deeper"), "{e}");
    // So is an element flood.
    let wide = format!("<a>{}</a>", "<b/>".repeat(200_000));
    let e = xml::parse(wide.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("more than"), "{e}");
}

/// Every parser the network feeds, as the fuzz target drives them.
pub(crate) fn feed_all_parsers(input: &[u8]) {
    let _ = parse_system_date_time(input).map(|dt| clock_offset(&dt, 0, 1));
    let _ = parse_device_information(input);
    let _ = parse_services(input);
    let _ = parse_capabilities(input);
    let _ = parse_profiles(input).map(|p| choose_profiles(&p));
    let _ = parse_media_uri(input);
    let _ = parse_fault(input);
    let _ = parse_probe_matches(input);
}

#[test]
fn parsers_survive_truncated_and_mutated_captures() {
    let captures: &[&[u8]] = &[
        capture!("gsdt_axis_brt3_dst_flag.xml"),
        capture!("gsdt_hikvision_cst8.xml"),
        capture!("gsdt_utc_is_local.xml"),
        capture!("gsdt_local_only_posix_dst.xml"),
        capture!("gsdt_clock_reset_bad_utc.xml"),
        capture!("device_info_milesight.xml"),
        capture!("device_info_missing_fields.xml"),
        capture!("fault_not_authorized.xml"),
        capture!("fault_no_profile_unbound_prefix.xml"),
        capture!("fault_soap11_not_supported.xml"),
        capture!("services_media2_nat.xml"),
        capture!("capabilities_media1.xml"),
        capture!("profiles_media1_hikvision.xml"),
        capture!("profiles_media2_h265_main.xml"),
        capture!("profiles_media2_mime_quirks.xml"),
        capture!("stream_uri_media1_credentials.xml"),
        capture!("stream_uri_media2.xml"),
        capture!("probe_matches_standard.xml"),
        capture!("probe_match_ipycam_no_wrapper.xml"),
        capture!("probe_matches_wsdd11.xml"),
    ];
    let mut rng = vms_testkit::Rng::new(0x5EED_0000_0000_0007);
    let interesting = b"<>/&;:=\"' \x00\xff\xc3xmlns:";
    for cap in captures {
        // Every truncation point in the first 600 bytes, then every 7th.
        let mut cut = 0;
        while cut < cap.len() {
            feed_all_parsers(&cap[..cut]);
            cut += if cut < 600 { 1 } else { 7 };
        }
        for _ in 0..150 {
            let mut m = cap.to_vec();
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(m.len());
                match rng.below(4) {
                    0 => m[i] = interesting[rng.below(interesting.len())],
                    1 => m[i] = rng.next_u64() as u8,
                    2 => {
                        m.remove(i);
                    }
                    _ => {
                        let j = rng.below(m.len());
                        let (a, b) = (i.min(j), i.max(j));
                        let chunk = m[a..b.min(a + 64)].to_vec();
                        m.splice(i..i, chunk);
                    }
                }
            }
            feed_all_parsers(&m);
        }
    }
    for _ in 0..2000 {
        let len = rng.below(300);
        let junk: Vec<u8> = (0..len)
            .map(|_| interesting[rng.below(interesting.len())])
            .collect();
        feed_all_parsers(&junk);
    }
}

/// The supervisor and the web API spawn these on the multi-threaded runtime.
#[test]
fn driver_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let opts = ClientOptions::default();
    let f = enroll("127.0.0.1", None, &opts);
    assert_send(&f);
    let loc = StreamLocator {
        device_url: device_url("127.0.0.1").unwrap(),
        media: MediaVersion::Media1,
        profile_token: "t".into(),
        profile_name: None,
        role: StreamRole::Main,
    };
    let g = resolve_stream_uri(&loc, None, &opts);
    assert_send(&g);
    let d = discovery::DiscoveryOptions::default();
    let h = discovery::discover("lo", &d);
    assert_send(&h);
    let u = discovery::probe_unicast("127.0.0.1:3702".parse().unwrap(), &d);
    assert_send(&u);
}
