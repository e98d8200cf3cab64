#![no_main]
// Raw bytes as a bundle file: the header, the seek index frame and its trailer, then everything
// the streaming verifier reads.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| bundle_fuzz::check_bundle(data));
