//! `cargo +nightly fuzz run range --features libfuzzer`

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vms_fuzz::range(data));
