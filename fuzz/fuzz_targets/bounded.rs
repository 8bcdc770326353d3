#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ttlmap_fuzz::bounded::run(data));
