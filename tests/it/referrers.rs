//! Signatures, attestations and SBOMs travel with their images. The fixtures are made as the
//! real tools make them: cosign's tag scheme (`sha256-<hex>.sig|.att`, the simple-signing
//! payload signed with an ECDSA P-256 key by openssl, the signature in cosign's annotation), a
//! signature on the attestation, and an SPDX SBOM as an OCI 1.1 artifact with `subject`, listed
//! under the referrers fallback tag as ORAS lists it on a registry without the referrers API
//! (Debian's docker-registry answers 404 there). skopeo pushes them all; skopeo, openssl and
//! raw HTTP judge what arrives.

use crate::common::layout::{Desc, Layout, OCI_CONFIG, OCI_MANIFEST};
use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
const SPDX: &str = "application/spdx+json";
const EMPTY: &str = "application/vnd.oci.empty.v1+json";
const REPO: &str = "signed/app";

/// The source registry's image and what refers to it.
struct Signed {
    reg: Registry,
    subject: String,
    sig: String,
    att: String,
    att_sig: String,
    sbom: String,
    public_key: PathBuf,
    key: PathBuf,
}

fn openssl(args: &[&str]) -> std::process::Output {
    require("openssl");
    let o = Command::new("openssl").args(args).output().unwrap();
    assert_ok!(o, "openssl {args:?}");
    o
}

/// An ECDSA P-256 key pair made by openssl, as `cosign generate-key-pair` makes one:
/// `DIR/STEM.key` (private, PEM) and `DIR/STEM.pub` (SPKI PEM).
fn ec_keypair(dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{stem}.key"));
    let public = dir.join(format!("{stem}.pub"));
    let (k, p) = (key.to_str().unwrap(), public.to_str().unwrap());
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        k,
    ]);
    openssl(&["ec", "-in", k, "-pubout", "-out", p]);
    (key, public)
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// cosign's simple-signing payload for `digest`, and its signature (DER, base64) by `key`.
fn sign(work: &Path, key: &Path, reference: &str, digest: &str) -> (Vec<u8>, String) {
    let payload = serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    }))
    .unwrap();
    let p = work.join("payload.json");
    std::fs::write(&p, &payload).unwrap();
    let sig = work.join("payload.sig");
    openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        key.to_str().unwrap(),
        "-out",
        sig.to_str().unwrap(),
        p.to_str().unwrap(),
    ]);
    (payload, b64(&std::fs::read(sig).unwrap()))
}

/// A manifest as cosign writes one for its tags: an image config over the layers' digests,
/// one layer holding the payload with the signature in cosign's annotation.
fn cosign_manifest(l: &mut Layout, payload: &[u8], media_type: &str, sig: &str) -> Desc {
    let layer = l.blob(payload, media_type);
    let config = serde_json::json!({
        "architecture": "", "os": "", "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
    });
    let cfg = l.blob(&serde_json::to_vec(&config).unwrap(), OCI_CONFIG);
    let mut layer_json = layer.json();
    layer_json["annotations"] = serde_json::json!({"dev.cosignproject.cosign/signature": sig});
    let m = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": cfg.json(), "layers": [layer_json],
    });
    l.blob(&serde_json::to_vec(&m).unwrap(), OCI_MANIFEST)
}

fn tag_of(digest: &str) -> String {
    format!("sha256-{}", &digest[7..])
}

/// Push `d` from layout `l` to the source registry under `tag`.
fn push(reg: &Registry, l: &mut Layout, d: &Desc, tag: &str) {
    push_to(reg, l, d, REPO, tag);
}

fn push_to(reg: &Registry, l: &mut Layout, d: &Desc, repo: &str, tag: &str) {
    l.tag(tag, d);
    reg.push(
        &l.dir,
        tag,
        &format!("{repo}:{tag}"),
        &["--preserve-digests"],
    );
}

fn signed_image(work: &Path) -> Signed {
    let reg = Registry::start();
    let mut l = Layout::new(&work.join("src"));
    let (raw, layer) =
        layout::layer_from_files(&mut l, &["/usr/share/common-licenses"], 256 << 10, "signed");
    let img = l.image(&[(raw, layer)], "amd64", "signed");
    push(&reg, &mut l, &img, "1");
    let subject = reg.digest_of(&format!("{REPO}:1"));
    assert_eq!(subject, img.digest);
    let (key, public_key) = ec_keypair(work, "cosign");
    let name = format!("{}/{REPO}", reg.addr);
    let (payload, s) = sign(work, &key, &name, &subject);
    let sig = cosign_manifest(&mut l, &payload, SIMPLE_SIGNING, &s);
    push(&reg, &mut l, &sig, &format!("{}.sig", tag_of(&subject)));
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": name, "digest": {"sha256": &subject[7..]}}],
        "predicate": {"builder": {"id": "tests/it/referrers.rs"}},
    });
    let envelope = serde_json::to_vec(&serde_json::json!({
        "payloadType": "application/vnd.in-toto+json",
        "payload": b64(&serde_json::to_vec(&statement).unwrap()),
        "signatures": [{"keyid": "", "sig": s}],
    }))
    .unwrap();
    let att = cosign_manifest(&mut l, &envelope, DSSE, "");
    push(&reg, &mut l, &att, &format!("{}.att", tag_of(&subject)));
    let (payload, s) = sign(work, &key, &name, &att.digest);
    let att_sig = cosign_manifest(&mut l, &payload, SIMPLE_SIGNING, &s);
    push(
        &reg,
        &mut l,
        &att_sig,
        &format!("{}.sig", tag_of(&att.digest)),
    );
    // skopeo cannot copy an index with artifactType unchanged: pushed as ORAS pushes, over
    // the distribution API: blobs, the manifest by digest, the fallback tag's index.
    let (sbom, blobs) = sbom_artifact(&mut l, &img);
    for b in &blobs {
        upload(
            &reg.addr,
            &std::fs::read(l.dir.join("blobs/sha256").join(b.hex())).unwrap(),
        );
    }
    let bytes = std::fs::read(l.dir.join("blobs/sha256").join(sbom.hex())).unwrap();
    put(&reg.addr, &sbom.digest, OCI_MANIFEST, &bytes);
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": layout::OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sbom.digest, "size": sbom.size,
                       "artifactType": SPDX}],
    });
    put(
        &reg.addr,
        &tag_of(&subject),
        layout::OCI_INDEX,
        &serde_json::to_vec(&index).unwrap(),
    );
    Signed {
        subject,
        sig: sig.digest,
        att: att.digest,
        att_sig: att_sig.digest,
        sbom: sbom.digest,
        public_key,
        key,
        reg,
    }
}

/// One HTTP/1.1 request with a body to the registry at `addr`: (status, the answer's head).
fn send(addr: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let (status, head, _) = http_send(
        addr,
        method,
        path,
        &format!("Content-Type: {content_type}\r\n"),
        body,
    );
    (status, head)
}

/// A blob uploaded as the distribution spec's POST-then-PUT.
fn upload(addr: &str, bytes: &[u8]) {
    let (status, head) = send(
        addr,
        "POST",
        &format!("/v2/{REPO}/blobs/uploads/"),
        "application/octet-stream",
        b"",
    );
    assert_eq!(status, 202, "{head}");
    let location = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
                .map(|(_, v)| v)
        })
        .unwrap()
        .trim()
        .to_string();
    let path = location
        .split_once(addr)
        .map_or(location.as_str(), |(_, p)| p);
    let sep = if path.contains('?') { '&' } else { '?' };
    let digest = format!("sha256:{}", layout::sha256_hex(bytes));
    let (status, head) = send(
        addr,
        "PUT",
        &format!("{path}{sep}digest={digest}"),
        "application/octet-stream",
        bytes,
    );
    assert_eq!(status, 201, "{head}");
}

fn put(addr: &str, reference: &str, media_type: &str, bytes: &[u8]) {
    let (status, head) = send(
        addr,
        "PUT",
        &format!("/v2/{REPO}/manifests/{reference}"),
        media_type,
        bytes,
    );
    assert_eq!(status, 201, "{head}");
}

/// An SPDX document of the licence files, as an OCI 1.1 artifact whose subject is `img`, and
/// its blobs.
fn sbom_artifact(l: &mut Layout, img: &Desc) -> (Desc, Vec<Desc>) {
    let files: Vec<serde_json::Value> = std::fs::read_dir("/usr/share/common-licenses")
        .unwrap()
        .flatten()
        .map(|e| serde_json::json!({"fileName": e.path().display().to_string()}))
        .collect();
    let doc = serde_json::json!({
        "spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "signed-app",
        "dataLicense": "CC0-1.0", "files": files,
    });
    let layer = l.blob(&serde_json::to_vec(&doc).unwrap(), SPDX);
    let empty = l.blob(b"{}", EMPTY);
    let m = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SPDX,
        "config": empty.json(), "layers": [layer.json()],
        "subject": {"mediaType": img.media_type, "digest": img.digest, "size": img.size},
        "annotations": {"org.opencontainers.image.created": "2026-12-03T00:00:00Z"},
    });
    (
        l.blob(&serde_json::to_vec(&m).unwrap(), OCI_MANIFEST),
        vec![empty, layer],
    )
}

fn bundle_of(work: &Path, s: &Signed, extra: &[&str]) -> (PathBuf, serde_json::Value) {
    let list = plain_list(work, &s.reg, &[&format!("{REPO}:1")]);
    let b = work.join(format!("b{}.bundle", extra.len()));
    let mut args = vec!["--unsigned"];
    args.extend_from_slice(extra);
    let o = bundle!("create {} -o {} --no-cache --quiet", list, b)
        .args(&args)
        .run();
    assert_ok!(o);
    if extra.is_empty() {
        let summary = String::from_utf8_lossy(&o.stdout);
        assert!(
            summary.contains("referrers:       2 signatures, 1 SBOM, 1 attestation"),
            "{summary}"
        );
    }
    let doc = inspect_json(&b);
    (b, doc["images"][0]["referrers"].clone())
}

fn referrers_found(list: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = list
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["digest"].as_str().unwrap().to_string(),
                        r["kind"].as_str().unwrap().to_string(),
                        r["found"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A blob of `repo` from the registry at `addr`, over plain HTTP.
fn blob(addr: &str, repo: &str, digest: &str) -> Vec<u8> {
    let (status, _, body) = http(addr, "GET", &format!("/v2/{repo}/blobs/{digest}"), "");
    assert_eq!(status, 200, "{digest}");
    body
}

/// openssl checks the cosign signature `manifest` (read from the registry at `addr`) with the
/// public key, and the payload names `digest`.
fn signature_checks_out(addr: &str, manifest: &[u8], digest: &str, public_key: &Path) {
    let m: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    let layer = &m["layers"][0];
    let payload = blob(addr, REPO, layer["digest"].as_str().unwrap());
    let sig = layer["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("payload"), &payload).unwrap();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .unwrap();
    std::fs::write(dir.path().join("sig"), der).unwrap();
    let o = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(public_key)
        .arg("-signature")
        .arg(dir.path().join("sig"))
        .arg(dir.path().join("payload"))
        .output()
        .unwrap();
    assert_ok!(o, "openssl");
    let p: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(p["critical"]["image"]["docker-manifest-digest"], digest);
}

#[test]
fn signatures_attestations_and_sboms_reach_a_registry_and_an_oci_layout() {
    let work = tempfile::tempdir().unwrap();
    let s = signed_image(work.path());
    let (b, found) = bundle_of(work.path(), &s, &[]);
    let mut want = vec![
        (s.sig.clone(), "signature".into(), "cosign-tag".into()),
        (s.att.clone(), "attestation".into(), "cosign-tag".into()),
        (s.att_sig.clone(), "signature".into(), "cosign-tag".into()),
        (s.sbom.clone(), "sbom".into(), "referrers-tag".into()),
    ];
    want.sort();
    assert_eq!(referrers_found(&found), want);
    let o = bundle!("inspect {}", b).run();
    assert!(
        text(&o).contains("2 signatures, 1 SBOM, 1 attestation"),
        "{}",
        text(&o)
    );

    let target = Registry::start();
    let o = bundle!(
        "load {} --allow-unsigned --to registry://{} --plain-http",
        b,
        target.addr
    )
    .run();
    assert_ok!(o);
    assert_eq!(target.digest_of(&format!("{REPO}:1")), s.subject);
    for (tag, digest) in [
        (format!("{}.sig", tag_of(&s.subject)), &s.sig),
        (format!("{}.att", tag_of(&s.subject)), &s.att),
        (format!("{}.sig", tag_of(&s.att)), &s.att_sig),
    ] {
        assert_eq!(&target.digest_of(&format!("{REPO}:{tag}")), digest, "{tag}");
    }
    let fallback = target.raw_manifest(&format!("{REPO}:{}", tag_of(&s.subject)));
    let index: serde_json::Value = serde_json::from_slice(&fallback).unwrap();
    assert_eq!(index["manifests"][0]["digest"], s.sbom.as_str());
    assert_eq!(index["manifests"][0]["artifactType"], SPDX);
    assert_eq!(target.digest_of(&format!("{REPO}@{}", s.sbom)), s.sbom);
    let sig = target.raw_manifest(&format!("{REPO}:{}.sig", tag_of(&s.subject)));
    signature_checks_out(&target.addr, &sig, &s.subject, &s.public_key);
    let sig = target.raw_manifest(&format!("{REPO}:{}.sig", tag_of(&s.att)));
    signature_checks_out(&target.addr, &sig, &s.att, &s.public_key);

    // Loaded again, the fallback index does not grow; an entry another tool added is kept.
    let o = bundle!(
        "load {} --allow-unsigned --to registry://{} --plain-http",
        b,
        target.addr
    )
    .run();
    assert_ok!(o);
    assert_eq!(
        target.raw_manifest(&format!("{REPO}:{}", tag_of(&s.subject))),
        fallback
    );

    // A prefix and --rewrite move referrers with their image.
    let o = bundle!(
        "load {} --allow-unsigned --to registry://{}/site --rewrite signed=mirrored --plain-http",
        b,
        target.addr
    )
    .run();
    assert_ok!(o);
    let moved = format!("site/mirrored/app:{}.sig", tag_of(&s.subject));
    assert_eq!(target.digest_of(&moved), s.sig);
    let moved = format!("site/mirrored/app:{}", tag_of(&s.subject));
    assert_eq!(target.raw_manifest(&moved), fallback);

    // A docker archive names no referrer (docker, podman, ctr would take them for images).
    let archive = work.path().join("images.tar");
    let o = bundle!(
        "load {} --allow-unsigned --to docker-archive:{}",
        b,
        archive
    )
    .run();
    assert_ok!(o);
    assert!(
        text(&o).contains("2 signatures, 1 SBOM, 1 attestation of "),
        "{}",
        text(&o)
    );
    let mut names = Vec::new();
    let mut ar = tar::Archive::new(std::fs::File::open(&archive).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        if name == "index.json" {
            let mut body = String::new();
            std::io::Read::read_to_string(&mut e, &mut body).unwrap();
            assert!(!body.contains(&s.sig[7..]), "{body}");
        }
        names.push(name);
    }
    for d in [&s.sig, &s.att, &s.att_sig, &s.sbom] {
        assert!(
            !names.iter().any(|n| n.contains(&d[7..])),
            "{d} in {names:?}"
        );
    }
    assert!(
        names.iter().any(|n| n.contains(&s.subject[7..])),
        "{names:?}"
    );

    let layout = work.path().join("layout");
    let o = bundle!("load {} --allow-unsigned --to oci:{}", b, layout).run();
    assert_ok!(o);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    for d in [&s.sig, &s.att, &s.att_sig, &s.sbom] {
        assert!(
            entries.iter().any(|e| e["digest"] == d.as_str()),
            "{d} not in {index}"
        );
        assert!(layout.join("blobs/sha256").join(&d[7..]).is_file());
    }
    let sig_name = format!("{}/{REPO}:{}.sig", s.reg.addr, tag_of(&s.subject));
    assert!(entries
        .iter()
        .any(|e| e["annotations"]["org.opencontainers.image.ref.name"] == sig_name.as_str()));
    let o = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:{sig_name}", layout.display()))
        .output()
        .unwrap();
    assert_ok!(o);
    assert_eq!(format!("sha256:{}", layout::sha256_hex(&o.stdout)), s.sig);
}

#[test]
fn referrers_can_be_left_out_or_narrowed_to_signatures_or_types() {
    let work = tempfile::tempdir().unwrap();
    let s = signed_image(work.path());
    let (_, none) = bundle_of(work.path(), &s, &["--referrers", "none"]);
    assert_eq!(none, serde_json::json!([]), "{none}");
    let (_, sigs) = bundle_of(work.path(), &s, &["--referrers=signatures"]);
    let kinds: Vec<String> = referrers_found(&sigs).into_iter().map(|r| r.0).collect();
    // The attestation is left out, and so is the signature made on it.
    assert_eq!(kinds, vec![s.sig.clone()]);
    let (_, typed) = bundle_of(
        work.path(),
        &s,
        &["--artifact-type", SPDX, "--referrers=all"],
    );
    let kinds: Vec<String> = referrers_found(&typed).into_iter().map(|r| r.0).collect();
    assert_eq!(kinds, vec![s.sbom.clone()]);
    let _ = &s.key;
}

#[test]
fn serve_answers_the_referrers_api_and_the_tags_and_skopeo_copies_the_signatures() {
    let work = tempfile::tempdir().unwrap();
    let s = signed_image(work.path());
    let (b, _) = bundle_of(work.path(), &s, &[]);
    let served = Served::start(&[b.to_str().unwrap(), "--allow-unsigned"]);
    let a = &served.addr;
    let path = format!("/v2/{REPO}/referrers/{}", s.subject);
    let (st, head, body) = http(a, "GET", &path, "");
    assert_eq!(st, 200, "{head}");
    assert!(
        head.contains("content-type: application/vnd.oci.image.index.v1+json"),
        "{head}"
    );
    assert!(!head.contains("oci-filters-applied"), "{head}");
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let listed: Vec<&str> = list["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![s.sbom.as_str()]);
    assert_eq!(list["manifests"][0]["artifactType"], SPDX);
    assert_eq!(
        list["manifests"][0]["annotations"]["org.opencontainers.image.created"],
        "2026-12-03T00:00:00Z"
    );
    for (filter, want) in [(SPDX, 1), ("application/vnd.example+json", 0)] {
        let (st, head, body) = http(a, "GET", &format!("{path}?artifactType={filter}"), "");
        assert_eq!(st, 200);
        assert!(head.contains("oci-filters-applied: artifacttype"), "{head}");
        let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            list["manifests"].as_array().unwrap().len(),
            want,
            "{filter}"
        );
    }
    // The tags, as a registry holding them would answer.
    let (st, _, body) = http(a, "GET", &format!("/v2/{REPO}/tags/list"), "");
    assert_eq!(st, 200);
    let tags: serde_json::Value = serde_json::from_slice(&body).unwrap();
    for t in [
        "1".to_string(),
        tag_of(&s.subject),
        format!("{}.sig", tag_of(&s.subject)),
        format!("{}.att", tag_of(&s.subject)),
        format!("{}.sig", tag_of(&s.att)),
    ] {
        assert!(
            tags["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == t.as_str()),
            "{t}: {tags}"
        );
    }
    let from_serve = |reference: &str| skopeo_raw(&format!("docker://{a}/{REPO}:{reference}"));
    let sig = from_serve(&format!("{}.sig", tag_of(&s.subject)));
    assert_eq!(format!("sha256:{}", layout::sha256_hex(&sig)), s.sig);
    signature_checks_out(a, &sig, &s.subject, &s.public_key);
    let fallback: serde_json::Value =
        serde_json::from_slice(&from_serve(&tag_of(&s.subject))).unwrap();
    assert_eq!(fallback["manifests"][0]["digest"], s.sbom.as_str());

    // skopeo, told to use sigstore attachments, copies the image with its signature.
    let target = Registry::start();
    let dir = work.path().join("registries.d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("local.yaml"),
        format!("docker:\n  {a}:\n    use-sigstore-attachments: true\n  {}:\n    use-sigstore-attachments: true\n", target.addr),
    )
    .unwrap();
    let o = Command::new("skopeo")
        .arg("--registries.d")
        .arg(&dir)
        .args([
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .arg(format!("docker://{a}/{REPO}:1"))
        .arg(format!("docker://{}/{REPO}:1", target.addr))
        .output()
        .unwrap();
    assert_ok!(o);
    assert_eq!(target.digest_of(&format!("{REPO}:1")), s.subject);
    let copied = target.raw_manifest(&format!("{REPO}:{}.sig", tag_of(&s.subject)));
    signature_checks_out(&target.addr, &copied, &s.subject, &s.public_key);

    // A registry with the referrers API (serve has one): create finds the SBOM through it.
    let list = plain_list_at(work.path(), a, &[&format!("{REPO}:1")]);
    let again = work.path().join("again.bundle");
    let o = bundle!("create {} -o {} --no-cache --quiet --unsigned", list, again).run();
    assert_ok!(o);
    let found = referrers_found(&inspect_json(&again)["images"][0]["referrers"]);
    let mut want = vec![
        (s.sig.clone(), "signature".into(), "cosign-tag".into()),
        (s.att.clone(), "attestation".into(), "cosign-tag".into()),
        (s.att_sig.clone(), "signature".into(), "cosign-tag".into()),
        (s.sbom.clone(), "sbom".into(), "referrers-api".into()),
    ];
    want.sort();
    assert_eq!(found, want);
    served.stop();
}

/// Two more images in the source registry: one whose cosign signature (by the right key)
/// names another digest, one with no signature at all.
fn badly_signed_images(work: &Path, s: &Signed) -> (String, String) {
    let mut l = Layout::new(&work.join("src2"));
    let mut push_image = |repo: &str, salt: &str| {
        let (raw, layer) =
            layout::layer_from_files(&mut l, &["/usr/share/common-licenses"], 64 << 10, salt);
        let img = l.image(&[(raw, layer)], "amd64", salt);
        push_to(&s.reg, &mut l, &img, repo, "1");
        img
    };
    let other = push_image("signed/other", "other");
    push_image("plain/app", "plain");
    let (payload, sig) = sign(work, &s.key, &format!("{}/{REPO}", s.reg.addr), &s.subject);
    let m = cosign_manifest(&mut l, &payload, SIMPLE_SIGNING, &sig);
    push_to(
        &s.reg,
        &mut l,
        &m,
        "signed/other",
        &format!("{}.sig", tag_of(&other.digest)),
    );
    ("signed/other:1".into(), "plain/app:1".into())
}

#[test]
fn verify_images_passes_a_good_signature_and_names_each_image_that_fails() {
    let work = tempfile::tempdir().unwrap();
    let s = signed_image(work.path());
    let (other, unsigned) = badly_signed_images(work.path(), &s);
    let key = s.public_key.to_str().unwrap();
    let good = format!("{REPO}:1");
    // A good signature: the bundle is written.
    let (b, _) = bundle_of(work.path(), &s, &["--verify-images", key]);
    assert!(b.is_file());

    // Each failure names its image, and no bundle is written.
    let (_, wrong_pub) = ec_keypair(work.path(), "wrong");
    let for_other = format!("is for {}", s.subject);
    let cases = [
        (
            good.as_str(),
            wrong_pub.to_str().unwrap(),
            "does not verify with this key",
        ),
        (other.as_str(), key, for_other.as_str()),
        (unsigned.as_str(), key, "has no cosign signature"),
    ];
    for (image, key, why) in cases {
        let list = plain_list(work.path(), &s.reg, &[image]);
        let out = work.path().join("refused.bundle");
        let o = bundle!(
            "create {} -o {} --no-cache --quiet --unsigned --verify-images {}",
            list,
            out,
            key
        )
        .run();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(1), "{t}");
        assert!(t.contains(image) && t.contains(why), "{image}: {t}");
        assert!(t.contains("no valid cosign signature"), "{t}");
        assert!(!out.exists() && !work.path().join("refused.bundle.partial").exists());
    }
    // --keep-going leaves the failures out and bundles the rest.
    let list = plain_list(work.path(), &s.reg, &[&good, &other, &unsigned]);
    let out = work.path().join("kept.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --verify-images {} --keep-going",
        list,
        out,
        key
    )
    .run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let images = inspect_json(&out)["images"].clone();
    assert_eq!(images.as_array().unwrap().len(), 1, "{images}");
    assert!(images[0]["reference"].as_str().unwrap().ends_with(&good));

    // load checks the signatures in the bundle before writing anything.
    let target = Registry::start();
    let load = |key: &str| {
        bundle!(
            "load {} --allow-unsigned --verify-images {} --to registry://{} --plain-http",
            b,
            key,
            target.addr
        )
        .run()
    };
    let o = load(wrong_pub.to_str().unwrap());
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("no valid cosign signature"),
        "{}",
        text(&o)
    );
    assert!(target.tags(REPO).is_empty());
    let o = load(key);
    assert_ok!(o);
    assert_eq!(target.digest_of(&good), s.subject);
    let o = bundle!(
        "load - --allow-unsigned --verify-images {} --to oci:{}",
        key,
        work.path().join("x")
    )
    .run();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_new_signature_on_an_old_image_travels_as_a_small_delta_and_inventories_list_it() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let reg = Registry::start();
    let mut l = Layout::new(&w.join("src"));
    let (raw, layer) =
        layout::layer_from_files(&mut l, &["/usr/share/common-licenses"], 512 << 10, "late");
    let img = l.image(&[(raw, layer.clone())], "amd64", "late");
    push_to(&reg, &mut l, &img, REPO, "1");
    let list = plain_list(w, &reg, &[&format!("{REPO}:1")]);
    let full = w.join("full.bundle");
    let o = bundle!("create {} -o {} --no-cache --quiet --unsigned", list, full).run();
    assert_ok!(o);
    assert_eq!(
        inspect_json(&full)["images"][0]["referrers"],
        serde_json::json!([])
    );
    let target = Registry::start();
    let to = target.target();
    let o = bundle!("load {} --allow-unsigned --to {} --plain-http", full, to).run();
    assert_ok!(o);

    // Signed after the release went across: the update carries the signature, not the layer.
    let (key, _) = ec_keypair(w, "cosign");
    let (payload, s) = sign(w, &key, &format!("{}/{REPO}", reg.addr), &img.digest);
    let sig = cosign_manifest(&mut l, &payload, SIMPLE_SIGNING, &s);
    push_to(
        &reg,
        &mut l,
        &sig,
        REPO,
        &format!("{}.sig", tag_of(&img.digest)),
    );
    let delta = w.join("delta.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --since {}",
        list,
        delta,
        full
    )
    .run();
    assert_ok!(o);
    let doc = inspect_json(&delta);
    assert_eq!(
        doc["images"][0]["referrers"][0]["digest"],
        sig.digest.as_str()
    );
    assert_eq!(doc["base"]["omitted"][0]["digest"], layer.digest.as_str());
    let (full_size, delta_size) = (
        std::fs::metadata(&full).unwrap().len(),
        std::fs::metadata(&delta).unwrap().len(),
    );
    eprintln!("full bundle {full_size} bytes, signature delta {delta_size} bytes");
    assert!(delta_size * 10 < full_size, "{delta_size} vs {full_size}");
    let o = bundle!("load {} --allow-unsigned --to {} --plain-http", delta, to).run();
    assert_ok!(o);
    let tag = format!("{REPO}:{}.sig", tag_of(&img.digest));
    assert_eq!(target.digest_of(&tag), sig.digest);

    // Signed again (cosign rewrites the tag's manifest): an oci: layout keeps one entry under
    // the tag's name, the newer one.
    let layout = w.join("layout");
    for b in [&full, &delta] {
        let o = bundle!("load {} --allow-unsigned --to oci:{}", b, layout).run();
        assert_ok!(o);
    }
    let (payload2, s2) = sign(w, &key, &format!("{}/{REPO}", reg.addr), &img.digest);
    let sig2 = cosign_manifest(&mut l, &payload2, SIMPLE_SIGNING, &s2);
    assert_ne!(sig2.digest, sig.digest);
    push_to(
        &reg,
        &mut l,
        &sig2,
        REPO,
        &format!("{}.sig", tag_of(&img.digest)),
    );
    let resigned = w.join("resigned.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned",
        list,
        resigned
    )
    .run();
    assert_ok!(o);
    let o = bundle!("load {} --allow-unsigned --to oci:{}", resigned, layout).run();
    assert_ok!(o);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let name = format!("{}/{REPO}:{}.sig", reg.addr, tag_of(&img.digest));
    let named: Vec<&serde_json::Value> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["annotations"]["org.opencontainers.image.ref.name"] == name.as_str())
        .collect();
    assert_eq!(named.len(), 1, "{index}");
    assert_eq!(named[0]["digest"], sig2.digest.as_str());

    // The site's inventory lists the signature's payload: the next delta leaves it out.
    let inv = w.join("site.json");
    let o = bundle!("inventory --from {} --plain-http -o {}", to, inv).run();
    assert_ok!(o);
    let payload_digest = format!("sha256:{}", layout::sha256_hex(&payload));
    let listed: serde_json::Value = serde_json::from_slice(&std::fs::read(&inv).unwrap()).unwrap();
    assert!(
        listed["blobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b == payload_digest.as_str()),
        "{listed}"
    );
    let again = w.join("again.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --since {}",
        list,
        again,
        inv
    )
    .run();
    assert_ok!(o);
    let omitted: Vec<String> = inspect_json(&again)["base"]["omitted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["digest"].as_str().unwrap().to_string())
        .collect();
    assert!(omitted.contains(&payload_digest), "{omitted:?}");
}

#[test]
fn a_registry_refusing_the_referrers_lookup_fails_the_image_and_says_how_to_go_without() {
    let work = tempfile::tempdir().unwrap();
    let (reg, _imgs) = registry_with_images();
    let proxy = FaultProxy::start(
        &reg.addr,
        Fault::Status {
            path_contains: "/referrers/".into(),
            status: 403,
            times: 1000,
            retry_after: None,
        },
    );
    let list = plain_list_at(work.path(), &proxy.addr, &["team/app1:1.0"]);
    let out = work.path().join("x.bundle");
    let o = bundle!("create {} -o {} --no-cache --quiet --unsigned", list, out).run();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("looking for its signatures and other referrers")
            && t.contains("HTTP 403")
            && t.contains("--referrers none"),
        "{t}"
    );
    assert!(!out.exists());
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --referrers none",
        list,
        out
    )
    .run();
    assert_ok!(o);
}

/// Pruning a site down to a kept bundle keeps its images' signatures, attestations and SBOMs:
/// their cosign tags and the referrers fallback tag (an index the site made, which no bundle
/// names) stay, and the referrers still resolve; an image of another release goes.
#[test]
fn prune_keeps_the_referrers_of_the_images_it_keeps() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let s = signed_image(w);
    let (kept, _) = bundle_of(w, &s, &[]);
    let (other_src, _imgs) = registry_with_images();
    let other = w.join("other.bundle");
    let list = plain_list(w, &other_src, &["team/app1:1.0"]);
    let o = bundle!("create {} -o {} --no-cache --quiet --unsigned", list, other).run();
    assert_ok!(o);
    let site = Registry::start();
    for b in [&kept, &other] {
        let o = bundle!(
            "load {} --allow-unsigned --to registry://{} --plain-http -q",
            b,
            site.addr
        )
        .run();
        assert_ok!(o);
    }
    let tags_before = site.tags(REPO);
    assert!(tags_before.contains(&tag_of(&s.subject)), "{tags_before:?}");
    let o = bundle!(
        "prune --from registry://{} --keep {} --plain-http --yes",
        site.addr,
        kept
    )
    .run();
    assert_ok!(o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("tag team/app1:1.0"), "{out}");
    assert!(!out.contains(REPO), "nothing of the kept image goes: {out}");
    assert_eq!(site.tags(REPO), tags_before);
    assert!(site.tags("team/app1").is_empty());
    let fallback = site.raw_manifest(&format!("{REPO}:{}", tag_of(&s.subject)));
    assert!(
        String::from_utf8_lossy(&fallback).contains(&s.sbom),
        "the SBOM is still listed"
    );
    let sig = site.raw_manifest(&format!("{REPO}:{}.sig", tag_of(&s.subject)));
    assert_eq!(
        format!("sha256:{}", crate::common::layout::sha256_hex(&sig)),
        s.sig
    );
}
