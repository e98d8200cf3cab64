//! `bundle load` end to end: bundles made from one real registry, loaded into another registry
//! and into OCI layouts; skopeo is the judge of digests and layouts.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const ALL: [&str; 4] = [
    "team/app1:1.0",
    "team/app2:1.0",
    "team/multi:2.0",
    "charts/demo:0.1.0",
];

struct Made {
    src: Registry,
    imgs: TestImages,
    work: tempfile::TempDir,
    bundle: PathBuf,
    public: String,
}

fn made() -> Made {
    let (src, imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let (key, public) = keypair(work.path());
    let list = plain_list(work.path(), &src, &ALL);
    let bundle_path = work.path().join("site.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {}",
        list,
        bundle_path,
        key
    )
    .run();
    assert_ok!(o);
    Made {
        src,
        imgs,
        work,
        bundle: bundle_path,
        public,
    }
}

/// `ctr images ls` in `namespace` lists every image of the bundle under its name, with the
/// source's digest.
fn assert_every_image_in_containerd(ctd: &Containerd, namespace: &str, m: &Made) {
    let a = &m.src.addr;
    let o = ctd.ctr(&["-n", namespace, "images", "ls"]);
    let listing = String::from_utf8_lossy(&o.stdout).to_string();
    for repo in ALL {
        let line = listing
            .lines()
            .find(|l| l.starts_with(&format!("{a}/{repo} ")))
            .unwrap_or_else(|| panic!("{repo} not imported:\n{listing}"));
        assert!(line.contains(&m.src.digest_of(repo)), "{repo}: {line}");
    }
}

/// The same for the container images only (an archive for docker, podman and ctr leaves
/// artifacts out).
fn assert_every_container_image_in_containerd(ctd: &Containerd, namespace: &str, m: &Made) {
    let a = &m.src.addr;
    let o = ctd.ctr(&["-n", namespace, "images", "ls"]);
    let listing = String::from_utf8_lossy(&o.stdout).to_string();
    for repo in ALL.iter().filter(|r| !r.starts_with("charts/")) {
        let line = listing
            .lines()
            .find(|l| l.starts_with(&format!("{a}/{repo} ")))
            .unwrap_or_else(|| panic!("{repo} not imported:\n{listing}"));
        assert!(line.contains(&m.src.digest_of(repo)), "{repo}: {line}");
    }
    assert!(!listing.contains("charts/demo"), "{listing}");
}

fn child_digests(reg: &Registry, repo: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&reg.raw_manifest(repo)).unwrap();
    v["manifests"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["digest"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn round_trip_into_a_second_registry_keeps_every_digest() {
    let m = made();
    let dst = Registry::start();
    let target = format!("registry://{}/mirror", dst.addr);
    let o = load(&m.bundle, &m.public, &target).run();
    assert_ok!(o);
    let src_name = m.src.addr.clone();
    for repo in ALL {
        let loaded = format!("mirror/{src_name}/{repo}").replace(&format!("{src_name}/"), "");
        assert_eq!(dst.digest_of(&loaded), m.src.digest_of(repo), "{repo}");
    }
    // Every platform of the multi-platform index, by digest, on both sides.
    let children = child_digests(&m.src, "team/multi:2.0");
    assert_eq!(children.len(), 2);
    for c in &children {
        assert_eq!(dst.digest_of(&format!("mirror/team/multi@{c}")), *c);
    }
    // The shared base layer went over once and was mounted into the other repositories.
    let puts = dst
        .log_text()
        .lines()
        .filter(|l| {
            l.contains("\"PUT /v2/") && l.contains(&m.imgs.base_layer.digest.replace(':', "%3A"))
        })
        .count();
    assert_eq!(puts, 1, "{}", dst.log_text());

    // Loading again sends nothing: everything is already there.
    let o = bundle!(
        "load {} --key {} --to {} --plain-http --json",
        m.bundle,
        m.public,
        target
    )
    .run();
    assert_ok!(o);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["targets"][0]["blobsSent"], 0, "{r}");
    assert_eq!(r["targets"][0]["bytesSent"], 0);
}

#[test]
fn oci_layout_target_is_read_by_skopeo_and_merges_concurrent_loads() {
    let m = made();
    let dir = m.work.path().join("layout");
    let a = &m.src.addr;
    let spawn = |image: &str| {
        load(&m.bundle, &m.public, &format!("oci:{}", dir.display()))
            .args(["--image", image])
            .spawn()
    };
    // Two loads into the same layout at once: both succeed, neither entry is lost.
    let mut p1 = spawn(&format!("{a}/team/app1:1.0"));
    let mut p2 = spawn(&format!("{a}/team/multi:2.0"));
    assert!(p1.wait().unwrap().success());
    assert!(p2.wait().unwrap().success());
    let o = load(&m.bundle, &m.public, &format!("oci:{}", dir.display()))
        .args(["--image", &format!("{a}/charts/demo:0.1.0")])
        .run();
    assert_ok!(o);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for repo in ["team/app1:1.0", "team/multi:2.0"] {
        let o = Command::new("skopeo")
            .args(["inspect", "--raw"])
            .arg(format!("oci:{}:{a}/{repo}", dir.display()))
            .output()
            .unwrap();
        assert_ok!(o);
        assert_eq!(
            format!("sha256:{}", crate::common::layout::sha256_hex(&o.stdout)),
            m.src.digest_of(repo)
        );
    }
    // skopeo can copy the loaded image onwards (it reads every blob of it).
    let o = Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:{a}/team/app1:1.0", dir.display()))
        .arg(format!("dir:{}", m.work.path().join("copied").display()))
        .output()
        .unwrap();
    assert_ok!(o);
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn tampered_or_foreign_bundles_write_nothing() {
    let m = made();
    let dst = Registry::start();
    let target = dst.target();
    let bytes = std::fs::read(&m.bundle).unwrap();
    let layout_dir = m.work.path().join("never");
    let targets = [
        "--to".to_string(),
        target.clone(),
        "--plain-http".into(),
        format!("--to=oci:{}", layout_dir.display()),
    ];
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    let nothing_written = |what: &str| {
        for repo in ALL {
            let repo = repo.split(':').next().unwrap();
            assert!(
                dst.tags(repo).is_empty(),
                "{what}: {repo} got a tag from a bad bundle"
            );
        }
        assert!(
            !layout_dir.join("index.json").exists(),
            "{what}: the layout got an index.json"
        );
    };
    // One flipped byte in each region, then truncations: refused, nothing named at any target.
    let bad_path = m.work.path().join("bad.bundle");
    let mut cases: Vec<(String, Vec<u8>)> = tamper_points(&bytes, &m.imgs.base_layer.digest)
        .into_iter()
        .map(|(what, at)| {
            let mut bad = bytes.clone();
            bad[at] ^= 0x01;
            (format!("flipped byte in {what}"), bad)
        })
        .collect();
    for cut in [bytes.len() - 1, bytes.len() * 3 / 4, bytes.len() / 3] {
        cases.push((format!("truncated to {cut}"), bytes[..cut].to_vec()));
    }
    for (what, bad) in &cases {
        std::fs::write(&bad_path, bad).unwrap();
        let o = bundle!("load {} --key {} -q", bad_path, m.public)
            .args(&targets)
            .run();
        assert!(
            matches!(o.status.code(), Some(1) | Some(3)),
            "{what}: {}",
            text(&o)
        );
        nothing_written(what);
    }
    // Another key.
    let o = bundle!("keygen --out {}", m.work.path().join("stranger")).run();
    assert_ok!(o);
    let stranger = m.work.path().join("stranger.pub").display().to_string();
    let o = bundle!("load {} --key {} -q", m.bundle, stranger)
        .args(&targets)
        .run();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    nothing_written("foreign key");
    let o = bundle!("load {} --to {} -q", m.bundle, target).run();
    assert_eq!(
        o.status.code(),
        Some(2),
        "no --key and no --allow-unsigned is a usage error"
    );
}

#[test]
fn interrupted_load_resumes_after_a_registry_restart() {
    let m = made();
    let mut dst = Registry::start();
    // The upload of the base layer fails every time, through a proxy: the load stops with the
    // other blobs uploaded and no manifest or tag written.
    let proxy = FaultProxy::start(
        &dst.addr,
        Fault::Status {
            path_contains: format!("digest={}", m.imgs.base_layer.digest.replace(':', "%3A")),
            status: 500,
            times: 1000,
            retry_after: None,
        },
    );
    let o = load(&m.bundle, &m.public, &proxy.target())
        .args(["--retries", "1"])
        .run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&m.imgs.base_layer.digest)
            && err.contains("team/app1:1.0")
            && err.contains("no manifest or tag"),
        "{err}"
    );
    assert!(dst.tags("team/app1").is_empty());
    drop(proxy);

    dst.restart();
    let o = bundle!(
        "load {} --key {} --to {} --plain-http --json",
        m.bundle,
        m.public,
        dst.target()
    )
    .run();
    assert_ok!(o);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // Only the blob that failed is sent again; the rest were already there.
    assert_eq!(r["targets"][0]["blobsSent"], 1, "{r}");
    assert!(r["targets"][0]["blobsPresent"].as_u64().unwrap() > 3, "{r}");
    assert_eq!(
        dst.digest_of("team/app1:1.0"),
        m.src.digest_of("team/app1:1.0")
    );
}

#[test]
fn stdin_and_filters() {
    let m = made();
    let dst = Registry::start();
    let a = &m.src.addr;
    let f = std::fs::File::open(&m.bundle).unwrap();
    let o = load(Path::new("-"), &m.public, &dst.target())
        .args(["--platform", "linux/arm64"])
        .args([
            "--image",
            &format!("{a}/team/multi:2.0"),
            "--image",
            &format!("{a}/team/app2:1.0"),
        ])
        .stdin(f)
        .run();
    assert_ok!(o);
    assert_eq!(
        dst.digest_of("team/app2:1.0"),
        m.src.digest_of("team/app2:1.0")
    );
    assert!(dst.tags("team/app1").is_empty(), "--image left app1 out");
    // Only arm64 was loaded: the registry refuses the index without its amd64 child, so the
    // tag names the arm64 manifest, which is present with its own digest.
    let arm = &child_digests(&m.src, "team/multi:2.0")[1];
    assert_eq!(dst.digest_of("team/multi:2.0"), *arm);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("not all of its platforms"),
        "{}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("tagging the one platform manifest"),
        "{}",
        text(&o)
    );

    let o = bundle!(
        "load {} --key {} -q --image nope:1 --to registry://{}",
        m.bundle,
        m.public,
        dst.addr
    )
    .run();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no such image"),
        "{}",
        text(&o)
    );
}

#[test]
fn docker_archive_is_accepted_by_podman_load_and_ctr_import() {
    let m = made();
    let archive = m.work.path().join("images.tar");
    let o = load(
        &m.bundle,
        &m.public,
        &format!("docker-archive:{}", archive.display()),
    )
    .run();
    assert_ok!(o);
    assert!(!m.work.path().join("images.tar.partial").exists());
    let a = &m.src.addr;

    // The artifact (a Helm chart) is left out, and the output says so: ctr would try to unpack it.
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("charts/demo:0.1.0 is an artifact"),
        "{}",
        text(&o)
    );

    // containerd reads the OCI index: every image under its name with its digest unchanged,
    // imported as people run it (unpacking included).
    let ctd = Containerd::start();
    let o = ctd.ctr(&[
        "-n",
        "test",
        "images",
        "import",
        "--all-platforms",
        "--snapshotter",
        "native",
        archive.to_str().unwrap(),
    ]);
    assert_ok!(o);
    assert_every_container_image_in_containerd(&ctd, "test", &m);
    let o = ctd.ctr(&["-n", "test", "images", "check"]);
    let check = String::from_utf8_lossy(&o.stdout);
    assert!(
        check.lines().filter(|l| l.contains("complete")).count() >= 3,
        "ctr images check:\n{check}"
    );

    // podman reads Docker's manifest.json: the images with their tags, config digests intact.
    let podman = Podman::new();
    let o = podman.run(&["load", "-i", archive.to_str().unwrap()]);
    assert_ok!(o);
    for repo in ["team/app1:1.0", "team/app2:1.0", "team/multi:2.0"] {
        let o = podman.run(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            &format!("{a}/{repo}"),
        ]);
        assert_ok!(o, "{repo}");
        let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let cfg = Command::new("skopeo")
            .args([
                "inspect",
                "--config",
                "--raw",
                "--tls-verify=false",
                "--override-arch",
                "amd64",
            ])
            .arg(format!("docker://{a}/{repo}"))
            .output()
            .unwrap();
        assert_ok!(cfg);
        assert_eq!(
            id,
            crate::common::layout::sha256_hex(&cfg.stdout),
            "{repo}: podman image id is the config digest"
        );
    }
}

#[test]
fn containerd_target_imports_every_image_with_its_digest() {
    let m = made();
    let ctd = Containerd::start();
    let sock = ctd.dir.path().join("containerd.sock");
    let o = load(
        &m.bundle,
        &m.public,
        &format!("containerd://{}?namespace=k8s.io", sock.display()),
    )
    .run();
    assert_ok!(o);
    let a = &m.src.addr;
    assert_every_image_in_containerd(&ctd, "k8s.io", &m);
    let o = ctd.ctr(&["-n", "k8s.io", "images", "check"]);
    let check = String::from_utf8_lossy(&o.stdout).to_string();
    for repo in ["team/app1:1.0", "team/app2:1.0", "team/multi:2.0"] {
        let line = check
            .lines()
            .find(|l| l.starts_with(&format!("{a}/{repo} ")))
            .unwrap_or_else(|| panic!("{repo} not checked:\n{check}"));
        assert!(line.contains("complete"), "{line}");
    }
    // A missing socket is a clear error.
    let o = load(
        &m.bundle,
        &m.public,
        "containerd:///nonexistent/containerd.sock",
    )
    .run();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no containerd socket at /nonexistent"),
        "{}",
        text(&o)
    );
}

#[test]
fn containers_storage_target_keeps_manifest_digests() {
    let m = made();
    let podman = Podman::new();
    let d = podman.dir.path();
    let spec = format!(
        "containers-storage:[vfs@{}+{}]",
        d.join("root").display(),
        d.join("run").display()
    );
    let a = &m.src.addr;
    let o = load(&m.bundle, &m.public, &spec).run();
    assert_ok!(o);
    // The Helm-style artifact cannot live in containers-storage: skipped, and said so.
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("charts/demo:0.1.0 is an artifact"),
        "{}",
        text(&o)
    );
    let o = podman.run(&[
        "images",
        "--digests",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.Digest}}",
    ]);
    let listing = String::from_utf8_lossy(&o.stdout).to_string();
    for repo in ["team/app1:1.0", "team/app2:1.0", "team/multi:2.0"] {
        let line = listing
            .lines()
            .find(|l| l.starts_with(&format!("{a}/{repo} ")))
            .unwrap_or_else(|| panic!("{repo} not in podman's store:\n{listing}"));
        assert!(line.ends_with(&m.src.digest_of(repo)), "{repo}: {line}");
    }
}

#[test]
fn registry_refusing_monolithic_uploads_gets_chunks() {
    let m = made();
    let dst = Registry::start();
    let proxy = FaultProxy::start(&dst.addr, Fault::NoMonolithicUpload);
    let a = &m.src.addr;
    let o = load(&m.bundle, &m.public, &proxy.target())
        .args(["--image", &format!("{a}/team/app1:1.0")])
        .run();
    assert_ok!(o);
    let reqs = proxy.requests();
    assert!(reqs.iter().any(|r| r.starts_with("PATCH ")), "{reqs:#?}");
    assert_eq!(
        dst.digest_of("team/app1:1.0"),
        m.src.digest_of("team/app1:1.0")
    );
}

#[test]
fn a_registry_that_stops_taking_an_upload_is_given_it_again() {
    let m = made();
    let dst = Registry::start();
    let proxy = FaultProxy::start(
        &dst.addr,
        Fault::StallUpload {
            bytes: 64 * 1024,
            times: 1,
            seconds: 30,
        },
    );
    let a = &m.src.addr;
    let started = std::time::Instant::now();
    let o = load(&m.bundle, &m.public, &proxy.target())
        .args([
            "--image",
            &format!("{a}/team/app1:1.0"),
            "--read-timeout",
            "1s",
        ])
        .run();
    let took = started.elapsed();
    assert_ok!(o);
    // Far less than the 30 s the registry hung: the stalled upload was given up and sent again.
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}");
    let reqs = proxy.requests();
    let stalled: Vec<&String> = reqs.iter().filter(|r| r.ends_with("[stalled]")).collect();
    assert_eq!(stalled.len(), 1, "{reqs:#?}");
    let blob = stalled[0]
        .split("digest=")
        .nth(1)
        .and_then(|d| d.split([' ', '&']).next())
        .unwrap()
        .replace("%3A", ":");
    let puts = reqs
        .iter()
        .filter(|r| r.starts_with("PUT ") && r.replace("%3A", ":").contains(&blob))
        .count();
    assert!(puts >= 2, "{blob} was not sent again: {reqs:#?}");
    assert_eq!(
        dst.digest_of("team/app1:1.0"),
        m.src.digest_of("team/app1:1.0")
    );
}

#[test]
fn tls_registry_with_password_stdin_rewrites_and_keep_registry() {
    let m = made();
    let certs = tempfile::tempdir().unwrap();
    let tls = make_tls(certs.path());
    let dst = Registry::start_tls_auth(&tls, "tester", "s3cret-pass");
    let a = &m.src.addr;
    let run = |password: &str, extra: &[&str]| {
        let mut child = bundle!(
            "load {} --key {} -q --image {}/team/app1:1.0 --to=registry://{}/site --ca-file {} --username tester --password-stdin",
            m.bundle,
            m.public,
            a,
            dst.addr,
            tls.ca_pem
        )
        .args(extra)
        .env("DOCKER_CONFIG", certs.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let o = run("s3cret-pass", &["--rewrite", "team=apps"]);
    assert_ok!(o);
    let check = |repo: &str| {
        let o = Command::new("skopeo")
            .args([
                "inspect",
                "--raw",
                "--creds",
                "tester:s3cret-pass",
                "--tls-verify=false",
            ])
            .arg(format!("docker://{}/{repo}", dst.addr))
            .output()
            .unwrap();
        assert_ok!(o, "{repo}");
        format!("sha256:{}", crate::common::layout::sha256_hex(&o.stdout))
    };
    let want = m.src.digest_of("team/app1:1.0");
    assert_eq!(check("site/apps/app1:1.0"), want);
    let o = run("s3cret-pass", &["--keep-registry"]);
    assert_ok!(o);
    assert_eq!(
        check(&format!("site/{}/team/app1:1.0", a.replace(':', "_"))),
        want
    );

    let o = run("wrong-pass", &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("refused access") && !err.contains("wrong-pass"),
        "{err}"
    );
}

#[test]
fn an_image_pinned_by_digest_is_loaded_by_digest_and_never_tagged() {
    let (src, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let digest = src.digest_of("team/app1:1.0");
    let list = plain_list(work.path(), &src, &[&format!("team/app1@{digest}")]);
    let b = work.path().join("pinned.bundle");
    let o = bundle!("create {} -o {} --no-cache --quiet --unsigned", list, b).run();
    assert_ok!(o);
    assert_eq!(
        inspect_json(&b)["images"][0]["reference"],
        format!("{}/team/app1@{digest}", src.addr)
    );
    let dst = Registry::start();
    let o = bundle!(
        "load {} --allow-unsigned -q --plain-http {}",
        b,
        format!("--to=registry://{}", dst.addr)
    )
    .run();
    assert_ok!(o);
    // No tag of its own: only the record that lets `inventory` find it.
    assert_eq!(
        dst.tags("team/app1"),
        vec!["bundle-pinned".to_string()],
        "a digest-pinned image must not get a tag"
    );
    assert_eq!(dst.digest_of(&format!("team/app1@{digest}")), digest);
}

#[test]
fn interrupt_exits_promptly_and_removes_partial_output() {
    let m = made();
    let dst = Registry::start();
    // Uploads stall (503, Retry-After: 30) so the load is caught mid-way.
    let proxy = FaultProxy::start(
        &dst.addr,
        Fault::Status {
            path_contains: "/blobs/uploads/".into(),
            status: 503,
            times: 1000,
            retry_after: Some(30),
        },
    );
    let archive = m.work.path().join("images.tar");
    let partial = m.work.path().join("images.tar.partial");
    let child = load(
        &m.bundle,
        &m.public,
        &format!("docker-archive:{}", archive.display()),
    )
    .args(["--jobs", "1", &format!("--to=registry://{}", proxy.addr)])
    .stderr(std::process::Stdio::piped())
    .spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !(partial.exists() && proxy.requests().iter().any(|r| r.starts_with("POST"))) {
        assert!(
            std::time::Instant::now() < deadline,
            "the load never reached the stalled upload"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let sent = std::time::Instant::now();
    let k = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < std::time::Duration::from_secs(5),
        "exit took {:?}",
        sent.elapsed()
    );
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    assert!(
        !partial.exists() && !archive.exists(),
        "no partial or final archive is left"
    );
}

/// A tmpfs of `size`, unmounted when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let d = tempfile::tempdir().unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(d.path())
            .status()
            .unwrap();
        assert!(
            st.success(),
            "mounting a small tmpfs needs root (CI runs as root)"
        );
        SmallDisk(d)
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
    fn files(&self) -> Vec<String> {
        let mut v = Vec::new();
        let mut stack = vec![self.path().to_path_buf()];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).unwrap().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    v.push(
                        e.path()
                            .strip_prefix(self.path())
                            .unwrap()
                            .display()
                            .to_string(),
                    );
                }
            }
        }
        v
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_disk_fails_cleanly_and_leaves_nothing_half_written() {
    let m = made();
    let disk = SmallDisk::mount("1m");
    let list = m.work.path().join("images.yaml");
    let cache = m.work.path().join("cache");
    let out = disk.path().join("site.bundle");
    let o = bundle!(
        "create {} -o {} --unsigned -q --cache-dir {}",
        list,
        out,
        cache
    )
    .run();
    // Found before the first byte: one line, how much is needed and free, where.
    let one_line = |o: &std::process::Output| {
        assert_eq!(o.status.code(), Some(1), "{}", text(o));
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(
            err.contains("not enough space") && err.contains(&disk.path().display().to_string()),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one cause, one line: {err}");
    };
    one_line(&o);
    assert!(disk.files().is_empty(), "create left {:?}", disk.files());

    let layout = disk.path().join("layout");
    let o = load(&m.bundle, &m.public, &format!("oci:{}", layout.display())).run();
    one_line(&o);
    let left = disk.files();
    assert!(left.is_empty(), "nothing is written: {left:?}");

    let archive = disk.path().join("images.tar");
    let o = load(
        &m.bundle,
        &m.public,
        &format!("docker-archive:{}", archive.display()),
    )
    .run();
    one_line(&o);
    assert!(
        disk.files().is_empty(),
        "docker-archive left {:?}",
        disk.files()
    );
}

/// `n` loads into fresh registries through a proxy with a seeded random fault schedule (20 % of
/// requests: 5xx, 429, lost responses to uploads and manifest PUTs, ...). A load either
/// completes with exactly the source's digests, or fails with one clean error having tagged
/// nothing wrong; a failed load is repeated without faults and must then complete, sending
/// only what the failed one had not.
fn load_fault_schedules(n: u64) -> Schedules {
    let m = made();
    let expected: Vec<String> = ALL.iter().map(|r| m.src.digest_of(r)).collect();
    let total_blobs = inspect_json(&m.bundle)["blobs"].as_u64().unwrap();
    let mut r = Schedules::default();
    for seed in 0..n {
        let dst = Registry::start();
        let proxy = FaultProxy::start(&dst.addr, Fault::random(seed, 20));
        let o = load(&m.bundle, &m.public, &proxy.target())
            .args(["--retries", "3", "--read-timeout", "1s"])
            .run();
        drop(proxy);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        // Whatever is tagged at the target must be exactly what the source has.
        let tagged_right = ALL.iter().zip(&expected).all(|(repo, want)| {
            let (name, tag) = repo.split_once(':').unwrap();
            !dst.tags(name).contains(&tag.to_string()) || dst.digest_of(repo) == *want
        });
        let all_there = || {
            ALL.iter()
                .zip(&expected)
                .all(|(repo, want)| dst.digest_of(repo) == *want)
                && child_digests(&m.src, "team/multi:2.0")
                    .iter()
                    .all(|c| dst.digest_of(&format!("team/multi@{c}")) == *c)
        };
        if o.status.success() {
            if all_there() {
                r.completed += 1;
            } else {
                r.wrong += 1;
                eprintln!("seed {seed}: WRONG RESULT after a successful load");
            }
        } else if o.status.code() == Some(1)
            && err.starts_with("error:")
            && !err.contains("panicked")
            && tagged_right
        {
            r.failed_cleanly += 1;
            eprintln!(
                "seed {seed}: failed cleanly: {}",
                err.trim().replace('\n', " / ")
            );
            let o = bundle!(
                "load {} --key {} --to {} --plain-http --json",
                m.bundle,
                m.public,
                dst.target()
            )
            .run();
            if o.status.success() && all_there() {
                r.rerun_completed += 1;
                let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                if j["targets"][0]["blobsSent"].as_u64().unwrap() < total_blobs {
                    r.rerun_reused += 1;
                }
            } else {
                eprintln!(
                    "seed {seed}: the re-run without faults failed: {}",
                    text(&o)
                );
            }
        } else {
            r.wrong += 1;
            eprintln!(
                "seed {seed}: UNCLEAN FAILURE {:?} tagged_right={tagged_right}: {err}",
                o.status.code()
            );
        }
    }
    eprintln!("load, {n} fault schedules: {r:?}");
    r
}

#[test]
fn seeded_fault_schedules_on_the_target_never_give_a_wrong_result() {
    let r = load_fault_schedules(10);
    assert_eq!(r.wrong, 0, "{r:?}");
    assert!(r.completed > 0, "{r:?}");
    assert_eq!(r.rerun_completed, r.failed_cleanly, "{r:?}");
}

/// The long run for the record:
/// `cargo test --test it -- --ignored load::load_fault_schedules_200`.
#[test]
#[ignore = "200 loads through a faulty proxy take minutes; run by hand for the record"]
fn load_fault_schedules_200() {
    let r = load_fault_schedules(200);
    assert_eq!(r.wrong, 0, "{r:?}");
    assert_eq!(r.rerun_completed, r.failed_cleanly, "{r:?}");
}
