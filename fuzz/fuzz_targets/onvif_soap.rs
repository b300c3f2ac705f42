//! `cargo +nightly fuzz run onvif_soap --features libfuzzer -- -max_len=65536 ingest/testdata/onvif`

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vms_fuzz::onvif_soap(data));
