//! `cargo +nightly fuzz run reorder_depth --features libfuzzer`

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vms_fuzz::reorder_depth(data));
