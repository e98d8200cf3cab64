//! Split bundles for removable media: parts of a fixed size, a signed parts list, readers that
//! take the first part or the base name, exact messages for a missing, cut or corrupt part.

use crate::common::*;
use std::path::{Path, PathBuf};

const ALL: [&str; 4] = [
    "team/app1:1.0",
    "team/app2:1.0",
    "team/multi:2.0",
    "charts/demo:0.1.0",
];

fn part(base: &Path, n: usize) -> PathBuf {
    PathBuf::from(format!("{}.part{n:03}", base.display()))
}

#[test]
fn split_bundle_verifies_loads_and_names_a_bad_part() {
    let (src, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (key, public) = keypair(w);
    let list = plain_list(w, &src, &ALL);
    let base = w.join("site.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {} --split 1M",
        list,
        base,
        key
    )
    .run();
    assert_ok!(o);
    assert!(!base.exists(), "no single file is written");
    let parts: Vec<PathBuf> = (1..)
        .map(|n| part(&base, n))
        .take_while(|p| p.exists())
        .collect();
    assert!(parts.len() >= 3, "{} parts", parts.len());
    for p in &parts[..parts.len() - 1] {
        assert_eq!(
            std::fs::metadata(p).unwrap().len(),
            1_000_000,
            "{}",
            p.display()
        );
    }
    let list_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.join("site.bundle.split.json")).unwrap()).unwrap();
    assert_eq!(list_json["parts"].as_array().unwrap().len(), parts.len());
    assert!(w.join("site.bundle.split.json.sig").exists());

    // The documented command, in a shell, run where the parts and their list are (as a user
    // who copied the medium to disk would): `cat FILE.part* > FILE` is the single-file bundle.
    let copy = w.join("copy");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir(w).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("site.bundle.") {
            std::fs::copy(&p, copy.join(&name)).unwrap();
        }
    }
    let o = std::process::Command::new("sh")
        .args(["-c", "cat site.bundle.part* > site.bundle"])
        .current_dir(&copy)
        .output()
        .unwrap();
    assert_ok!(o);
    let joined = copy.join("site.bundle");
    let all = std::fs::read(&joined).unwrap();
    assert_eq!(
        list_json["sha256"].as_str().unwrap(),
        crate::common::layout::sha256_hex(&all)
    );
    let o = bundle!("verify {} --key {}", joined, public).run();
    assert_ok!(o);

    // The first part, or the base name, stands for the whole set.
    for name in [part(&base, 1), base.clone()] {
        let o = bundle!("verify {} --key {}", name, public).run();
        assert_ok!(o, "{}", name.display());
    }
    assert_eq!(
        inspect_json(&part(&base, 1))["images"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    // load streams across the parts; skopeo reads the result.
    let dst = Registry::start();
    let o = bundle!(
        "load {} --key {} --to {} --plain-http -q",
        part(&base, 1),
        public,
        dst.target()
    )
    .run();
    assert_ok!(o);
    for repo in ALL {
        assert_eq!(dst.digest_of(repo), src.digest_of(repo), "{repo}");
    }

    let n = parts.len();
    let verify_err = || {
        let o = bundle!("verify {} --key {}", base, public).run();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    // A flipped byte in part 2.
    let good = std::fs::read(&parts[1]).unwrap();
    let mut bad = good.clone();
    bad[500_000] ^= 0x40;
    std::fs::write(&parts[1], &bad).unwrap();
    let (code, err) = verify_err();
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains(&format!("part 2 of {n}")) && err.contains("is corrupt"),
        "{err}"
    );
    std::fs::write(&parts[1], &good).unwrap();
    // A missing part.
    let aside = w.join("aside");
    std::fs::rename(&parts[2], &aside).unwrap();
    let (code, err) = verify_err();
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains(&format!("part 3 of {n}")) && err.contains("is missing"),
        "{err}"
    );
    // inspect names it too, given the first part or the base name.
    for name in [part(&base, 1), base.clone()] {
        let o = bundle!("inspect {}", name).run();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            err.contains(&format!("part 3 of {n}"))
                && err.contains("part003")
                && err.contains("is missing"),
            "{}",
            text(&o)
        );
    }
    std::fs::rename(&aside, &parts[2]).unwrap();
    // A last part cut short.
    let last = std::fs::read(&parts[n - 1]).unwrap();
    std::fs::write(&parts[n - 1], &last[..last.len() / 2]).unwrap();
    let (code, err) = verify_err();
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains(&format!("part {n} of {n}")) && err.contains("cut short"),
        "{err}"
    );
    std::fs::write(&parts[n - 1], &last).unwrap();
    // A parts list signed by someone else.
    let other = tempfile::tempdir().unwrap();
    let (_, other_pub) = keypair(other.path());
    let o = bundle!("verify {} --key {}", base, other_pub).run();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    // All good again.
    let (code, err) = verify_err();
    assert_eq!(code, Some(0), "{err}");
}
