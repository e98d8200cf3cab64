//! Hand-made hostile bundles: the loader's input is untrusted until verified. Each one is
//! refused without a panic, with bounded memory, and nothing is written at or outside the target.
//! The bundles are written by a small writer that follows docs/FORMAT.md on its own
//! (tests/it/common/raw_bundle.rs, shared with the fuzz targets).

use crate::common::raw_bundle::*;
use crate::common::*;
use std::path::Path;

const LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// An unsigned bundle of one "image" whose manifest references `layer`; `tail` adds the members
/// after the manifest (where the layer would be).
fn bundle_with(layer: &[u8], tail: impl FnOnce(&mut Raw, &str)) -> Vec<u8> {
    bundle_with_index(layer, tail, |_| {})
}

/// The same with the seek index edited.
fn bundle_with_index(
    layer: &[u8],
    tail: impl FnOnce(&mut Raw, &str),
    edit: impl FnOnce(&mut serde_json::Value),
) -> Vec<u8> {
    build(layer, tail, |_| {}, edit)
}

/// The same with `bundle.json` edited, the layer stored whole after the manifest.
fn bundle_with_doc(layer: &[u8], edit_doc: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let whole = |r: &mut Raw, hex: &str| r.file(&format!("blobs/sha256/{hex}"), layer);
    build(layer, whole, edit_doc, |_| {})
}

fn build(
    layer: &[u8],
    tail: impl FnOnce(&mut Raw, &str),
    edit_doc: impl FnOnce(&mut serde_json::Value),
    edit: impl FnOnce(&mut serde_json::Value),
) -> Vec<u8> {
    let layer_hex = sha(layer);
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", sha(config)), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{layer_hex}"), "size": layer.len()}],
    }))
    .unwrap();
    let mdig = format!("sha256:{}", sha(&manifest));
    let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdig, "size": manifest.len(),
         "annotations": {"org.opencontainers.image.ref.name": "example.com/evil:1"}}]}))
    .unwrap();
    let rec = |d: &str, size: usize, mt: &str| serde_json::json!({"digest": d, "size": size, "mediaType": mt, "encoding": "zstd-frame"});
    let mut doc = serde_json::json!({
        "formatVersion": 1, "created": "2026-01-01T00:00:00Z", "tool": "hand-made",
        "images": [{"source": "example.com/evil:1", "reference": "example.com/evil:1", "digest": mdig,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json", "platforms": [], "manifests": [mdig], "complete": true}],
        "blobs": [rec(&mdig, manifest.len(), "application/vnd.oci.image.manifest.v1+json"),
                  rec(&format!("sha256:{}", sha(config)), config.len(), "application/vnd.oci.image.config.v1+json"),
                  rec(&format!("sha256:{layer_hex}"), layer.len(), "application/vnd.oci.image.layer.v1.tar")],
        "files": [{"path": "oci-layout", "digest": format!("sha256:{}", sha(LAYOUT)), "size": LAYOUT.len()},
                  {"path": "index.json", "digest": format!("sha256:{}", sha(&index)), "size": index.len()}],
    });
    edit_doc(&mut doc);
    let doc = serde_json::to_vec(&doc).unwrap();
    let mut r = Raw::new();
    r.file("bundle.json", &doc);
    r.file("oci-layout", LAYOUT);
    r.file("index.json", &index);
    r.file(&format!("blobs/sha256/{}", &mdig[7..]), &manifest);
    r.file(&format!("blobs/sha256/{}", sha(config)), config);
    tail(&mut r, &layer_hex);
    r.finish_with(edit)
}

/// Load `bytes` into a fresh oci: layout under `dir`; returns (exit code, stderr, peak RSS KB).
fn try_load(dir: &Path, bytes: &[u8]) -> (Option<i32>, String, u64) {
    let file = dir.join("x.bundle");
    std::fs::write(&file, bytes).unwrap();
    let to = format!("--to=oci:{}", dir.join("sub/layout").display());
    let (o, rss, _) = bundle!("load --allow-unsigned -q {} {}", file, to).measured();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).to_string(),
        rss,
    )
}

#[test]
fn a_well_formed_hand_made_bundle_loads() {
    // The control: the writer above makes bundles the tool accepts, so the refusals below are
    // about what each one changes.
    let dir = tempfile::tempdir().unwrap();
    let layer = b"just some layer bytes".repeat(100);
    let good = bundle_with(&layer, |r, hex| {
        r.file(&format!("blobs/sha256/{hex}"), &layer)
    });
    let (code, err, _) = try_load(dir.path(), &good);
    assert_eq!(code, Some(0), "{err}");
    assert!(dir.path().join("sub/layout/index.json").exists());
}

/// A load of each hostile bundle is refused as a bad bundle (exit 3) without a panic, in
/// bounded memory, writing no index.json, nothing outside the target and no wrong blob.
fn assert_refused(layer: &[u8], cases: Vec<(&str, Vec<u8>)>) {
    for (what, bytes) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (code, err, rss_kb) = try_load(dir.path(), &bytes);
        eprintln!(
            "{what}: exit {code:?}, {rss_kb} KB: {}",
            err.lines().next().unwrap_or("")
        );
        assert_eq!(code, Some(3), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        assert!(rss_kb < 200 * 1024, "{what}: peak RSS {rss_kb} KB");
        assert!(
            !dir.path().join("sub/layout/index.json").exists(),
            "{what}: an index.json was written"
        );
        assert!(
            !dir.path().join("escape").exists()
                && !Path::new("/tmp/bundle-hostile-escape").exists(),
            "{what}: wrote outside"
        );
        let layer_file = dir.path().join("sub/layout/blobs/sha256").join(sha(layer));
        if layer_file.exists() {
            assert_eq!(
                std::fs::read(&layer_file).unwrap(),
                layer,
                "{what}: a wrong blob was published"
            );
        }
    }
}

/// Entries that climb out, link, or carry other bytes than the blob they name.
#[test]
fn tar_entries_that_escape_link_or_lie_are_refused_and_write_nothing() {
    let layer = b"just some layer bytes".repeat(100);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a ../ path",
            bundle_with(&layer, |r, hex| {
                r.file("blobs/sha256/../../../escape", b"owned");
                r.file(&format!("blobs/sha256/{hex}"), &layer);
            }),
        ),
        (
            "an absolute path",
            bundle_with(&layer, |r, hex| {
                r.file("/tmp/bundle-hostile-escape", b"owned");
                r.file(&format!("blobs/sha256/{hex}"), &layer);
            }),
        ),
        (
            "a symlink entry",
            bundle_with(&layer, |r, hex| {
                r.member(format!("blobs/sha256/{hex}"), 0, b'2', b"")
            }),
        ),
        (
            "a hard link entry",
            bundle_with(&layer, |r, hex| {
                r.member(format!("blobs/sha256/{hex}"), 0, b'1', b"")
            }),
        ),
        (
            "a duplicated blob with other content",
            bundle_with(&layer, |r, hex| {
                r.file(&format!("blobs/sha256/{hex}"), &layer);
                let mut other = layer.clone();
                other[0] ^= 1;
                r.file(&format!("blobs/sha256/{hex}"), &other);
            }),
        ),
        (
            "a blob other than the one listed",
            bundle_with(&layer, |r, hex| {
                let mut other = layer.clone();
                other[7] ^= 1;
                r.file(&format!("blobs/sha256/{hex}"), &other);
            }),
        ),
    ];
    assert_refused(&layer, cases);
}

/// Sizes that would have the loader allocate or inflate without bound.
#[test]
fn sizes_that_would_exhaust_memory_are_refused_in_bounded_memory() {
    let layer = b"just some layer bytes".repeat(100);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a size of 2^63",
            bundle_with(&layer, |r, hex| {
                r.member(format!("blobs/sha256/{hex}"), 1 << 63, b'0', &layer)
            }),
        ),
        // A frame that inflates to 1 GiB where the header declares the layer's few bytes.
        (
            "a zstd bomb",
            bundle_with(&layer, |r, hex| {
                r.member(
                    format!("blobs/sha256/{hex}"),
                    layer.len() as u64,
                    b'0',
                    &vec![0u8; 1 << 30],
                )
            }),
        ),
    ];
    assert_refused(&layer, cases);
}

/// A seek index whose frames overlap, point outside or leave a member out.
#[test]
fn a_seek_index_that_lies_is_refused_and_writes_nothing() {
    let layer = b"just some layer bytes".repeat(100);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "seek index frames that overlap",
            bundle_with_index(
                &layer,
                |r, hex| r.file(&format!("blobs/sha256/{hex}"), &layer),
                |ix| ix["members"][2]["data"] = ix["members"][1]["data"].clone(),
            ),
        ),
        (
            "a seek index pointing past the end",
            bundle_with_index(
                &layer,
                |r, hex| r.file(&format!("blobs/sha256/{hex}"), &layer),
                |ix| ix["members"][5]["data"]["offset"] = serde_json::json!(1u64 << 40),
            ),
        ),
        (
            "a seek index that leaves a member out",
            bundle_with_index(
                &layer,
                |r, hex| r.file(&format!("blobs/sha256/{hex}"), &layer),
                |ix| {
                    ix["members"].as_array_mut().unwrap().remove(3);
                },
            ),
        ),
        ("a seek index whose length claims the whole file", {
            let mut b = bundle_with(&layer, |r, hex| {
                r.file(&format!("blobs/sha256/{hex}"), &layer)
            });
            let n = b.len();
            b[n - 16..n - 8].copy_from_slice(&(n as u64).to_le_bytes());
            b
        }),
    ];
    assert_refused(&layer, cases);
}

#[test]
fn text_from_a_bundle_cannot_forge_lines_or_send_escapes_to_the_terminal() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("x.bundle");
    let forged = "hand-made\nimages:   999\x1b]0;owned\x07";
    let bytes = bundle_with_doc(b"layer bytes", |doc| {
        doc["tool"] = forged.into();
        doc["images"][0]["platforms"] = serde_json::json!(["linux/amd64\n  FORGED/1 sha256:0"]);
    });
    std::fs::write(&file, bytes).unwrap();
    let to = format!("--to=oci:{}", work.path().join("layout").display());
    let load = ["load", "--allow-unsigned", to.as_str()];
    for args in [
        &["inspect"][..],
        &["verify", "--allow-unsigned"][..],
        &load[..],
    ] {
        let o = BundleCommand::new(args).arg(&file).run();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            !all.contains('\x1b') && !all.contains('\x07'),
            "{args:?}: {all:?}"
        );
        assert!(
            !all.lines()
                .any(|l| l.starts_with("images:   999") || l.trim_start().starts_with("FORGED")),
            "{args:?} printed a forged line: {all}"
        );
        assert_ok!(o, "{args:?}");
        if args[0] == "inspect" {
            assert!(all.contains("hand-made"), "{all}");
        }
    }
}

/// A signed bundle.json is still untrusted (issue 31, item 12): a rebuild record claiming 8 GB
/// of tar under a small layer, or 400,000 restart points, is refused before any work, in
/// bounded time and memory, and nothing is written.
#[test]
fn a_rebuild_record_that_claims_too_much_is_refused_at_once() {
    let layer = b"just some layer bytes".repeat(100);
    let hex = sha(&layer);
    let record = |raw_size: u64, restarts: Vec<[u64; 6]>| {
        let hex = hex.clone();
        bundle_with_doc(&layer, move |doc| {
            doc["blobs"][2]["encoding"] = "gzip-rebuild".into();
            doc["blobs"][2]["rebuild"] = serde_json::json!({
                "encoder": "go1.8", "level": 6, "header": "1f8b08000000000000ff",
                "rawSize": raw_size, "rawDigest": format!("sha256:{hex}"), "restarts": restarts,
            });
        })
    };
    let points: Vec<[u64; 6]> = (1..=400_000u64)
        .map(|i| {
            let raw = i * 4096;
            [raw, raw - raw % 32768, 8 * raw / 3, 0, 3, 0]
        })
        .collect();
    for (what, bytes) in [
        (
            "8 GB of tar under a small layer",
            record(8_000_000_000, vec![]),
        ),
        ("400,000 restart points", record(400_000 * 4096 + 1, points)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let (code, err, rss_kb) = try_load(dir.path(), &bytes);
        eprintln!(
            "{what}: exit {code:?} in {:?}, peak RSS {} MB",
            started.elapsed(),
            rss_kb / 1024
        );
        assert_eq!(code, Some(3), "{what}: {err}");
        assert!(
            started.elapsed().as_secs() < 60,
            "{what}: {:?}",
            started.elapsed()
        );
        assert!(rss_kb / 1024 <= 300, "{what}: {} MB", rss_kb / 1024);
        assert!(
            !dir.path().join("sub").exists(),
            "{what}: something was written"
        );
    }
}

#[test]
fn an_invalid_bundle_json_is_named_once_by_every_reader() {
    // Issue 31, item 14: "X: X: bundle.json is invalid" named the file twice.
    let dir = tempfile::tempdir().unwrap();
    let layer = b"just some layer bytes".repeat(100);
    let bad = bundle_with_doc(&layer, |d| {
        let first = d["blobs"][0].clone();
        d["blobs"].as_array_mut().unwrap().push(first);
    });
    let file = dir.path().join("x.bundle");
    std::fs::write(&file, bad).unwrap();
    let f = file.to_str().unwrap();
    let to = format!("--to=oci:{}", dir.path().join("layout").display());
    for args in [
        vec!["verify", f, "--allow-unsigned"],
        vec!["load", f, "--allow-unsigned", "-q", &to],
        vec!["inspect", f],
    ] {
        let o = BundleCommand::new(&args).run();
        let err = String::from_utf8_lossy(&o.stderr);
        if args[0] != "inspect" {
            assert_eq!(o.status.code(), Some(3), "{args:?}: {err}");
        }
        assert!(err.contains("bundle.json is invalid"), "{args:?}: {err}");
        assert_eq!(
            err.matches(f).count(),
            1,
            "{args:?} names the file once: {err}"
        );
    }
}
