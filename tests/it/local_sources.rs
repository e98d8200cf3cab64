//! Images that are in no registry as list entries (`oci:`, `docker-archive:`,
//! `containers-storage:`, `docker-daemon:`): made by skopeo and podman from the test images,
//! bundled, loaded into a registry, and judged by skopeo (digests) and podman (pulls them back).
//! The digests at the registry are the ones `create --dry-run` announced.

use crate::common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// What `create --dry-run` announced: (name, digest, the entry's line) per image.
fn announced(list: &Path) -> Vec<(String, String, usize)> {
    announced_with(list, &["--no-cache"])
}

fn announced_with(list: &Path, extra: &[&str]) -> Vec<(String, String, usize)> {
    let o = bundle!(
        "create {} --dry-run -o {}",
        list,
        list.with_extension("bundle")
    )
    .args(extra)
    .run();
    assert_ok!(o);
    let out = String::from_utf8_lossy(&o.stdout);
    let rows: Vec<(String, String, usize)> = out
        .lines()
        .filter_map(|l| {
            let l = l.strip_prefix("  image ")?;
            let mut w = l.split_whitespace();
            let (name, digest) = (w.next()?, w.next()?);
            let line = l
                .rsplit_once("(line ")?
                .1
                .trim_end_matches(')')
                .parse()
                .ok()?;
            digest
                .starts_with("sha256:")
                .then(|| (name.into(), digest.into(), line))
        })
        .collect();
    assert!(!rows.is_empty(), "no image digests in:\n{out}");
    rows
}

/// The digest announced for the entry at `line`.
fn digest_at(rows: &[(String, String, usize)], line: usize) -> &str {
    let row = rows.iter().find(|r| r.2 == line);
    &row.unwrap_or_else(|| panic!("nothing announced for line {line}: {rows:?}"))
        .1
}

fn skopeo(args: &[&str]) {
    require("skopeo");
    let o = Command::new("skopeo").args(args).output().unwrap();
    assert_ok!(o, "skopeo {args:?}");
}

/// Bundle `list`, load it into a fresh registry, and return the registry.
fn create_and_load(work: &Path, list: &Path, extra: &[&str]) -> Registry {
    let (key, public) = keypair(work);
    let out = work.join("local.bundle");
    let o = bundle!("create {} -o {} --key {}", list, out, key)
        .args(extra)
        .args(match extra.contains(&"--no-cache") {
            true => vec![],
            false => vec![
                "--cache-dir".to_string(),
                work.join("cache").display().to_string(),
            ],
        })
        .run();
    assert_ok!(o);
    let reg = Registry::start();
    assert_ok!(load(&out, &public, &reg.target()).run());
    reg
}

/// podman pulls `name` back from the registry and holds it under `digest`.
fn podman_pulls(podman: &Podman, reg: &Registry, name: &str, digest: &str) {
    let r = format!("{}/{name}", reg.addr);
    let o = podman.run(&["pull", "-q", "--tls-verify=false", &r]);
    assert_ok!(o, "podman pull {r}");
    let o = podman.run(&[
        "images",
        "--digests",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.Digest}}",
    ]);
    let listing = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        listing.contains(&format!("{r} {digest}")),
        "{r} {digest} not in:\n{listing}"
    );
}

#[test]
fn an_oci_layout_made_by_skopeo_keeps_its_manifest_digests() {
    let imgs = build_test_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let src = imgs.layout_dir.path().display().to_string();
    let made = w.join("made");
    let m = made.display().to_string();
    skopeo(&[
        "copy",
        "-q",
        "--all",
        &format!("oci:{src}:multi"),
        &format!("oci:{m}:2.0"),
    ]);
    skopeo(&[
        "copy",
        "-q",
        &format!("oci:{src}:app1"),
        &format!("oci:{m}:1.0"),
    ]);
    let own = |tag: &str| {
        format!(
            "sha256:{}",
            layout::sha256_hex(&skopeo_raw(&format!("oci:{m}:{tag}")))
        )
    };
    // Relative to the list; line 2 is named by `as:`, line 4 by default (localhost/DIR:TAG).
    let list = write_list(
        w,
        "images:\n  - name: oci:made:2.0\n    as: registry.example.com/team/multi:2.0\n  - oci:made:1.0\n",
    );
    let rows = announced(&list);
    assert_eq!(digest_at(&rows, 2), own("2.0"));
    assert_eq!(digest_at(&rows, 4), own("1.0"));
    assert!(rows.iter().any(|r| r.0 == "localhost/made:1.0"), "{rows:?}");
    // Through a temporary cache, as --no-cache makes: the layout's blobs go through it.
    let reg = create_and_load(w, &list, &["--no-cache"]);
    assert_eq!(reg.digest_of("team/multi:2.0"), own("2.0"));
    assert_eq!(reg.digest_of("made:1.0"), own("1.0"));
    podman_pulls(&Podman::new(), &reg, "made:1.0", &own("1.0"));
}

/// podman's store (private vfs root) holding test image `tag` as `name`, put there by skopeo.
fn stored(podman: &Podman, src: &str, tag: &str, name: &str) {
    let dest = format!("containers-storage:{}{name}", store_spec(podman));
    skopeo(&["copy", "-q", &format!("oci:{src}:{tag}"), &dest]);
}

fn store_spec(podman: &Podman) -> String {
    let d = podman.dir.path();
    format!(
        "[vfs@{}+{}]",
        d.join("root").display(),
        d.join("run").display()
    )
}

#[test]
fn a_docker_archive_and_podmans_store_load_with_the_digests_dry_run_announced() {
    let imgs = build_test_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let src = imgs.layout_dir.path().display().to_string();
    let podman = Podman::new();
    stored(&podman, &src, "app1", "localhost/team/app1:1.0");
    let saved = w.join("saved.tar");
    let o = podman.run(&[
        "save",
        "-q",
        "--format",
        "docker-archive",
        "-o",
        &saved.display().to_string(),
        "localhost/team/app1:1.0",
    ]);
    assert_ok!(o);
    let copied = w.join("copied.tar").display().to_string();
    skopeo(&[
        "copy",
        "-q",
        &format!("oci:{src}:app2"),
        &format!("docker-archive:{copied}:localhost/team/app2:1.0"),
    ]);
    let list = write_list(
        w,
        &format!(
            "images:\n  - docker-archive:saved.tar\n  - docker-archive:copied.tar:localhost/team/app2:1.0\n  - name: containers-storage:{}team/app1:1.0\n    as: localhost/store/app1:1.0\n",
            store_spec(&podman)
        ),
    );
    let rows = announced(&list);
    // The judge: skopeo's own copy of each archive to a registry gives the same manifest.
    let judge = Registry::start();
    for (file, line) in [("saved.tar", 2), ("copied.tar", 3)] {
        let dest = format!("docker://{}/judge/{line}:1", judge.addr);
        skopeo(&[
            "copy",
            "-q",
            "--dest-tls-verify=false",
            &format!("docker-archive:{}", w.join(file).display()),
            &dest,
        ]);
        assert_eq!(
            judge.digest_of(&format!("judge/{line}:1")),
            digest_at(&rows, line),
            "{file}"
        );
    }
    let reg = create_and_load(w, &list, &[]);
    // The cache noted what each tar became: the next run compresses nothing and agrees.
    let notes = std::fs::read_dir(w.join("cache/packed/pgzip-of-tar"))
        .unwrap()
        .count();
    assert_eq!(notes, 3, "the base layer and each app's own");
    let cache = w.join("cache").display().to_string();
    assert_eq!(announced_with(&list, &["--cache-dir", &cache]), rows);
    for (name, line) in [
        ("team/app1:1.0", 2),
        ("team/app2:1.0", 3),
        ("store/app1:1.0", 4),
    ] {
        assert_eq!(reg.digest_of(name), digest_at(&rows, line), "{name}");
    }
    // Into a store of its own: the source store holds the same image under its first digest.
    let puller = Podman::new();
    podman_pulls(&puller, &reg, "team/app2:1.0", digest_at(&rows, 3));
    podman_pulls(&puller, &reg, "store/app1:1.0", digest_at(&rows, 4));
}

/// podman's Docker-compatible API on a socket of its own, over a private store.
struct Engine {
    child: Child,
    socket: std::path::PathBuf,
}

impl Engine {
    fn start(podman: &Podman) -> Engine {
        let socket = podman.dir.path().join("engine.sock");
        let d = podman.dir.path();
        let child = Command::new("podman")
            .args(["--root", &d.join("root").display().to_string()])
            .args(["--runroot", &d.join("run").display().to_string()])
            .args([
                "--storage-driver",
                "vfs",
                "--events-backend",
                "file",
                "--cgroup-manager",
                "cgroupfs",
            ])
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until(20, "podman's API socket", || socket.exists());
        Engine { child, socket }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_image_of_the_docker_engine_api_loads_with_its_announced_digest() {
    let imgs = build_test_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let podman = Podman::new();
    stored(
        &podman,
        &imgs.layout_dir.path().display().to_string(),
        "app1",
        "localhost/team/app1:1.0",
    );
    let engine = Engine::start(&podman);
    let host = format!("unix://{}", engine.socket.display());
    let list = write_list(
        w,
        &format!(
            "images:\n  - docker-daemon:localhost/team/app1:1.0\n  - name: containers-storage:{}team/app1:1.0\n    as: localhost/store/app1:1.0\n",
            store_spec(&podman)
        ),
    );
    let o = bundle!(
        "create {} --dry-run -o {} --no-cache",
        list,
        w.join("x.bundle")
    )
    .env("DOCKER_HOST", &host)
    .run();
    assert_ok!(o);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let digest_of_line = |n: usize| {
        let l = out
            .lines()
            .find(|l| l.ends_with(&format!("(line {n})")))
            .unwrap_or_else(|| panic!("{out}"));
        l.split_whitespace().nth(2).unwrap().to_string()
    };
    // The engine's `docker save` of the image and skopeo's read of the store agree.
    let announced = digest_of_line(2);
    assert_eq!(announced, digest_of_line(3), "{out}");
    let (key, public) = keypair(w);
    let bundle_file = w.join("engine.bundle");
    let o = bundle!(
        "create {} -o {} --key {} --no-cache",
        list,
        bundle_file,
        key
    )
    .env("DOCKER_HOST", &host)
    .run();
    assert_ok!(o);
    let reg = Registry::start();
    assert_ok!(load(&bundle_file, &public, &reg.target()).run());
    assert_eq!(reg.digest_of("team/app1:1.0"), announced);
    // No engine there: one sentence saying where it was looked for.
    let o = bundle!(
        "create {} --dry-run -o {} --no-cache",
        list,
        w.join("x.bundle")
    )
    .env(
        "DOCKER_HOST",
        format!("unix://{}", w.join("none.sock").display()),
    )
    .run();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("(line 2)") && e.contains("none.sock"),
        "{e}"
    );
}

#[test]
fn a_missing_layout_a_damaged_archive_or_a_wrong_ref_is_named_and_nothing_is_written() {
    let imgs = build_test_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let src = imgs.layout_dir.path().display().to_string();
    let good = w.join("good.tar").display().to_string();
    skopeo(&[
        "copy",
        "-q",
        &format!("oci:{src}:app1"),
        &format!("docker-archive:{good}:localhost/team/app1:1.0"),
    ]);
    // A byte of a layer changed: the layer no longer hashes to the config's diff_id.
    let mut bytes = std::fs::read(&good).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x55;
    std::fs::write(w.join("damaged.tar"), &bytes).unwrap();
    skopeo(&[
        "copy",
        "-q",
        &format!("oci:{src}:app2"),
        &format!("oci:{}:1.0", w.join("lay").display()),
    ]);
    let (key, _) = keypair(w);
    let out = w.join("never.bundle");
    let cases = [
        ("oci:nowhere:1.0", "no such directory"),
        ("oci:lay:9.9", "no image tagged 9.9 (its tags: 1.0)"),
        ("docker-archive:damaged.tar", "the archive is damaged"),
        (
            "docker-archive:good.tar:localhost/team/other:1.0",
            "no image tagged localhost/team/other:1.0",
        ),
    ];
    for (entry, said) in cases {
        let list = write_list(w, &format!("images:\n  - oci:lay:1.0\n  - {entry}\n"));
        let o = bundle!("create {} -o {} --key {} --no-cache", list, out, key).run();
        let e = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(1), "{entry}: {e}");
        assert!(
            e.contains(&format!("{entry} (line 3)")) && e.contains(said),
            "{entry}: {e}"
        );
        assert!(
            !out.exists() && !w.join("never.bundle.partial").exists(),
            "{entry}"
        );
    }
    // Two local images given one name: the clash is named, with both lines.
    let list = write_list(
        w,
        "images:\n  - docker-archive:good.tar\n  - name: oci:lay:1.0\n    as: localhost/team/app1:1.0\n",
    );
    let o = bundle!("create {} -o {} --key {} --no-cache", list, out, key).run();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("(line 2) and oci:lay:1.0 (line 3) are different images"),
        "{e}"
    );
    assert!(!out.exists());
    // In the list itself: an `as:` on a registry image is refused at its line.
    let list = write_list(w, "images:\n  - name: nginx:1.27\n    as: x/y:1\n");
    let o = bundle!("create {} -o {} --key {}", list, out, key).run();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("images.yaml:2:") && e.contains("local source"),
        "{e}"
    );
}
