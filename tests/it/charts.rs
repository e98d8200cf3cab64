//! `charts:` and `files:` in the image list: a Helm repository served on 127.0.0.1, its chart
//! carried as the OCI artifact `helm push` makes, the images the chart uses found and carried
//! with their digests, files as `oras push` makes them. Judged by the bytes at the site
//! registry (the distribution API, skopeo), no Helm binary being installable here.

use crate::common::helm_repo::*;
use crate::common::layout::{sha256_hex, Layout};
use crate::common::*;
use std::path::Path;

/// A chart that uses an image by each discovery rule, in a Helm repository, and a source
/// registry holding those images.
struct Fixture {
    src: Registry,
    repo: HelmRepo,
    work: tempfile::TempDir,
    tgz: Vec<u8>,
}

const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const HELM_PROV: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";
const PROV: &str =
    "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: demo\nversion: 1.2.0\n";

/// Each rule's image, as the chart names it (`REG` is the source registry).
const FOUND: [(&str, &str); 5] = [
    ("team/multi:2.0", "Chart.yaml artifacthub.io/images"),
    // registry: from global.imageRegistry, tag: from appVersion.
    ("team/app1:1.0", "values.yaml image"),
    ("team/app2:1.0", "templates/job.yaml"),
    ("team/app1:sub", "charts/sub values.yaml"),
    ("team/app2:site", "site-values.yaml"),
];

impl Fixture {
    fn new(auth: Option<(&str, &str)>) -> Fixture {
        let (src, imgs) = registry_with_images();
        let d = imgs.layout_dir.path();
        src.push(d, "app1", "team/app1:sub", &[]);
        src.push(d, "app2", "team/app2:site", &[]);
        src.push(d, "multi", "team/multi:sts", &[]);
        let work = tempfile::tempdir().unwrap();
        let served = work.path().join("repo");
        std::fs::create_dir_all(&served).unwrap();
        let tgz = pack_chart(
            work.path(),
            &served,
            "demo",
            "1.2.0",
            &chart_files(&src.addr),
        );
        write_index(
            &served,
            &[
                entry("1.2.0", "demo-1.2.0.tgz", sha256_hex(&tgz)),
                // Newer, but a pre-release: `^1.0` does not pick it.
                entry("1.3.0-rc.1", "demo-1.3.0-rc.1.tgz", "0".repeat(64)),
                entry("0.9.0", "demo-0.9.0.tgz", "0".repeat(64)),
            ],
        );
        std::fs::write(
            work.path().join("site-values.yaml"),
            format!("extra:\n  image:\n    registry: {}\n    repository: team/app2\n    tag: site\n    pullPolicy: IfNotPresent\n", src.addr),
        )
        .unwrap();
        // A provenance file beside the chart, as `helm package --sign` writes one.
        std::fs::write(served.join("demo-1.2.0.tgz.prov"), PROV).unwrap();
        let repo = HelmRepo::serve(&served, auth);
        Fixture {
            src,
            repo,
            work,
            tgz,
        }
    }

    /// The list: the chart, and `registries:` for the source and any `more`.
    fn list(&self, more: &str) -> std::path::PathBuf {
        write_list(
            self.work.path(),
            &format!(
                "charts:\n  - name: demo\n    repo: {}\n    version: ^1.0\n    values: [site-values.yaml]\nregistries:\n  {}:\n    plain-http: true\n{more}",
                self.repo.url, self.src.addr
            ),
        )
    }
}

fn entry<'a>(version: &'a str, url: &'a str, digest: String) -> IndexEntry<'a> {
    IndexEntry {
        name: "demo",
        version,
        app_version: "1.0",
        url,
        digest,
    }
}

/// Chart.yaml with the annotation and two conditional subcharts (one off), bitnami-style
/// values, a template with a literal image and one with a template action.
fn chart_files(reg: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Chart.yaml", format!(
            "apiVersion: v2\nname: demo\nversion: 1.2.0\nappVersion: \"1.0\"\ndescription: A chart for the test\nannotations:\n  artifacthub.io/images: |\n    - name: multi\n      image: {reg}/team/multi:2.0\ndependencies:\n  - name: sub\n    version: 0.1.0\n    condition: sub.enabled\n  - name: off\n    version: 0.1.0\n    condition: off.enabled\n"
        )),
        ("values.yaml", format!(
            "global:\n  imageRegistry: {reg}\nimage:\n  registry: docker.io\n  repository: team/app1\n  tag: \"\"\n  pullPolicy: IfNotPresent\nsub:\n  enabled: true\noff:\n  enabled: false\n"
        )),
        ("templates/job.yaml", format!(
            "apiVersion: batch/v1\nkind: Job\nspec:\n  template:\n    spec:\n      containers:\n        - name: once\n          image: {reg}/team/app2:1.0\n        - name: templated\n          image: \"{{{{ .Values.image.repository }}}}:never\"\n"
        )),
        ("charts/sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 0.1.0\n".into()),
        ("charts/sub/values.yaml", format!("image: {reg}/team/app1:sub\n")),
        ("charts/off/Chart.yaml", "apiVersion: v2\nname: off\nversion: 0.1.0\n".into()),
        // Not in the source registry: carried only if the condition were ignored.
        ("charts/off/values.yaml", format!("image: {reg}/team/app1:off\n")),
    ]
}

/// `create LIST -o BUNDLE`, unsigned, with a cache of its own; `.run()` it.
fn create(list: &Path, bundle: &Path) -> BundleCommand {
    bundle!("create {} -o {} --no-cache -q --unsigned", list, bundle)
}

/// A fresh site registry with `bundle` loaded into `registry://SITE{prefix}`.
fn loaded_into_site(bundle: &Path, prefix: &str) -> Registry {
    let site = Registry::start();
    assert_ok!(bundle!(
        "load {} --allow-unsigned -q --plain-http --to=registry://{}{}",
        bundle,
        site.addr,
        prefix
    )
    .run());
    site
}

fn site_blob(site: &Registry, repo: &str, digest: &str) -> Vec<u8> {
    let (status, _, body) = http(&site.addr, "GET", &format!("/v2/{repo}/blobs/{digest}"), "");
    assert_eq!(status, 200, "{repo}@{digest}");
    body
}

#[test]
fn a_chart_from_a_helm_repository_arrives_as_helm_push_makes_it_with_its_images() {
    let f = Fixture::new(None);
    let list = f.list("");
    let bundle = f.work.path().join("app.bundle");
    let o = create(&list, &bundle).run();
    assert_ok!(o);
    let site = loaded_into_site(&bundle, "");
    // The chart: Helm's media types, the .tgz byte for byte (the index's digest).
    let m: serde_json::Value =
        serde_json::from_slice(&site.raw_manifest("charts/demo:1.2.0")).unwrap();
    assert_eq!(m["config"]["mediaType"], HELM_CONFIG, "{m}");
    let layer_of = |t: &str| {
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["mediaType"] == t)
            .unwrap_or_else(|| panic!("no {t} layer in {m}"))
            .clone()
    };
    let layer = &layer_of(HELM_CHART);
    let prov = layer_of(HELM_PROV);
    let prov_bytes = site_blob(&site, "charts/demo", prov["digest"].as_str().unwrap());
    assert_eq!(prov_bytes, PROV.as_bytes());
    assert_eq!(layer["digest"], format!("sha256:{}", sha256_hex(&f.tgz)));
    let tgz = site_blob(&site, "charts/demo", layer["digest"].as_str().unwrap());
    assert_eq!(tgz, f.tgz);
    let config: serde_json::Value = serde_json::from_slice(&site_blob(
        &site,
        "charts/demo",
        m["config"]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    assert_eq!(config["name"], "demo");
    assert_eq!(config["version"], "1.2.0");
    assert_eq!(config["appVersion"], "1.0");
    assert_eq!(config["apiVersion"], "v2");
    // Every image found, at the site with the source's digest; the disabled subchart's not.
    for (image, _) in FOUND {
        assert_eq!(
            site.digest_of(image),
            f.src.digest_of(image),
            "{image} at the site"
        );
    }
    assert!(site.tags("team/app1").iter().all(|t| t != "off"));
    // inspect names the chart and what it found.
    let doc = inspect_json(&bundle);
    let text = doc.to_string();
    assert!(text.contains("\"chart\""), "{text}");
    // serve answers for it as the site registry does.
    let served = Served::start(&[bundle.to_str().unwrap(), "--allow-unsigned"]);
    let digest = format!("sha256:{}", sha256_hex(&f.tgz));
    let (status, _, body) = http(
        &served.addr,
        "GET",
        &format!("/v2/charts/demo/blobs/{digest}"),
        "",
    );
    assert_eq!(status, 200);
    assert!(body == f.tgz, "serve changed the chart");
}

#[test]
fn dry_run_says_where_each_image_was_found() {
    let f = Fixture::new(None);
    let list = f.list("");
    let o = bundle!("create {} --dry-run --json", list).run();
    assert_ok!(o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let carried = v["carried"].as_array().unwrap_or_else(|| panic!("{v}"));
    for (image, place) in FOUND {
        let want = format!("{}/{image}", f.src.addr);
        let item = carried
            .iter()
            .find(|c| c["reference"] == want.as_str())
            .unwrap_or_else(|| panic!("{want} not in {v}"));
        let found = item["found"].as_str().unwrap();
        assert!(
            found.starts_with("chart demo 1.2.0: ") && found.contains(place),
            "{want}: {found}"
        );
        assert_eq!(item["digest"], f.src.digest_of(image).as_str());
    }
    assert!(carried.iter().any(|c| c["kind"] == "chart"), "{v}");
    // The words say the same: each image with its digest and where it was found.
    let o = bundle!("create {} --dry-run", list).run();
    assert_ok!(o);
    let words = String::from_utf8(o.stdout).unwrap();
    println!("{words}");
    for (image, place) in FOUND {
        let line = words
            .lines()
            .find(|l| l.contains(&format!("/{image} ")))
            .unwrap_or_else(|| panic!("{image} not listed:\n{words}"));
        assert!(
            line.contains(&f.src.digest_of(image)) && line.contains(place),
            "{line}"
        );
    }
}

#[test]
fn a_chart_whose_bytes_differ_from_the_index_is_refused_and_nothing_written() {
    let f = Fixture::new(None);
    let served = f.repo.dir.clone();
    let mut tgz = f.tgz.clone();
    let n = tgz.len();
    tgz[n - 9] ^= 1;
    std::fs::write(served.join("demo-1.2.0.tgz"), tgz).unwrap();
    let list = f.list("");
    let bundle = f.work.path().join("app.bundle");
    let o = create(&list, &bundle).run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = text(&o);
    assert!(
        err.contains("images.yaml:2") && err.contains("demo") && err.contains(&sha256_hex(&f.tgz)),
        "{err}"
    );
    assert!(!bundle.exists());
    assert_eq!(
        std::fs::read_dir(f.work.path())
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("bundle"))
            .count(),
        0
    );
}

#[test]
fn a_repository_behind_basic_auth_gets_the_credentials_of_its_host() {
    let f = Fixture::new(Some(("chartuser", "s3cret")));
    let host = f.repo.url.trim_start_matches("http://").to_string();
    let bundle = f.work.path().join("app.bundle");
    let without = f.list("");
    let o = create(&without, &bundle).run();
    let err = text(&o);
    assert!(!o.status.success() && err.contains("401"), "{err}");
    let list = f.list(&format!(
        "  {host}:\n    plain-http: true\n    username-env: REPO_U\n    password-env: REPO_P\n"
    ));
    let o = create(&list, &bundle)
        .env("REPO_U", "chartuser")
        .env("REPO_P", "s3cret")
        .run();
    assert_ok!(o);
    assert!(bundle.exists());
}

#[test]
fn files_arrive_as_oras_push_makes_them() {
    let work = tempfile::tempdir().unwrap();
    let bin = Path::new("/usr/bin/tar");
    std::fs::create_dir_all(work.path().join("bin")).unwrap();
    std::fs::copy(bin, work.path().join("bin/tar")).unwrap();
    let list = write_list(
        work.path(),
        "files:\n  - path: bin/tar\n  - path: bin/tar\n    name: gnu-tar\n    tag: v1\n",
    );
    let bundle = work.path().join("files.bundle");
    assert_ok!(create(&list, &bundle).run());
    let site = loaded_into_site(&bundle, "/site");
    let want = std::fs::read(bin).unwrap();
    for (repo, tag, title) in [
        ("site/files/tar", "latest", "tar"),
        ("site/files/gnu-tar", "v1", "gnu-tar"),
    ] {
        let m: serde_json::Value =
            serde_json::from_slice(&site.raw_manifest(&format!("{repo}:{tag}"))).unwrap();
        let layer = &m["layers"][0];
        assert_eq!(
            layer["annotations"]["org.opencontainers.image.title"],
            title
        );
        assert_eq!(
            m["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        let bytes = site_blob(&site, repo, layer["digest"].as_str().unwrap());
        assert!(bytes == want, "{repo}: the file came back changed");
        // ORAS's own client pulls it back under its name.
        let out = work.path().join(format!("pulled-{title}"));
        let python = crate::common::producers::judge_dir().join("oras/bin/python");
        let o = std::process::Command::new(&python)
            .args([
                "-c",
                ORAS_PULL,
                &site.addr,
                &format!("{}/{repo}:{tag}", site.addr),
            ])
            .arg(&out)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}; run `make test-deps`", python.display()));
        assert_ok!(o);
        assert!(
            std::fs::read(out.join(title)).unwrap() == want,
            "oras pull of {repo}"
        );
    }
}

/// `oras pull` with ORAS's Python client: the registry, the reference, the directory.
const ORAS_PULL: &str = "import sys, oras.client
c = oras.client.OrasClient(hostname=sys.argv[1], insecure=True)
c.pull(target=sys.argv[2], outdir=sys.argv[3])";

#[test]
fn a_url_whose_bytes_differ_from_its_sha256_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let served = work.path().join("www");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::write(served.join("install.sh"), "#!/bin/sh\necho installed\n").unwrap();
    let www = HelmRepo::serve(&served, None);
    let wrong = "ab".repeat(32);
    let list = write_list(
        work.path(),
        &format!(
            "files:\n  - url: {}/install.sh\n    sha256: {wrong}\n",
            www.url
        ),
    );
    let bundle = work.path().join("f.bundle");
    let o = create(&list, &bundle).run();
    let err = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("images.yaml:2") && err.contains(&wrong) && err.contains("install.sh"),
        "{err}"
    );
    assert!(!bundle.exists());
}

#[test]
fn a_dir_target_holds_a_helm_repository_the_files_and_the_image_list() {
    let f = Fixture::new(None);
    std::fs::copy("/usr/bin/tar", f.work.path().join("tar")).unwrap();
    let list = f.list("files:\n  - path: tar\n");
    let bundle = f.work.path().join("app.bundle");
    assert_ok!(create(&list, &bundle).run());
    let site = f.work.path().join("site");
    let load_dir = || {
        let o = bundle!("load {} --allow-unsigned -q --to=dir:{}", bundle, site).run();
        assert_ok!(o);
        let read = |p: &str| std::fs::read(site.join(p)).unwrap();
        (
            read("index.yaml"),
            read("images.txt"),
            read("charts/demo-1.2.0.tgz"),
        )
    };
    let first = load_dir();
    assert_eq!(first.2, f.tgz, "the chart archive byte for byte");
    assert_eq!(
        std::fs::read(site.join("charts/demo-1.2.0.tgz.prov")).unwrap(),
        PROV.as_bytes()
    );
    assert_eq!(
        std::fs::read(site.join("files/tar")).unwrap(),
        std::fs::read("/usr/bin/tar").unwrap()
    );
    let index: serde_yaml::Value = serde_yaml::from_slice(&first.0).unwrap();
    let demo = &index["entries"]["demo"][0];
    assert_eq!(
        demo["digest"].as_str(),
        Some(sha256_hex(&f.tgz).as_str()),
        "{index:?}"
    );
    assert_eq!(demo["version"].as_str(), Some("1.2.0"));
    assert_eq!(demo["urls"][0].as_str(), Some("charts/demo-1.2.0.tgz"));
    let images = String::from_utf8(first.1.clone()).unwrap();
    for (image, _) in FOUND {
        let want = format!("{}/{image}", f.src.addr);
        assert!(
            images.lines().any(|l| l == want),
            "{want} not in images.txt:\n{images}"
        );
    }
    // Again: the same bytes, nothing left behind.
    assert_eq!(load_dir(), first);
    let stray: Vec<_> = crate::common::producers::walk(&site)
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn an_oci_chart_is_carried_as_its_registry_has_it_with_its_images() {
    let (src, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let reg = &src.addr;
    let files = vec![
        (
            "Chart.yaml",
            "apiVersion: v2\nname: ocidemo\nversion: 2.0.0\nappVersion: \"1.0\"\n".to_string(),
        ),
        (
            "values.yaml",
            format!("image:\n  repository: {reg}/team/app1\n  tag: \"\"\n  pullPolicy: Always\n"),
        ),
    ];
    let out = work.path().join("packed");
    std::fs::create_dir_all(&out).unwrap();
    let tgz = pack_chart(work.path(), &out, "ocidemo", "2.0.0", &files);
    let mut layout = Layout::new(&work.path().join("layout"));
    let art = layout.artifact(&tgz);
    layout.tag("2.0.0", &art);
    src.push(&layout.dir, "2.0.0", "charts/ocidemo:2.0.0", &[]);
    src.push(&layout.dir, "2.0.0", "charts/ocidemo:1.0.0", &[]);
    let list = write_list(
        work.path(),
        &format!("charts:\n  - name: oci://{reg}/charts/ocidemo\n    version: \">=1.5\"\nregistries:\n  {reg}:\n    plain-http: true\n"),
    );
    let bundle = work.path().join("oci.bundle");
    assert_ok!(create(&list, &bundle).run());
    let site = loaded_into_site(&bundle, "");
    assert_eq!(
        site.digest_of("charts/ocidemo:2.0.0"),
        src.digest_of("charts/ocidemo:2.0.0")
    );
    assert_eq!(
        site.digest_of("team/app1:1.0"),
        src.digest_of("team/app1:1.0")
    );
    let doc = inspect_json(&bundle);
    let chart = doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|i| i.get("chart"))
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(chart["version"], "2.0.0");
    assert_eq!(chart["images"][0], format!("{reg}/team/app1:1.0"));
}

#[test]
fn a_value_that_is_no_image_reference_is_named_or_with_keep_going_left_out() {
    let f = Fixture::new(None);
    std::fs::write(
        f.work.path().join("site-values.yaml"),
        "broken:\n  image: \"Not A/Reference!\"\n",
    )
    .unwrap();
    let list = f.list("");
    let bundle = f.work.path().join("app.bundle");
    let o = create(&list, &bundle).run();
    let err = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("images.yaml:2: chart demo 1.2.0: site-values.yaml")
            && err.contains("broken.image")
            && err.contains("--keep-going"),
        "{err}"
    );
    assert!(!bundle.exists());
    let o = bundle!(
        "create {} -o {} --no-cache --unsigned --keep-going",
        list,
        bundle
    )
    .run();
    assert_ok!(o);
    assert!(text(&o).contains("broken.image"), "{}", text(&o));
    assert!(bundle.exists());
}

/// `helm template` output: a Deployment with an init container, a CronJob, a StatefulSet.
fn rendered(reg: &str) -> String {
    format!(
        "---
# Source: demo/templates/deploy.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: {reg}/team/app1:sub
      containers:
        - name: web
          image: {reg}/team/app1:1.0
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: \"0 3 * * *\"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: job
              image: {reg}/team/app2:site
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  template:
    spec:
      containers:
        - name: db
          image: {reg}/team/multi:sts
"
    )
}

#[test]
fn images_from_a_rendered_chart_are_carried_from_every_pod_template() {
    let f = Fixture::new(None);
    std::fs::write(f.work.path().join("rendered.yaml"), rendered(&f.src.addr)).unwrap();
    // The chart's own values are left as they are; the rendered file adds its pod templates.
    let list = write_list(
        f.work.path(),
        &format!(
            "charts:\n  - name: demo\n    repo: {}\n    version: 1.2.0\n    images-from: rendered.yaml\nregistries:\n  {}:\n    plain-http: true\n",
            f.repo.url, f.src.addr
        ),
    );
    let o = bundle!("create {} --dry-run --json", list).run();
    assert_ok!(o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let found_in = |image: &str| -> String {
        let want = format!("{}/{image}", f.src.addr);
        v["carried"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["reference"] == want.as_str())
            .unwrap_or_else(|| panic!("{want} not carried: {v}"))["found"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Images only the render names (the chart's values have app1:1.0 already).
    assert!(found_in("team/app1:sub").contains("charts/sub"), "{v}");
    let bundle = f.work.path().join("r.bundle");
    assert_ok!(create(&list, &bundle).run());
    let site = loaded_into_site(&bundle, "");
    for image in [
        "team/app1:sub",
        "team/app1:1.0",
        "team/app2:site",
        "team/multi:sts",
    ] {
        assert_eq!(site.digest_of(image), f.src.digest_of(image), "{image}");
    }
}

#[test]
fn a_rendered_file_alone_names_each_workload_kind() {
    let f = Fixture::new(None);
    std::fs::write(f.work.path().join("rendered.yaml"), rendered(&f.src.addr)).unwrap();
    // A values file that turns the chart's own images off leaves the render's to be found.
    let list = write_list(
        f.work.path(),
        &format!(
            "charts:\n  - name: demo\n    repo: {}\n    images-from: rendered.yaml\n    values: [none.yaml]\nregistries:\n  {}:\n    plain-http: true\n",
            f.repo.url, f.src.addr
        ),
    );
    std::fs::write(
        f.work.path().join("none.yaml"),
        "image: null\nsub:\n  enabled: false\n",
    )
    .unwrap();
    let o = bundle!("create {} --dry-run --json", list).run();
    assert_ok!(o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let carried = v["carried"].as_array().unwrap();
    for (image, kind) in [
        ("team/app1:1.0", "rendered.yaml Deployment/web"),
        (
            "team/app1:sub",
            "rendered.yaml Deployment/web initContainers",
        ),
        ("team/app2:site", "rendered.yaml CronJob/nightly"),
        ("team/multi:sts", "rendered.yaml StatefulSet/db"),
        // The chart's own rules still hold beside the render.
        ("team/app2:1.0", "templates/job.yaml"),
        ("team/multi:2.0", "Chart.yaml"),
    ] {
        let want = format!("{}/{image}", f.src.addr);
        let item = carried
            .iter()
            .find(|c| c["reference"] == want.as_str())
            .unwrap_or_else(|| panic!("{want} not carried: {v}"));
        assert!(item["found"].as_str().unwrap().contains(kind), "{item}");
    }
}
