//! `cargo +nightly fuzz run mp4 --features libfuzzer`

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vms_fuzz::mp4(data));
