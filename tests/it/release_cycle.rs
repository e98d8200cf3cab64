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

/// The command failed with exit 1 and said `needle` on stderr.
fn refused(o: &std::process::Output, needle: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(needle), "missing {needle:?}: {}", text(o));
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
    let o = bundle!("create {} -o {} --no-cache --quiet --unsigned", c.list, out).run();
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
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --keep-registry",
        c.list,
        out
    )
    .run();
    assert_ok!(o);
}

#[test]
fn load_refuses_two_images_under_one_target_name_before_writing() {
    let c = clash();
    let out = c.work.path().join("clash.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --keep-registry",
        c.list,
        out
    )
    .run();
    assert_ok!(o);
    let site = Registry::start();
    let o = bundle!(
        "load {} --allow-unsigned --to registry://{}/clash --plain-http -q",
        out,
        site.addr
    )
    .run();
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
    )
    .run();
    assert_ok!(o);
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
    ).run();
    assert_ok!(o);
    assert_eq!(
        site.digest_of("r/a/team/app:1.0"),
        c.a.digest_of("team/app:1.0")
    );
    assert_eq!(
        site.digest_of("r/team/app:1.0"),
        c.b.digest_of("team/app:1.0")
    );
}

/// A site's chain: release 1 (full), release 2 (a delta over 1), release 3 (a delta over 2).
/// Release 3 leaves out the shared base layer (carried only by release 1) and app2's layer
/// (carried by release 2).
fn chain_of_releases() -> (Registry, tempfile::TempDir, String, [std::path::PathBuf; 3]) {
    let (src, imgs) = registry_with_images();
    src.push(imgs.layout_dir.path(), "multi", "team/app1:2.0", &[]);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (key, public) = keypair(w);
    let r = [
        w.join("r1.bundle"),
        w.join("r2.bundle"),
        w.join("r3.bundle"),
    ];
    let lists: [&[&str]; 3] = [
        &["team/app1:1.0"],
        &["team/app1:1.0", "team/app2:1.0"],
        &["team/app2:1.0", "team/app1:2.0"],
    ];
    for (i, images) in lists.iter().enumerate() {
        let list = plain_list(w, &src, images);
        let mut extra = vec!["--key", key.as_str()];
        let since;
        if i > 0 {
            since = r[i - 1].display().to_string();
            extra.extend(["--since", since.as_str()]);
        }
        let o = bundle!("create {} -o {} --no-cache --quiet", list, r[i])
            .args(&extra)
            .run();
        assert_ok!(o);
    }
    (src, work, public, r)
}

#[test]
fn a_plain_delta_loads_into_an_empty_target_from_the_chain_of_bases() {
    let (src, work, public, [r1, r2, r3]) = chain_of_releases();
    let w = work.path();
    let archive = w.join("b.tar");
    let to_archive = format!("docker-archive:{}", archive.display());
    // No base: the target cannot hold what the delta leaves out.
    let o = bundle!("load {} --key {} --to {} -q", r3, public, to_archive).run();
    refused(&o, "--base");
    assert!(!archive.exists());
    // Release 2 alone does not carry the base layer: release 1 does.
    let o = bundle!(
        "load {} --key {} --to {} -q --base {}",
        r3,
        public,
        to_archive,
        r2
    )
    .run();
    refused(&o, "nor in any --base bundle");
    assert!(!archive.exists());
    // The chain: every layer found, into a new archive and a new layout (also from stdin).
    let o = bundle!(
        "load {} --key {} --to {} -q --base {} --base {}",
        r3,
        public,
        to_archive,
        r1,
        r2
    )
    .run();
    assert_ok!(o);
    let layout = w.join("layout");
    let o = bundle!(
        "load {} --key {} --to {} -q --base {} --base {}",
        r3,
        public,
        format!("oci:{}", layout.display()),
        r1,
        r2
    )
    .run();
    assert_ok!(o);
    let piped = w.join("piped");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec {} load - --key {public} --to oci:{} -q --base {} --base {} < {}",
            bundle_bin().display(),
            piped.display(),
            r1.display(),
            r2.display(),
            r3.display()
        ))
        .output()
        .unwrap();
    assert_ok!(o);
    // (skopeo's oci: transport does not read app2's Docker schema2 manifest from a layout.)
    let copies = [
        format!("oci:{}:{}/team/app1:2.0", layout.display(), src.addr),
        format!("oci:{}:{}/team/app1:2.0", piped.display(), src.addr),
        format!(
            "docker-archive:{}:{}/team/app1:2.0",
            archive.display(),
            src.addr
        ),
        format!(
            "docker-archive:{}:{}/team/app2:1.0",
            archive.display(),
            src.addr
        ),
    ];
    for at in copies {
        let o = std::process::Command::new("skopeo")
            .args(["copy", "-q", &at, &format!("oci:{}/check:x", w.display())])
            .output()
            .unwrap();
        assert_ok!(o, "{at}");
    }
    for dir in [&layout, &piped] {
        let o = std::process::Command::new("skopeo")
            .args(["inspect", "--raw"])
            .arg(format!("oci:{}:{}/team/app1:2.0", dir.display(), src.addr))
            .output()
            .unwrap();
        assert_eq!(
            format!("sha256:{}", crate::common::layout::sha256_hex(&o.stdout)),
            src.digest_of("team/app1:2.0")
        );
    }
    // A base given where nothing is taken from it is said to be unused.
    let o = bundle!(
        "load {} --key {} --to oci:{} -q --base {}",
        r1,
        public,
        w.join("other"),
        r2
    )
    .run();
    assert_ok!(o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--base was not used"),
        "{}",
        text(&o)
    );
}

#[test]
fn inventory_of_a_registry_sees_the_images_loaded_by_digest() {
    let (src, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let pinned = format!("team/app2@{}", src.digest_of("team/app2:1.0"));
    let list = plain_list(w, &src, &["team/app1:1.0", &pinned, "team/multi:2.0"]);
    let b = w.join("pinned.bundle");
    let o = bundle!("create {} -o {} --no-cache --quiet --unsigned", list, b).run();
    assert_ok!(o);
    let site = Registry::start();
    let layout = w.join("layout");
    for to in [site.target(), format!("oci:{}", layout.display())] {
        let o = bundle!("load {} --allow-unsigned --to {} --plain-http -q", b, to).run();
        assert_ok!(o);
    }
    // Loaded twice: the record of what was pinned is not written again.
    let o = bundle!(
        "load {} --allow-unsigned --to registry://{} --plain-http -q",
        b,
        site.addr
    )
    .run();
    assert_ok!(o);
    let blobs = |from: String, name: &str| -> Vec<String> {
        let out = w.join(name);
        let o = bundle!("inventory --from {} --plain-http -o {}", from, out).run();
        assert_ok!(o);
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        v["blobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect()
    };
    let from_registry = blobs(site.target(), "reg.json");
    let from_oci = blobs(format!("oci:{}", layout.display()), "oci.json");
    assert!(
        from_registry.contains(&src.digest_of("team/app2:1.0")),
        "the pinned manifest is not in the registry's inventory: {from_registry:?}"
    );
    // Every blob the layout holds, the registry's inventory lists (it also lists the record).
    let missing: Vec<_> = from_oci
        .iter()
        .filter(|d| !from_registry.contains(d))
        .collect();
    assert!(
        missing.is_empty(),
        "not seen through the registry: {missing:?}"
    );
    assert_eq!(
        from_registry.len(),
        from_oci.len() + 1,
        "one record index more"
    );
}

fn json_of(o: &std::process::Output) -> serde_json::Value {
    assert_ok!(o);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn n(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key}: {v}"))
}

#[test]
fn every_command_counts_blobs_and_bytes_one_way_and_they_add_up() {
    let (src, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let cache = w.join("cache");
    let r1 = w.join("r1.bundle");
    let l1 = plain_list(w, &src, &["team/app1:1.0", "team/multi:2.0"]);
    let cache_arg = format!("--cache-dir={}", cache.display());
    let run = |out: &std::path::Path| {
        bundle!(
            "create {} -o {} --unsigned --json -q {}",
            l1,
            out,
            cache_arg
        )
        .run()
    };
    let c1 = json_of(&run(&r1));
    let info = inspect_json(&r1);
    for key in ["manifests", "blobs", "blobBytes"] {
        assert_eq!(c1[key], info[key], "{key}: create {c1} inspect {info}");
    }
    // A cold cache: every blob byte crossed the link.
    assert_eq!(n(&c1, "bytesPulled"), n(&c1, "blobBytes"), "{c1}");
    assert_eq!(n(&c1, "bytesCached"), 0, "{c1}");
    // An interrupted download, resumed: only the rest crosses the link.
    let blobs_dir = cache.join("blobs/sha256");
    let biggest = std::fs::read_dir(&blobs_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let size = std::fs::metadata(&biggest).unwrap().len();
    let half = std::fs::read(&biggest).unwrap()[..(size / 2) as usize].to_vec();
    std::fs::remove_file(&biggest).unwrap();
    std::fs::write(biggest.with_extension("partial"), &half).unwrap();
    let again = w.join("again.bundle");
    let c2 = json_of(&run(&again));
    assert_eq!(n(&c2, "bytesPulled"), size - size / 2, "{c2}");
    assert_eq!(
        n(&c2, "bytesPulled") + n(&c2, "bytesCached"),
        n(&c2, "blobBytes"),
        "{c2}"
    );

    // A delta: what dedup saved, what --since left out and what is carried add up to every
    // use of a config or layer by the images.
    let l2 = plain_list(
        w,
        &src,
        &["team/app1:1.0", "team/app2:1.0", "team/multi:2.0"],
    );
    let r2 = w.join("r2.bundle");
    let o = bundle!(
        "create {} -o {} --unsigned --json -q --since {} {}",
        l2,
        r2,
        r1,
        cache_arg
    )
    .run();
    let c = json_of(&o);
    let uses: u64 = ["team/app1:1.0", "team/app2:1.0"]
        .iter()
        .map(|r| {
            let m: serde_json::Value = serde_json::from_slice(&src.raw_manifest(r)).unwrap();
            let layers: u64 = m["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["size"].as_u64().unwrap())
                .sum();
            layers + m["config"]["size"].as_u64().unwrap()
        })
        .sum::<u64>()
        + src_index_uses(&src);
    assert_eq!(
        n(&c, "bytesSavedByDedup") + n(&c, "bytesLeftOut") + n(&c, "blobBytes"),
        uses,
        "{c}"
    );
    assert!(n(&c, "blobsLeftOut") > 0, "{c}");
    let text_summary = bundle!(
        "create {} -o {} --unsigned --since {} {}",
        l2,
        w.join("t.bundle"),
        r1,
        cache_arg
    )
    .run();
    assert!(
        String::from_utf8_lossy(&text_summary.stdout).contains("left out:"),
        "{}",
        text(&text_summary)
    );

    // load: each blob once, as sent, already there or mounted; the same on a re-run.
    let site = Registry::start();
    for round in 0..2 {
        let o = bundle!(
            "load {} --allow-unsigned --to registry://{} --plain-http --json -q",
            r1,
            site.addr
        )
        .run();
        let l = json_of(&o);
        let t = &l["targets"][0];
        assert_eq!(
            n(t, "blobsSent") + n(t, "blobsPresent") + n(t, "blobsMounted"),
            n(&c1, "blobs"),
            "round {round}: {l}"
        );
        if round == 1 {
            assert_eq!(n(t, "blobsPresent"), n(&c1, "blobs"), "{l}");
        }
    }
    let v = json_of(&bundle!("verify {} --allow-unsigned --json", r1).run());
    for key in ["manifests", "blobs", "blobBytes"] {
        assert_eq!(v[key], info[key], "{key}: verify {v} inspect {info}");
    }

    // serve base and delta: each image once.
    let served = Served::start(&[
        r1.to_str().unwrap(),
        r2.to_str().unwrap(),
        "--allow-unsigned",
    ]);
    let log = served.stop();
    assert!(log.contains("serving 3 images"), "{log}");
}

/// Config and layer bytes of every platform of team/multi:2.0.
fn src_index_uses(src: &Registry) -> u64 {
    let idx: serde_json::Value =
        serde_json::from_slice(&src.raw_manifest("team/multi:2.0")).unwrap();
    idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let r = format!("team/multi@{}", d["digest"].as_str().unwrap());
            let m: serde_json::Value = serde_json::from_slice(&src.raw_manifest(&r)).unwrap();
            let layers: u64 = m["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["size"].as_u64().unwrap())
                .sum();
            layers + m["config"]["size"].as_u64().unwrap()
        })
        .sum()
}

/// A mismatch no retry can fix (plain HTTP against HTTPS, an untrusted certificate) fails at
/// once, even with retries left, and says what to set in the command's own terms.
#[test]
fn a_protocol_or_certificate_mismatch_is_not_retried_and_names_the_setting() {
    let (reg, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let tls = make_tls(w);
    let secure = Registry::start_tls_auth(&tls, "tester", "s3cret-pass");
    let b = w.join("small.bundle");
    let list = plain_list(w, &reg, &["team/app1:1.0"]);
    assert_ok!(bundle!("create {} -o {} --no-cache --quiet --unsigned", list, b).run());
    let quick = |o: &std::process::Output, started: std::time::Instant, needles: &[&str]| {
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(1), "{err}");
        // --retries 5 with backoff took 5.6-6.5 s before.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{:?}: {err}",
            started.elapsed()
        );
        for n in needles {
            assert!(err.contains(n), "missing {n:?}: {err}");
        }
    };
    // create, untrusted CA: the image list's ca-file.
    let l = write_list(w, &format!("images:\n  - {}/team/app1:1.0\n", secure.addr));
    let t = std::time::Instant::now();
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --retries 5",
        l,
        w.join("x.bundle")
    )
    .run();
    quick(&o, t, &["not trusted", "ca-file: PEM", "certs.d"]);
    // create from a plain-text list: no registries: section to point at.
    let txt = w.join("list.txt");
    std::fs::write(&txt, format!("{}/team/app1:1.0\n", reg.addr)).unwrap();
    let t = std::time::Instant::now();
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --retries 5",
        txt,
        w.join("x.bundle")
    )
    .run();
    quick(&o, t, &["plain HTTP", "--plain-http", "plain-text list"]);
    // A registries: key that matches no image is named, with its line.
    let l = write_list(
        w,
        &format!("images:\n  - {0}/team/app1:1.0\nregistries:\n  http://{0}:\n    {{}}\n  quay.io:\n    plain-http: true\n", reg.addr),
    );
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned",
        l,
        w.join("z.bundle")
    )
    .run();
    assert_ok!(o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("images.yaml:6: registries: quay.io matches no image"),
        "{}",
        text(&o)
    );
    // load, untrusted CA: --ca-file.
    let t = std::time::Instant::now();
    let o = bundle!(
        "load {} --allow-unsigned -q --retries 5 --to registry://{}",
        b,
        secure.addr
    )
    .run();
    quick(&o, t, &["not trusted", "--ca-file"]);
    // load, plain HTTP registry without --plain-http.
    let t = std::time::Instant::now();
    let o = bundle!(
        "load {} --allow-unsigned -q --retries 5 --to registry://{}",
        b,
        reg.addr
    )
    .run();
    quick(&o, t, &["plain HTTP", "--plain-http"]);
    // load without credentials: load's flags, not the image list's keys.
    let o = bundle!(
        "load {} --allow-unsigned -q --retries 0 --ca-file {} --to registry://{}",
        b,
        tls.ca_pem,
        secure.addr
    )
    .run();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("--password-stdin") && !err.contains("username-env"),
        "{err}"
    );
    // create without a key: the way out is named.
    let o = bundle!("create {} -o {}", list, w.join("y.bundle")).run();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--unsigned"),
        "{}",
        text(&o)
    );
}

#[test]
fn json_says_failure_in_json_and_split_names_the_parts_it_wrote() {
    let (src, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let list = plain_list(w, &src, &["team/app1:1.0", "team/nope:1.0"]);
    let out = w.join("x.bundle");
    let o = bundle!(
        "create {} -o {} --unsigned --json -q --retries 0",
        list,
        out
    )
    .run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(v["written"], false, "{v}");
    assert_eq!(v["exitCode"], 1, "{v}");
    assert!(v["error"].as_str().unwrap().contains("team/nope"), "{v}");
    let o = bundle!(
        "load {} --allow-unsigned --json -q --to oci:{}",
        w.join("missing.bundle"),
        w.join("l")
    )
    .run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(v["loaded"], false, "{v}");
    // A bundle that fits in one part: one part is named, no more.
    let list = plain_list(w, &src, &["team/app1:1.0"]);
    let o = bundle!(
        "create {} -o {} --unsigned --split 50M --no-cache",
        list,
        out
    )
    .run();
    assert_ok!(o);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("x.bundle.part001 (one part") && !said.contains("part002"),
        "{said}"
    );
    assert!(!w.join("x.bundle.part002").exists());
}

/// The keys docs/CLI.md's `--json` table lists for `row` (optional ones after "when").
fn documented_keys(row: &str) -> (Vec<String>, Vec<String>) {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CLI.md")).unwrap();
    let line = doc
        .lines()
        .find(|l| l.starts_with(&format!("| {row} |")))
        .unwrap_or_else(|| panic!("no row {row:?} in docs/CLI.md"));
    let keys = line.split(" | ").nth(1).unwrap();
    let (always, optional) = keys.split_once("when there are any").unwrap_or((keys, ""));
    let words = |s: &str| -> Vec<String> {
        s.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    (words(always), words(optional))
}

fn assert_keys(row: &str, v: &serde_json::Value) {
    let (always, optional) = documented_keys(row);
    let got: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("{row}: {v}"))
        .keys()
        .cloned()
        .collect();
    for k in &always {
        assert!(got.contains(k), "{row}: documented {k} missing: {v}");
    }
    for k in &got {
        assert!(
            always.contains(k) || optional.contains(k),
            "{row}: {k} is not documented: {v}"
        );
    }
}

#[test]
fn json_keys_are_the_documented_ones() {
    let (src, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let list = plain_list(w, &src, &["team/app1:1.0"]);
    let b = w.join("b.bundle");
    let run = |o: std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
    };
    assert_keys(
        "`create`",
        &run(bundle!("create {} -o {} --unsigned --json -q --no-cache", list, b).run()),
    );
    let bad = plain_list(w, &src, &["team/nope:1.0"]);
    assert_keys(
        "`create`, failed",
        &run(bundle!(
            "create {} -o {} --unsigned --json -q --no-cache",
            bad,
            w.join("n.bundle")
        )
        .run()),
    );
    let l = run(bundle!(
        "load {} --allow-unsigned --json -q --to oci:{}",
        b,
        w.join("l")
    )
    .run());
    assert_keys("`load`", &l);
    assert_keys("`load` target", &l["targets"][0]);
    assert_keys(
        "`load`, failed",
        &run(bundle!(
            "load {} --allow-unsigned --json -q --to oci:{}",
            w.join("none"),
            w.join("l")
        )
        .run()),
    );
    assert_keys(
        "`verify`",
        &run(bundle!("verify {} --allow-unsigned --json", b).run()),
    );
    let (_key, public) = keypair(w);
    // Unsigned, and a key required: a verification failure.
    assert_keys(
        "`verify`, failed",
        &run(bundle!("verify {} --key {} --json", b, public).run()),
    );
    assert_keys("`inspect`", &inspect_json(&b));
}

#[test]
fn compact_says_why_a_layer_is_carried_as_it_came_in_the_summary_json_and_inspect() {
    let (src, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // The chart's one layer starts like gzip and is not: nothing to rebuild.
    let list = plain_list(w, &src, &["charts/demo:0.1.0"]);
    let b = w.join("c.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --compact",
        list,
        b
    )
    .run();
    assert_ok!(o);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("1 layer") && said.contains("stored as they came: "),
        "{said}"
    );
    let info = inspect_json(&b);
    let how = info["layers"][0]["how"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        how.starts_with("stored as they came: ") && how.len() > 21,
        "{info}"
    );
    let o = bundle!("inspect {}", b).run();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&how),
        "{}",
        text(&o)
    );
}

#[test]
fn load_image_takes_any_unambiguous_short_form() {
    let c = clash();
    let out = c.work.path().join("clash.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --keep-registry",
        c.list,
        out
    )
    .run();
    assert_ok!(o);
    let layout = c.work.path().join("l");
    let to = format!("oci:{}", layout.display());
    // The path without its registry names two images here: refused, naming both.
    let o = bundle!(
        "load {} --allow-unsigned -q --to {} --image team/app:1.0",
        out,
        to
    )
    .run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("could be any of") && err.contains(&c.a.addr) && err.contains(&c.b.addr),
        "{err}"
    );
    // A longer form picks one; the short form works where it is unique.
    let full = format!("{}/team/app:1.0", c.a.addr);
    let o = bundle!(
        "load {} --allow-unsigned -q --to {} --image {}",
        out,
        to,
        full
    )
    .run();
    assert_ok!(o);
    let (src, _imgs) = registry_with_images();
    let list = plain_list(c.work.path(), &src, &["team/app1:1.0", "team/app2:1.0"]);
    let b = c.work.path().join("two.bundle");
    assert_ok!(bundle!("create {} -o {} --no-cache --quiet --unsigned", list, b).run());
    let l2 = c.work.path().join("l2");
    let o = bundle!(
        "load {} --allow-unsigned -q --to oci:{} --image app2:1.0",
        b,
        l2
    )
    .run();
    assert_ok!(o);
    let index = std::fs::read_to_string(l2.join("index.json")).unwrap();
    assert!(
        index.contains("team/app2:1.0") && !index.contains("team/app1"),
        "{index}"
    );
}

#[test]
fn inspect_gives_each_image_its_size_and_the_part_it_shares() {
    let (src, imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let list = plain_list(work.path(), &src, &["team/app1:1.0", "team/app2:1.0"]);
    let b = work.path().join("b.bundle");
    assert_ok!(bundle!("create {} -o {} --no-cache --quiet --unsigned", list, b).run());
    let info = inspect_json(&b);
    let sizes = info["imageSizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 2, "{info}");
    for s in sizes {
        // The two apps share exactly their base layer.
        assert_eq!(s["sharedBytes"], imgs.base_layer.size, "{info}");
        assert!(n(s, "bytes") > imgs.base_layer.size, "{info}");
    }
    let total: u64 = sizes.iter().map(|s| n(s, "bytes")).sum();
    assert_eq!(
        total - imgs.base_layer.size,
        n(&info, "blobBytes"),
        "{info}"
    );
    let o = bundle!("inspect {}", b).run();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("shared with other images"),
        "{}",
        text(&o)
    );
}

#[test]
fn cache_shows_what_it_holds_and_prunes_by_use() {
    let (src, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let cache = w.join("cache");
    let list = plain_list(w, &src, &["team/app1:1.0"]);
    let c = json_of(
        &bundle!(
            "create {} -o {} --unsigned --json -q --cache-dir {}",
            list,
            w.join("a.bundle"),
            cache
        )
        .run(),
    );
    let u = json_of(&bundle!("cache --cache-dir {} --json", cache).run());
    assert_eq!(u["blobs"]["files"], c["blobs"], "{u} {c}");
    assert_eq!(u["blobs"]["bytes"], c["blobBytes"], "{u} {c}");
    // Nothing is a day old: an age prune keeps all; a size prune of 0 removes all.
    let p = json_of(&bundle!("cache --cache-dir {} --prune --older-than 1d --json", cache).run());
    assert_eq!(p["removed"]["files"], 0, "{p}");
    let p = json_of(&bundle!("cache --cache-dir {} --prune --max-size 0 --json", cache).run());
    assert_eq!(p["kept"]["files"], 0, "{p}");
    let u = json_of(&bundle!("cache --cache-dir {} --json", cache).run());
    assert_eq!(u["blobs"]["files"], 0, "{u}");
    // --older-than without --prune is a usage error.
    let o = bundle!("cache --cache-dir {} --older-than 1d", cache).run();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_dry_run_downloads_and_writes_nothing_and_predicts_the_bundle() {
    let (src, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let cache = w.join("cache");
    let list = plain_list(
        w,
        &src,
        &["team/app1:1.0", "team/app2:1.0", "team/multi:2.0"],
    );
    let out = w.join("d.bundle");
    let dry = json_of(
        &bundle!(
            "create {} -o {} --dry-run --json -q --split 1M --cache-dir {}",
            list,
            out,
            cache
        )
        .run(),
    );
    assert_eq!(
        (dry["dryRun"].clone(), dry["written"].clone()),
        (true.into(), false.into()),
        "{dry}"
    );
    assert!(!out.exists() && !w.join("d.bundle.part001").exists());
    let u = json_of(&bundle!("cache --cache-dir {} --json", cache).run());
    assert_eq!(u["blobs"]["files"], 0, "nothing downloaded: {u}");
    let real = json_of(
        &bundle!(
            "create {} -o {} --unsigned --json -q --split 1M --cache-dir {}",
            list,
            out,
            cache
        )
        .run(),
    );
    for key in [
        "images",
        "platforms",
        "manifests",
        "blobs",
        "blobBytes",
        "bytesSavedByDedup",
    ] {
        assert_eq!(dry[key], real[key], "{key}: dry {dry} real {real}");
    }
    let (est, size) = (n(&dry, "bundleSize") as f64, n(&real, "bundleSize") as f64);
    assert!((est / size - 1.0).abs() < 0.1, "estimate {est} for {size}");
    assert!(
        (n(&dry, "parts") as i64 - n(&real, "parts") as i64).abs() <= 1,
        "{dry} {real}"
    );
    let o = bundle!(
        "create {} -o {} --dry-run --since {}",
        list,
        w.join("e.bundle"),
        out
    )
    .run();
    assert_ok!(o);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains("dry run") && said.contains("left out:"),
        "{said}"
    );
}

/// A user who may not write the target: one line saying so, before anything is tried.
#[test]
fn a_target_the_user_may_not_write_is_one_error() {
    let (src, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let list = plain_list(w, &src, &["team/app1:1.0", "team/app2:1.0"]);
    let b = w.join("b.bundle");
    assert_ok!(bundle!("create {} -o {} --no-cache --quiet --unsigned", list, b).run());
    // Readable by anyone, writable by root only.
    let shut = w.join("shut");
    std::fs::create_dir(&shut).unwrap();
    for p in [w, b.as_path()] {
        use std::os::unix::fs::PermissionsExt;
        let mode = if p.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    for to in [
        format!("oci:{}", shut.join("layout").display()),
        format!("docker-archive:{}", shut.join("a.tar").display()),
    ] {
        let o = bundle!("load {} --allow-unsigned -q --to {}", b, to)
            .under([
                "setpriv",
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
            ])
            .run();
        assert_eq!(o.status.code(), Some(1), "{to}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            err.trim().lines().count(),
            1,
            "{to}: one cause, one line: {err}"
        );
        assert!(
            err.contains("ermission denied") || err.contains("cannot write"),
            "{to}: {err}"
        );
    }
}

/// Files planted in an `oci:` target (issue 31, item 9) are not followed or trusted.
#[test]
fn planted_links_in_an_oci_layout_are_not_followed() {
    let (src, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let list = plain_list(w, &src, &["team/app1:1.0"]);
    let b = w.join("b.bundle");
    assert_ok!(bundle!("create {} -o {} --no-cache --quiet --unsigned", list, b).run());
    let load =
        |dir: &std::path::Path| bundle!("load {} --allow-unsigned -q --to oci:{}", b, dir).run();
    // blobs/sha256 a link to a directory outside the layout: refused, nothing written there.
    let outside = w.join("outside");
    std::fs::create_dir(&outside).unwrap();
    let l1 = w.join("l1");
    std::fs::create_dir_all(l1.join("blobs")).unwrap();
    std::os::unix::fs::symlink(&outside, l1.join("blobs/sha256")).unwrap();
    let o = load(&l1);
    refused(&o, "symbolic link");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    // index.json a link to /dev/zero: refused at once, not read forever.
    let l2 = w.join("l2");
    std::fs::create_dir(&l2).unwrap();
    std::os::unix::fs::symlink("/dev/zero", l2.join("index.json")).unwrap();
    let started = std::time::Instant::now();
    let o = load(&l2);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // A blob that is a link to junk of the right size is written over, not trusted.
    let l3 = w.join("l3");
    assert_ok!(load(&l3));
    let blobs = l3.join("blobs/sha256");
    let victim = std::fs::read_dir(&blobs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let size = std::fs::metadata(&victim).unwrap().len();
    let junk = w.join("junk");
    std::fs::write(&junk, vec![b'x'; size as usize]).unwrap();
    std::fs::remove_file(&victim).unwrap();
    std::os::unix::fs::symlink(&junk, &victim).unwrap();
    assert_ok!(load(&l3));
    assert!(!victim.symlink_metadata().unwrap().file_type().is_symlink());
    let name = victim.file_name().unwrap().to_string_lossy().to_string();
    assert_eq!(
        crate::common::layout::sha256_hex(&std::fs::read(&victim).unwrap()),
        name
    );
    // The parts list of a split bundle a link to /dev/zero: refused before it is read.
    let parts = w.join("p.bundle");
    assert_ok!(bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --split 1M",
        list,
        parts
    )
    .run());
    let pl = w.join("p.bundle.split.json");
    std::fs::remove_file(&pl).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &pl).unwrap();
    let o = bundle!("verify {} --allow-unsigned", w.join("p.bundle.part001")).run();
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
}
