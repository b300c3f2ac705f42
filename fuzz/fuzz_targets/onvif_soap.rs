//! Fuzzes every ONVIF parser that reads bytes from the network — SOAP responses (device,
//! media, time, faults) and WS-Discovery datagrams — and checks what they return. "Panic means
//! bug; never panic on input." Seed corpus: `ingest/testdata/onvif/*.xml`.
//!
//! `cargo +nightly fuzz run onvif_soap -- -max_len=65536 ../ingest/testdata/onvif`

#![no_main]

use libfuzzer_sys::fuzz_target;
use vms_ingest::onvif::{clock, discovery, select, soap};

fuzz_target!(|data: &[u8]| {
    if let Ok(dt) = soap::parse_system_date_time(data) {
        if let Ok(c) = clock::clock_offset(&dt, 1_700_000_000_000, 1_700_000_000_100) {
            assert!(c.uncertainty_ms >= 500);
            let offsets = c.token_offsets();
            assert_eq!(offsets[0], c.offset_ms);
        }
    }
    if let Ok(p) = soap::parse_profiles(data) {
        assert!(p.iter().all(|p| !p.token.is_empty()));
        if let Ok(choice) = select::choose_profiles(&p) {
            assert!(choice.main < p.len());
            if let Some(s) = choice.sub {
                assert!(s < p.len() && s != choice.main);
            }
        }
    }
    if let Ok(m) = soap::parse_media_uri(data) {
        assert!(!m.uri.is_empty());
        if let Ok(device) = select::device_url("192.0.2.10:8080") {
            let mut notes = Vec::new();
            if let Ok(u) = select::media_url(&m.uri, &device, &["rtsp", "http"], &mut notes) {
                assert!(u.username().is_empty() && u.password().is_none());
            }
        }
    }
    let _ = soap::parse_device_information(data);
    let _ = soap::parse_services(data);
    let _ = soap::parse_capabilities(data);
    let _ = soap::parse_fault(data);
    if let Ok(r) = discovery::parse_probe_matches(data) {
        assert!(
            r.matches
                .iter()
                .all(|d| !d.endpoint.is_empty() || !d.xaddrs.is_empty())
        );
    }
});
