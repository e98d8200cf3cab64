#![no_main]
use bundle::registry::auth::{parse_challenge, Challenge};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(Challenge::Bearer { realm, .. }) = parse_challenge(text) {
        // A Bearer challenge is only usable with a token service to ask.
        assert!(!realm.is_empty(), "{text:?} gave an empty realm");
        assert!(
            text.contains(realm.as_str()) || text.contains('\\'),
            "{text:?} -> {realm:?}"
        );
    }
});
