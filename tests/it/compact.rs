//! `create --compact` end to end: layers made by the producers registries get them from (Go's
//! compress/gzip at three levels and Go 1.27's, built and run here; Python's gzip, which is
//! zlib; skopeo's pgzip; GNU gzip; pigz; pigz with 64 KiB blocks) are pushed to a real
//! registry; the compact bundle carries them as tars (the last, which no encoder here
//! reproduces, with preflate's side data) and rebuilds them byte for byte into a registry, an OCI layout, a docker-archive and
//! `serve`, judged by skopeo and sha256. What cannot be rebuilt (two gzip members in one
//! layer) travels as it came. umoci's pgzip (256 KiB blocks) around random bytes is carried as
//! its tar too.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

struct Source {
    reg: Registry,
    work: tempfile::TempDir,
    /// Go level → the layer digest it made.
    go_layers: Vec<(i32, String)>,
    /// Python's gzip (zlib) at level 6.
    zlib_layer: String,
    /// Go 1.27's at level 6, skopeo's (pgzip), GNU gzip's at level 6.
    go127_layer: String,
    pgzip_layer: String,
    gnu_layer: String,
    /// pigz's, at its default block size.
    pigz_layer: String,
    /// pigz's with 64 KiB blocks (`-b 64`): rebuilt by preflate, with side data.
    preflate_layer: String,
    /// Layers that cannot be rebuilt: two gzip members.
    other_layers: Vec<String>,
}

/// Two images: `go/app` with Go level 6, 1 and 9 layers, a Go 1.27 one, a GNU gzip, a pigz,
/// a Python one and one of two gzip members; `podman/app`
/// whose uncompressed layer skopeo compresses on push, with pgzip, as podman and buildah do.
fn source() -> Source {
    let work = tempfile::tempdir().unwrap();
    let (_, judge) =
        crate::common::producers::build_judge(Path::new("go"), &work.path().join("judge"));
    require("gzip");
    require("pigz");
    let dir = work.path().join("layout");
    let mut l = layout::Layout::new(&dir);
    let raw = |l: &mut layout::Layout, roots: &[&str], max: u64, salt: &str| {
        layout::layer_from_files(l, roots, max, salt).0
    };
    let tars = [
        // Past 8 MiB: restart points, so the layer is rebuilt in pieces on every core.
        raw(
            &mut l,
            &["/usr/share/doc", "/usr/lib/x86_64-linux-gnu"],
            12 << 20,
            "go6",
        ),
        raw(&mut l, &["/usr/lib/x86_64-linux-gnu"], 3 << 20, "go1"),
        raw(&mut l, &["/usr/share/perl5"], 2 << 20, "go9"),
        raw(&mut l, &["/usr/share/common-licenses"], 1 << 20, "gnu"),
        raw(&mut l, &["/usr/lib/python3"], 2 << 20, "python"),
        raw(&mut l, &["/usr/share/locale"], 2 << 20, "go127"),
        raw(&mut l, &["/usr/share/man"], 2 << 20, "pigz"),
        raw(&mut l, &["/usr/share/i18n"], 1 << 20, "members"),
        raw(&mut l, &["/usr/include"], 1 << 20, "preflate"),
    ];
    let mut layers = Vec::new();
    let mut go_layers = Vec::new();
    for (tar, level) in tars[..3].iter().zip([6, 1, 9]) {
        let path = work.path().join(format!("go{level}.tar"));
        std::fs::write(&path, tar).unwrap();
        let gz = crate::common::producers::go_gzip(&judge, &path, level);
        let d = l.blob(&gz, OCI_LAYER_GZIP);
        go_layers.push((level, d.digest.clone()));
        layers.push((tar.clone(), d));
    }
    let gnu = Command::new("sh")
        .arg("-c")
        .arg("gzip -6 -n -c")
        .stdin(std::fs::File::open(write_tmp(work.path(), "gnu.tar", &tars[3])).unwrap())
        .output()
        .unwrap()
        .stdout;
    let gnu_desc = l.blob(&gnu, OCI_LAYER_GZIP);
    layers.push((tars[3].clone(), gnu_desc.clone()));
    // Python's gzip module: zlib, as Jib's and many scripts' layers are made.
    let py = Command::new("python3")
        .args(["-c", "import gzip, sys; sys.stdout.buffer.write(gzip.compress(sys.stdin.buffer.read(), 6, mtime=0))"])
        .stdin(std::fs::File::open(write_tmp(work.path(), "py.tar", &tars[4])).unwrap())
        .output()
        .unwrap()
        .stdout;
    let py_desc = l.blob(&py, OCI_LAYER_GZIP);
    layers.push((tars[4].clone(), py_desc.clone()));
    let (_, judge127) =
        crate::common::producers::go127_judges(&work.path().join("judge127")).remove(0);
    let path = write_tmp(work.path(), "go127.tar", &tars[5]);
    let go127 = l.blob(
        &crate::common::producers::go_gzip(&judge127, &path, 6),
        OCI_LAYER_GZIP,
    );
    layers.push((tars[5].clone(), go127.clone()));
    let pigz = |args: &[&str], tar: &[u8]| {
        Command::new("pigz")
            .args(args)
            .stdin(std::fs::File::open(write_tmp(work.path(), "pigz.tar", tar)).unwrap())
            .output()
            .unwrap()
            .stdout
    };
    let pigz_desc = l.blob(&pigz(&["-6", "-n", "-c"], &tars[6]), OCI_LAYER_GZIP);
    layers.push((tars[6].clone(), pigz_desc.clone()));
    // Another block size: no encoder here makes it, preflate-rs describes it.
    let other_pigz = pigz(&["-6", "-n", "-b", "64", "-c"], &tars[8]);
    let preflate_desc = l.blob(&other_pigz, OCI_LAYER_GZIP);
    layers.push((tars[8].clone(), preflate_desc.clone()));
    // Two members, as `cat a.gz b.gz` makes: valid gzip, and no single encoder's output.
    let half = tars[7].len() / 2;
    let mut members = crate::common::producers::go_gzip(
        &judge,
        &write_tmp(work.path(), "m1.tar", &tars[7][..half]),
        6,
    );
    members.extend(crate::common::producers::go_gzip(
        &judge,
        &write_tmp(work.path(), "m2.tar", &tars[7][half..]),
        6,
    ));
    let members_desc = l.blob(&members, OCI_LAYER_GZIP);
    layers.push((tars[7].clone(), members_desc.clone()));
    let app = l.image(&layers, "amd64", "go");
    l.tag("go", &app);
    let plain = raw(&mut l, &["/usr/share/zoneinfo"], 2 << 20, "pgzip");
    let plain_desc = l.blob(&plain, OCI_LAYER);
    let pod = l.image(&[(plain.clone(), plain_desc)], "amd64", "podman");
    l.tag("podman", &pod);
    let reg = Registry::start();
    reg.push(&dir, "go", "go/app:1", &[]);
    // skopeo compresses an uncompressed layer for a registry with pgzip.
    reg.push(&dir, "podman", "podman/app:1", &[]);
    let pgzip_layer = layer_digests(&reg, "podman/app:1").remove(0);
    assert_ne!(
        pgzip_layer,
        format!("sha256:{}", layout::sha256_hex(&plain)),
        "skopeo compressed the layer"
    );
    Source {
        reg,
        work,
        go_layers,
        zlib_layer: py_desc.digest,
        go127_layer: go127.digest,
        pgzip_layer,
        gnu_layer: gnu_desc.digest,
        pigz_layer: pigz_desc.digest,
        preflate_layer: preflate_desc.digest,
        other_layers: vec![members_desc.digest],
    }
}

fn write_tmp(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The layer digests of an image as skopeo reads its manifest from a registry.
fn layer_digests(reg: &Registry, reference: &str) -> Vec<String> {
    let m: serde_json::Value = serde_json::from_slice(&reg.raw_manifest(reference)).unwrap();
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

/// Every file under `dir` named by a sha256 hashes to its name (an OCI layout's blobs, or
/// a docker-archive unpacked).
fn every_blob_hashes_to_its_name(dir: &Path) -> usize {
    let mut n = 0;
    for e in crate::common::producers::walk(dir) {
        let name = e.file_name().unwrap().to_string_lossy().to_string();
        if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let bytes = std::fs::read(&e).unwrap();
            assert_eq!(layout::sha256_hex(&bytes), name, "{}", e.display());
            n += 1;
        }
    }
    n
}

#[test]
fn go_layers_travel_as_tars_and_load_everywhere_with_their_digests_and_others_as_they_came() {
    let src = source();
    let w = src.work.path();
    let (key, public) = keypair(w);
    let list = plain_list(w, &src.reg, &["go/app:1", "podman/app:1"]);
    let compact = w.join("compact.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {} --compact --json",
        list,
        compact,
        key
    )
    .run();
    assert_ok!(o);
    // Every stage of this create ran (no deltas: no reference layers).
    let created: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cpu = &created["cpuSeconds"];
    for stage in ["inflate", "identify", "preflate", "zstd", "prove"] {
        assert!(cpu[stage].as_f64().unwrap() > 0.0, "{stage}: {cpu}");
    }
    assert_eq!(cpu["deltas"], 0.0, "{cpu}");
    let plain = w.join("plain.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {}",
        list,
        plain,
        key
    )
    .run();
    assert_ok!(o);

    // bundle.json: each Go layer rebuilt by its level, the others as they came.
    let i = inspect_json(&compact);
    let out = text(&bundle!("inspect {}", compact).run());
    for (level, _) in &src.go_layers {
        assert!(
            out.contains(&format!("rebuilt by go1.8 level {level}")),
            "{out}"
        );
    }
    assert!(out.contains("rebuilt by zlib level 6"), "{out}");
    assert!(out.contains("rebuilt by go1.27 level 6"), "{out}");
    assert!(out.contains("rebuilt by pgzip level"), "{out}");
    assert!(out.contains("rebuilt by gnu level 6"), "{out}");
    assert!(out.contains("rebuilt by pigz level 6"), "{out}");
    assert!(
        out.contains("rebuilt by preflate-rs0.7.6 with side data"),
        "{out}"
    );
    assert!(
        out.contains("1 layer") && out.contains("stored as they came"),
        "{out}"
    );
    // The large level-6 layer carries restart points; the small ones need none.
    let blobs = crate::delta::bundle_json(&compact)["blobs"].clone();
    let restarts = |d: &str| {
        let b = blobs
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["digest"] == d)
            .unwrap();
        b["rebuild"]["restarts"].as_array().map_or(0, |r| r.len())
    };
    let (_, go6) = &src.go_layers[0];
    assert!(restarts(go6) >= 2, "{blobs}");
    assert_eq!(restarts(&src.go_layers[1].1), 0, "level 1 has none");
    let carried: Vec<_> = i["layers"].as_array().unwrap().iter().collect();
    assert_eq!(carried.len(), 10, "{carried:?}");
    // The tars are members under raw/, never under blobs/ (their bytes are not those digests).
    let listing = Command::new("tar")
        .args(["--zstd", "-tf"])
        .arg(&compact)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).to_string();
    let rebuilt = src.go_layers.iter().map(|(_, d)| d).chain([
        &src.zlib_layer,
        &src.go127_layer,
        &src.pgzip_layer,
        &src.gnu_layer,
        &src.pigz_layer,
    ]);
    for d in rebuilt {
        assert!(
            listing.contains(&format!("raw/sha256/{}.tar", &d[7..])),
            "{listing}"
        );
        assert!(
            !listing.contains(&format!("blobs/sha256/{}", &d[7..])),
            "{listing}"
        );
    }
    assert!(
        listing.contains(&format!("raw/sha256/{}.preflate", &src.preflate_layer[7..])),
        "{listing}"
    );
    for d in &src.other_layers {
        assert!(
            listing.contains(&format!("blobs/sha256/{}", &d[7..])),
            "{listing}"
        );
    }
    let (c, p) = (
        std::fs::metadata(&compact).unwrap().len(),
        std::fs::metadata(&plain).unwrap().len(),
    );
    eprintln!(
        "compact {c} bytes, plain {p} bytes ({:.3}x)",
        c as f64 / p as f64
    );
    assert!(c * 10 < p * 9, "compact {c} is not smaller than plain {p}");

    let v = bundle!("verify {} --key {}", compact, public).run();
    assert_ok!(v);

    // A registry, an OCI layout and a docker-archive, in one load.
    let dst = Registry::start();
    let oci = w.join("oci");
    let archive = w.join("images.tar");
    let o = bundle!(
        "load {} --key {} -q --json --plain-http {} {} {}",
        compact,
        public,
        format!("--to=registry://{}", dst.addr),
        format!("--to=oci:{}", oci.display()),
        format!("--to=docker-archive:{}", archive.display())
    )
    .run();
    assert_ok!(o);
    let loaded: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cpu = &loaded["cpuSeconds"];
    for stage in ["decode", "rebuild", "hash", "write"] {
        assert!(cpu[stage].as_f64().unwrap() > 0.0, "{stage}: {cpu}");
    }
    for r in ["go/app:1", "podman/app:1"] {
        let want = src.reg.digest_of(r);
        assert_eq!(dst.digest_of(r), want, "{r} in the registry");
        assert_eq!(layer_digests(&dst, r), layer_digests(&src.reg, r), "{r}");
        let o = Command::new("skopeo")
            .args(["inspect", "--raw"])
            .arg(format!("oci:{}:{}/{r}", oci.display(), src.reg.addr))
            .output()
            .unwrap();
        assert_ok!(o);
        assert_eq!(
            format!("sha256:{}", layout::sha256_hex(&o.stdout)),
            want,
            "{r} in oci:"
        );
    }
    assert!(every_blob_hashes_to_its_name(&oci) >= 10);
    // From stdin (`load -`): the verifier itself rebuilds each layer as it streams by.
    let piped = Registry::start();
    let o = load(Path::new("-"), &public, &piped.target())
        .stdin(std::fs::File::open(&compact).unwrap())
        .run();
    assert_ok!(o);
    for r in ["go/app:1", "podman/app:1"] {
        assert_eq!(piped.digest_of(r), src.reg.digest_of(r), "{r} from stdin");
        assert_eq!(layer_digests(&piped, r), layer_digests(&src.reg, r), "{r}");
    }
    let unpacked = w.join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let o = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&unpacked)
        .output()
        .unwrap();
    assert_ok!(o);
    assert!(every_blob_hashes_to_its_name(&unpacked) >= 8);

    // serve rebuilds as it answers; skopeo copies with every digest checked.
    let served = Served::start(&[compact.to_str().unwrap(), "--key", &public]);
    let copied = w.join("copied");
    let o = Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{}/go/app:1", served.addr))
        .arg(format!("dir:{}", copied.display()))
        .output()
        .unwrap();
    assert_ok!(o);
    for d in src
        .go_layers
        .iter()
        .map(|(_, d)| d)
        .chain([&src.pigz_layer, &src.preflate_layer])
    {
        let bytes = std::fs::read(copied.join(&d[7..])).unwrap();
        assert_eq!(format!("sha256:{}", layout::sha256_hex(&bytes)), *d);
    }
    served.stop();

    // With a cache, a second run reuses the packed frames (each proven again) and writes the
    // same bytes; a frame damaged in the cache is not trusted but packed again.
    let cache = w.join("cache");
    let created = i["created"].as_str().unwrap().to_string();
    let with_cache = |out: &Path| {
        let o = bundle!(
            "create {} -o {} --key {} --compact --quiet --created {} --cache-dir {}",
            list,
            out,
            key,
            created,
            cache
        )
        .run();
        assert_ok!(o);
        std::fs::read(out).unwrap()
    };
    let first = with_cache(&w.join("first.bundle"));
    assert!(
        first == std::fs::read(&compact).unwrap(),
        "not deterministic"
    );
    let frames: Vec<PathBuf> = crate::common::producers::walk(&cache.join("packed"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "zst"))
        .collect();
    assert_eq!(frames.len(), 9, "{frames:?}");
    for f in &frames {
        let mut b = std::fs::read(f).unwrap();
        let n = b.len();
        b[n / 2] ^= 1;
        std::fs::write(f, b).unwrap();
    }
    let again = w.join("again.bundle");
    assert!(
        with_cache(&again) == first,
        "a damaged cached frame was used"
    );
    let v = bundle!("verify {} --key {}", again, public).run();
    assert_ok!(v);
}

/// `go/app:1` in a compact bundle, and the public key that verifies it.
fn compact_go_app(src: &Source) -> (PathBuf, String) {
    let w = src.work.path();
    let (key, public) = keypair(w);
    let list = plain_list(w, &src.reg, &["go/app:1"]);
    let compact = w.join("compact.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {} --compact",
        list,
        compact,
        key
    )
    .run();
    assert_ok!(o);
    (compact, public)
}

#[test]
fn a_flipped_byte_in_a_carried_tar_is_refused_before_any_tag() {
    let src = source();
    let w = src.work.path();
    let (compact, public) = compact_go_app(&src);
    let mut bytes = std::fs::read(&compact).unwrap();
    let (_, d) = &src.go_layers[0];
    let at = bundle_file::data_middle(&bytes, &format!("raw/sha256/{}", &d[7..]));
    bytes[at] ^= 0x20;
    let bad = w.join("bad.bundle");
    std::fs::write(&bad, &bytes).unwrap();
    let v = bundle!("verify {} --key {}", bad, public).run();
    assert_eq!(v.status.code(), Some(3), "{}", text(&v));
    let dst = Registry::start();
    let o = load(&bad, &public, &dst.target()).run();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(dst.tags("go/app").is_empty(), "a tag was written");
}

/// The bundle again, every frame made anew, with byte `at(size)` of `member`'s content
/// changed: its frames and the seek index are all consistent, so only the rebuilt gzip's digest
/// shows it.
pub(crate) fn reframed_with_a_changed_byte(
    bundle: &[u8],
    member: &str,
    at: fn(usize) -> usize,
) -> Vec<u8> {
    let (index, _) = bundle_file::seek_index(bundle);
    let frame_at = |span: &serde_json::Value| {
        let (o, l) = (
            span["offset"].as_u64().unwrap() as usize,
            span["length"].as_u64().unwrap() as usize,
        );
        zstd::stream::decode_all(&bundle[o..o + l]).unwrap()
    };
    let mut raw = raw_bundle::Raw::new();
    let mut changed = false;
    for m in index["members"].as_array().unwrap() {
        let path = m["path"].as_str().unwrap();
        let size = m["size"].as_u64().unwrap() as usize;
        let mut content = frame_at(&m["data"]);
        content.truncate(size);
        if path == member {
            content[at(size)] ^= 0x01;
            changed = true;
        }
        raw.file(path, &content);
    }
    assert!(changed, "no member {member}");
    raw.finish_with(|_| {})
}

#[test]
fn a_tar_changed_with_consistent_frames_is_refused_by_the_rebuilt_digest_even_when_not_sent() {
    let src = source();
    let w = src.work.path();
    let (compact, public) = compact_go_app(&src);
    let (_, d) = &src.go_layers[0];
    let bad = w.join("bad.bundle");
    let bytes = std::fs::read(&compact).unwrap();
    std::fs::write(
        &bad,
        reframed_with_a_changed_byte(&bytes, &format!("raw/sha256/{}.tar", &d[7..]), |n| n / 2),
    )
    .unwrap();
    let v = bundle!("verify {} --key {}", bad, public).run();
    assert_eq!(v.status.code(), Some(3), "{}", text(&v));
    assert!(text(&v).contains(d.as_str()), "{}", text(&v));
    let load_bad = |target: &str| load(&bad, &public, target).run();
    // Sent: the target refuses the upload, and the verdict is the bundle's (exit 3).
    let dst = Registry::start();
    let o = load_bad(&dst.target());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(dst.tags("go/app").is_empty(), "a tag was written");
    let oci = w.join("oci");
    let o = load_bad(&format!("oci:{}", oci.display()));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    // Not sent (the target holds the layer from a good load): rebuilt and refused all the same.
    let o = load(&compact, &public, &format!("registry://{}/again", dst.addr)).run();
    assert_ok!(o);
    let o = load_bad(&format!("registry://{}/again", dst.addr));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("altered"), "{}", text(&o));
}

#[test]
fn a_changed_byte_of_side_data_or_of_its_tar_is_refused_before_any_tag() {
    let src = source();
    let w = src.work.path();
    let (compact, public) = compact_go_app(&src);
    let member = format!("raw/sha256/{}.preflate", &src.preflate_layer[7..]);
    let bytes = std::fs::read(&compact).unwrap();
    // Byte 4 starts the first chunk's length in the side data; the middle is in the tar. Each
    // is refused without preflate-rs ever seeing it (it may loop on bytes that do not fit).
    let in_side: fn(usize) -> usize = |_| 4;
    let in_tar: fn(usize) -> usize = |n| n / 2;
    for (what, at) in [("side data", in_side), ("tar", in_tar)] {
        let bad = w.join("bad.bundle");
        std::fs::write(&bad, reframed_with_a_changed_byte(&bytes, &member, at)).unwrap();
        let v = bundle!("verify {} --key {}", bad, public).run();
        assert_eq!(v.status.code(), Some(3), "{what}: {}", text(&v));
        assert!(
            text(&v).contains(&src.preflate_layer),
            "{what}: {}",
            text(&v)
        );
        let dst = Registry::start();
        let o = load(&bad, &public, &dst.target()).run();
        assert_eq!(o.status.code(), Some(3), "{what}: {}", text(&o));
        assert!(dst.tags("go/app").is_empty(), "{what}: a tag was written");
    }
}

/// umoci writes pgzip in 256 KiB blocks: Debian 12's umoci makes a layer of text around 3 MB
/// of random bytes, and the compact bundle carries it as its tar, rebuilt byte for byte.
#[test]
fn a_layer_umoci_wrote_around_random_bytes_is_carried_as_its_tar_and_verifies() {
    require("umoci");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let layout = w.join("umoci");
    let image = format!("{}:t", layout.display());
    let umoci = |args: &[&str]| assert_ok!(Command::new("umoci").args(args).output().unwrap());
    umoci(&["init", "--layout", &layout.display().to_string()]);
    umoci(&["new", "--image", &image]);
    let bundle_dir = w.join("rootfs-bundle").display().to_string();
    umoci(&["unpack", "--rootless", "--image", &image, &bundle_dir]);
    let rootfs = w.join("rootfs-bundle/rootfs");
    std::fs::copy("/usr/share/common-licenses/GPL-3", rootfs.join("GPL-3")).unwrap();
    let random = crate::common::producers::noise(3_000_000);
    std::fs::write(rootfs.join("random.bin"), random).unwrap();
    std::fs::copy("/usr/bin/bash", rootfs.join("bash")).unwrap();
    umoci(&["repack", "--image", &image, &bundle_dir]);
    let reg = Registry::start();
    reg.push(&layout, "t", "umoci/app:1", &[]);
    let (key, public) = keypair(w);
    let list = plain_list(w, &reg, &["umoci/app:1"]);
    let compact = w.join("compact.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {} --compact",
        list,
        compact,
        key
    )
    .run();
    assert_ok!(o);
    let out = text(&bundle!("inspect {}", compact).run());
    assert!(out.contains("rebuilt by pgzip-256k level 5"), "{out}");
    assert!(!out.contains("stored as they came"), "{out}");
    let v = bundle!("verify {} --key {}", compact, public).run();
    assert_ok!(v);
}
