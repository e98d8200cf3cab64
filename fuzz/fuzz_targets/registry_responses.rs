#![no_main]
//! What a registry says back, every field the client parses: the WWW-Authenticate challenge,
//! the Link of a listing, Retry-After, a token answer, manifest and index bodies, referrers. None may
//! panic, and each keeps its promise: a token's life is clamped, a manifest type is one we can
//! load, an index's selection is a subset of it, text for people has no control characters.
use bundle::manifest;
use bundle::registry::auth::{parse_challenge, TokenResponse};
use bundle::registry::listing::next_page;
use bundle::registry::retry::parse_retry_after;
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_challenge(&text);
    let _ = parse_retry_after(&text);
    let page = url::Url::parse("https://registry.example/v2/_catalog?n=100").unwrap();
    let _ = next_page(&page, &text);
    if let Ok(t) = serde_json::from_slice::<TokenResponse>(data) {
        let life = t.lifetime();
        assert!(life >= Duration::from_secs(60) && life <= Duration::from_secs(86400));
    }
    if let Ok(t) = manifest::media_type_of(data, Some(&text)) {
        assert!(manifest::is_index(&t) || manifest::is_manifest(&t), "{t}");
    }
    if let Ok(index) = manifest::parse_index(data) {
        let all = manifest::select_children(&index, None);
        assert_eq!(all.len(), index.manifests.len());
        let amd64 = "linux/amd64".parse().unwrap();
        assert!(manifest::select_children(&index, Some(&[amd64])).len() <= all.len());
    }
    let _ = manifest::parse_manifest(data);
    // A referrer's manifest, and the fallback tag's index a target already holds: the entry
    // merged in is there afterwards, and nothing the index listed is dropped.
    if let Ok(r) = manifest::parse_referring(data) {
        let _ = manifest::referrer_kind(&r.artifact_type(), None);
    }
    let d = manifest::referrer_descriptor(data, manifest::OCI_MANIFEST);
    if let Some(merged) = manifest::merge_into_index(Some(data), vec![d.clone()]) {
        let v: serde_json::Value = serde_json::from_slice(&merged).unwrap();
        let list = v["manifests"].as_array().unwrap();
        assert!(list.iter().any(|e| e["digest"] == d["digest"]));
        if let Ok(old) = serde_json::from_slice::<serde_json::Value>(data) {
            if let Some(before) = old["manifests"].as_array() {
                assert_eq!(list.len(), before.len() + 1);
            }
        }
    }
    let _ = manifest::is_cosign_tag(&text);
    let shown = bundle::console::printable(&text);
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    let safe = bundle::console::terminal_safe(&text);
    assert!(!safe
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t'));
});
