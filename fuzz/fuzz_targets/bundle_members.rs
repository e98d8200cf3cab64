#![no_main]
// Structured: the input lists tar members, the harness frames them correctly, so the fuzzer works
// on tar headers, bundle.json, index.json and manifests.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let members = bundle_fuzz::decode_members(data);
    bundle_fuzz::check_bundle(&bundle_fuzz::build_bundle(&members));
});
