//! `bundle verify`: a good bundle passes; a change of any byte, a truncation, another key or a
//! missing signature is refused with exit code 3 and one clear sentence.

use crate::common::*;
use std::path::{Path, PathBuf};

fn verify(file: &Path, key: &str) -> std::process::Output {
    bundle!("verify {} --key {}", file, key).run()
}

struct Fixture {
    _reg: Registry,
    _imgs: TestImages,
    work: tempfile::TempDir,
    good: PathBuf,
    public: String,
    layer_digest: String,
}

fn fixture() -> Fixture {
    let (reg, imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let (key, public) = keypair(work.path());
    let list = plain_list(work.path(), &reg, &["team/app1:1.0", "team/multi:2.0"]);
    let good = work.path().join("good.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {}",
        list,
        good,
        key
    )
    .run();
    assert_ok!(o);
    let layer_digest = imgs.base_layer.digest.clone();
    Fixture {
        _reg: reg,
        _imgs: imgs,
        work,
        good,
        public,
        layer_digest,
    }
}

#[test]
fn a_good_bundle_verifies_and_every_tampered_region_is_refused() {
    let f = fixture();
    let o = verify(&f.good, &f.public);
    assert_ok!(o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("OK") && out.contains("signature: valid"),
        "{out}"
    );

    let bytes = std::fs::read(&f.good).unwrap();
    let regions = tamper_points(&bytes, &f.layer_digest);
    for (what, at) in regions {
        let mut bad = bytes.clone();
        bad[at] ^= 0x01;
        let p = f.work.path().join("bad.bundle");
        std::fs::write(&p, &bad).unwrap();
        let o = verify(&p, &f.public);
        let code = o.status.code();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success(),
            "flipped byte in {what} (offset {at}) was accepted"
        );
        let expected = if what == "bundle header" { 1 } else { 3 };
        assert_eq!(code, Some(expected), "{what}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{what}: one sentence: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
    }

    // Truncated anywhere: refused.
    for cut in [bytes.len() - 1, bytes.len() / 2, 100, 10] {
        let p = f.work.path().join("short.bundle");
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let o = verify(&p, &f.public);
        assert!(!o.status.success(), "truncated to {cut} was accepted");
        assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
    }
}

#[test]
fn wrong_key_unsigned_and_key_rotation() {
    let f = fixture();
    let other = f.work.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let o = bundle!("keygen --out {}", other.join("old")).run();
    assert_ok!(o);
    let o = verify(&f.good, other.join("old.pub").to_str().unwrap());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not among the 1 trusted key"),
        "{}",
        text(&o)
    );

    // --key DIR holding the old and the current key (rotation): accepted.
    std::fs::copy(&f.public, other.join("current.pub")).unwrap();
    let o = bundle!("verify {} --key {}", f.good, other).run();
    assert_ok!(o);

    // A bundle whose bundle.json was re-signed by an untrusted key after changing it.
    let list = f.work.path().join("images.yaml");
    let unsigned = f.work.path().join("unsigned.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned",
        list,
        unsigned
    )
    .run();
    assert_ok!(o);
    let o = verify(&unsigned, &f.public);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--allow-unsigned"),
        "{}",
        text(&o)
    );
    let o = bundle!("verify {} --allow-unsigned", unsigned).run();
    assert_ok!(o);

    let o = bundle!(
        "verify {} --key {}",
        f.work.path().join("images.yaml"),
        f.public
    )
    .run();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not a bundle"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_missing_file_is_named_once_with_its_cause_once() {
    let work = tempfile::tempdir().unwrap();
    let missing = work.path().join("nope.pub");
    for args in [
        vec!["verify", "x.bundle", "--key", missing.to_str().unwrap()],
        vec!["inspect", missing.to_str().unwrap()],
    ] {
        let o = BundleCommand::new(&args).run();
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
        assert_eq!(err.matches("nope.pub").count(), 1, "{err}");
    }
}
