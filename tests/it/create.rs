//! `bundle create` end to end against the real distribution registry, with skopeo, tar and zstd
//! as independent judges of what we wrote.

use crate::common::*;
use std::path::Path;
use std::process::Command;

#[test]
fn plain_http_round_trip_is_readable_by_standard_tools() {
    let reg = Registry::start();
    let imgs = build_test_images();
    push_test_images(&reg, &imgs);
    let work = tempfile::tempdir().unwrap();
    let (key, public) = keypair(work.path());
    let a = &reg.addr;
    let list = write_list(
        work.path(),
        &format!(
            "images:\n  - {a}/team/app1:1.0\n  - {a}/team/app2:1.0\n  - {a}/team/multi:2.0\n  - {a}/charts/demo:0.1.0\nregistries:\n  {a}:\n    plain-http: true\n"
        ),
    );
    let out = work.path().join("site.bundle");
    let cache = work.path().join("cache");
    let o = bundle!(
        "create {} -o {} --key {} --cache-dir {} --jobs 4",
        list,
        out,
        key,
        cache
    )
    .run();
    assert_ok!(o);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("images:          4"), "{stdout}");

    // Every image is in the bundle with the digest skopeo sees on the registry.
    let info = inspect_json(&out);
    let images = info["images"].as_array().unwrap();
    assert_eq!(images.len(), 4);
    for (img, repo) in images.iter().zip([
        "team/app1:1.0",
        "team/app2:1.0",
        "team/multi:2.0",
        "charts/demo:0.1.0",
    ]) {
        assert_eq!(
            img["digest"].as_str().unwrap(),
            reg.digest_of(repo),
            "{repo}"
        );
        assert_eq!(img["reference"].as_str().unwrap(), format!("{a}/{repo}"));
    }
    assert_eq!(
        images[1]["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        images[2]["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64"])
    );
    assert_eq!(images[2]["complete"], true);
    assert!(info["signer"].as_str().unwrap().contains("SHA256:"));

    // The shared base layer was fetched once although three images use it.
    assert_eq!(
        reg.blob_gets(&imgs.base_layer.digest),
        1,
        "{}",
        reg.log_text()
    );

    // Standard tools: zstd + tar list it, tar unpacks it, skopeo reads the layout.
    let listing = Command::new("sh")
        .arg("-c")
        .arg(format!("zstd -dc {} | tar -t", out.display()))
        .output()
        .unwrap();
    assert_ok!(listing);
    let names = String::from_utf8_lossy(&listing.stdout);
    let first: Vec<&str> = names.lines().take(4).collect();
    assert_eq!(
        first,
        ["bundle.json", "bundle.json.sig", "oci-layout", "index.json"]
    );
    assert!(names.contains(&format!("blobs/sha256/{}", imgs.base_layer.hex())));
    let unpacked = work.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let x = Command::new("tar")
        .arg("--zstd")
        .arg("-xf")
        .arg(&out)
        .arg("-C")
        .arg(&unpacked)
        .output()
        .unwrap();
    assert_ok!(x);
    // skopeo's oci: transport only looks at OCI media types in index.json, so the Docker
    // schema2 image (kept byte for byte) is checked through the registry round trip instead.
    for (img, repo) in [
        (&images[0], "team/app1:1.0"),
        (&images[2], "team/multi:2.0"),
    ] {
        let o = Command::new("skopeo")
            .arg("inspect")
            .arg("--raw")
            .arg(format!("oci:{}:{a}/{repo}", unpacked.display()))
            .output()
            .unwrap();
        assert_ok!(o);
        assert_eq!(
            format!("sha256:{}", crate::common::layout::sha256_hex(&o.stdout)),
            img["digest"].as_str().unwrap()
        );
    }

    // The signature checks with openssl, independently of this tool.
    let v = Command::new("openssl")
        .args([
            "pkeyutl", "-verify", "-pubin", "-inkey", &public, "-rawin", "-in",
        ])
        .arg(unpacked.join("bundle.json"))
        .arg("-sigfile")
        .arg(unpacked.join("bundle.json.sig"))
        .output()
        .unwrap();
    assert_ok!(v);

    // A second run takes everything from the cache: no blob is fetched again.
    let out2 = work.path().join("again.bundle");
    let o = bundle!(
        "create {} -o {} --key {} --cache-dir {}",
        list,
        out2,
        key,
        cache
    )
    .run();
    assert_ok!(o);
    assert_eq!(reg.blob_gets(&imgs.base_layer.digest), 1);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("pulled:          0 B"),
        "{}",
        text(&o)
    );
}

#[test]
fn platform_filter_keeps_the_index_and_drops_other_platforms_blobs() {
    let (reg, imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let list = plain_list(work.path(), &reg, &["team/multi:2.0"]);
    let out = work.path().join("arm.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --platform linux/arm64",
        list,
        out
    )
    .run();
    assert_ok!(o);
    let info = inspect_json(&out);
    let img = &info["images"][0];
    assert_eq!(
        img["digest"].as_str().unwrap(),
        reg.digest_of("team/multi:2.0"),
        "index digest unchanged"
    );
    assert_eq!(img["platforms"], serde_json::json!(["linux/arm64"]));
    assert_eq!(img["complete"], false);
    assert_eq!(img["manifests"].as_array().unwrap().len(), 1);
    let listing = Command::new("sh")
        .arg("-c")
        .arg(format!("zstd -dc {} | tar -t", out.display()))
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&listing.stdout);
    assert!(names.contains(imgs.arm_only_layer.hex()));
    assert!(
        !names.contains(imgs.amd_only_layer.hex()),
        "amd64 layer must not be bundled"
    );
    assert_eq!(info["signer"], serde_json::Value::Null);

    // A platform the image does not have is an error that says what it has.
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --platform linux/s390x",
        list,
        work.path().join("none.bundle")
    )
    .run();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("linux/s390x") && err.contains("linux/amd64, linux/arm64"),
        "{err}"
    );
}

#[test]
fn missing_image_fails_cleanly_and_keep_going_bundles_the_rest() {
    let (reg, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let list = plain_list(work.path(), &reg, &["team/app1:1.0", "team/nope:9.9"]);
    let out = work.path().join("site.bundle");
    let o = bundle!("create {} -o {} --no-cache --quiet --unsigned", list, out).run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("team/nope:9.9") && err.contains("line 3") && err.contains("not found"),
        "{err}"
    );
    assert!(!out.exists(), "no output file on failure");
    assert!(!work.path().join("site.bundle.partial").exists());
    let leftovers: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "only the list remains: {leftovers:?}");

    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --keep-going",
        list,
        out
    )
    .run();
    assert_eq!(
        o.status.code(),
        Some(1),
        "keep-going still reports the failure"
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("FAILED"),
        "{}",
        text(&o)
    );
    let info = inspect_json(&out);
    assert_eq!(info["images"].as_array().unwrap().len(), 1);
}

#[test]
fn unreachable_registry_and_bad_list_name_the_culprit() {
    let work = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let list = write_list(
        work.path(),
        &format!("images:\n  - 127.0.0.1:{port}/x/y:1\n"),
    );
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --retries 1 --plain-http",
        list,
        work.path().join("b")
    )
    .run();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("cannot connect"),
        "{err}"
    );

    let list = write_list(work.path(), "images:\n  - nginx:1.27\n  - Bad Ref\n");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned",
        list,
        work.path().join("b")
    )
    .run();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("images.yaml:3:"), "{err}");

    let o = bundle!("create {} -o x", list).run();
    assert_eq!(
        o.status.code(),
        Some(2),
        "neither --key nor --unsigned is a usage error"
    );
}

#[test]
fn tls_registry_with_basic_auth() {
    let work = tempfile::tempdir().unwrap();
    let tls = make_tls(work.path());
    let reg = Registry::start_tls_auth(&tls, "tester", "s3cret-pass");
    let imgs = build_test_images();
    reg.push(imgs.layout_dir.path(), "app1", "team/app1:1.0", &[]);
    let a = &reg.addr;
    let list = write_list(
        work.path(),
        &format!(
            "images:\n  - {a}/team/app1:1.0\nregistries:\n  {a}:\n    ca-file: ca.pem\n    username-env: T_USER\n    password-env: T_PASS\n"
        ),
    );
    let out = work.path().join("tls.bundle");
    let run = |user: Option<&str>| {
        let c = bundle!("create {} -o {} --unsigned --no-cache", list, out)
            .env("DOCKER_CONFIG", work.path())
            .env("REGISTRY_AUTH_FILE", work.path().join("none.json"));
        match user {
            Some(u) => c.env("T_USER", u).env("T_PASS", "s3cret-pass"),
            None => c,
        }
        .run()
    };
    let o = run(Some("tester"));
    assert_ok!(o);
    // The credentials are nowhere in the output or in the bundle, in plain or base64 form.
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("tester:s3cret-pass");
    let content = Command::new("zstd")
        .arg("-dc")
        .arg(&out)
        .output()
        .unwrap()
        .stdout;
    for secret in ["s3cret-pass", basic.as_str()] {
        assert!(!text(&o).contains(secret), "secret in output");
        assert!(
            !content
                .windows(secret.len())
                .any(|w| w == secret.as_bytes()),
            "secret in the bundle"
        );
    }
    assert_eq!(
        inspect_json(&out)["images"][0]["digest"].as_str().unwrap(),
        {
            let o = Command::new("skopeo")
                .args([
                    "inspect",
                    "--raw",
                    "--creds",
                    "tester:s3cret-pass",
                    "--tls-verify=false",
                ])
                .arg(format!("docker://{a}/team/app1:1.0"))
                .output()
                .unwrap();
            assert_ok!(o);
            format!("sha256:{}", crate::common::layout::sha256_hex(&o.stdout))
        }
    );
    std::fs::remove_file(&out).unwrap();
    let o = run(Some("intruder"));
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("team/app1:1.0") && err.contains("refused access"),
        "{err}"
    );
    assert!(
        !err.contains("s3cret-pass"),
        "the password must never be printed"
    );
    assert!(!out.exists());
    let o = run(None);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("T_USER"),
        "{}",
        text(&o)
    );

    // Credentials from docker's config.json (DOCKER_CONFIG), with the CA from the list.
    let docker_dir = work.path().join("docker");
    std::fs::create_dir(&docker_dir).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("tester:s3cret-pass");
    std::fs::write(
        docker_dir.join("config.json"),
        format!(r#"{{"auths":{{"{a}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    let list3 = work.path().join("docker-config.yaml");
    let create_with_docker_config = |registry_settings: &str| {
        std::fs::write(
            &list3,
            format!(
                "images:\n  - {a}/team/app1:1.0\nregistries:\n  {a}:\n    {registry_settings}\n"
            ),
        )
        .unwrap();
        let o = bundle!("create {} -o {} --unsigned --no-cache -q", list3, out)
            .env("DOCKER_CONFIG", &docker_dir)
            .env("REGISTRY_AUTH_FILE", work.path().join("none.json"))
            .run();
        assert_ok!(o, "{registry_settings}");
        std::fs::remove_file(&out).unwrap();
    };
    create_with_docker_config("ca-file: ca.pem");
    // insecure-skip-tls-verify: no CA needed.
    create_with_docker_config("insecure-skip-tls-verify: true");

    // Without the CA, TLS verification fails and says so.
    let list2 = write_list(work.path(), &format!("images:\n  - {a}/team/app1:1.0\n"));
    let o = bundle!(
        "create {} -o {} --unsigned --no-cache --retries 0",
        list2,
        out
    )
    .run();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr).to_lowercase();
    assert!(err.contains("certificate"), "{err}");
}

/// Create app1 through a proxy with `fault` on the base layer's body; the download must go on
/// from `from` with one Range request and give the source's digest. Returns how long it took.
fn resumes_with_range(
    reg: &Registry,
    layer: &str,
    fault: Fault,
    from: u64,
    extra: &[&str],
) -> std::time::Duration {
    let proxy = FaultProxy::start(&reg.addr, fault);
    let work = tempfile::tempdir().unwrap();
    let p = &proxy.addr;
    let list = plain_list_at(work.path(), p, &["team/app1:1.0"]);
    let out = work.path().join("r.bundle");
    let mut args = vec!["--unsigned"];
    args.extend_from_slice(extra);
    let started = std::time::Instant::now();
    let o = bundle!("create {} -o {} --no-cache --quiet", list, out)
        .args(&args)
        .run();
    let took = started.elapsed();
    assert_ok!(o);
    let reqs = proxy.requests();
    let ranged: Vec<&String> = reqs
        .iter()
        .filter(|r| r.contains(layer) && r.to_lowercase().contains("range:"))
        .collect();
    assert_eq!(ranged.len(), 1, "resumed once with Range: {reqs:#?}");
    assert!(ranged[0].contains(&format!("bytes={from}-")), "{ranged:?}");
    assert_eq!(
        inspect_json(&out)["images"][0]["digest"].as_str().unwrap(),
        reg.digest_of("team/app1:1.0")
    );
    took
}

#[test]
fn cut_and_stalled_downloads_resume_with_range() {
    let (reg, imgs) = registry_with_images();
    let layer = imgs.base_layer.digest.to_string();
    let half = imgs.base_layer.size / 2;
    // The connection drops mid-body.
    let cut = Fault::CutBody {
        path_contains: format!("/blobs/{layer}"),
        bytes: half as usize,
        times: 1,
    };
    resumes_with_range(&reg, &layer, cut, half, &[]);
    // The registry goes silent mid-body: the read timeout ends the wait, well before the stall
    // would have ended on its own.
    let stall = Fault::Stall {
        path_contains: format!("/blobs/{layer}"),
        bytes: half as usize,
        times: 1,
        seconds: 30,
    };
    let took = resumes_with_range(&reg, &layer, stall, half, &["--read-timeout", "1s"]);
    assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
}

#[test]
fn corrupted_blob_is_rejected() {
    let (reg, imgs) = registry_with_images();
    let proxy = FaultProxy::start(
        &reg.addr,
        Fault::Corrupt {
            path_contains: format!("/blobs/{}", imgs.base_layer.digest),
        },
    );
    let work = tempfile::tempdir().unwrap();
    let p = &proxy.addr;
    let list = plain_list_at(work.path(), p, &["team/app2:1.0"]);
    let out = work.path().join("t.bundle");
    let cache = work.path().join("cache");
    let o = bundle!(
        "create {} -o {} --unsigned --quiet --cache-dir {}",
        list,
        out,
        cache
    )
    .run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&imgs.base_layer.digest)
            && err.contains("team/app2:1.0")
            && err.contains("corrupted"),
        "{err}"
    );
    assert!(!out.exists());
    let cached = cache.join("blobs/sha256").join(imgs.base_layer.hex());
    assert!(!cached.exists(), "a bad blob never enters the cache");
}

#[test]
fn keep_going_after_a_failed_layer_bundles_the_complete_images() {
    // The bundle is written while layers download; a layer that fails mid-way abandons that
    // bundle, and --keep-going writes it again, from the cache, without the broken image.
    let (reg, imgs) = registry_with_images();
    let proxy = FaultProxy::start(
        &reg.addr,
        Fault::Corrupt {
            path_contains: format!("/blobs/{}", imgs.arm_only_layer.digest),
        },
    );
    let work = tempfile::tempdir().unwrap();
    let p = &proxy.addr;
    let list = plain_list_at(work.path(), p, &["team/app1:1.0", "team/multi:2.0"]);
    let out = work.path().join("k.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --keep-going",
        list,
        out
    )
    .run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("FAILED") && stdout.contains("team/multi:2.0"),
        "{}",
        text(&o)
    );
    let info = inspect_json(&out);
    let names: Vec<&str> = info["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reference"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names.len(), 1, "{info:#}");
    assert!(names[0].ends_with("team/app1:1.0"), "{names:?}");
    let v = bundle!("verify {} --allow-unsigned", out).run();
    assert_ok!(v);
    assert!(!work.path().join("k.bundle.partial").exists());
}

#[test]
fn same_inputs_give_a_byte_identical_bundle() {
    let (reg, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let list = plain_list(
        work.path(),
        &reg,
        &["team/app1:1.0", "team/multi:2.0", "charts/demo:0.1.0"],
    );
    let k = work.path().join("k.key");
    let g = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&k)
        .output()
        .unwrap();
    assert_ok!(g);
    let (a, b) = (work.path().join("a.bundle"), work.path().join("b.bundle"));
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {} --created 2026-01-01T00:00:00Z --jobs 1",
        list,
        a,
        k
    )
    .run();
    assert_ok!(o);
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {} --created 1767225600 --jobs 8",
        list,
        b,
        k
    )
    .run();
    assert_ok!(o);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(inspect_json(&a)["created"], "2026-01-01T00:00:00Z");
}

#[test]
fn bearer_token_auth_is_cached_and_never_sent_to_a_redirect_host() {
    let (reg, _imgs) = registry_with_images();
    let gate = BearerGate {
        user: "robot".into(),
        password: "tok-pass-99".into(),
    };
    let proxy = FaultProxy::start_with(&reg.addr, Fault::RedirectBlobs, Some(gate));
    let work = tempfile::tempdir().unwrap();
    let p = &proxy.addr;
    let list = write_list(
        work.path(),
        &format!(
            "images:\n  - {p}/team/app1:1.0\n  - {p}/team/app2:1.0\nregistries:\n  {p}:\n    plain-http: true\n    username-env: R_USER\n    password-env: R_PASS\n"
        ),
    );
    let out = work.path().join("b.bundle");
    let run = |pass: &str| {
        bundle!("create {} -o {} --unsigned --no-cache -q", list, out)
            .env("R_USER", "robot")
            .env("R_PASS", pass)
            .run()
    };
    let o = run("tok-pass-99");
    assert_ok!(o);
    let reqs = proxy.requests();
    let token_requests = reqs.iter().filter(|r| r.starts_with("GET /token")).count();
    // One token per repository scope, reused for every later request in it.
    assert_eq!(token_requests, 2, "{reqs:#?}");
    let redirected: Vec<&String> = reqs.iter().filter(|r| r.contains("redirected=1")).collect();
    assert!(!redirected.is_empty(), "blobs were redirected: {reqs:#?}");
    assert!(
        redirected
            .iter()
            .all(|r| r.contains("host=localhost") && r.contains("auth=none")),
        "{redirected:#?}"
    );
    assert!(
        reqs.iter()
            .filter(|r| r.contains("/v2/team/") && r.contains("/manifests/"))
            .any(|r| r.contains("auth=Bearer")),
        "{reqs:#?}"
    );
    assert_eq!(
        inspect_json(&out)["images"][0]["digest"].as_str().unwrap(),
        reg.digest_of("team/app1:1.0")
    );

    std::fs::remove_file(&out).unwrap();
    let o = run("wrong");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("team/app1:1.0") && err.contains("refused access") && !err.contains("wrong"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn overload_and_server_errors_are_retried_with_retry_after() {
    let (reg, imgs) = registry_with_images();
    let proxy = FaultProxy::start(
        &reg.addr,
        Fault::Status {
            path_contains: "/manifests/1.0".into(),
            status: 429,
            times: 2,
            retry_after: Some(1),
        },
    );
    let work = tempfile::tempdir().unwrap();
    let p = &proxy.addr;
    let list = write_list(work.path(), &format!("images:\n  - {p}/team/app1:1.0\n"));
    let out = work.path().join("r.bundle");
    let started = std::time::Instant::now();
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --plain-http",
        list,
        out
    )
    .run();
    assert_ok!(o);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "Retry-After: 1 honoured twice"
    );
    let manifest_gets = proxy
        .requests()
        .iter()
        .filter(|r| r.contains("/manifests/1.0"))
        .count();
    assert_eq!(manifest_gets, 3);

    // 503 on a blob, more times than --retries allows: a clean failure naming image and blob.
    let proxy = FaultProxy::start(
        &reg.addr,
        Fault::Status {
            path_contains: imgs.base_layer.digest.clone(),
            status: 503,
            times: 100,
            retry_after: None,
        },
    );
    let p = &proxy.addr;
    let list = write_list(work.path(), &format!("images:\n  - {p}/team/app2:1.0\n"));
    let out = work.path().join("f.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --plain-http --retries 2",
        list,
        out
    )
    .run();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("team/app2:1.0")
            && err.contains(&imgs.base_layer.digest)
            && err.contains("503"),
        "{err}"
    );
    let blob_gets = proxy
        .requests()
        .iter()
        .filter(|r| r.contains(&imgs.base_layer.digest))
        .count();
    assert_eq!(blob_gets, 3, "first try plus 2 retries");
    assert!(!out.exists());
}

#[test]
fn a_damaged_cache_entry_is_caught_before_it_is_bundled() {
    let (reg, imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let list = plain_list(work.path(), &reg, &["team/app1:1.0"]);
    let cache = work.path().join("cache");
    let cache_arg = cache.to_str().unwrap().to_string();
    let out = work.path().join("a.bundle");
    let o = bundle!("create {} -o {} --no-cache --quiet --unsigned", list, out).run();
    assert_ok!(o);
    let o = bundle!(
        "create {} -o {} --unsigned -q --cache-dir {}",
        list,
        out,
        cache_arg
    )
    .run();
    assert_ok!(o);
    // Same size, one byte changed, as a torn write or a disk error would leave it.
    let entry = cache.join("blobs/sha256").join(imgs.base_layer.hex());
    let mut bytes = std::fs::read(&entry).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();
    let again = work.path().join("b.bundle");
    let o = bundle!(
        "create {} -o {} --unsigned -q --cache-dir {}",
        list,
        again,
        cache_arg
    )
    .run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("is damaged") && err.contains(imgs.base_layer.hex()),
        "{err}"
    );
    assert!(!again.exists() && !work.path().join("b.bundle.partial").exists());
}

/// Runs `create` through `n` seeded fault schedules (20 % of requests meet a fault) and sorts the
/// outcomes: completed with the right digests and a bundle that verifies, failed cleanly (exit 1,
/// one error, no output or partial file), or wrong (anything else: must never happen).
/// `n` create runs through a proxy with a seeded random fault schedule (20 % of requests).
/// A run either completes with exactly the source's digests and a bundle that verifies, or
/// fails with one clean error and no output; a failed run is repeated without faults and must
/// then complete, reusing the cache the failed run filled.
fn fault_schedules(n: u64) -> Schedules {
    let (reg, _imgs) = registry_with_images();
    let expected: Vec<String> = ALL.iter().map(|r| reg.digest_of(r)).collect();
    let mut r = Schedules::default();
    let run = |proxy: &FaultProxy, work: &Path, name: &str| {
        let p = &proxy.addr;
        let images: String = ALL.iter().map(|r| format!("  - {p}/{r}\n")).collect();
        let list = write_list(
            work,
            &format!("images:\n{images}registries:\n  {p}:\n    plain-http: true\n"),
        );
        let out = work.join(name);
        let cache = work.join("cache");
        let o = bundle!(
            "create {} -o {} --cache-dir {} --quiet --unsigned --retries 3 --read-timeout 1s",
            list,
            out,
            cache
        )
        .run();
        (o, out)
    };
    let good = |out: &Path| {
        let info = inspect_json(out);
        let got: Vec<String> = info["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["digest"].as_str().unwrap().to_string())
            .collect();
        let verified = bundle!("verify {} --allow-unsigned", out)
            .run()
            .status
            .success();
        (got == expected && verified, got)
    };
    for seed in 0..n {
        let proxy = FaultProxy::start(&reg.addr, Fault::random(seed, 20));
        let work = tempfile::tempdir().unwrap();
        let (o, out) = run(&proxy, work.path(), "f.bundle");
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        if o.status.success() {
            match good(&out) {
                (true, _) => r.completed += 1,
                (false, got) => {
                    r.wrong += 1;
                    eprintln!("seed {seed}: WRONG RESULT {got:?}");
                }
            }
        } else if o.status.code() == Some(1)
            && err.starts_with("error:")
            && !err.contains("panicked")
            && !out.exists()
            && !work.path().join("f.bundle.partial").exists()
        {
            r.failed_cleanly += 1;
            let clean = FaultProxy::start(&reg.addr, Fault::None);
            let (o, out) = run(&clean, work.path(), "g.bundle");
            if o.status.success() && good(&out).0 {
                r.rerun_completed += 1;
                let summary = String::from_utf8_lossy(&o.stdout).to_string();
                if !summary.contains("from cache:      0 B") {
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
            eprintln!("seed {seed}: UNCLEAN FAILURE {:?}: {err}", o.status.code());
        }
    }
    eprintln!("create, {n} fault schedules: {r:?}");
    r
}

const ALL: [&str; 4] = [
    "team/app1:1.0",
    "team/app2:1.0",
    "team/multi:2.0",
    "charts/demo:0.1.0",
];

#[test]
fn seeded_fault_schedules_never_give_a_wrong_result() {
    let r = fault_schedules(12);
    assert_eq!(r.wrong, 0, "{r:?}");
    assert!(
        r.completed > 0,
        "retries and resume should carry most schedules through: {r:?}"
    );
    assert_eq!(r.rerun_completed, r.failed_cleanly, "{r:?}");
}

/// The long run for the record: `cargo test --test it -- --ignored create::fault_schedules_200`.
#[test]
#[ignore = "200 creates through a faulty proxy take minutes; run by hand for the record"]
fn fault_schedules_200() {
    let r = fault_schedules(200);
    assert_eq!(r.wrong, 0, "{r:?}");
    assert_eq!(r.rerun_completed, r.failed_cleanly, "{r:?}");
}

/// Start `bundle create` on a list whose base layer stalls mid-body, wait until the download is
/// under way, then send `signal`. Returns (exit code, stderr, time from signal to exit).
fn interrupt_create(
    proxy: &FaultProxy,
    work: &Path,
    extra: &[&str],
    signal: &str,
    layer: &str,
) -> (Option<i32>, String, std::time::Duration) {
    let p = &proxy.addr;
    let list = plain_list_at(work, p, &["team/app1:1.0"]);
    let child = bundle!(
        "create {} -o {} --unsigned --quiet",
        list,
        work.join("i.bundle")
    )
    .args(extra)
    .stderr(std::process::Stdio::piped())
    .spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !proxy
        .requests()
        .iter()
        .any(|r| r.starts_with("GET") && r.contains(layer))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "never reached the layer"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Let the first half of the body arrive and be written.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let sent = std::time::Instant::now();
    crate::common::signal(&child, signal);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
        sent.elapsed(),
    )
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n != "images.yaml" && n != "cache")
        .collect()
}

#[test]
fn interrupted_create_cleans_up_and_the_next_run_resumes() {
    let (reg, imgs) = registry_with_images();
    let layer = imgs.base_layer.digest.to_string();
    let half = imgs.base_layer.size / 2;
    let stall = |times| {
        FaultProxy::start(
            &reg.addr,
            Fault::Stall {
                path_contains: format!("/blobs/{layer}"),
                bytes: half as usize,
                times,
                seconds: 60,
            },
        )
    };

    // Ctrl-C with --no-cache: no bundle, no .partial, no temporary cache directory.
    let work = tempfile::tempdir().unwrap();
    let proxy = stall(1);
    let (code, err, took) = interrupt_create(&proxy, work.path(), &["--no-cache"], "-INT", &layer);
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(
        took < std::time::Duration::from_secs(5),
        "exit took {took:?}"
    );
    assert_eq!(leftovers(work.path()), Vec::<String>::new());

    // SIGTERM with a cache: the half-downloaded layer stays in the cache, and the next run asks
    // only for the rest of it.
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let cache_arg = ["--cache-dir", cache.to_str().unwrap()];
    let proxy = stall(1);
    let (code, err, took) = interrupt_create(&proxy, work.path(), &cache_arg, "-TERM", &layer);
    assert_eq!(code, Some(130), "{err}");
    assert!(
        took < std::time::Duration::from_secs(5),
        "exit took {took:?}"
    );
    assert_eq!(leftovers(work.path()), Vec::<String>::new());
    let partial = cache
        .join("blobs/sha256")
        .join(format!("{}.partial", layer.trim_start_matches("sha256:")));
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), half);

    let clean = FaultProxy::start(&reg.addr, Fault::None);
    let p = &clean.addr;
    let list = plain_list_at(work.path(), p, &["team/app1:1.0"]);
    let out = work.path().join("i.bundle");
    let o = bundle!(
        "create {} -o {} --unsigned --quiet --cache-dir {}",
        list,
        out,
        cache
    )
    .run();
    assert_ok!(o);
    let reqs = clean.requests();
    let layer_gets: Vec<&String> = reqs
        .iter()
        .filter(|r| r.starts_with("GET") && r.contains(&layer))
        .collect();
    assert_eq!(layer_gets.len(), 1, "{reqs:#?}");
    assert!(
        layer_gets[0].contains(&format!("bytes={half}-")),
        "{layer_gets:?}"
    );
    assert_eq!(
        inspect_json(&out)["images"][0]["digest"].as_str().unwrap(),
        reg.digest_of("team/app1:1.0")
    );
}
