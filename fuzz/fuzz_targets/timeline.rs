//! `cargo +nightly fuzz run timeline --features libfuzzer`

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vms_fuzz::timeline(data));
