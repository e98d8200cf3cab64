#![no_main]
use bundle::reference::Reference;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Reference::parse(text) {
        Ok(r) => {
            // The canonical form must parse back to the same reference: bundle.json stores it.
            let canonical = r.to_string();
            let again = Reference::parse(&canonical)
                .unwrap_or_else(|e| panic!("{text:?} -> {canonical:?} does not parse: {e}"));
            assert_eq!(r, again, "{text:?} -> {canonical:?}");
            let _ = (r.manifest_ref(), r.name(), r.tagged_name(), r.api_host());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
