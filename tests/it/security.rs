//! Attacks and interoperability (issue 16): each test fails on the code before its fix.

use crate::common::*;
use std::process::Command;

#[test]
fn the_private_key_keygen_writes_is_read_by_openssl() {
    require("openssl");
    let work = tempfile::tempdir().unwrap();
    let (key, public) = keypair(work.path());
    let o = Command::new("openssl")
        .args(["pkey", "-in", &key, "-pubout"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // The public key openssl derives is the one keygen wrote.
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        std::fs::read_to_string(&public).unwrap()
    );
}

#[test]
fn a_symlink_planted_at_a_temp_name_is_not_followed() {
    let (reg, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let victim = w.join("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    let list = plain_list(w, &reg, &["team/app1:1.0"]);
    let out = w.join("site.bundle");
    std::os::unix::fs::symlink(&victim, w.join("site.bundle.partial")).unwrap();
    let o = create(&list, &out, &["--unsigned"]);
    assert!(o.status.success(), "{}", text(&o));
    let inv = w.join("inv.json");
    std::os::unix::fs::symlink(&victim, w.join("inv.json.partial")).unwrap();
    let layout = w.join("layout");
    let o = bundle!("load {} --allow-unsigned -q --to oci:{}", out, layout);
    assert!(o.status.success(), "{}", text(&o));
    let o = bundle!("inventory --from oci:{} -o {}", layout, inv);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    for f in [&out, &inv] {
        let meta = std::fs::symlink_metadata(f).unwrap();
        assert!(
            meta.file_type().is_file(),
            "{} is not a plain file",
            f.display()
        );
    }
}

#[test]
fn a_server_that_ignores_range_and_sends_short_bodies_does_not_loop_forever() {
    let (reg, _imgs) = registry_with_images();
    let proxy = FaultProxy::start(&reg.addr, Fault::ShortIgnoringRange);
    let work = tempfile::tempdir().unwrap();
    let list = plain_list(work.path(), &reg, &["team/app1:1.0"]);
    let list_text = std::fs::read_to_string(&list)
        .unwrap()
        .replace(&reg.addr, &proxy.addr);
    std::fs::write(&list, list_text).unwrap();
    let out = work.path().join("x.bundle");
    let mut child = Command::new(bundle_bin())
        .args([
            "create",
            list.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .args(["--unsigned", "--no-cache", "-q", "--retries", "2"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if started.elapsed().as_secs() >= 60 {
            let _ = child.kill();
            let gets = proxy
                .requests
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.contains("/blobs/"))
                .count();
            panic!("still downloading after 60 s ({gets} blob GETs)");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let o = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("download kept failing"),
        "{}",
        text(&o)
    );
    assert!(!out.exists());
}
