#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ttlmap_fuzz::ops::run(data));
