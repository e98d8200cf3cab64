//! Rough edges an operator hits (issue 15): each test fails on the code before its fix.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// An unsigned bundle of a Docker schema2 image (app2) and an OCI image (app1).
fn small_bundle() -> (Registry, TestImages, tempfile::TempDir, PathBuf) {
    let (reg, imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let list = plain_list(work.path(), &reg, &["team/app1:1.0", "team/app2:1.0"]);
    let out = work.path().join("small.bundle");
    let o = bundle!("create {} -o {} --no-cache --quiet --unsigned", list, out).run();
    assert_ok!(o);
    (reg, imgs, work, out)
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let (_reg, _imgs, _work, b) = small_bundle();
    for args in [
        vec!["inspect", b.to_str().unwrap()],
        vec!["verify", b.to_str().unwrap(), "--allow-unsigned"],
    ] {
        // `bundle inspect big.bundle | head -1`, with head gone before we write.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = BundleCommand::new(&args).stdout(Stdio::from(writer)).run();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ok!(o, "{args:?}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let work = tempfile::tempdir().unwrap();
    let list = write_list(work.path(), "images:\n  - 127.0.0.1:1/x:1\n");
    let out = work.path().join("x.bundle");
    let cases = [
        bundle!("load {} --allow-unsigned --to bogus:here", out).run(),
        bundle!(
            "load {} --allow-unsigned --to oci:{} --platform linux",
            out,
            work.path()
        )
        .run(),
        bundle!(
            "load {} --allow-unsigned --to registry://h --rewrite noequals",
            out
        )
        .run(),
        bundle!("create {} -o {} --unsigned --created yesterday", list, out).run(),
        bundle!("create {} -o {} --unsigned --platform linux/", list, out).run(),
    ];
    for o in cases {
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).starts_with("error: "),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn an_oci_layout_follows_the_umask() {
    let (_reg, _imgs, work, b) = small_bundle();
    let dir = work.path().join("layout");
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 022; exec {} load {} --allow-unsigned --to oci:{} -q",
            bundle_bin().display(),
            b.display(),
            dir.display()
        ))
        .output()
        .unwrap();
    assert_ok!(o);
    // Nothing but the layout is left in it: the lock is on the directory, not a file.
    assert!(!dir.join(".bundle-load.lock").exists());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut files = vec![dir.join("index.json"), dir.join("oci-layout")];
    for e in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        files.push(e.unwrap().path());
    }
    for f in &files {
        assert_eq!(mode(f), 0o644, "{} is {:o}", f.display(), mode(f));
    }
}

#[test]
fn a_docker_schema2_image_shows_its_platform() {
    let (_reg, _imgs, _work, b) = small_bundle();
    let info = inspect_json(&b);
    let images = info["images"].as_array().unwrap();
    let platforms = |repo: &str| {
        images
            .iter()
            .find(|i| i["reference"].as_str().unwrap().contains(repo))
            .unwrap()["platforms"]
            .clone()
    };
    assert_eq!(
        platforms("team/app1"),
        serde_json::json!(["linux/amd64"]),
        "{info}"
    );
    assert_eq!(
        platforms("team/app2"),
        serde_json::json!(["linux/amd64"]),
        "{info}"
    );
}

#[test]
fn inventory_after_a_failed_load_treats_a_repository_without_tags_as_empty() {
    let (_reg, _imgs, work, b) = small_bundle();
    let site = Registry::start();
    // Every manifest PUT fails: the blobs arrive, no tag does, and the repositories are in the
    // catalog without tags.
    let proxy = FaultProxy::start(
        &site.addr,
        Fault::Status {
            path_contains: "/manifests/".into(),
            status: 500,
            times: usize::MAX,
            retry_after: None,
        },
    );
    let o = bundle!(
        "load {} --allow-unsigned --to registry://{} --plain-http --retries 0 -q",
        b,
        proxy.addr
    )
    .run();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(site.tags("team/app1").is_empty());
    let inv = work.path().join("site.json");
    let o = bundle!(
        "inventory --from registry://{} --plain-http -o {}",
        site.addr,
        inv
    )
    .run();
    assert_ok!(o);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&inv).unwrap()).unwrap();
    assert_eq!(v["blobs"], serde_json::json!([]), "{v}");
    // ... and says which repositories it could not list, and why.
    let unlisted = v["unlisted"].to_string();
    assert!(
        unlisted.contains("team/app1") && unlisted.contains("no tags"),
        "{v}"
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("2 repositories could not be listed"),
        "{}",
        text(&o)
    );
}

#[test]
fn serve_with_stderr_gone_still_stops_on_sigterm() {
    let (_reg, _imgs, _work, b) = small_bundle();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    // `bundle serve ... 2>&1 | head -1`, with head gone.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = bundle!("serve {} --allow-unsigned --listen {}", b, addr)
        .stderr(Stdio::from(writer))
        .spawn();
    wait_until(10, "serve listening", || {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("serve exited at start with {st}");
        }
        std::net::TcpStream::connect(&addr).is_ok()
    });
    signal(&child, "-TERM");
    let st = exit_within(&mut child, 5, || {
        "serve still running 5 s after SIGTERM".into()
    });
    assert_eq!(st.code(), Some(130), "{st}");
}

#[test]
fn an_output_that_is_a_directory_is_refused_before_any_download() {
    let (reg, imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let list = plain_list(work.path(), &reg, &["team/app1:1.0"]);
    let dir = work.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    for extra in [&[][..], &["--split", "1M"][..]] {
        let mut args = vec!["--unsigned"];
        args.extend_from_slice(extra);
        let o = bundle!("create {} -o {} --no-cache --quiet", list, dir)
            .args(&args)
            .run();
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&dir.display().to_string()) && err.contains("directory"),
            "{err}"
        );
        assert_eq!(
            reg.blob_gets(&imgs.base_layer.digest),
            0,
            "downloaded first"
        );
        let left: Vec<_> = std::fs::read_dir(work.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }
}

#[test]
fn ctrl_c_during_a_load_from_stdin_leaves_no_spool_file() {
    use std::io::Write as _;
    let (_reg, _imgs, work, b) = small_bundle();
    let tmp = work.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let bytes = std::fs::read(&b).unwrap();
    let mut child = bundle!(
        "load - --allow-unsigned -q --to oci:{}",
        work.path().join("layout")
    )
    .env("TMPDIR", &tmp)
    .stdin(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn();
    // Half the bundle, then nothing: the load waits inside a layer, spooling it.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes[..bytes.len() / 2]).unwrap();
    stdin.flush().unwrap();
    let spools = || std::fs::read_dir(&tmp).unwrap().count();
    wait_until(10, "a spool file appearing", || spools() > 0);
    signal(&child, "-INT");
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// GET `path` from `addr` with HTTP/1.1 and read until the server closes: (status line, bytes).
fn http_get(addr: &str, path: &str) -> (String, Vec<u8>) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let status = String::from_utf8_lossy(&all)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    (status, all)
}

#[test]
fn serve_says_when_it_cuts_off_a_blob_and_logs_requests_with_v() {
    let (_reg, imgs, _work, b) = small_bundle();
    let served = Served::start(&[b.to_str().unwrap(), "--allow-unsigned", "-v"]);
    let (status, _) = http_get(&served.addr, "/v2/");
    assert!(status.contains(" 200 "), "{status}");
    // The file changes under the running server: a layer's bytes are no longer as verified.
    let bytes = std::fs::read(&b).unwrap();
    let at = data_middle(
        &bytes,
        &format!("blobs/sha256/{}", &imgs.base_layer.digest[7..]),
    );
    {
        use std::io::{Seek as _, Write as _};
        let mut f = std::fs::OpenOptions::new().write(true).open(&b).unwrap();
        f.seek(std::io::SeekFrom::Start(at as u64)).unwrap();
        f.write_all(&[bytes[at] ^ 0x40]).unwrap();
    }
    let (_, body) = http_get(
        &served.addr,
        &format!("/v2/team/app1/blobs/{}", imgs.base_layer.digest),
    );
    assert!(
        body.len() < imgs.base_layer.size as usize,
        "a damaged blob was served whole"
    );
    let (status, _) = http_get(&served.addr, "/v2/team/app1/tags/list");
    assert!(status.contains(" 200 "), "still serving: {status}");
    let log = served.stop();
    assert!(log.contains("GET /v2/ 200"), "{log}");
    let cut = log
        .lines()
        .find(|l| l.contains(&imgs.base_layer.digest) && l.contains("cut off"))
        .unwrap_or_else(|| panic!("no line about the cut-off blob:\n{log}"));
    assert!(cut.contains("127.0.0.1:"), "names the client: {cut}");
}

#[test]
fn verify_json_reports_a_failure_as_json_and_create_json_its_summary() {
    let (_reg, imgs, work, b) = small_bundle();
    let o = bundle!("verify {} --allow-unsigned --json", b).run();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on success");
    assert_eq!(v["verified"], true, "{v}");
    let bytes = std::fs::read(&b).unwrap();
    let at = data_middle(
        &bytes,
        &format!("blobs/sha256/{}", &imgs.base_layer.digest[7..]),
    );
    let mut bad = bytes.clone();
    bad[at] ^= 0x40;
    let tampered = work.path().join("tampered.bundle");
    std::fs::write(&tampered, &bad).unwrap();
    let o = bundle!("verify {} --allow-unsigned --json", tampered).run();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("no JSON on failure ({e}): {}", text(&o)));
    assert_eq!(v["verified"], false, "{v}");
    assert_eq!(v["exitCode"], 3, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains(&imgs.base_layer.digest),
        "{v}"
    );

    let list = work.path().join("images.yaml");
    let again = work.path().join("again.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --json",
        list,
        again
    )
    .run();
    assert_ok!(o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("create --json printed no JSON ({e}): {}", text(&o)));
    assert_eq!(v["images"], 2, "{v}");
    assert_eq!(v["file"], again.display().to_string(), "{v}");
    assert_eq!(
        v["bundleSize"],
        std::fs::metadata(&again).unwrap().len(),
        "{v}"
    );
}

#[test]
fn connection_errors_say_what_to_do_in_the_commands_own_terms() {
    let (reg, _imgs, work, b) = small_bundle();
    let a = &reg.addr;
    let w = work.path();
    // HTTPS to a plain-HTTP registry: say so, and how to turn plain HTTP on for create ...
    let list = write_list(w, &format!("images:\n  - {a}/team/app1:1.0\n"));
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --retries 0",
        list,
        w.join("x.bundle")
    )
    .run();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("plain HTTP") && err.contains("plain-http: true"),
        "{err}"
    );
    assert!(
        !err.contains("InvalidContentType") && !err.contains("client error"),
        "{err}"
    );
    // ... and for load, with load's flag.
    let o = bundle!(
        "load {} --allow-unsigned -q --retries 0 --to registry://{}",
        b,
        a
    )
    .run();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("--plain-http") && !err.contains("plain-http: true"),
        "{err}"
    );
    // Plain HTTP already set and nothing listening: no hint about plain HTTP, no OS codes.
    let list = write_list(
        w,
        "images:\n  - 127.0.0.1:1/team/app1:1.0\nregistries:\n  127.0.0.1:1:\n    plain-http: true\n",
    );
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --retries 0",
        list,
        w.join("y.bundle")
    )
    .run();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(err.contains("connection refused"), "{err}");
    assert!(
        !err.contains("plain-http") && !err.contains("os error") && !err.contains("client error"),
        "{err}"
    );
}

#[test]
fn file_errors_are_in_plain_words_without_os_codes() {
    let work = tempfile::tempdir().unwrap();
    let missing = work.path().join("missing.bundle");
    let key = work.path().join("missing.pub");
    let runs = [
        bundle!("verify {} --allow-unsigned", missing).run(),
        bundle!("verify /etc/hostname --key {}", key).run(),
        bundle!("inspect {}", missing).run(),
        bundle!(
            "load {} --allow-unsigned --to oci:{}",
            missing,
            work.path().join("l")
        )
        .run(),
    ];
    for o in runs {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("No such file or directory"), "{err}");
        assert!(!err.contains("os error"), "{err}");
    }
}

#[test]
fn a_target_registry_that_is_down_or_refuses_credentials_is_one_error() {
    let (_reg, _imgs, work, b) = small_bundle();
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let o = bundle!(
        "load {} --allow-unsigned -q --retries 0 --plain-http --to registry://{}",
        b,
        down
    )
    .run();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("connection refused"), "{err}");
    assert_eq!(
        err.trim().lines().count(),
        1,
        "one error, not one per blob: {err}"
    );
    let tls = make_tls(work.path());
    let dst = Registry::start_tls_auth(&tls, "tester", "s3cret-pass");
    let mut child = bundle!(
        "load {} --allow-unsigned -q --retries 0 --ca-file {} --username tester --password-stdin --to registry://{}",
        b,
        tls.ca_pem,
        dst.addr
    )
    .stdin(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn();
    use std::io::Write as _;
    let _ = writeln!(child.stdin.take().unwrap(), "wrong-pass");
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("credentials were rejected"), "{err}");
    assert_eq!(
        err.trim().lines().count(),
        1,
        "one error, not one per blob: {err}"
    );
}

#[test]
fn a_broken_docker_config_or_a_missing_credential_helper_is_named() {
    let (reg, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let list = plain_list(w, &reg, &["team/app1:1.0"]);
    let run = |config: &str| {
        let dir = w.join(format!("docker-{}", config.len()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), config).unwrap();
        let o = bundle!(
            "create {} -o {} --unsigned --no-cache -q",
            list,
            w.join("x.bundle")
        )
        .env("DOCKER_CONFIG", &dir)
        .env_remove("REGISTRY_AUTH_FILE")
        .env("XDG_RUNTIME_DIR", w.join("no-runtime"))
        .run();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).to_string(),
            dir,
        )
    };
    let (code, err, dir) = run("{\"auths\": {\n  \"x\": {\"auth\": 1,}\n}");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&dir.join("config.json").display().to_string()),
        "{err}"
    );
    assert!(err.contains("line 2"), "{err}");
    let (code, err, _) = run(r#"{"credsStore": "nosuch-helper"}"#);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("docker-credential-nosuch-helper"), "{err}");
    assert!(err.contains("PATH"), "{err}");
}

#[test]
fn a_platform_filter_says_what_it_leaves_out_and_what_matches_nothing() {
    let (reg, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    // Nothing matches in a plain amd64 image or in the amd64+arm64 index: an error naming each.
    for image in ["team/app1:1.0", "team/multi:2.0"] {
        let list = plain_list(w, &reg, &[image]);
        let o = bundle!(
            "create {} -o {} --no-cache --quiet --unsigned --platform linux/s390x",
            list,
            w.join("none.bundle")
        )
        .run();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(1), "{image}: {err}");
        assert!(err.contains(image) && err.contains("linux/s390x"), "{err}");
        assert!(!w.join("none.bundle").exists());
    }
    // With --keep-going the rest is bundled and the image that matched nothing is listed.
    let list = plain_list(w, &reg, &["team/app1:1.0", "team/multi:2.0"]);
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --platform linux/arm64 --keep-going",
        list,
        w.join("arm.bundle")
    )
    .run();
    let err = text(&o);
    assert!(w.join("arm.bundle").exists(), "{err}");
    assert!(
        err.contains("team/app1:1.0") && err.contains("linux/arm64"),
        "{err}"
    );
    // A filtered index: a warning, once, with the index digest people pin.
    let list = plain_list(w, &reg, &["team/multi:2.0"]);
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --unsigned --platform linux/amd64",
        list,
        w.join("amd.bundle")
    )
    .run();
    assert_ok!(o);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    let index = reg.digest_of("team/multi:2.0");
    assert_eq!(err.matches(&index).count(), 1, "{err}");
    assert!(err.contains("registry"), "{err}");
}

#[test]
fn completions_man_page_and_help_cover_every_command() {
    let o = bundle!("completions bash").run();
    assert_ok!(o);
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script.path(), &o.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(script.path())
        .output()
        .unwrap();
    assert_ok!(check, "bash -n");
    let completions = String::from_utf8_lossy(&o.stdout).to_string();
    let o = bundle!("man").run();
    assert_ok!(o);
    let page = String::from_utf8_lossy(&o.stdout).to_string();
    for cmd in [
        "keygen",
        "create",
        "verify",
        "load",
        "inventory",
        "serve",
        "inspect",
    ] {
        assert!(completions.contains(cmd), "completions lack {cmd}");
        assert!(
            page.contains(&format!("BUNDLE {}", cmd.to_uppercase())),
            "man lacks {cmd}"
        );
    }
    // One page: no SEE ALSO naming per-command pages that are not installed.
    assert!(!page.contains("bundle-keygen(1)"), "{page}");
    for part in ["[DRIVER@ROOT+RUNROOT]", "brackets are literal"] {
        assert!(
            String::from_utf8_lossy(&bundle!("load --help").run().stdout).contains(part),
            "load --help lacks {part}"
        );
    }
    if std::process::Command::new("groff")
        .arg("-v")
        .output()
        .is_ok()
    {
        let man = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(man.path(), page.as_bytes()).unwrap();
        let g = std::process::Command::new("groff")
            .args(["-man", "-ww", "-z"])
            .arg(man.path())
            .output()
            .unwrap();
        assert!(g.stderr.is_empty(), "groff: {}", text(&g));
    }
    let load = String::from_utf8_lossy(&bundle!("load --help").run().stdout).to_string();
    for kind in [
        "registry://",
        "oci:",
        "docker-archive:",
        "containers-storage",
        "containerd",
    ] {
        assert!(load.contains(kind), "load --help lacks {kind}");
    }
    let create = String::from_utf8_lossy(&bundle!("create --help").run().stdout).to_string();
    for part in ["images:", "config.json", "130 interrupted"] {
        assert!(create.contains(part), "create --help lacks {part}");
    }
}

#[test]
fn verbose_shows_each_registry_request_and_never_the_credentials() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let tls = make_tls(w);
    let reg = Registry::start_tls_auth(&tls, "tester", "s3cret-pass");
    let imgs = build_test_images();
    reg.push(imgs.layout_dir.path(), "app1", "team/app1:1.0", &[]);
    let a = &reg.addr;
    let list = write_list(
        w,
        &format!(
            "images:\n  - {a}/team/app1:1.0\nregistries:\n  {a}:\n    ca-file: ca.pem\n    username-env: T_USER\n    password-env: T_PASS\n"
        ),
    );
    let o = bundle!(
        "create {} -o {} --unsigned --no-cache -q -v",
        list,
        w.join("v.bundle")
    )
    .env("T_USER", "tester")
    .env("T_PASS", "s3cret-pass")
    .run();
    assert_ok!(o);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    let manifest = format!("GET https://{a}/v2/team/app1/manifests/1.0 200 ");
    assert!(
        err.lines()
            .any(|l| l.starts_with(&manifest) && l.ends_with(" ms")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "GET https://{a}/v2/team/app1/blobs/{} 200",
            imgs.base_layer.digest
        )),
        "{err}"
    );
    // The challenge is seen: a 401 and then the answer with credentials.
    assert!(err.contains(" 401 "), "{err}");
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("tester:s3cret-pass");
    assert!(
        !err.contains("s3cret-pass") && !err.contains(&basic),
        "{err}"
    );
}

/// Bytes in indicatif's `HumanBytes` form: "244.14 KiB".
fn human_bytes(text: &str) -> Option<f64> {
    let (n, unit) = text.trim().split_once(' ')?;
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(n.parse::<f64>().ok()? * scale)
}

#[test]
fn load_progress_moves_while_a_blob_uploads() {
    let (_reg, _imgs, work, b) = small_bundle();
    let dst = Registry::start();
    let slow = FaultProxy::start(
        &dst.addr,
        Fault::SlowBodies {
            bytes_per_sec: 50_000,
        },
    );
    let mut child = bundle!(
        "load {} --allow-unsigned -j 1 --plain-http --to registry://{}",
        b,
        slow.addr
    )
    .stderr(std::process::Stdio::piped())
    .spawn();
    std::thread::sleep(std::time::Duration::from_millis(7500));
    let _ = child.kill();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    drop(work);
    // "loaded 1.2 MiB of 3.4 MiB (240 KiB/s)": within the first blob, bytes have moved.
    let moved = err
        .lines()
        .filter_map(|l| l.strip_prefix("loaded "))
        .filter_map(|l| l.split(" of ").next().and_then(human_bytes))
        .fold(0.0, f64::max);
    assert!(
        moved >= 100.0 * 1024.0,
        "no bytes moved while uploading: {err}"
    );
    // The first line counts what will be loaded, as the summary does.
    assert!(
        err.lines()
            .next()
            .is_some_and(|l| l.contains("blobs") && l.contains("to load")),
        "{err}"
    );
}

#[test]
fn include_tool_carries_the_loader_signed_and_extractable_with_tar_alone() {
    require("tar");
    let (reg, _imgs) = registry_with_images();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (key, public) = keypair(w);
    let list = plain_list(w, &reg, &["team/app1:1.0"]);
    let b = w.join("tool.bundle");
    let o = bundle!(
        "create {} -o {} --no-cache --quiet --key {} --include-tool",
        list,
        b,
        key
    )
    .run();
    assert_ok!(o);
    let path = format!("tools/bundle-linux-{}", std::env::consts::ARCH);
    let shown = String::from_utf8_lossy(&bundle!("inspect {}", b).run().stdout).to_string();
    assert!(shown.contains(&path), "{shown}");
    let o = bundle!("verify {} --key {}", b, public).run();
    assert_ok!(o);
    // The documented command, in a shell, gives a binary that runs.
    let out = w.join("x");
    std::fs::create_dir(&out).unwrap();
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar --zstd -xf {} -C {} {path}",
            b.display(),
            out.display()
        ))
        .output()
        .unwrap();
    assert_ok!(o);
    let tool = out.join(&path);
    let o = std::process::Command::new(&tool)
        .arg("--version")
        .output()
        .unwrap();
    assert_ok!(o);
    assert_eq!(
        std::fs::read(&tool).unwrap(),
        std::fs::read(bundle_bin()).unwrap()
    );
    // Covered by the signature: one byte changed in the tool's frame fails verify (exit 3).
    let mut bytes = std::fs::read(&b).unwrap();
    let at = data_middle(&bytes, &path);
    bytes[at] ^= 0x20;
    let bad = w.join("bad.bundle");
    std::fs::write(&bad, &bytes).unwrap();
    let o = bundle!("verify {} --key {}", bad, public).run();
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    // And load from stdin, which reads the members in order, passes over it.
    let layout = w.join("layout");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} load - --key {public} -q --to oci:{} < {}",
            bundle_bin().display(),
            layout.display(),
            b.display()
        ))
        .output()
        .unwrap();
    assert_ok!(o);
}
