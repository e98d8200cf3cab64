//! `bundle serve`: a read-only registry from the bundle file, judged by skopeo and containerd's
//! `ctr` pulling from it, and by raw HTTP for what clients rarely exercise (Range, push refusal).

use crate::common::*;
use std::path::Path;
use std::process::{Command, Stdio};

const ALL: [&str; 4] = [
    "team/app1:1.0",
    "team/app2:1.0",
    "team/multi:2.0",
    "charts/demo:0.1.0",
];

fn skopeo_digest(reference: &str) -> String {
    format!(
        "sha256:{}",
        sha256_hex(&skopeo_raw(&format!("docker://{reference}")))
    )
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(b))
}

fn make_bundle(work: &Path, src: &Registry) -> (std::path::PathBuf, String) {
    let (key, public) = keypair(work);
    let list = plain_list(work, src, &ALL);
    let b = work.join("site.bundle");
    let o = bundle!("create {} -o {} --no-cache --quiet --key {}", list, b, key).run();
    assert_ok!(o);
    (b, public)
}

#[test]
fn skopeo_and_ctr_pull_from_the_bundle_with_unchanged_digests() {
    let (src, imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let (b, public) = make_bundle(work.path(), &src);
    let served = Served::start(&[b.to_str().unwrap(), "--key", &public]);
    eprintln!("serve ready after {:?}", served.startup);
    let a = &served.addr;

    // Every image, by tag, has the source's digest; each child of the index too.
    for repo in ALL {
        assert_eq!(
            skopeo_digest(&format!("{a}/{repo}")),
            src.digest_of(repo),
            "{repo}"
        );
    }

    // skopeo copies every image (all platforms) into a real registry, four at a time.
    let dst = Registry::start();
    let copies: Vec<_> = ALL
        .iter()
        .map(|repo| {
            Command::new("skopeo")
                .args([
                    "copy",
                    "-q",
                    "--all",
                    "--src-tls-verify=false",
                    "--dest-tls-verify=false",
                ])
                .arg(format!("docker://{a}/{repo}"))
                .arg(format!("docker://{}/{repo}", dst.addr))
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in copies {
        let o = c.wait_with_output().unwrap();
        assert_ok!(o);
    }
    for repo in ALL {
        assert_eq!(dst.digest_of(repo), src.digest_of(repo), "{repo}");
    }

    // containerd pulls from it (plain HTTP) and finds the image complete.
    let ctd = Containerd::start();
    let name = format!("{a}/team/app1:1.0");
    let o = ctd.ctr(&["-n", "k8s.io", "images", "pull", "--plain-http", &name]);
    assert_ok!(o);
    let o = ctd.ctr(&["-n", "k8s.io", "images", "check"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let line = out
        .lines()
        .find(|l| l.starts_with(&name))
        .unwrap_or_default();
    assert!(line.contains("complete"), "{out}");
    assert!(line.contains(&src.digest_of("team/app1:1.0")), "{out}");

    // The API around the pulls: catalog, tags, Range, HEAD, unknowns, and no writes.
    let (st, _, body) = http(a, "GET", "/v2/_catalog", "");
    assert_eq!(st, 200);
    let cat: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        cat["repositories"],
        serde_json::json!(["charts/demo", "team/app1", "team/app2", "team/multi"])
    );
    let (st, head, body) = http(a, "GET", "/v2/_catalog?n=1&last=charts/demo", "");
    assert_eq!(st, 200);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["repositories"],
        serde_json::json!(["team/app1"])
    );
    assert!(head.contains("rel=\"next\""), "{head}");
    let (st, _, body) = http(a, "GET", "/v2/team/multi/tags/list", "");
    assert_eq!(st, 200);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["tags"],
        serde_json::json!(["2.0"])
    );

    let layer = imgs.base_layer.digest.to_string();
    let blob_path = format!("/v2/team/app1/blobs/{layer}");
    let (st, head, whole) = http(a, "GET", &blob_path, "");
    assert_eq!(st, 200);
    assert_eq!(format!("sha256:{}", sha256_hex(&whole)), layer);
    assert!(
        head.contains(&format!("docker-content-digest: {layer}")),
        "{head}"
    );
    let (st, head, part) = http(a, "GET", &blob_path, "Range: bytes=100-199\r\n");
    assert_eq!(st, 206, "{head}");
    assert_eq!(part, whole[100..200]);
    assert!(
        head.contains(&format!("content-range: bytes 100-199/{}", whole.len())),
        "{head}"
    );
    let (st, _, _) = http(
        a,
        "GET",
        &blob_path,
        &format!("Range: bytes={}-\r\n", whole.len()),
    );
    assert_eq!(st, 416);
    // Several ranges, or a unit we do not take: the whole blob, as the RFC allows.
    for ask in ["bytes=0-1,5-6", "items=0-9", "bytes=9-3"] {
        let (st, head, body) = http(a, "GET", &blob_path, &format!("Range: {ask}\r\n"));
        assert_eq!(st, 200, "{ask}: {head}");
        assert_eq!(body, whole, "{ask}");
    }
    // Nothing refers to it: the referrers API's empty list (tests/it/referrers.rs fills one).
    let (st, head, body) = http(a, "GET", &format!("/v2/team/app1/referrers/{layer}"), "");
    assert_eq!(st, 200);
    assert!(
        head.contains("application/vnd.oci.image.index.v1+json"),
        "{head}"
    );
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list["manifests"], serde_json::json!([]));
    let (st, head, body) = http(a, "HEAD", &blob_path, "");
    assert_eq!(st, 200);
    assert!(body.is_empty());
    assert!(
        head.contains(&format!("content-length: {}", whole.len())),
        "{head}"
    );
    // A blob of another repository is not served through this one.
    let (st, _, body) = http(a, "GET", &format!("/v2/charts/demo/blobs/{layer}"), "");
    assert_eq!(st, 404);
    assert!(String::from_utf8_lossy(&body).contains("BLOB_UNKNOWN"));
    let (st, _, body) = http(a, "GET", "/v2/nope/manifests/1.0", "");
    assert_eq!(st, 404);
    assert!(String::from_utf8_lossy(&body).contains("NAME_UNKNOWN"));
    let (st, _, body) = http(a, "GET", "/v2/team/app1/manifests/9.9", "");
    assert_eq!(st, 404);
    assert!(String::from_utf8_lossy(&body).contains("MANIFEST_UNKNOWN"));
    for (method, path) in [
        ("POST", "/v2/team/app1/blobs/uploads/"),
        ("PUT", "/v2/team/app1/manifests/evil"),
        ("DELETE", "/v2/team/app1/manifests/1.0"),
    ] {
        let (st, _, body) = http(a, method, path, "");
        assert_eq!(st, 405, "{method} {path}");
        assert!(String::from_utf8_lossy(&body).contains("UNSUPPORTED"));
    }
    // And a real client's push is refused.
    let o = Command::new("skopeo")
        .args([
            "copy",
            "-q",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .arg(format!("docker://{}/team/app1:1.0", src.addr))
        .arg(format!("docker://{a}/team/app1:evil"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let (st, _, _) = http(a, "GET", "/v2/team/app1/manifests/evil", "");
    assert_eq!(st, 404);
}

#[test]
fn serve_refuses_an_untrusted_or_tampered_bundle_and_speaks_tls() {
    let (src, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let (b, public) = make_bundle(work.path(), &src);

    // Another key: refused before listening, exit 3.
    let other = tempfile::tempdir().unwrap();
    let (_, other_pub) = keypair(other.path());
    let o = bundle!("serve {} --key {} --listen 127.0.0.1:0", b, other_pub).run();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    // bundle.json altered: refused too.
    let mut bytes = std::fs::read(&b).unwrap();
    let (index, _) = seek_index(&bytes);
    let m = member(&index, "bundle.json");
    let at = m["data"]["offset"].as_u64().unwrap() as usize + 20;
    bytes[at] ^= 1;
    let bad = work.path().join("bad.bundle");
    std::fs::write(&bad, &bytes).unwrap();
    let o = bundle!("serve {} --key {} --listen 127.0.0.1:0", bad, public).run();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));

    // HTTPS with a certificate from the test CA; skopeo trusts it through --cert-dir.
    let tls = make_tls(work.path());
    let served = Served::start(&[
        b.to_str().unwrap(),
        "--key",
        &public,
        "--tls-cert",
        tls.cert.to_str().unwrap(),
        "--tls-key",
        tls.key.to_str().unwrap(),
    ]);
    let certs = work.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&tls.ca_pem, certs.join("ca.crt")).unwrap();
    let o = Command::new("skopeo")
        .args(["inspect", "--raw", "--cert-dir", certs.to_str().unwrap()])
        .arg(format!("docker://{}/team/app2:1.0", served.addr))
        .output()
        .unwrap();
    assert_ok!(o);
    assert_eq!(
        format!("sha256:{}", sha256_hex(&o.stdout)),
        src.digest_of("team/app2:1.0")
    );
}

const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// GNU gzip's bytes of `tar` (which `--compact` rebuilds exactly).
fn gnu_gzip(tar: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("gzip")
        .args(["-6", "-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = tar.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let o = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert_ok!(o);
    o.stdout
}

/// `load/app:1`, two GNU gzip layers (about 3 MB and 2 MB of tar), in a `--compact` bundle:
/// (work dir, bundle, public key, layer digests, config digest).
fn compact_app() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    String,
    Vec<String>,
    String,
) {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let dir = w.join("layout");
    let mut l = layout::Layout::new(&dir);
    let mut layers = Vec::new();
    for (roots, max, salt) in [
        (&["/usr/lib/x86_64-linux-gnu"][..], 3 << 20, "one"),
        (&["/usr/share/doc", "/usr/share/perl5"][..], 2 << 20, "two"),
    ] {
        let (tar, _) = layout::layer_from_files(&mut l, roots, max, salt);
        let d = l.blob(&gnu_gzip(&tar), OCI_LAYER_GZIP);
        layers.push((tar, d));
    }
    let img = l.image(&layers, "amd64", "load");
    l.tag("app", &img);
    let reg = Registry::start();
    reg.push(&dir, "app", "load/app:1", &[]);
    let (key, public) = keypair(w);
    let list = plain_list(w, &reg, &["load/app:1"]);
    let b = w.join("compact.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {} --compact",
        list,
        b,
        key
    )
    .run();
    assert_ok!(o);
    let doc = crate::delta::bundle_json(&b);
    let digests: Vec<String> = layers.iter().map(|(_, d)| d.digest.clone()).collect();
    for d in &digests {
        let rec = doc["blobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["digest"] == d.as_str())
            .unwrap();
        assert_eq!(rec["encoding"], "gzip-rebuild", "{rec}");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("blobs/sha256").join(img.hex())).unwrap())
            .unwrap();
    let config = manifest["config"]["digest"].as_str().unwrap().to_string();
    (work, b, public, digests, config)
}

/// How many times serve's stderr says it started rebuilding `digest`.
fn rebuilds_of(stderr: &str, digest: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.contains("serve: rebuilding") && l.contains(digest))
        .count()
}

/// `n` clients at once ask for `path` (with `extra` headers); each answer's status and body.
fn at_once(a: &str, path: &str, extra: &str, n: usize) -> Vec<(u16, Vec<u8>)> {
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (a, path, extra) = (a.to_string(), path.to_string(), extra.to_string());
            std::thread::spawn(move || {
                let (st, _, body) = http(&a, "GET", &path, &extra);
                (st, body)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn a_compact_layer_is_rebuilt_once_for_every_client_and_range_at_once() {
    let (work, b, public, layers, config) = compact_app();
    let tmp = work.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let served = Served::start_in(&[b.to_str().unwrap(), "--key", &public, "--verbose"], &tmp);
    let a = served.addr.clone();
    let blob = |d: &str| format!("/v2/load/app/blobs/{d}");
    // A well-behaved client's small blob comes while the crowd is served.
    let config_path = blob(&config);
    let small = {
        let a = a.clone();
        std::thread::spawn(move || {
            let mut slowest = std::time::Duration::ZERO;
            for _ in 0..20 {
                let t = std::time::Instant::now();
                let (st, _, body) = http(&a, "GET", &config_path, "");
                assert_eq!(st, 200);
                assert!(!body.is_empty());
                slowest = slowest.max(t.elapsed());
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            slowest
        })
    };
    let tails: Vec<_> = layers
        .iter()
        .map(|d| {
            let (a, p) = (a.clone(), blob(d));
            std::thread::spawn(move || at_once(&a, &p, "Range: bytes=-1\r\n", 24))
        })
        .collect();
    for d in &layers {
        for (st, body) in at_once(&a, &blob(d), "", 32) {
            assert_eq!(st, 200);
            assert_eq!(
                format!("sha256:{}", sha256_hex(&body)),
                *d,
                "a whole answer"
            );
        }
    }
    for (d, t) in layers.iter().zip(tails) {
        let whole = http(&a, "GET", &blob(d), "").2;
        for (st, body) in t.join().unwrap() {
            assert_eq!(st, 206);
            assert_eq!(body, whole[whole.len() - 1..]);
        }
    }
    let slowest = small.join().unwrap();
    eprintln!("the slowest config GET took {slowest:?}");
    let log = served.stop();
    for d in &layers {
        assert_eq!(rebuilds_of(&log, d), 1, "{d} rebuilt once:\n{log}");
    }
    // Killed (SIGKILL), it leaves nothing behind: the spools' names went as they were made.
    let left = walkdir(&tmp);
    assert!(left.is_empty(), "{left:?}");
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        }
        out.push(p);
    }
    out
}

/// Release 1 and 2 of `rel/pod`, one uncompressed layer that skopeo compresses with pgzip on
/// push (as podman does), release 2's with a few files changed; release 1 in a `--compact`
/// bundle, release 2 in a `--compact --since` one that carries its layer as a delta against
/// release 1's. `sign` is `--key KEY` or `--unsigned`. (base, delta, the delta layer's digest)
fn pod_releases(w: &Path, sign: &[&str]) -> (std::path::PathBuf, std::path::PathBuf, String) {
    use crate::patch::{files, release_two, tar_of};
    let dir = w.join("layout");
    let mut l = layout::Layout::new(&dir);
    let pod1 = files(&["/usr/share/zoneinfo"], 3 << 20);
    let pod2 = release_two(&pod1, &files(&["/usr/share/perl5/Debian"], 200 << 10));
    let reg = Registry::start();
    for (tag, pod) in [("1", &pod1), ("2", &pod2)] {
        let tar = tar_of(pod);
        let d = l.blob(&tar, "application/vnd.oci.image.layer.v1.tar");
        let img = l.image(&[(tar, d)], "amd64", &format!("pod{tag}"));
        l.tag(&format!("pod{tag}"), &img);
        reg.push(&dir, &format!("pod{tag}"), &format!("rel/pod:{tag}"), &[]);
    }
    let base = w.join("release-1.bundle");
    let mut args = sign.to_vec();
    args.push("--compact");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet",
        plain_list(w, &reg, &["rel/pod:1"]),
        base
    )
    .args(&args)
    .run();
    assert_ok!(o);
    let delta = w.join("release-2.bundle");
    args.extend(["--since", base.to_str().unwrap()]);
    let o = bundle!(
        "create {} -o {} --no-cache --quiet",
        plain_list(w, &reg, &["rel/pod:2"]),
        delta
    )
    .args(&args)
    .run();
    assert_ok!(o);
    let doc = crate::delta::bundle_json(&delta);
    let layer = doc["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| !r["rebuild"]["reference"].is_null())
        .expect("a layer carried as a delta")["digest"]
        .as_str()
        .unwrap()
        .to_string();
    (base, delta, layer)
}

#[test]
fn a_delta_layer_served_with_its_base_is_rebuilt_once_for_every_client_at_once() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (key, public) = keypair(w);
    let (base, delta, layer) = pod_releases(w, &["--key", &key]);
    let served = Served::start(&[
        base.to_str().unwrap(),
        delta.to_str().unwrap(),
        "--key",
        &public,
        "--verbose",
    ]);
    let path = format!("/v2/rel/pod/blobs/{layer}");
    for (st, body) in at_once(&served.addr, &path, "", 32) {
        assert_eq!(st, 200);
        assert_eq!(format!("sha256:{}", sha256_hex(&body)), layer);
    }
    let log = served.stop();
    assert_eq!(rebuilds_of(&log, &layer), 1, "{log}");
}

/// The bundle again, every frame made anew, with `edit` applied to its bundle.json (so only
/// for unsigned bundles).
fn with_bundle_json(bundle: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let (index, _) = seek_index(bundle);
    let mut raw = raw_bundle::Raw::new();
    let mut edit = Some(edit);
    for m in index["members"].as_array().unwrap() {
        let path = m["path"].as_str().unwrap();
        let span = &m["data"];
        let (o, l) = (
            span["offset"].as_u64().unwrap() as usize,
            span["length"].as_u64().unwrap() as usize,
        );
        let mut content = zstd::stream::decode_all(&bundle[o..o + l]).unwrap();
        content.truncate(m["size"].as_u64().unwrap() as usize);
        if path == "bundle.json" {
            let mut doc: serde_json::Value = serde_json::from_slice(&content).unwrap();
            (edit.take().unwrap())(&mut doc);
            content = serde_json::to_vec(&doc).unwrap();
        }
        raw.file(path, &content);
    }
    assert!(edit.is_none(), "no bundle.json");
    raw.finish_with(|_| {})
}

#[test]
fn a_delta_against_itself_is_refused_before_serving() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (_, delta, layer) = pod_releases(w, &["--unsigned"]);
    let selfish = w.join("selfish.bundle");
    let bytes = with_bundle_json(&std::fs::read(&delta).unwrap(), |doc| {
        for b in doc["blobs"].as_array_mut().unwrap() {
            if b["digest"] == layer.as_str() {
                b["rebuild"]["reference"]["layer"] = layer.clone().into();
            }
        }
    });
    std::fs::write(&selfish, bytes).unwrap();
    let mut child = bundle!(
        "serve --allow-unsigned --listen 127.0.0.1:0 --quiet {}",
        selfish
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn();
    exit_within(&mut child, 20, || {
        "serve started with a delta against itself".into()
    });
    let o = child.wait_with_output().unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&layer) && err.contains("itself"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn a_compact_layer_that_cannot_be_rebuilt_is_an_error_status_never_a_short_200() {
    let (_work, b, public, layers, config) = compact_app();
    let served = Served::start(&[b.to_str().unwrap(), "--key", &public]);
    let a = &served.addr;
    // The file changes under the running server: the first layer's tar frame is no zstd frame.
    let bytes = std::fs::read(&b).unwrap();
    let (index, _) = seek_index(&bytes);
    let tar = member(&index, &format!("raw/sha256/{}.tar", &layers[0][7..]));
    let at = tar["data"]["offset"].as_u64().unwrap();
    {
        use std::io::{Seek as _, Write as _};
        let mut f = std::fs::OpenOptions::new().write(true).open(&b).unwrap();
        f.seek(std::io::SeekFrom::Start(at)).unwrap();
        f.write_all(b"\0\0\0\0").unwrap();
    }
    let blob = |d: &str| format!("/v2/load/app/blobs/{d}");
    for range in ["", "Range: bytes=-1\r\n"] {
        for (st, body) in at_once(a, &blob(&layers[0]), range, 8) {
            assert_eq!(st, 500, "{range}: {}", String::from_utf8_lossy(&body));
            assert!(String::from_utf8_lossy(&body).contains("could not be rebuilt"));
        }
    }
    let (st, _, whole) = http(a, "GET", &blob(&layers[1]), "");
    assert_eq!(st, 200);
    assert_eq!(format!("sha256:{}", sha256_hex(&whole)), layers[1]);
    assert_eq!(http(a, "GET", &blob(&config), "").0, 200);
}

#[test]
fn a_rebuild_every_client_has_left_stops_and_the_next_ask_starts_it_again() {
    let (_work, b, public, layers, config) = compact_app();
    let served = Served::start(&[b.to_str().unwrap(), "--key", &public, "--verbose"]);
    let a = served.addr.clone();
    let (layer, path) = (&layers[0], format!("/v2/load/app/blobs/{}", layers[0]));
    // A tail range waits for the whole layer before its headers: these clients leave first,
    // while the rebuild (about a second for 3 MB of tar in a debug build) is under way.
    let leaving: Vec<std::net::TcpStream> = (0..8)
        .map(|_| {
            use std::io::Write;
            let mut s = std::net::TcpStream::connect(&a).unwrap();
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: {a}\r\nRange: bytes=-1\r\n\r\n"
            )
            .unwrap();
            s
        })
        .collect();
    served.wait_for_line(&["serve: rebuilding", layer], 20);
    drop(leaving);
    served.wait_for_line(&["stopped rebuilding", layer, "has gone"], 20);
    // Nothing is left half done: the next ask rebuilds it afresh and gets every byte.
    let (st, _, whole) = http(&a, "GET", &path, "");
    assert_eq!(st, 200);
    assert_eq!(format!("sha256:{}", sha256_hex(&whole)), *layer);
    let (st, _, tail) = http(&a, "GET", &path, "Range: bytes=-1\r\n");
    assert_eq!((st, &tail[..]), (206, &whole[whole.len() - 1..]));
    assert_eq!(
        http(&a, "GET", &format!("/v2/load/app/blobs/{config}"), "").0,
        200
    );
    let log = served.stop();
    assert_eq!(rebuilds_of(&log, layer), 2, "{log}");
}

/// A GET that keeps what came before the connection ended, however it ended: (status, body).
fn get_until_cut(addr: &str, path: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw) {
        use std::io::ErrorKind::{TimedOut, WouldBlock};
        assert!(
            !matches!(e.kind(), TimedOut | WouldBlock),
            "no end in 120 s"
        );
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, raw[split + 4..].to_vec())
}

#[test]
fn a_compact_layer_whose_rebuild_fails_midway_is_cut_off_never_ended() {
    let (_work, b, public, layers, _) = compact_app();
    let served = Served::start(&[b.to_str().unwrap(), "--key", &public]);
    // A byte in the middle of the first layer's tar changes under the running server.
    let bytes = std::fs::read(&b).unwrap();
    let at = data_middle(&bytes, &format!("raw/sha256/{}.tar", &layers[0][7..]));
    {
        use std::io::{Seek as _, Write as _};
        let mut f = std::fs::OpenOptions::new().write(true).open(&b).unwrap();
        f.seek(std::io::SeekFrom::Start(at as u64)).unwrap();
        f.write_all(&[bytes[at] ^ 0x40]).unwrap();
    }
    let path = format!("/v2/load/app/blobs/{}", layers[0]);
    let size = http(&served.addr, "HEAD", &path, "").1;
    let size: usize = size
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let answers: Vec<_> = (0..8)
        .map(|_| {
            let (a, p) = (served.addr.clone(), path.clone());
            std::thread::spawn(move || get_until_cut(&a, &p))
        })
        .collect();
    let mut cut = 0;
    for t in answers {
        match t.join().unwrap() {
            (200, body) => {
                assert!(body.len() < size, "a wrong layer was sent whole");
                cut += 1;
            }
            (500, _) => {}
            (st, body) => panic!("{st}: {}", String::from_utf8_lossy(&body)),
        }
    }
    eprintln!("{cut} of 8 responses were cut off under way, the rest answered 500");
    let log = served.stop();
    let said = log
        .lines()
        .filter(|l| l.contains(&layers[0]) && l.contains("could not be rebuilt"))
        .count();
    assert_eq!(said, 1, "said once for all its clients:\n{log}");
}

#[test]
fn a_small_blob_that_cannot_be_read_is_an_error_status_never_a_short_200() {
    let (_work, b, public, _, config) = compact_app();
    let served = Served::start(&[b.to_str().unwrap(), "--key", &public]);
    let path = format!("/v2/load/app/blobs/{config}");
    let (st, _, good) = http(&served.addr, "GET", &path, "");
    assert_eq!(st, 200);
    // The config's frame changes under the running server.
    let bytes = std::fs::read(&b).unwrap();
    let at = data_middle(&bytes, &format!("blobs/sha256/{}", &config[7..]));
    {
        use std::io::{Seek as _, Write as _};
        let mut f = std::fs::OpenOptions::new().write(true).open(&b).unwrap();
        f.seek(std::io::SeekFrom::Start(at as u64)).unwrap();
        f.write_all(&[bytes[at] ^ 0x40]).unwrap();
    }
    let (st, body) = get_until_cut(&served.addr, &path);
    assert_eq!(st, 500, "{}", String::from_utf8_lossy(&body));
    assert_ne!(body, good);
    let (st, _, _) = http(&served.addr, "GET", "/v2/load/app/tags/list", "");
    assert_eq!(st, 200, "still serving");
}

/// `plain/app:1`, one layer made of files under `roots` (at most `max` bytes of tar; gzip'd
/// by GNU gzip when `gzip`), in a bundle made without `--compact`, so the layer is served from
/// its own frame: (work dir, bundle, public key, layer digest, layer size).
fn plain_app(
    roots: &[&str],
    max: u64,
    gzip: bool,
) -> (tempfile::TempDir, std::path::PathBuf, String, String, u64) {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let dir = w.join("layout");
    let mut l = layout::Layout::new(&dir);
    let (tar, raw) = layout::layer_from_files(&mut l, roots, max, "plain");
    let layer = match gzip {
        true => l.blob(&gnu_gzip(&tar), OCI_LAYER_GZIP),
        false => raw,
    };
    let img = l.image(&[(tar, layer.clone())], "amd64", "plain");
    l.tag("app", &img);
    let reg = Registry::start();
    reg.push(&dir, "app", "plain/app:1", &[]);
    let (key, public) = keypair(w);
    let b = w.join("plain.bundle");
    let list = plain_list(w, &reg, &["plain/app:1"]);
    let o = bundle!("create {} -o {} --no-cache --quiet --key {}", list, b, key).run();
    assert_ok!(o);
    (work, b, public, layer.digest.clone(), layer.size)
}

#[test]
fn a_large_blob_that_cannot_be_read_is_an_error_status_never_a_short_200() {
    // A gzip layer of about 1 MB, more than one 256 KiB chunk, carried as it came.
    let (_work, b, public, layer, size) = plain_app(&["/usr/lib/x86_64-linux-gnu"], 3 << 20, true);
    assert!(size > 256 * 1024, "{size}");
    let served = Served::start(&[b.to_str().unwrap(), "--key", &public]);
    let path = format!("/v2/plain/app/blobs/{layer}");
    let (st, _, good) = http(&served.addr, "GET", &path, "");
    assert_eq!((st, good.len() as u64), (200, size));
    // The start of the layer's frame changes under the running server: not a byte of it can
    // be read any more.
    let bytes = std::fs::read(&b).unwrap();
    let (index, _) = seek_index(&bytes);
    let at = member(&index, &format!("blobs/sha256/{}", &layer[7..]))["data"]["offset"]
        .as_u64()
        .unwrap();
    {
        use std::io::{Seek as _, Write as _};
        let mut f = std::fs::OpenOptions::new().write(true).open(&b).unwrap();
        f.seek(std::io::SeekFrom::Start(at)).unwrap();
        f.write_all(&[bytes[at as usize] ^ 0xff]).unwrap();
    }
    let (st, body) = get_until_cut(&served.addr, &path);
    assert_eq!(st, 500, "{} bytes", body.len());
    // A range of it too.
    let (st, _, _) = http(&served.addr, "GET", &path, "Range: bytes=0-400000\r\n");
    assert_eq!(st, 500);
    let (st, _, _) = http(&served.addr, "GET", "/v2/plain/app/tags/list", "");
    assert_eq!(st, 200, "still serving");
}

#[test]
fn a_client_that_stops_reading_is_dropped_after_the_idle_time() {
    // A layer of 48 MB, far more than the sockets' buffers hold on loopback.
    let (_work, b, public, layer, size) = plain_app(&["/usr/lib", "/usr/bin"], 48 << 20, false);
    let served = Served::start(&[b.to_str().unwrap(), "--key", &public]);
    let a = served.addr.clone();
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(&a).unwrap();
    write!(
        s,
        "GET /v2/plain/app/blobs/{layer} HTTP/1.1\r\nHost: {a}\r\n\r\n"
    )
    .unwrap();
    let asked = std::time::Instant::now();
    // The client reads nothing for longer than the 30 s idle time...
    std::thread::sleep(std::time::Duration::from_secs(34));
    // ...while another client is served as usual.
    let (st, _, _) = http(&a, "GET", "/v2/plain/app/tags/list", "");
    assert_eq!(st, 200);
    // Then it finds what the buffers held and the end of the connection, not the blob.
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut got = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let ended = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(e) => {
                eprintln!("{e}");
                break false;
            }
        }
    };
    eprintln!(
        "a client that stopped reading got {got} of {size} bytes, connection ended: {ended}, after {:?}",
        asked.elapsed()
    );
    assert!(
        ended,
        "the connection was still open after {:?}",
        asked.elapsed()
    );
    assert!(
        got < size,
        "the whole blob came: the client was never dropped"
    );
}
