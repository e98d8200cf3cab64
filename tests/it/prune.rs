//! `bundle prune`: what a site holds beyond the releases it keeps, listed, then removed; the
//! kept images still pull with their digests, and a layout stays valid for skopeo and umoci.

use crate::common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Release 1 (app1:1.0, multi:2.0, and the chart pinned by digest) and release 2 (app1:1.0
/// and app2:1.0), both loaded into `site` and into the layout `WORK/layout`.
struct TwoReleases {
    src: Registry,
    site: Registry,
    work: tempfile::TempDir,
    r2: PathBuf,
    chart: String,
}

fn two_releases_loaded() -> TwoReleases {
    let (src, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let chart = src.digest_of("charts/demo:0.1.0");
    let pinned = format!("charts/demo@{chart}");
    let (r1, r2) = (w.join("r1.bundle"), w.join("r2.bundle"));
    let releases: [(&Path, &[&str]); 2] = [
        (&r1, &["team/app1:1.0", "team/multi:2.0", &pinned]),
        (&r2, &["team/app1:1.0", "team/app2:1.0"]),
    ];
    let site = Registry::start();
    let layout = format!("oci:{}", w.join("layout").display());
    for (b, images) in releases {
        let list = plain_list(w, &src, images);
        let o = bundle!("create {} -o {} --no-cache --quiet --unsigned", list, b).run();
        assert_ok!(o);
        for to in [site.target(), layout.clone()] {
            let o = bundle!("load {} --allow-unsigned --to {} --plain-http -q", b, to).run();
            assert_ok!(o);
        }
    }
    TwoReleases {
        src,
        site,
        work,
        r2,
        chart,
    }
}

/// The lines prune printed before its summary.
fn listed(o: &std::process::Output) -> BTreeSet<String> {
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    lines[..lines.len().saturating_sub(1)]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn prune_lists_exactly_what_release_1_left_and_yes_removes_it_from_a_registry() {
    let t = two_releases_loaded();
    let from = t.site.target();
    let index = t.src.digest_of("team/multi:2.0");
    let idx = manifest_children(&t.src.raw_manifest(&format!("team/multi@{index}")));
    let pinned_index = t.site.digest_of("charts/demo:bundle-pinned");
    let mut want: BTreeSet<String> = [
        "tag team/multi:2.0".to_string(),
        "tag charts/demo:bundle-pinned".to_string(),
        format!("manifest team/multi@{index}"),
        format!("manifest charts/demo@{}", t.chart),
        format!("manifest charts/demo@{pinned_index}"),
    ]
    .into();
    want.extend(idx.iter().map(|c| format!("manifest team/multi@{c}")));
    let o = bundle!("prune --from {} --keep {} --plain-http", from, t.r2).run();
    assert_ok!(o);
    assert_eq!(listed(&o), want, "{}", text(&o));
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(
        summary.contains("would remove 2 tags, 5 manifests; nothing was changed"),
        "{summary}"
    );
    assert_eq!(
        t.site.tags("team/multi"),
        ["2.0"],
        "a dry run changes nothing"
    );

    let o = bundle!("prune --from {} --keep {} --plain-http --yes", from, t.r2).run();
    assert_ok!(o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("removed 2 tags, 5 manifests"), "{out}");
    assert!(out.contains("garbage-collect"), "{out}");
    assert!(t.site.tags("team/multi").is_empty());
    for gone in [
        format!("team/multi@{index}"),
        format!("charts/demo@{}", t.chart),
    ] {
        let o = std::process::Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/{gone}", t.site.addr))
            .output()
            .unwrap();
        assert!(!o.status.success(), "{gone} is still there");
    }
    // Release 2 still pulls, every image with its source digest.
    for kept in ["team/app1:1.0", "team/app2:1.0"] {
        assert_eq!(t.site.digest_of(kept), t.src.digest_of(kept), "{kept}");
        let raw = skopeo_raw(&format!("docker://{}/{kept}", t.site.addr));
        assert!(!raw.is_empty());
    }
    let o = bundle!("prune --from {} --keep {} --plain-http", from, t.r2).run();
    assert_ok!(o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing to prune"));
}

#[test]
fn prune_leaves_an_oci_layout_that_skopeo_and_umoci_read_with_only_what_is_kept() {
    require("umoci");
    let t = two_releases_loaded();
    let layout = t.work.path().join("layout");
    let blobs = || {
        std::fs::read_dir(layout.join("blobs/sha256"))
            .unwrap()
            .count()
    };
    let before = blobs();
    let from = format!("oci:{}", layout.display());
    let o = bundle!("prune --from {} --keep {}", from, t.r2).run();
    assert_ok!(o);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let multi = format!("tag {}/team/multi:2.0", t.src.addr);
    assert!(out.contains(&multi), "{out}");
    assert!(out.contains(&format!("manifest {}", t.chart)), "{out}");
    assert!(out.contains("nothing was changed"), "{out}");
    assert_eq!(blobs(), before, "a dry run changes nothing");

    let o = bundle!("prune --from {} --keep {} --yes", from, t.r2).run();
    assert_ok!(o);
    assert!(blobs() < before, "{}", text(&o));
    let o = std::process::Command::new("umoci")
        .args(["ls", "--layout"])
        .arg(&layout)
        .output()
        .unwrap();
    assert_ok!(o);
    let names: BTreeSet<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let want: BTreeSet<String> = ["team/app1:1.0", "team/app2:1.0"]
        .iter()
        .map(|i| format!("{}/{i}", t.src.addr))
        .collect();
    assert_eq!(names, want);
    // Every blob a kept image needs is still there: skopeo copies app1 out whole (its oci:
    // transport does not find app2, a Docker schema 2 manifest, by name), and every blob
    // app2's manifest names is a file of the layout.
    let app1 = format!("{}/team/app1:1.0", t.src.addr);
    let out = t.work.path().join("copy");
    let o = std::process::Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci:{}:{app1}", layout.display()))
        .arg(format!("dir:{}", out.display()))
        .output()
        .unwrap();
    assert_ok!(o);
    let app2 = t.src.digest_of("team/app2:1.0");
    let blob = |d: &str| layout.join("blobs/sha256").join(&d[7..]);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(&app2)).unwrap()).unwrap();
    let layers = m["layers"].as_array().unwrap().iter();
    for d in std::iter::once(&m["config"]).chain(layers) {
        let d = d["digest"].as_str().unwrap();
        assert!(blob(d).is_file(), "{d} of app2 was removed");
    }
}

#[test]
fn a_registry_that_refuses_deletes_is_named_with_the_setting_to_change() {
    let (src, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let site = Registry::start_without_delete();
    let (r1, r2) = (w.join("r1.bundle"), w.join("r2.bundle"));
    for (b, image) in [(&r1, "team/app1:1.0"), (&r2, "team/app2:1.0")] {
        let list = plain_list(w, &src, &[image]);
        let o = bundle!("create {} -o {} --no-cache --quiet --unsigned", list, b).run();
        assert_ok!(o);
        let o = bundle!(
            "load {} --allow-unsigned --to registry://{} --plain-http -q",
            b,
            site.addr
        )
        .run();
        assert_ok!(o);
    }
    let o = bundle!(
        "prune --from registry://{} --keep {} --plain-http --yes",
        site.addr,
        r2
    )
    .run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("does not allow deleting manifests"), "{err}");
    assert!(err.contains("storage: delete: enabled: true"), "{err}");
    assert_eq!(site.tags("team/app1"), ["1.0"]);
}

/// The digests an index lists.
fn manifest_children(index: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(index).unwrap();
    v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect()
}
