#![no_main]
// An OCI layout a load merges into, or an inventory lists, is untrusted input: its index.json,
// oci-layout and the manifests it names may be anything. Reading them must not panic, and an
// index.json that is not an index must be refused (never replaced: that would drop its
// entries). The input: a byte saying where index.json ends, index.json, then a manifest the
// index may name (stored under its digest).
use libfuzzer_sys::fuzz_target;
use sha2::Digest as _;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let (index, manifest) = rest.split_at(usize::from(cut) * rest.len() / 256);
    // index.json merged with an entry, as load writes it.
    let entry = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{}", "0".repeat(64)), "size": 2,
        "annotations": {"org.opencontainers.image.ref.name": "r/a:1"}});
    if let Ok(merged) = bundle::manifest::merge_layout_index(Some(index), &[entry]) {
        let v: serde_json::Value = serde_json::from_slice(&merged).expect("merged is JSON");
        assert!(v["manifests"].is_array());
    }
    // The same layout on disk, listed by `inventory --from oci:`.
    let dir = tempfile::tempdir().expect("a temp dir");
    let blobs = dir.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("blobs dir");
    std::fs::write(dir.path().join("index.json"), index).expect("index.json");
    std::fs::write(dir.path().join("oci-layout"), manifest).expect("oci-layout");
    let hex = hex_of(manifest);
    std::fs::write(blobs.join(hex), manifest).expect("a blob");
    let _ = bundle::inventory::from_oci(dir.path());
});

fn hex_of(b: &[u8]) -> String {
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}
