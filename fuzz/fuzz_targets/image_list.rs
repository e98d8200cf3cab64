#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match bundle::imagelist::parse(text, Path::new("images.yaml")) {
        // Every accepted image must be a reference the rest of the tool can use.
        Ok(list) => {
            for image in &list.images {
                let _ = image.reference.to_string();
            }
        }
        // Error messages are built from the input: they must not panic either.
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
