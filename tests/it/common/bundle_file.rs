//! Reading a bundle's bytes the way FORMAT.md describes them, to find and damage its parts.

/// The seek index, read independently of the tool: last 16 bytes = length + magic.
pub fn seek_index(bytes: &[u8]) -> (serde_json::Value, usize) {
    let n = bytes.len();
    assert_eq!(&bytes[n - 8..], b"BUNDLEIX");
    let len = u64::from_le_bytes(bytes[n - 16..n - 8].try_into().unwrap()) as usize;
    let start = n - 16 - 32 - len;
    (
        serde_json::from_slice(&bytes[start..start + len]).unwrap(),
        start - 8,
    )
}

pub fn member<'a>(index: &'a serde_json::Value, path_prefix: &str) -> &'a serde_json::Value {
    index["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"].as_str().unwrap().starts_with(path_prefix))
        .unwrap_or_else(|| panic!("no member {path_prefix}"))
}

/// The offset of the middle of a member's data frame.
pub fn data_middle(bytes: &[u8], member_path: &str) -> usize {
    let (index, _) = seek_index(bytes);
    let d = &member(&index, member_path)["data"];
    (d["offset"].as_u64().unwrap() + d["length"].as_u64().unwrap() / 2) as usize
}

/// (region name, byte offset) for one flipped byte in each region of a bundle.
pub fn tamper_points(bytes: &[u8], layer_digest: &str) -> Vec<(&'static str, usize)> {
    let (index, index_frame_start) = seek_index(bytes);
    let data_mid = |prefix: &str| data_middle(bytes, prefix);
    let header_of = |prefix: &str| {
        let h = &member(&index, prefix)["header"];
        (h["offset"].as_u64().unwrap() + h["length"].as_u64().unwrap() / 2) as usize
    };
    let first_manifest = index["members"][4]["path"].as_str().unwrap().to_string();
    let layer = format!("blobs/sha256/{}", &layer_digest[7..]);
    vec![
        ("bundle header", 12),
        ("bundle.json", data_mid("bundle.json")),
        ("signature", data_mid("bundle.json.sig")),
        ("index.json", data_mid("index.json")),
        ("a manifest frame", data_mid(&first_manifest)),
        ("a layer frame", data_mid(&layer)),
        ("a tar header frame", header_of(&layer)),
        ("the tar end frame", index_frame_start - 3),
        ("the seek index", index_frame_start + 20),
        ("the trailer", bytes.len() - 12),
    ]
}
