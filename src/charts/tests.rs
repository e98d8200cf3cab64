//! Charts built here as `helm package` lays them out (a .tgz of NAME/…), then read and
//! walked for images.

use super::chart::Chart;
use super::discover::{discover, ValuesFile};
use super::error::ChartError;
use super::found::Discovery;
use super::rendered::rendered;
use flate2::write::GzEncoder;

/// A .tgz of `files` under the folder `top`, with a header of each file's size.
pub fn tgz(top: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), flate2::Compression::default()));
    for (name, data) in files {
        // The name written as is (the tar crate refuses `..`): hostile archives are tests too.
        let path = format!("{top}/{name}");
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

const DIGEST: &str = "sha256:4b7a3e0a0b3d9c6b1e0f2c1d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f";

fn redis() -> Vec<u8> {
    tgz(
        "redis",
        &[
            (
                "Chart.yaml",
                b"apiVersion: v2\nname: redis\nversion: 20.1.0\nappVersion: 7.4.0\n",
            ),
            (
                "values.yaml",
                b"global:\n  imageRegistry: \"\"\nmaster:\n  image:\n    registry: docker.io\n    repository: bitnami/redis\n    tag: 7.4.0-debian-12\n    pullPolicy: IfNotPresent\n",
            ),
        ],
    )
}

/// A bitnami-style chart: a redis subchart (.tgz, condition true), a postgresql one (folder,
/// condition false), a worker one under the alias `jobs`, literal and templated images in
/// templates, and the artifacthub annotation.
fn shop() -> Vec<u8> {
    let chart_yaml = b"apiVersion: v2
name: shop
version: 1.2.0
appVersion: 3.1.0
annotations:
  artifacthub.io/images: |
    - name: exporter
      image: quay.io/prometheus/redis-exporter:v1.62.0
dependencies:
  - name: redis
    version: 20.1.0
    repository: https://charts.bitnami.com/bitnami
    condition: redis.enabled
  - name: postgresql
    version: 16.0.0
    repository: https://charts.bitnami.com/bitnami
    condition: postgresql.enabled
  - name: worker
    version: 0.1.0
    repository: file://../worker
    alias: jobs
";
    let values = format!(
        "global:
  imageRegistry: \"\"
image:
  registry: docker.io
  repository: bitnami/shop
  tag: \"\"
  pullPolicy: IfNotPresent
webhook:
  image: ghcr.io/acme/webhook:v2
sidecar:
  image:
    repository: busybox
    tag: \"1.36\"
    digest: {DIGEST}
broken:
  image: \"Not A Reference\"
git:
  repository: https://github.com/acme/shop.git
  tag: main
redis:
  enabled: true
postgresql:
  enabled: false
jobs:
  image:
    tag: \"9\"
"
    );
    let redis = redis();
    tgz(
        "shop",
        &[
            ("Chart.yaml", chart_yaml),
            ("values.yaml", values.as_bytes()),
            (
                "templates/deploy.yaml",
                b"spec:\n  containers:\n    - name: web\n      image: {{ include \"common.images.image\" . }}\n",
            ),
            (
                "templates/hook.yaml",
                b"spec:\n  containers:\n    - name: kubectl\n      image: \"bitnami/kubectl:1.31\"\n",
            ),
            ("charts/redis-20.1.0.tgz", &redis),
            (
                "charts/postgresql/Chart.yaml",
                b"apiVersion: v2\nname: postgresql\nversion: 16.0.0\n",
            ),
            (
                "charts/postgresql/values.yaml",
                b"image:\n  registry: docker.io\n  repository: bitnami/postgresql\n  tag: '16'\n",
            ),
            (
                "charts/worker/Chart.yaml",
                b"apiVersion: v2\nname: worker\nversion: 0.1.0\nappVersion: '0.9'\n",
            ),
            (
                "charts/worker/values.yaml",
                b"image:\n  repository: acme/worker\n  tag: ''\n",
            ),
            (
                "charts/worker/templates/job.yaml",
                b"kind: Job\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: alpine:3.20\n        - name: b\n          image: '{{ .Values.image.repository }}'\n",
            ),
        ],
    )
}

fn pairs(d: &Discovery) -> Vec<(String, String)> {
    d.found
        .iter()
        .map(|f| (f.image.clone(), f.place.clone()))
        .collect()
}

fn p(image: &str, place: &str) -> (String, String) {
    (image.to_string(), place.to_string())
}

#[test]
fn a_bitnami_style_chart_gives_each_image_with_its_place() {
    let chart = Chart::from_tgz(&shop()).unwrap();
    assert_eq!(
        (
            chart.name.as_str(),
            chart.version.as_str(),
            chart.app_version.as_deref()
        ),
        ("shop", "1.2.0", Some("3.1.0"))
    );
    let d = discover(&chart, &[]);
    assert_eq!(
        pairs(&d),
        vec![
            p("docker.io/bitnami/shop:3.1.0", "values.yaml image"),
            p("ghcr.io/acme/webhook:v2", "values.yaml webhook.image"),
            p(
                &format!("busybox:1.36@{DIGEST}"),
                "values.yaml sidecar.image"
            ),
            p("bitnami/kubectl:1.31", "templates/hook.yaml:4 image"),
            p(
                "quay.io/prometheus/redis-exporter:v1.62.0",
                "Chart.yaml artifacthub.io/images (exporter)"
            ),
            p(
                "docker.io/bitnami/redis:7.4.0-debian-12",
                "charts/redis values.yaml master.image"
            ),
            p("acme/worker:9", "values.yaml jobs.image"),
            p("alpine:3.20", "charts/jobs templates/job.yaml:7 image"),
        ]
    );
    assert_eq!(d.problems.len(), 1, "{:?}", d.problems);
    assert_eq!(d.problems[0].image, "Not A Reference");
    assert_eq!(d.problems[0].place, "values.yaml broken.image");
    assert!(d.problems[0].why.as_deref().unwrap().contains("whitespace"));
}

#[test]
fn the_users_values_files_override_in_order_and_are_named() {
    let chart = Chart::from_tgz(&shop()).unwrap();
    let files = [
        ValuesFile {
            name: "site-values.yaml".into(),
            text: "global:\n  imageRegistry: registry.site.example\nwebhook:\n  image: ghcr.io/acme/webhook:v3\njobs:\n  image:\n    tag: '10'\n".into(),
        },
        ValuesFile {
            name: "more.yaml".into(),
            text: "redis:\n  enabled: false\npostgresql:\n  enabled: true\njobs:\n  image:\n    tag: '11'\nbroken: null\n".into(),
        },
    ];
    let d = discover(&chart, &files);
    let found = pairs(&d);
    assert!(found.contains(&p(
        "registry.site.example/bitnami/shop:3.1.0",
        "values.yaml image"
    )));
    assert!(found.contains(&p(
        "ghcr.io/acme/webhook:v3",
        "site-values.yaml webhook.image"
    )));
    assert!(found.contains(&p("acme/worker:11", "more.yaml jobs.image")));
    assert!(found.contains(&p(
        "registry.site.example/bitnami/postgresql:16",
        "charts/postgresql values.yaml image"
    )));
    assert!(
        !found.iter().any(|(i, _)| i.contains("redis:")),
        "redis is disabled: {found:?}"
    );
    assert!(
        d.problems.is_empty(),
        "a null removed the broken key: {:?}",
        d.problems
    );
}

#[test]
fn tags_disable_a_dependency_unless_its_condition_says_otherwise() {
    let sub = tgz(
        "db",
        &[
            ("Chart.yaml", b"name: db\nversion: 1.0.0\n"),
            ("values.yaml", b"image: {repository: db, tag: '1'}\n"),
        ],
    );
    let parent = |values: &str| {
        tgz(
            "app",
            &[
                ("Chart.yaml", b"apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n  - name: db\n    version: 1.0.0\n    repository: ''\n    tags: [backend]\n    condition: db.on,x.on\n"),
                ("values.yaml", values.as_bytes()),
                ("charts/db-1.0.0.tgz", &sub),
            ],
        )
    };
    let images = |values: &str| {
        let c = Chart::from_tgz(&parent(values)).unwrap();
        discover(&c, &[]).found.len()
    };
    assert_eq!(images("tags: {backend: false}\n"), 0);
    assert_eq!(images("tags: {backend: false}\nx: {on: true}\n"), 1);
    assert_eq!(images("tags: {backend: true}\ndb: {on: false}\n"), 0);
    assert_eq!(images("{}\n"), 1);
}

#[test]
fn a_rendered_file_gives_every_container_and_custom_resource_image() {
    let text = format!(
        "# Source: shop/templates/deploy.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: busybox:1.36
      containers:
        - name: web
          image: nginx:1.27
---
---
apiVersion: batch/v1
kind: CronJob
metadata: {{name: nightly}}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: backup
              image: ghcr.io/acme/backup@{DIGEST}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db}}
spec:
  template:
    spec:
      containers:
        - name: pg
          image: postgres:16
        - name: exporter
          image: BAD IMAGE
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings}}
data:
  image: not-an-image-here
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {{name: main}}
spec:
  image: quay.io/prometheus/prometheus:v2.54.1
  sidecars:
    - thanosImage: quay.io/thanos/thanos:v0.36.1
  containers:
    - name: config-reloader
      image: quay.io/prometheus-operator/prometheus-config-reloader:v0.76.0
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {{name: debug}}
    spec:
      ephemeralContainers:
        - name: shell
          image: nginx:1.27
"
    );
    let d = rendered(&text, "rendered.yaml").unwrap();
    assert_eq!(
        pairs(&d),
        vec![
            p(
                "busybox:1.36",
                "rendered.yaml Deployment/web initContainers[init].image"
            ),
            p(
                "nginx:1.27",
                "rendered.yaml Deployment/web containers[web].image"
            ),
            p(
                &format!("ghcr.io/acme/backup@{DIGEST}"),
                "rendered.yaml CronJob/nightly containers[backup].image"
            ),
            p(
                "postgres:16",
                "rendered.yaml StatefulSet/db containers[pg].image"
            ),
            p(
                "quay.io/prometheus/prometheus:v2.54.1",
                "rendered.yaml Prometheus/main spec.image"
            ),
            p(
                "quay.io/thanos/thanos:v0.36.1",
                "rendered.yaml Prometheus/main spec.sidecars[0].thanosImage"
            ),
            p(
                "quay.io/prometheus-operator/prometheus-config-reloader:v0.76.0",
                "rendered.yaml Prometheus/main containers[config-reloader].image"
            ),
        ]
    );
    assert_eq!(d.problems.len(), 1);
    assert_eq!(
        d.problems[0].place,
        "rendered.yaml StatefulSet/db containers[exporter].image"
    );
    let e = rendered("a: [1\n", "out.yaml").unwrap_err().to_string();
    assert!(e.starts_with("out.yaml: ") && e.contains("line"), "{e}");
}

#[test]
fn hostile_archives_are_refused_naming_what_is_wrong() {
    let escape = tgz(
        "x",
        &[
            ("Chart.yaml", b"name: x\nversion: 1.0.0\n"),
            ("../../etc/passwd", b""),
        ],
    );
    let e = Chart::from_tgz(&escape).unwrap_err();
    assert!(matches!(e, ChartError::BadPath { .. }), "{e}");
    let big = vec![b'a'; (5 << 20) + 1];
    let e = Chart::from_tgz(&tgz(
        "x",
        &[
            ("Chart.yaml", b"name: x\nversion: 1.0.0\n"),
            ("README.md", &big),
        ],
    ))
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("x/README.md in the chart archive unpacks to more than 5242880 bytes"),
        "{e}"
    );
    let e = Chart::from_tgz(b"not gzip").unwrap_err();
    assert!(matches!(e, ChartError::NotTgz(_)), "{e}");
    let e = Chart::from_tgz(&tgz("x", &[("values.yaml", b"a: 1\n")])).unwrap_err();
    assert!(e.to_string().starts_with("Chart.yaml is missing"), "{e}");
    let sub = tgz("s", &[("Chart.yaml", b"name: s\nversion: [1]\n")]);
    let e = Chart::from_tgz(&tgz(
        "x",
        &[
            ("Chart.yaml", b"name: x\nversion: 1.0.0\n"),
            ("charts/s-1.tgz", &sub),
        ],
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "charts/s-1.tgz/Chart.yaml: version is a list where text belongs"
    );
}

#[test]
fn aliases_of_aliases_are_read_only_up_to_a_bound() {
    let deps = |name: &str| -> String {
        (0..40)
            .map(|i| format!("  - {{name: {name}, version: 1.0.0, repository: '', alias: a{i}}}\n"))
            .collect()
    };
    let leaf = tgz(
        "leaf",
        &[
            ("Chart.yaml", b"name: leaf\nversion: 1.0.0\n"),
            ("values.yaml", b"image: {repository: leaf, tag: '1'}\n"),
        ],
    );
    let mid_yaml = format!("name: mid\nversion: 1.0.0\ndependencies:\n{}", deps("leaf"));
    let mid = tgz(
        "mid",
        &[
            ("Chart.yaml", mid_yaml.as_bytes()),
            ("charts/leaf-1.0.0.tgz", &leaf),
        ],
    );
    let top_yaml = format!("name: top\nversion: 1.0.0\ndependencies:\n{}", deps("mid"));
    let top = Chart::from_tgz(&tgz(
        "top",
        &[
            ("Chart.yaml", top_yaml.as_bytes()),
            ("charts/mid-1.0.0.tgz", &mid),
        ],
    ))
    .unwrap();
    let d = discover(&top, &[]);
    assert_eq!(d.found.len(), 1, "one image, however many copies");
    assert!(
        d.problems[0]
            .why
            .as_deref()
            .unwrap()
            .contains("more than 1000 subcharts"),
        "{:?}",
        d.problems
    );
}
