//! `create --compact --since`: release 2 of two apps whose top layer changed by a few files
//! (changed, added, removed), one compressed by Go's compress/gzip, one by skopeo's pgzip, is
//! carried as a delta against release 1's layer. Loaded over release 1 into a registry and an
//! OCI layout, into a fresh layout with `--base`, and served with its base, it gives the
//! source's digests (skopeo judges); a missing reference stops the load before anything is
//! written; a changed byte of the delta is refused (exit 3).

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Real files from the machine, in a stable order.
pub(crate) fn files(roots: &[&str], budget: u64) -> Vec<(String, Vec<u8>)> {
    let mut paths = Vec::new();
    for r in roots {
        collect(Path::new(r), &mut paths);
    }
    paths.sort();
    let mut out = Vec::new();
    let mut total = 0;
    for p in paths {
        let Ok(data) = std::fs::read(&p) else {
            continue;
        };
        if total + data.len() as u64 > budget {
            continue;
        }
        total += data.len() as u64;
        let name = p.strip_prefix("/").unwrap_or(&p).display().to_string();
        out.push((name, data));
    }
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => collect(&p, out),
            Ok(t) if t.is_file() => out.push(p),
            _ => {}
        }
    }
}

pub(crate) fn tar_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// Release 2 of a file set: one file in ten changed, one in twenty removed, two added.
pub(crate) fn release_two(
    r1: &[(String, Vec<u8>)],
    extra: &[(String, Vec<u8>)],
) -> Vec<(String, Vec<u8>)> {
    let mut r2: Vec<_> = r1
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 20 != 7)
        .map(|(i, (n, d))| {
            let mut d = d.clone();
            if i % 10 == 3 {
                d.extend_from_slice(b"\n# release 2\n");
            }
            (n.clone(), d)
        })
        .collect();
    r2.extend(extra.iter().take(2).cloned());
    r2.sort_by(|a, b| a.0.cmp(&b.0));
    r2
}

struct Releases {
    reg: Registry,
    work: tempfile::TempDir,
}

/// `rel/go:1`, `rel/go:2` (a shared base layer and a top layer, Go level 6) and `rel/pod:1`,
/// `rel/pod:2` (one uncompressed layer that skopeo compresses with pgzip on push).
fn releases() -> Releases {
    let work = tempfile::tempdir().unwrap();
    let (_, judge) =
        crate::common::producers::build_judge(Path::new("go"), &work.path().join("judge"));
    let dir = work.path().join("layout");
    let mut l = layout::Layout::new(&dir);
    let gz = |l: &mut layout::Layout, tar: &[u8], name: &str| {
        let p = work.path().join(name);
        std::fs::write(&p, tar).unwrap();
        let d = l.blob(
            &crate::common::producers::go_gzip(&judge, &p, 6),
            OCI_LAYER_GZIP,
        );
        (tar.to_vec(), d)
    };
    let base = tar_of(&files(&["/usr/share/common-licenses"], 1 << 20));
    let base = gz(&mut l, &base, "base.tar");
    let extra = files(&["/usr/share/perl5/Debian"], 200 << 10);
    let app1 = files(&["/usr/lib/x86_64-linux-gnu/perl-base"], 4 << 20);
    let app2 = release_two(&app1, &extra);
    for (tag, app) in [("1", &app1), ("2", &app2)] {
        let top = gz(&mut l, &tar_of(app), &format!("go{tag}.tar"));
        let img = l.image(&[base.clone(), top], "amd64", &format!("go{tag}"));
        l.tag(&format!("go{tag}"), &img);
    }
    let pod1 = files(&["/usr/share/zoneinfo"], 3 << 20);
    let pod2 = release_two(&pod1, &extra);
    for (tag, pod) in [("1", &pod1), ("2", &pod2)] {
        let tar = tar_of(pod);
        let d = l.blob(&tar, OCI_LAYER);
        let img = l.image(&[(tar, d)], "amd64", &format!("pod{tag}"));
        l.tag(&format!("pod{tag}"), &img);
    }
    let reg = Registry::start();
    for tag in ["1", "2"] {
        reg.push(&dir, &format!("go{tag}"), &format!("rel/go:{tag}"), &[]);
        reg.push(&dir, &format!("pod{tag}"), &format!("rel/pod:{tag}"), &[]);
    }
    Releases { reg, work }
}

/// skopeo copies release 2 of the Go app out of `served` (checking every layer's digest as
/// it goes) into `dir`; then serve is stopped.
fn skopeo_copies_release_two(served: Served, dir: &Path) {
    let o = Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{}/rel/go:2", served.addr))
        .arg(format!("dir:{}", dir.display()))
        .output()
        .unwrap();
    assert_ok!(o);
    served.stop();
}

#[test]
fn a_release_carried_as_deltas_against_the_last_loads_everywhere_with_the_source_digests() {
    let src = releases();
    let w = src.work.path();
    let (key, public) = keypair(w);
    let list1 = plain_list(w, &src.reg, &["rel/go:1", "rel/pod:1"]);
    let full1 = w.join("r1.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {} --compact",
        list1,
        full1,
        key
    )
    .run();
    assert_ok!(o);
    std::fs::create_dir_all(w.join("2")).unwrap();
    let list2 = plain_list(&w.join("2"), &src.reg, &["rel/go:2", "rel/pod:2"]);
    let since = full1.to_str().unwrap();
    let layer_delta = w.join("r2-layers.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {} --since {}",
        list2,
        layer_delta,
        key,
        since
    )
    .run();
    assert_ok!(o);
    let delta = w.join("r2.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {} --compact --since {}",
        list2,
        delta,
        key,
        since
    )
    .run();
    assert_ok!(o);
    assert!(
        text(&o).contains("as deltas against reference layers"),
        "{}",
        text(&o)
    );
    // inspect names each image's layers carried as deltas, and what they are against.
    let out = text(&bundle!("inspect {}", delta).run());
    assert_eq!(out.matches(" delta against sha256:").count(), 2, "{out}");
    let i = inspect_json(&delta);
    assert_eq!(i["deltas"].as_array().unwrap().len(), 2, "{i}");
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    let (small, whole) = (size(&delta), size(&layer_delta));
    eprintln!("release 2: {small} bytes as deltas, {whole} bytes with its layers whole");
    assert!(small * 4 < whole, "{small} vs {whole}");
    let listing = Command::new("tar")
        .args(["--zstd", "-tf"])
        .arg(&delta)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    assert_eq!(listing.matches(".delta\n").count(), 2, "{listing}");

    // verify: the deltas' bytes without the base, rebuilt with it.
    let v = bundle!("verify {} --key {}", delta, public).run();
    assert_ok!(v);
    assert!(
        text(&v).contains("2 layer(s) carried as deltas"),
        "{}",
        text(&v)
    );
    let v = bundle!("verify {} --key {} --base {}", delta, public, since).run();
    assert_ok!(v);
    assert!(!text(&v).contains("carried as deltas"), "{}", text(&v));

    let pod2 = format!("{}/rel/pod:2", src.reg.addr);
    let want = |r: &str| skopeo_raw(&format!("docker://{}/{r}", src.reg.addr));
    // A registry holding release 1 takes release 2 from the deltas alone.
    let dst = Registry::start();
    let at = |r: &str| format!("docker://{}/{r}", dst.addr);
    let o = load(&full1, &public, &dst.target()).run();
    assert_ok!(o);
    let o = load(&delta, &public, &dst.target()).run();
    assert_ok!(o);
    for r in ["rel/go:2", "rel/pod:2"] {
        assert_eq!(skopeo_raw(&at(r)), want(r), "{r}");
    }
    // The same from an inventory of a site holding release 1 under a prefix: the references
    // are chosen from the manifests it lists and fetched from the source registry.
    let site = Registry::start();
    let to_site = format!("registry://{}/site", site.addr);
    assert_ok!(load(&full1, &public, &to_site).run());
    let inv = w.join("site.json");
    let o = bundle!("inventory --from {} --plain-http -o {}", site.target(), inv).run();
    assert_ok!(o);
    let from_inv = w.join("r2-inv.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {} --compact --since {}",
        list2,
        from_inv,
        key,
        inv
    )
    .run();
    assert_ok!(o);
    assert!(
        size(&from_inv) * 4 < whole,
        "{} vs {whole}",
        size(&from_inv)
    );
    let o = load(&from_inv, &public, &to_site).run();
    assert_ok!(o);
    for r in ["rel/go:2", "rel/pod:2"] {
        let got = skopeo_raw(&format!("docker://{}/site/{r}", site.addr));
        assert_eq!(got, want(r), "{r}");
    }

    // skopeo copies it, every layer checked against its digest.
    let o = Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(at("rel/pod:2"))
        .arg(format!("dir:{}", w.join("copied").display()))
        .output()
        .unwrap();
    assert_ok!(o);

    // An OCI layout holding release 1; a fresh one with the base bundle given.
    let oci = w.join("oci");
    let to = format!("oci:{}", oci.display());
    assert_ok!(load(&full1, &public, &to).run());
    let o = load(&delta, &public, &to).run();
    assert_ok!(o);
    let fresh = w.join("fresh");
    let to_fresh = format!("oci:{}", fresh.display());
    let o = load(&delta, &public, &to_fresh)
        .args(["--image", &pod2, "--base", since])
        .run();
    assert_ok!(o);
    for (dir, r) in [
        (&oci, "rel/go:2"),
        (&oci, "rel/pod:2"),
        (&fresh, "rel/pod:2"),
    ] {
        let name = format!("{}/{r}", src.reg.addr);
        let got = skopeo_raw(&format!("oci:{}:{name}", dir.display()));
        assert_eq!(got, want(r), "{r} in {}", dir.display());
        let o = Command::new("skopeo")
            .args(["copy", "--quiet"])
            .arg(format!("oci:{}:{name}", dir.display()))
            .arg(format!(
                "dir:{}",
                w.join(format!("c-{}", dir.display().to_string().len()))
                    .display()
            ))
            .output()
            .unwrap();
        assert_ok!(o);
    }

    // The reference missing at the target: named, and nothing written.
    let empty = w.join("empty");
    let o = load(&delta, &public, &format!("oci:{}", empty.display()))
        .args(["--image", &pod2])
        .run();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("carried as a delta against layer"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("nothing was written"), "{}", text(&o));
    assert!(!empty.join("index.json").exists());

    // serve BASE DELTA answers release 2 as the source does.
    let served = Served::start(&[since, delta.to_str().unwrap(), "--key", &public]);
    for r in ["rel/go:2", "rel/pod:2"] {
        assert_eq!(
            skopeo_raw(&format!("docker://{}/{r}", served.addr)),
            want(r)
        );
    }
    skopeo_copies_release_two(served, &w.join("served"));
    // Served alone, the delta is refused with a sentence that says what to add.
    let o = bundle!("serve {} --key {} --listen 127.0.0.1:0", delta, public).run();
    assert!(!o.status.success(), "{}", text(&o));

    // A changed byte in a delta: refused by verify and by load (exit 3), no tag written.
    let bytes = std::fs::read(&delta).unwrap();
    let index = bundle_file::seek_index(&bytes).0;
    let member = index["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap())
        .find(|p| p.ends_with(".delta"))
        .unwrap()
        .to_string();
    let bad = w.join("bad.bundle");
    std::fs::write(
        &bad,
        crate::compact::reframed_with_a_changed_byte(&bytes, &member, |n| n - 40),
    )
    .unwrap();
    let v = bundle!("verify {} --key {}", bad, public).run();
    assert_eq!(v.status.code(), Some(3), "{}", text(&v));
    let again = Registry::start();
    assert_ok!(load(&full1, &public, &again.target()).run());
    let o = load(&bad, &public, &again.target()).run();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert_eq!(again.tags("rel/go"), vec!["1".to_string()]);
    assert_eq!(again.tags("rel/pod"), vec!["1".to_string()]);
}

#[test]
fn both_releases_in_one_compact_bundle_carry_the_second_as_deltas_against_the_first() {
    let src = releases();
    let w = src.work.path();
    let (key, public) = keypair(w);
    let one = plain_list(w, &src.reg, &["rel/go:1", "rel/pod:1"]);
    let r1 = w.join("r1.bundle");
    assert_ok!(bundle!(
        "create {} -o {} --no-cache --quiet --key {} --compact",
        one,
        r1,
        key
    )
    .run());
    std::fs::create_dir_all(w.join("both")).unwrap();
    let all = ["rel/go:1", "rel/pod:1", "rel/go:2", "rel/pod:2"];
    let list = plain_list(&w.join("both"), &src.reg, &all);
    let both = w.join("both.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {} --compact",
        list,
        both,
        key
    )
    .run();
    assert_ok!(o);
    let out = text(&bundle!("inspect {}", both).run());
    assert_eq!(out.matches(" delta against sha256:").count(), 2, "{out}");
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    // Release 2 adds about what changed, not two more layers.
    assert!(
        size(&both) < size(&r1) + size(&r1) / 5,
        "{} vs {}",
        size(&both),
        size(&r1)
    );

    // verify rebuilds the deltas from the bundle's own layers.
    let v = bundle!("verify {} --key {}", both, public).run();
    assert_ok!(v);
    assert!(!text(&v).contains("carried as deltas"), "{}", text(&v));

    let want = |r: &str| skopeo_raw(&format!("docker://{}/{r}", src.reg.addr));
    // From the file, into an empty registry; release 2 alone too.
    let dst = Registry::start();
    let o = load(&both, &public, &dst.target()).run();
    assert_ok!(o);
    let pod2 = format!("{}/rel/pod:2", src.reg.addr);
    let alone = Registry::start();
    let o = load(&both, &public, &alone.target())
        .args(["--image", &pod2])
        .run();
    assert_ok!(o);
    assert_eq!(
        skopeo_raw(&format!("docker://{}/rel/pod:2", alone.addr)),
        want("rel/pod:2")
    );
    // From stdin, where each reference is kept as it streams past.
    let oci = w.join("oci");
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} load - --key {public} -q --to oci:{} < {}",
            bundle_bin().display(),
            oci.display(),
            both.display()
        ))
        .output()
        .unwrap();
    assert_ok!(o);
    for r in all {
        assert_eq!(
            skopeo_raw(&format!("docker://{}/{r}", dst.addr)),
            want(r),
            "{r}"
        );
        let name = format!("{}/{r}", src.reg.addr);
        assert_eq!(
            skopeo_raw(&format!("oci:{}:{name}", oci.display())),
            want(r),
            "{r}"
        );
    }
    // serve answers from the one file.
    let served = Served::start(&[both.to_str().unwrap(), "--key", &public]);
    skopeo_copies_release_two(served, &w.join("served"));
}
