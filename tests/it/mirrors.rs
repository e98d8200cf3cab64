//! `bundle mirrors` and `load --write-mirrors`: the configuration that lets a site's runtimes
//! pull images under their source names from the site registry. The runtimes themselves judge
//! it: containerd (`ctr images pull --hosts-dir`), podman and skopeo (registries.conf), each
//! after the source registry has been stopped; k3s's registries.yaml, Docker's daemon.json and
//! OpenShift's mirror sets (neither installable here) are parsed back field by field.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const IMAGES: [&str; 3] = ["team/app1:1.0", "team/app2:1.0", "charts/demo:0.1.0"];

/// A bundle made from a source registry and loaded into a site registry, with the source's
/// digests noted before the source is stopped.
struct Loaded {
    src: Option<Registry>,
    src_addr: String,
    site: Registry,
    work: tempfile::TempDir,
    bundle: PathBuf,
    /// The source's manifest digest of team/app1:1.0 and team/app2:1.0.
    app1: String,
    app2: String,
}

impl Loaded {
    /// Load the bundle into `registry://SITE{site_path}` with `extra` (`--rewrite`, ...).
    fn new(site_path: &str, extra: &[&str]) -> Loaded {
        let (src, _imgs) = registry_with_images();
        let work = tempfile::tempdir().unwrap();
        let list = plain_list(work.path(), &src, &IMAGES);
        let bundle = work.path().join("site.bundle");
        let o = bundle!(
            "create {} -o {} --no-cache --quiet --unsigned",
            list,
            bundle
        )
        .run();
        assert_ok!(o);
        let site = Registry::start();
        let mut args = vec![
            "load".to_string(),
            bundle.display().to_string(),
            "--allow-unsigned".into(),
            "-q".into(),
            "--plain-http".into(),
            format!("--to=registry://{}{site_path}", site.addr),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = BundleCommand::new(&args).run();
        assert_ok!(o);
        Loaded {
            app1: src.digest_of("team/app1:1.0"),
            app2: src.digest_of("team/app2:1.0"),
            src_addr: src.addr.clone(),
            src: Some(src),
            site,
            work,
            bundle,
        }
    }

    /// `bundle mirrors` for this bundle and site, into a new directory of the work dir.
    fn mirrors(
        &self,
        site_path: &str,
        format: &str,
        extra: &[&str],
    ) -> (std::process::Output, PathBuf) {
        let dir = self
            .work
            .path()
            .join(format!("mirrors-{format}{}", site_path.replace('/', "-")));
        let mut args = vec![
            "mirrors".to_string(),
            self.bundle.display().to_string(),
            format!("--to=registry://{}{site_path}", self.site.addr),
            "--plain-http".into(),
            "--format".into(),
            format.into(),
            "-o".into(),
            dir.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = BundleCommand::new(&args).run();
        (o, dir)
    }

    /// Stop the source registry: from now on only the site can answer.
    fn stop_source(&mut self) {
        drop(self.src.take());
        assert!(
            std::net::TcpStream::connect(&self.src_addr).is_err(),
            "the source registry still answers"
        );
    }
}

/// `ctr images pull --hosts-dir DIR REF` in a containerd of its own; the digest containerd
/// recorded for `REF`.
fn ctr_pull(ctd: &Containerd, hosts_dir: &Path, reference: &str) -> String {
    let o = ctd.ctr(&[
        "images",
        "pull",
        "--hosts-dir",
        hosts_dir.to_str().unwrap(),
        reference,
    ]);
    assert!(o.status.success(), "ctr pull {reference}: {}", text(&o));
    let ls = ctd.ctr(&["images", "ls"]);
    let listing = String::from_utf8_lossy(&ls.stdout).to_string();
    let line = listing
        .lines()
        .find(|l| l.starts_with(&format!("{reference} ")))
        .unwrap_or_else(|| panic!("{reference} not in ctr images ls:\n{listing}"));
    line.split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no digest in {line}"))
        .to_string()
}

/// The lines of a written file that are not comments (what the runtime reads).
fn body(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn containerd_pulls_tags_and_digests_from_the_site_with_the_source_stopped() {
    let mut l = Loaded::new("", &[]);
    let (o, dir) = l.mirrors("", "containerd", &[]);
    assert_ok!(o);
    let hosts = dir.join(&l.src_addr).join("hosts.toml");
    let toml = std::fs::read_to_string(&hosts).unwrap();
    // Says what made it: the bundle's bundle.json digest and the date.
    assert!(toml.starts_with("# "), "{toml}");
    assert!(
        toml.contains("site.bundle") && toml.contains("sha256:"),
        "{toml}"
    );
    assert!(
        toml.contains(&format!("server = \"https://{}\"", l.src_addr)),
        "{toml}"
    );
    assert!(
        toml.contains(&format!("[host.\"http://{}\"]", l.site.addr)),
        "{toml}"
    );
    assert!(
        toml.contains("capabilities = [\"pull\", \"resolve\"]"),
        "{toml}"
    );
    assert!(
        !toml.contains("override_path"),
        "the site path is the source's: {toml}"
    );
    l.stop_source();
    let ctd = Containerd::start();
    let src = &l.src_addr;
    assert_eq!(
        ctr_pull(&ctd, &dir, &format!("{src}/team/app1:1.0")),
        l.app1
    );
    let pinned = format!("{src}/team/app2@{}", l.app2);
    assert_eq!(ctr_pull(&ctd, &dir, &pinned), l.app2);
}

#[test]
fn containerd_follows_a_load_prefix_and_a_rewrite_that_adds_components() {
    let mut l = Loaded::new(
        "/site",
        &[
            "--rewrite",
            "team=mirrored/team",
            "--rewrite",
            "charts=mirrored/charts",
        ],
    );
    let (o, dir) = l.mirrors(
        "/site",
        "containerd",
        &[
            "--rewrite",
            "team=mirrored/team",
            "--rewrite",
            "charts=mirrored/charts",
        ],
    );
    assert_ok!(o);
    let toml = std::fs::read_to_string(dir.join(&l.src_addr).join("hosts.toml")).unwrap();
    assert!(
        toml.contains(&format!(
            "[host.\"http://{}/v2/site/mirrored\"]",
            l.site.addr
        )),
        "{toml}"
    );
    assert!(toml.contains("override_path = true"), "{toml}");
    l.stop_source();
    let ctd = Containerd::start();
    let src = &l.src_addr;
    assert_eq!(
        ctr_pull(&ctd, &dir, &format!("{src}/team/app1:1.0")),
        l.app1
    );
    assert_eq!(
        ctr_pull(&ctd, &dir, &format!("{src}/team/app1@{}", l.app1)),
        l.app1
    );
}

#[test]
fn containerd_names_what_a_path_changing_rewrite_keeps_it_from_covering() {
    let l = Loaded::new("/site", &["--rewrite", "team=apps"]);
    let (o, dir) = l.mirrors("/site", "containerd", &["--rewrite", "team=apps"]);
    // What it can cover is written; what it cannot is named, and the exit code says so.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("{}/team", l.src_addr))
            && err.contains("site/apps")
            && err.contains("cri-o"),
        "{err}"
    );
    let toml = std::fs::read_to_string(dir.join(&l.src_addr).join("hosts.toml")).unwrap();
    assert!(
        toml.contains(&format!("[host.\"http://{}/v2/site\"]", l.site.addr)),
        "charts/demo keeps its path under site/: {toml}"
    );
}

/// podman with `CONTAINERS_REGISTRIES_CONF` pointing at the written drop-in, skopeo with
/// `--registries-conf` naming it.
#[test]
fn podman_and_skopeo_pull_through_the_registries_conf_drop_in_with_the_source_stopped() {
    let rewrite = ["--rewrite", "team=apps"];
    let mut l = Loaded::new("/site", &rewrite);
    let (o, dir) = l.mirrors("/site", "cri-o", &rewrite);
    assert_ok!(o);
    let conf = dir.join("50-bundle-mirrors.conf");
    let b = body(&conf);
    let src = l.src_addr.clone();
    let site = l.site.addr.clone();
    assert!(b.contains(&format!("prefix = \"{src}/team\"")), "{b}");
    assert!(
        b.contains(&format!("location = \"{site}/site/apps\"")),
        "{b}"
    );
    assert!(b.contains(&format!("prefix = \"{src}\"")), "{b}");
    assert!(b.contains(&format!("location = \"{site}/site\"")), "{b}");
    assert!(b.contains("insecure = true"), "{b}");
    l.stop_source();

    let podman = Podman::new();
    let env = [("CONTAINERS_REGISTRIES_CONF", conf.as_path())];
    for (reference, want) in [
        (format!("{src}/team/app1:1.0"), &l.app1),
        (format!("{src}/team/app2@{}", l.app2), &l.app2),
    ] {
        let o = podman.run_env(&env, &["pull", "-q", &reference]);
        assert!(o.status.success(), "podman pull {reference}: {}", text(&o));
        let o = podman.run_env(
            &env,
            &["image", "inspect", "--format", "{{.Digest}}", &reference],
        );
        assert_ok!(o);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            want.as_str(),
            "{reference}"
        );

        // skopeo reads CONTAINERS_REGISTRIES_CONF only through this flag.
        let o = Command::new("skopeo")
            .arg("--registries-conf")
            .arg(&conf)
            .args(["inspect", "--raw", &format!("docker://{reference}")])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "skopeo inspect {reference}: {}",
            text(&o)
        );
        let got = format!("sha256:{}", crate::common::layout::sha256_hex(&o.stdout));
        assert_eq!(&got, want, "{reference}");
    }
}

#[test]
fn k3s_registries_yaml_matches_its_schema_field_by_field() {
    let rewrite = ["--rewrite", "team=apps"];
    let l = Loaded::new("/site", &rewrite);
    let (src, site) = (&l.src_addr, &l.site.addr);
    let (o, dir) = l.mirrors("/site", "k3s", &rewrite);
    assert_ok!(o);
    let text_of = std::fs::read_to_string(dir.join("registries.yaml")).unwrap();
    assert!(
        text_of.starts_with("# ") && text_of.contains("sha256:"),
        "{text_of}"
    );
    let y: serde_yaml::Value = serde_yaml::from_str(&text_of).unwrap();
    let top: Vec<&str> = y
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(top, ["mirrors"], "plain HTTP needs no configs: {text_of}");
    let m = &y["mirrors"][src.as_str()];
    assert_eq!(m.as_mapping().unwrap().len(), 2, "{text_of}");
    assert_eq!(
        m["endpoint"],
        serde_yaml::to_value([format!("http://{site}")]).unwrap()
    );
    // team/* moved to site/apps/*, charts/* only under site/: prefixes that nest, so one exact
    // rule per repository (k3s tries its rewrites in no fixed order).
    let rewrites: std::collections::BTreeMap<String, String> =
        serde_yaml::from_value(m["rewrite"].clone()).unwrap();
    let want: std::collections::BTreeMap<String, String> = [
        ("^charts/demo$", "site/charts/demo"),
        ("^team/app1$", "site/apps/app1"),
        ("^team/app2$", "site/apps/app2"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(rewrites, want, "{text_of}");

    // Over TLS with a CA: an https endpoint and the CA under configs.
    let certs = tempfile::tempdir().unwrap();
    let tls = make_tls(certs.path());
    let dir = l.work.path().join("k3s-tls");
    let o = bundle!(
        "mirrors {} --to registry://{}/site --ca-file {} --format rke2 -o {} --rewrite team=apps",
        l.bundle,
        site,
        tls.ca_pem,
        dir
    )
    .run();
    assert_ok!(o);
    let y: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("registries.yaml")).unwrap())
            .unwrap();
    assert_eq!(
        y["mirrors"][src.as_str()]["endpoint"][0].as_str(),
        Some(format!("https://{site}").as_str())
    );
    let t = &y["configs"][site.as_str()]["tls"];
    assert_eq!(t["ca_file"].as_str(), Some(tls.ca_pem.to_str().unwrap()));
    assert_eq!(t.as_mapping().unwrap().len(), 1, "{t:?}");
}

#[test]
fn openshift_mirror_sets_match_their_schema_field_by_field() {
    let rewrite = ["--rewrite", "team=apps"];
    let l = Loaded::new("/site", &rewrite);
    let (src, site) = (&l.src_addr, &l.site.addr);
    let (o, dir) = l.mirrors("/site", "openshift", &rewrite);
    assert_ok!(o);
    let all = std::fs::read_to_string(dir.join("mirror-sets.yaml")).unwrap();
    assert!(all.starts_with("# ") && all.contains("sha256:"), "{all}");
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&all)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(docs.len(), 2, "{all}");
    let want = serde_yaml::to_value(vec![
        serde_json::json!({"source": src, "mirrors": [format!("{site}/site")]}),
        serde_json::json!({"source": format!("{src}/team"), "mirrors": [format!("{site}/site/apps")]}),
    ])
    .unwrap();
    for (doc, kind, list) in [
        (&docs[0], "ImageDigestMirrorSet", "imageDigestMirrors"),
        (&docs[1], "ImageTagMirrorSet", "imageTagMirrors"),
    ] {
        assert_eq!(doc["apiVersion"].as_str(), Some("config.openshift.io/v1"));
        assert_eq!(doc["kind"].as_str(), Some(kind));
        let name = doc["metadata"]["name"].as_str().unwrap();
        assert!(
            name.starts_with("bundle-")
                && name.len() <= 253
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}"
        );
        let spec = doc["spec"].as_mapping().unwrap();
        assert_eq!(spec.len(), 1, "{all}");
        assert_eq!(doc["spec"][list], want, "{all}");
    }
}

#[test]
fn docker_says_it_mirrors_only_docker_hub() {
    let l = Loaded::new("", &[]);
    let (o, dir) = l.mirrors("", "docker", &[]);
    // Nothing here comes from Docker Hub: nothing Docker can mirror, which is no failure.
    assert_ok!(o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&l.src_addr) && err.contains("Docker Hub"),
        "{err}"
    );
    assert!(!dir.join("daemon.json").exists());
    let readme = std::fs::read_to_string(dir.join("README.txt")).unwrap();
    assert!(
        readme.contains(&l.src_addr) && readme.contains("sha256:"),
        "{readme}"
    );
}

#[test]
fn load_write_mirrors_writes_every_format_after_the_load() {
    let (src, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let list = plain_list(work.path(), &src, &IMAGES);
    let b = work.path().join("site.bundle");
    let o = bundle!("create {} -o {} --no-cache --quiet --unsigned", list, b).run();
    assert_ok!(o);
    let site = Registry::start();
    let out = work.path().join("mirrors");
    let o = bundle!(
        "load {} --allow-unsigned -q --plain-http --to registry://{}/site --rewrite team=apps --write-mirrors {}",
        b,
        site.addr,
        out
    ).run();
    assert_ok!(o);
    assert_eq!(
        site.digest_of("site/apps/app1:1.0"),
        src.digest_of("team/app1:1.0")
    );
    for f in [
        format!("containerd/{}/hosts.toml", src.addr),
        "cri-o/50-bundle-mirrors.conf".into(),
        "k3s/registries.yaml".into(),
        "docker/README.txt".into(),
        "openshift/mirror-sets.yaml".into(),
    ] {
        assert!(out.join(&f).is_file(), "{f} not written: {}", text(&o));
    }
    // The same files `bundle mirrors` writes for that load (comments aside: they name the run).
    for (format, file) in [
        ("cri-o", "50-bundle-mirrors.conf"),
        ("k3s", "registries.yaml"),
        ("openshift", "mirror-sets.yaml"),
    ] {
        let dir = work.path().join(format!("by-mirrors-{format}"));
        let o = bundle!(
            "mirrors {} --to registry://{}/site --plain-http --rewrite team=apps --format {} -o {}",
            b,
            site.addr,
            format,
            dir
        )
        .run();
        assert_ok!(o);
        assert_eq!(
            body(&out.join(format).join(file)),
            body(&dir.join(file)),
            "{format}"
        );
    }

    // Mirrors are of a registry: without a registry:// target the option is refused up front.
    let o = bundle!(
        "load {} --allow-unsigned -q --to oci:{} --write-mirrors {}",
        b,
        work.path().join("layout"),
        work.path().join("m2")
    )
    .run();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        !work.path().join("layout").exists(),
        "nothing is loaded after a usage error"
    );
}

#[test]
fn bad_arguments_are_one_line_and_exit_2() {
    let work = tempfile::tempdir().unwrap();
    let junk = work.path().join("junk.bundle");
    std::fs::write(&junk, b"not a bundle at all").unwrap();
    let out = work.path().join("out");
    let one_line = |o: &std::process::Output| {
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.starts_with("error: "), "{err}");
        err
    };
    let o = bundle!(
        "mirrors {} --to registry://h:5000 --format kubernetes -o {}",
        junk,
        out
    )
    .run();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = one_line(&o);
    assert!(
        e.contains("kubernetes") && e.contains("containerd") && e.contains("openshift"),
        "{e}"
    );

    let o = bundle!(
        "mirrors {} --to oci:/tmp/x --format containerd -o {}",
        junk,
        out
    )
    .run();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(one_line(&o).contains("registry://"));

    let o = bundle!(
        "mirrors {} --to registry://h:5000 --format containerd -o {}",
        junk,
        out
    )
    .run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(one_line(&o).contains(junk.to_str().unwrap()));

    let missing = work.path().join("missing.bundle");
    let o = bundle!(
        "mirrors {} --to registry://h:5000 --format containerd -o {}",
        missing,
        out
    )
    .run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(one_line(&o).contains("missing.bundle"));

    // An inventory holds digests and the site's repositories, not where images came from.
    let inv = work.path().join("inventory.json");
    std::fs::write(
        &inv,
        r#"{"inventoryVersion":1,"source":"registry://h:5000","created":"2026-01-01T00:00:00Z","blobs":[]}"#,
    )
    .unwrap();
    let o = bundle!(
        "mirrors {} --to registry://h:5000 --format containerd -o {}",
        inv,
        out
    )
    .run();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let e = one_line(&o);
    assert!(e.contains("inventory") && e.contains("bundle"), "{e}");
    assert!(!out.exists(), "nothing written after an error");
}
