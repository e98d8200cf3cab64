//! Helm's OCI bytes for a chart, judged by Go: `helm_push.go` is Helm 3.21's code for what
//! `helm push` writes (metadata struct, sanitising, annotations, manifest), built with the
//! newest Go toolchain the test dependencies install (Helm 3 is built with Go 1.22 or later,
//! whose `encoding/json` writes `\b` and `\f` short). The chart is packed with GNU tar.

use crate::common::producers::{judge_dir, require, text};
use bundle::charts::{helm_manifest, Blob, Chart};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Chart.yaml with every field of Helm's metadata, and text Go escapes or Helm sanitises.
const CHART_YAML: &str = "apiVersion: v2
name: shop
version: 1.2.0-rc.1+build.5
kubeVersion: '>=1.28.0-0'
description: \"A <shop> & its\\tcart\\u200b, \\u2028 \\\"quoted\\\"\"
type: application
home: https://example.com/shop?a=1&b=2
icon: https://example.com/icon.png
appVersion: 3.1.0
deprecated: true
condition: shop.enabled
tags: front,back
sources:
  - https://github.com/acme/shop
  - https://github.com/acme/shop-mirror
keywords: [shop, \"<web>\"]
maintainers:
  - name: Ann Example
    email: ann@example.com
    url: https://example.com/ann
  - name: Bob
annotations:
  artifacthub.io/images: |
    - name: shop
      image: docker.io/acme/shop:3.1.0
  org.opencontainers.image.title: not-the-title
  org.opencontainers.image.description: \"overrides <the> description\"
  category: \"e-commerce\\bx\\fy\"
dependencies:
  - name: redis
    version: 20.x.x
    repository: https://charts.bitnami.com/bitnami
    condition: redis.enabled,cache.enabled
    tags: [cache]
    alias: cache
    import-values:
      - data
      - child: default.data
        parent: myimports
  - name: common
    repository: oci://registry-1.docker.io/bitnamicharts
    enabled: true
";

/// What `sigs.k8s.io/yaml` makes of CHART_YAML, written here by hand: the judge's input.
const METADATA_JSON: &str = r#"{
 "apiVersion": "v2", "name": "shop", "version": "1.2.0-rc.1+build.5",
 "kubeVersion": ">=1.28.0-0",
 "description": "A <shop> & its\tcart\u200b, \u2028 \"quoted\"",
 "type": "application", "home": "https://example.com/shop?a=1&b=2",
 "icon": "https://example.com/icon.png", "appVersion": "3.1.0", "deprecated": true,
 "condition": "shop.enabled", "tags": "front,back",
 "sources": ["https://github.com/acme/shop", "https://github.com/acme/shop-mirror"],
 "keywords": ["shop", "<web>"],
 "maintainers": [{"name": "Ann Example", "email": "ann@example.com", "url": "https://example.com/ann"}, {"name": "Bob"}],
 "annotations": {
  "artifacthub.io/images": "- name: shop\n  image: docker.io/acme/shop:3.1.0\n",
  "org.opencontainers.image.title": "not-the-title",
  "org.opencontainers.image.description": "overrides <the> description",
  "category": "e-commerce\bx\fy"
 },
 "dependencies": [
  {"name": "redis", "version": "20.x.x", "repository": "https://charts.bitnami.com/bitnami",
   "condition": "redis.enabled,cache.enabled", "tags": ["cache"], "alias": "cache",
   "import-values": ["data", {"child": "default.data", "parent": "myimports"}]},
  {"name": "common", "repository": "oci://registry-1.docker.io/bitnamicharts", "enabled": true}
 ]
}"#;

/// The newest Go toolchain installed for the judges (Debian's 1.19 is too old: its JSON
/// escapes `\b` as `\u0008`, Helm's does not).
fn newest_go() -> PathBuf {
    let mut gos: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(judge_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let v: Vec<u32> = name
                .strip_prefix("go-")?
                .split('.')
                .map(|n| n.parse().ok())
                .collect::<Option<_>>()?;
            let go = e.path().join("bin/go");
            go.exists().then_some((v, go))
        })
        .collect();
    gos.sort();
    let (version, go) = gos.pop().unwrap_or_default();
    assert!(
        version >= vec![1, 22],
        "no Go 1.22 or later in {}: run `make test-deps` (scripts/install-test-deps.sh)",
        judge_dir().display()
    );
    go
}

fn build_judge(dir: &Path) -> PathBuf {
    let go = newest_go();
    let src = dir.join("helm_push.go");
    std::fs::write(&src, include_str!("helm_push.go")).unwrap();
    let bin = dir.join("helm_push");
    let o = Command::new(&go)
        .env("GOCACHE", dir.join("gocache"))
        .env("GOPATH", dir.join("gopath"))
        .env("GO111MODULE", "off")
        .env("GOTOOLCHAIN", "local")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .unwrap();
    assert!(o.status.success(), "{} build: {}", go.display(), text(&o));
    bin
}

/// The chart folder packed as `helm package` lays it out, by GNU tar.
fn package(dir: &Path) -> Vec<u8> {
    require("tar");
    let root = dir.join("src/shop");
    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::write(root.join("Chart.yaml"), CHART_YAML).unwrap();
    std::fs::write(root.join("values.yaml"), "image: {repository: acme/shop}\n").unwrap();
    std::fs::write(root.join("templates/web.yaml"), "kind: Pod\n").unwrap();
    let tgz = dir.join("shop-1.2.0.tgz");
    let o = Command::new("tar")
        .arg("-C")
        .arg(dir.join("src"))
        .arg("-czf")
        .arg(&tgz)
        .arg("shop")
        .output()
        .unwrap();
    assert!(o.status.success(), "tar: {}", text(&o));
    std::fs::read(tgz).unwrap()
}

/// (config, manifest) as the judge writes them.
fn judge(
    bin: &Path,
    dir: &Path,
    tgz: &[u8],
    prov: Option<&[u8]>,
    created: &str,
) -> (Vec<u8>, Vec<u8>) {
    let md = dir.join("metadata.json");
    std::fs::write(&md, METADATA_JSON).unwrap();
    let chart = dir.join("chart.tgz");
    std::fs::write(&chart, tgz).unwrap();
    let prov_path = dir.join("chart.tgz.prov");
    if let Some(p) = prov {
        std::fs::write(&prov_path, p).unwrap();
    }
    let (config, manifest) = (dir.join("config.json"), dir.join("manifest.json"));
    let o = Command::new(bin)
        .arg(&md)
        .arg(&chart)
        .arg(if prov.is_some() {
            prov_path.as_os_str()
        } else {
            "".as_ref()
        })
        .arg(created)
        .arg(&config)
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(o.status.success(), "judge: {}", text(&o));
    (
        std::fs::read(config).unwrap(),
        std::fs::read(manifest).unwrap(),
    )
}

#[test]
fn config_and_manifest_are_the_bytes_helm_push_writes() {
    let work = tempfile::tempdir().unwrap();
    let bin = build_judge(work.path());
    let tgz = package(work.path());
    let chart = Chart::from_tgz(&tgz).unwrap();
    let config = chart.config_json();
    // A provenance file whose digest sorts before and one after the chart's: Helm sorts the
    // layers by digest.
    let provs: Vec<Vec<u8>> = (0..40u8)
        .map(|i| format!("-----BEGIN PGP SIGNED MESSAGE-----\n{i}\n").into_bytes())
        .collect();
    let tgz_digest = Blob::of(&tgz).digest.to_string();
    let before = provs
        .iter()
        .find(|p| Blob::of(p).digest.to_string() < tgz_digest)
        .unwrap();
    let after = provs
        .iter()
        .find(|p| Blob::of(p).digest.to_string() > tgz_digest)
        .unwrap();
    for (prov, created) in [
        (None, "2024-11-29T10:15:00Z"),
        (Some(before.as_slice()), "2024-11-29T10:15:00Z"),
        (Some(after.as_slice()), ""),
    ] {
        let (want_config, want_manifest) = judge(&bin, work.path(), &tgz, prov, created);
        assert_eq!(
            String::from_utf8_lossy(&config),
            String::from_utf8_lossy(&want_config)
        );
        let prov_blob = prov.map(Blob::of);
        let created = Some(created).filter(|c| !c.is_empty());
        let got = helm_manifest(
            &chart,
            &Blob::of(&config),
            &Blob::of(&tgz),
            prov_blob.as_ref(),
            created,
        );
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want_manifest)
        );
    }
    // What the judge agreed to, so a reader sees the escaping Helm's bytes have.
    let config = String::from_utf8(config).unwrap();
    assert!(
        config.contains(r#""description":"A \u003cshop\u003e \u0026 its cart,   \"quoted\"""#),
        "{config}"
    );
    assert!(
        config.contains(r#""category":"e-commerce\bx\fy""#),
        "{config}"
    );
}
