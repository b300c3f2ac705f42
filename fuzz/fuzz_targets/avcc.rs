//! `cargo +nightly fuzz run avcc --features libfuzzer`

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vms_fuzz::avcc(data));
