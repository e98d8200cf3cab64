//! What an operator trips on over a release cycle (issue 28): each test failed on the code
//! before its fix.

use crate::common::*;

/// Two registries holding different images under the same path and tag, `team/app:1.0`, and
/// the list naming both.
struct Clash {
    a: Registry,
    b: Registry,
    _imgs: TestImages,
    work: tempfile::TempDir,
    list: std::path::PathBuf,
}

fn clash() -> Clash {
    let imgs = build_test_images();
    let (a, b) = (Registry::start(), Registry::start());
    let d = imgs.layout_dir.path();
    a.push(d, "app1", "team/app:1.0", &[]);
    b.push(d, "app2", "team/app:1.0", &[]);
    let work = tempfile::tempdir().unwrap();
    let list = write_list(
        work.path(),
        &format!(
            "images:\n  - {}/team/app:1.0\n  - {}/team/app:1.0\nregistries:\n  {}:\n    plain-http: true\n  {}:\n    plain-http: true\n",
            a.addr, b.addr, a.addr, b.addr
        ),
    );
    Clash {
        a,
        b,
        _imgs: imgs,
        work,
        list,
    }
}

#[test]
fn create_refuses_two_images_that_drop_to_one_name() {
    let c = clash();
    let out = c.work.path().join("clash.bundle");
    let o = create(&c.list, &out, &["--unsigned"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    for needle in [
        format!("{}/team/app:1.0", c.a.addr),
        format!("{}/team/app:1.0", c.b.addr),
        "line 2".to_string(),
        "line 3".to_string(),
        "--keep-registry".to_string(),
    ] {
        assert!(err.contains(&needle), "missing {needle:?}: {}", text(&o));
    }
    assert!(!out.exists(), "a bundle was written");
    // Told apart by their registry at the site, the two may travel together.
    let o = create(&c.list, &out, &["--unsigned", "--keep-registry"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn load_refuses_two_images_under_one_target_name_before_writing() {
    let c = clash();
    let out = c.work.path().join("clash.bundle");
    let o = create(&c.list, &out, &["--unsigned", "--keep-registry"]);
    assert!(o.status.success(), "{}", text(&o));
    let site = Registry::start();
    let o = bundle!(
        "load {} --allow-unsigned --to registry://{}/clash --plain-http -q",
        out,
        site.addr
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    for needle in [
        format!("{}/team/app:1.0", c.a.addr),
        format!("{}/team/app:1.0", c.b.addr),
        format!("{}/clash/team/app:1.0", site.addr),
        "--keep-registry".to_string(),
        "nothing was written".to_string(),
    ] {
        assert!(err.contains(&needle), "missing {needle:?}: {}", text(&o));
    }
    assert!(site.tags("clash/team/app").is_empty(), "a tag was written");
    // Kept apart by their registry, both arrive, each with its own digest.
    let o = bundle!(
        "load {} --allow-unsigned --to registry://{}/clash --plain-http -q --keep-registry",
        out,
        site.addr
    );
    assert!(o.status.success(), "{}", text(&o));
    for src in [&c.a, &c.b] {
        let repo = format!("clash/{}/team/app:1.0", src.addr.replace(':', "_"));
        assert_eq!(
            site.digest_of(&repo),
            src.digest_of("team/app:1.0"),
            "{repo}"
        );
    }
    // A rewrite that sends one elsewhere resolves it too.
    let rule = format!("{}/team=a/team", c.a.addr.replace(':', "_"));
    let o = bundle!(
        "load {} --allow-unsigned --to registry://{}/r --plain-http -q --keep-registry --rewrite {} --rewrite {}=",
        out,
        site.addr,
        rule,
        c.b.addr.replace(':', "_")
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(site.digest_of("r/a/team/app:1.0"), c.a.digest_of("team/app:1.0"));
    assert_eq!(site.digest_of("r/team/app:1.0"), c.b.digest_of("team/app:1.0"));
}
