//! Delta bundles: `create --since` an earlier bundle or an inventory of the disconnected side,
//! `bundle inventory`, loading a delta over its base, and serving a delta with its base.

use crate::common::*;
use std::path::Path;
use std::process::Command;

const RELEASE1: [&str; 3] = ["team/app1:1.0", "team/app2:1.0", "team/multi:2.0"];
const RELEASE2: [&str; 3] = ["team/app1:2.0", "team/app2:1.0", "team/multi:2.0"];

/// The test images, plus release 2 of app1: the same base layer and a new top layer.
fn registry_with_two_releases() -> (Registry, TestImages) {
    let (reg, imgs) = registry_with_images();
    let dir = tempfile::tempdir().unwrap();
    let mut l = crate::common::layout::Layout::new(dir.path());
    let (base_raw, base) = crate::common::layout::layer_from_files(
        &mut l,
        &["/usr/share/doc", "/usr/share/common-licenses"],
        3 << 20,
        "base",
    );
    assert_eq!(
        base.digest, imgs.base_layer.digest,
        "the base layer is rebuilt identically"
    );
    let (fix_raw, fix) = crate::common::layout::layer_from_files(
        &mut l,
        &["/usr/share/zoneinfo"],
        512 << 10,
        "app1 2.0",
    );
    let img = l.image(&[(base_raw, base), (fix_raw, fix)], "amd64", "app1 2.0");
    l.tag("app1-2", &img);
    reg.push(dir.path(), "app1-2", "team/app1:2.0", &[]);
    (reg, imgs)
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

#[test]
fn a_delta_over_release_1_gives_the_same_target_as_full_release_2() {
    let (src, imgs) = registry_with_two_releases();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (key, public) = keypair(w);
    let full1 = w.join("full-1.bundle");
    let full2 = w.join("full-2.bundle");
    let delta2 = w.join("delta-2.bundle");
    let l1 = plain_list(w, &src, &RELEASE1);
    assert_ok!(bundle!(
        "create {} -o {} --no-cache --quiet --key {}",
        l1,
        full1,
        key
    )
    .run());
    let l2 = plain_list(w, &src, &RELEASE2);
    assert_ok!(bundle!(
        "create {} -o {} --no-cache --quiet --key {}",
        l2,
        full2,
        key
    )
    .run());
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {} --since {}",
        l2,
        delta2,
        key,
        full1
    )
    .run();
    assert_ok!(o);
    eprintln!(
        "full-1 {} bytes, full-2 {} bytes, delta-2 {} bytes ({:.1} % of full-2)",
        size(&full1),
        size(&full2),
        size(&delta2),
        100.0 * size(&delta2) as f64 / size(&full2) as f64
    );
    assert!(
        size(&delta2) * 4 < size(&full2),
        "the delta carries only the new layer"
    );

    // The delta verifies on its own, and says what it needs.
    let o = bundle!("verify {} --key {}", delta2, public).run();
    assert_ok!(o);
    let info = inspect_json(&delta2);
    let omitted: Vec<String> = bundle_json(&delta2)["base"]["omitted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["digest"].as_str().unwrap().to_string())
        .collect();
    assert!(omitted.contains(&imgs.base_layer.digest.to_string()));
    assert_eq!(info["images"].as_array().unwrap().len(), 3);
    assert_eq!(info["base"]["name"], "full-1.bundle");
    let o = bundle!("inspect {}", delta2).run();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("delta:    over bundle full-1.bundle"),
        "{}",
        text(&o)
    );

    // Into an empty registry the delta is refused before anything is written, naming its base.
    let empty = Registry::start();
    let o = load(&delta2, &public, &empty.target()).arg("--json").run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("delta bundle over bundle full-1.bundle"),
        "{err}"
    );
    assert!(err.contains(&imgs.base_layer.digest.to_string()), "{err}");
    assert!(empty.tags("team/app1").is_empty() && empty.tags("team/app2").is_empty());
    assert!(
        !empty.log_text().contains("\"PUT /v2/"),
        "nothing was written"
    );
    // Into an oci: layout that does not exist yet, the refusal leaves nothing behind either: no
    // directory, no oci-layout, no lock file.
    let nowhere = w.join("new-layout");
    let o = bundle!("load {} --key {} --to oci:{} -q", delta2, public, nowhere).run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!nowhere.exists(), "{} was created", nowhere.display());

    // full-1 then delta-2 == full-2, digest for digest, and the delta sent only the new blobs.
    let a = Registry::start();
    assert_ok!(load(&full1, &public, &a.target()).arg("--json").run());
    let o = load(&delta2, &public, &a.target()).arg("--json").run();
    assert_ok!(o);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        r["targets"][0]["blobsSent"], 2,
        "the new layer and config: {r}"
    );
    let b = Registry::start();
    assert_ok!(load(&full2, &public, &b.target()).arg("--json").run());
    for repo in RELEASE2 {
        assert_eq!(a.digest_of(repo), b.digest_of(repo), "{repo}");
        assert_eq!(a.digest_of(repo), src.digest_of(repo), "{repo}");
    }

    // serve: the delta alone is refused; with its base it serves release 2.
    let o = bundle!("serve {} --key {} --listen 127.0.0.1:0", delta2, public).run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("served together with its base"));
    let served = Served::start(&[
        full1.to_str().unwrap(),
        delta2.to_str().unwrap(),
        "--key",
        &public,
    ]);
    let c = Registry::start();
    for repo in RELEASE2 {
        let o = Command::new("skopeo")
            .args([
                "copy",
                "-q",
                "--all",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
            ])
            .arg(format!("docker://{}/{repo}", served.addr))
            .arg(format!("docker://{}/{repo}", c.addr))
            .output()
            .unwrap();
        assert_ok!(o);
        assert_eq!(c.digest_of(repo), src.digest_of(repo), "{repo}");
    }
}

#[test]
fn inventory_of_the_disconnected_side_drives_the_next_delta() {
    let (src, imgs) = registry_with_two_releases();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (key, public) = keypair(w);
    let full1 = w.join("full-1.bundle");
    let l1 = plain_list(w, &src, &RELEASE1);
    assert_ok!(bundle!(
        "create {} -o {} --no-cache --quiet --key {}",
        l1,
        full1,
        key
    )
    .run());

    // The disconnected side: release 1 in a registry and in an OCI layout.
    let site = Registry::start();
    assert_ok!(load(&full1, &public, &site.target()).arg("--json").run());
    let layout_dir = w.join("site-layout");
    let o = bundle!(
        "load {} --key {} --to {} -q",
        full1,
        public,
        format!("oci:{}", layout_dir.display())
    )
    .run();
    assert_ok!(o);
    let inv_reg = w.join("site-registry.json");
    let o = bundle!(
        "inventory --from {} --plain-http -o {}",
        site.target(),
        inv_reg
    )
    .run();
    assert_ok!(o);
    let inv_oci = w.join("site-oci.json");
    let o = bundle!(
        "inventory --from {} -o {}",
        format!("oci:{}", layout_dir.display()),
        inv_oci
    )
    .run();
    assert_ok!(o);
    let digests = |p: &Path| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        v["blobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect()
    };
    // Both views hold the same content: every blob of release 1, and digests only.
    let from_reg = digests(&inv_reg);
    assert!(from_reg.contains(&imgs.base_layer.digest.to_string()));
    assert_eq!(from_reg, digests(&inv_oci));
    let raw = std::fs::read_to_string(&inv_reg).unwrap();
    assert!(!raw.contains("password") && !raw.contains("auth"));

    // The next delta, from the inventory, leaves out what the site holds and loads there.
    let l2 = plain_list(w, &src, &RELEASE2);
    let delta = w.join("delta.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {} --since {}",
        l2,
        delta,
        key,
        inv_reg
    )
    .run();
    assert_ok!(o);
    assert_eq!(bundle_json(&delta)["base"]["kind"], "inventory");
    let o = load(&delta, &public, &site.target()).arg("--json").run();
    assert_ok!(o);
    for repo in RELEASE2 {
        assert_eq!(site.digest_of(repo), src.digest_of(repo), "{repo}");
    }
    // And into the OCI layout.
    let o = bundle!(
        "load {} --key {} --to {} -q",
        delta,
        public,
        format!("oci:{}", layout_dir.display())
    )
    .run();
    assert_ok!(o);
    let o = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!(
            "oci:{}:{}/team/app1:2.0",
            layout_dir.display(),
            src.addr
        ))
        .output()
        .unwrap();
    assert_ok!(o);
    assert_eq!(
        format!("sha256:{}", crate::common::layout::sha256_hex(&o.stdout)),
        src.digest_of("team/app1:2.0")
    );
}

/// bundle.json of a bundle, read with tar and zstd as docs/FORMAT.md says anyone can.
pub fn bundle_json(p: &Path) -> serde_json::Value {
    let o = Command::new("tar")
        .args(["--zstd", "-xOf"])
        .arg(p)
        .arg("bundle.json")
        .output()
        .unwrap();
    assert_ok!(o);
    serde_json::from_slice(&o.stdout).unwrap()
}
