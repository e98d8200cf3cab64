//! A fault-injecting HTTP proxy in front of a registry: cut, corrupted, stalled, throttled
//! (429/5xx) and lost responses, redirects, and a Bearer-token gate.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to responses whose request path contains `path_contains`.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Send only the first `bytes` of the body of the first `times` matching responses, then close.
    CutBody {
        path_contains: String,
        bytes: usize,
        times: usize,
    },
    /// Send the head and the first `bytes` of the body of the first `times` matching GETs, then
    /// go silent for `seconds` (longer than the client's read timeout) before closing.
    Stall {
        path_contains: String,
        bytes: usize,
        times: usize,
        seconds: u64,
    },
    /// Take only the first `bytes` of the body of the first `times` blob-upload PUTs, then stop
    /// reading and stay silent for `seconds` before closing: a registry that hangs mid-upload.
    StallUpload {
        bytes: usize,
        times: usize,
        seconds: u64,
    },
    /// Flip one byte in the middle of every matching body.
    Corrupt { path_contains: String },
    /// Answer the first `times` matching requests with `status` (and `Retry-After`, if given).
    Status {
        path_contains: String,
        status: u16,
        times: usize,
        retry_after: Option<u32>,
    },
    /// Redirect blob GETs to the same proxy under another host name (`localhost` instead of
    /// `127.0.0.1`), as registries do with CDNs; the redirected request needs no auth.
    RedirectBlobs,
    /// Refuse blob uploads that come in one PUT with a body (413), as some registries do for
    /// large blobs: the client must fall back to chunked PATCH uploads.
    NoMonolithicUpload,
    /// A seeded schedule: each request to the registry API meets, with probability
    /// `percent`/100, one of: 500, 502, 503, 429 with or without `Retry-After: 0`, a blob body
    /// cut at a random point, a blob body that stalls at a random point for `RANDOM_STALL`, a
    /// corrupted blob body; or, for other requests, a lost response (the registry did the work,
    /// the client never hears of it: retries must be idempotent).
    Random { rng: Arc<Mutex<u64>>, percent: u64 },
    /// Blob GETs reach the registry without their `Range`, and come back as 200 with a
    /// `Content-Length` one byte short and one byte less of body: a server that ignores Range
    /// and never sends a whole blob.
    ShortIgnoringRange,
    /// Add `Link: <to>; rel="next"` to every `_catalog` answer: a registry pointing its
    /// listing at another host.
    CatalogLinkTo(String),
    /// Answer the referrers API itself: an empty first page whose `Link` goes to another host.
    ReferrersLinkTo(String),
    /// Answer the POST that opens an upload session with a `Location` on another host
    /// (`to` + the path): a registry sending uploads elsewhere.
    UploadsTo(String),
    /// Manifest answers carry a `Docker-Content-Digest` that is not the digest of their body.
    WrongContentDigest,
    /// Take request bodies at about this many bytes a second: a slow link to the registry.
    SlowBodies { bytes_per_sec: usize },
    /// Manifest bodies of this media type become `to` (Content-Type too): a registry serving a
    /// kind of manifest the client never asked for.
    ManifestTypeAs { from: String, to: String },
    /// Ask for Basic credentials on manifest GETs, then answer them with a 500 whose body
    /// repeats the Authorization header, decoded too, and then a terminal escape and a forged
    /// line: a registry (or a debugging proxy) echoing the request.
    EchoCredentials,
    /// Send the body of matching GETs one byte a second: never silent long enough for a read
    /// timeout, never finished.
    Drip { path_contains: String },
    /// Pass everything through.
    None,
}

impl Fault {
    pub fn random(seed: u64, percent: u64) -> Fault {
        Fault::Random {
            rng: Arc::new(Mutex::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)),
            percent,
        }
    }
}

/// Figures from a run of seeded fault schedules (create's or load's).
#[derive(Debug, Default)]
pub struct Schedules {
    pub completed: usize,
    pub failed_cleanly: usize,
    pub wrong: usize,
    /// Clean failures whose re-run, faults gone, completed with the right digests...
    pub rerun_completed: usize,
    /// ... reusing what the failed run did (create: blobs it had cached; load: blobs it had
    /// pushed, so fewer are sent than into an empty registry).
    pub rerun_reused: usize,
}

/// xorshift64*: enough randomness for fault schedules, and reproducible from a seed.
fn next_random(state: &Mutex<u64>) -> u64 {
    let mut s = state.lock().unwrap();
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    s.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Registry-style Bearer auth in front of the upstream: `/token` hands out a token for Basic
/// credentials; `/v2/` needs the token.
#[derive(Clone, Debug)]
pub struct BearerGate {
    pub user: String,
    pub password: String,
}

const TEST_TOKEN: &str = "test-token-7f3a";

/// How long a random stall lasts: runs with random faults use `--read-timeout 1s`.
pub const RANDOM_STALL: Duration = Duration::from_millis(2500);

/// An HTTP/1.1 proxy on 127.0.0.1 in front of a registry that injects faults. It forces
/// `Connection: close`, so each request is one connection and easy to reason about.
pub struct FaultProxy {
    pub addr: String,
    stop: Arc<AtomicBool>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    pub fn start(upstream: &str, fault: Fault) -> FaultProxy {
        Self::start_with(upstream, fault, None)
    }

    pub fn start_with(upstream: &str, fault: Fault, gate: Option<BearerGate>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let fired = Arc::new(AtomicUsize::new(0));
        let (s, reqs, up) = (stop.clone(), requests.clone(), upstream.to_string());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        let (up, f, reqs, fired) =
                            (up.clone(), fault.clone(), reqs.clone(), fired.clone());
                        let gate = gate.clone();
                        std::thread::spawn(move || {
                            let _ = serve_one(c, &up, &f, gate.as_ref(), &reqs, &fired);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultProxy {
            addr,
            stop,
            requests,
        }
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub(crate) fn read_head(r: &mut BufReader<TcpStream>) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l)? == 0 {
            break;
        }
        let l = l.trim_end().to_string();
        if l.is_empty() {
            break;
        }
        lines.push(l);
    }
    Ok(lines)
}

pub(crate) fn respond(
    mut c: &TcpStream,
    status: &str,
    headers: &[String],
    body: &[u8],
) -> std::io::Result<()> {
    let mut h = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for x in headers {
        h.push_str(x);
        h.push_str("\r\n");
    }
    h.push_str("\r\n");
    c.write_all(h.as_bytes())?;
    c.write_all(body)?;
    c.flush()
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn serve_one(
    client: TcpStream,
    upstream: &str,
    fault: &Fault,
    gate: Option<&BearerGate>,
    reqs: &Mutex<Vec<String>>,
    fired: &AtomicUsize,
) -> std::io::Result<()> {
    let mut cr = BufReader::new(client.try_clone()?);
    let head = read_head(&mut cr)?;
    if head.is_empty() {
        return Ok(());
    }
    let content_length: usize = head
        .iter()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    if let Fault::StallUpload {
        bytes,
        times,
        seconds,
    } = fault
    {
        if head[0].starts_with("PUT ")
            && head[0].contains("/blobs/uploads/")
            && content_length > *bytes
            && fired.fetch_add(1, Ordering::SeqCst) < *times
        {
            reqs.lock().unwrap().push(format!("{} [stalled]", head[0]));
            let mut part = vec![0u8; *bytes];
            cr.read_exact(&mut part)?;
            std::thread::sleep(Duration::from_secs(*seconds));
            return Ok(());
        }
    }
    let mut body = vec![0u8; content_length];
    match fault {
        Fault::SlowBodies { bytes_per_sec } => {
            // Tenths of a second, so the sender sees a steady trickle.
            for part in body.chunks_mut((*bytes_per_sec / 10).max(1)) {
                cr.read_exact(part)?;
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        _ => cr.read_exact(&mut body)?,
    }
    let range = head
        .iter()
        .find(|l| l.to_ascii_lowercase().starts_with("range:"))
        .cloned();
    let auth =
        header(&head, "authorization").map(|a| a.split(' ').next().unwrap_or("").to_string());
    let host = header(&head, "host").unwrap_or("").to_string();
    reqs.lock().unwrap().push(format!(
        "{} host={host} auth={}{}",
        head[0],
        auth.as_deref().unwrap_or("none"),
        range.map(|r| format!(" [{r}]")).unwrap_or_default()
    ));
    let path = head[0].split_whitespace().nth(1).unwrap_or("").to_string();
    let redirected = path.contains("redirected=1");
    if let Some(g) = gate {
        use base64::Engine;
        if path.starts_with("/token") {
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", g.user, g.password))
            );
            return if header(&head, "authorization") == Some(want.as_str()) {
                respond(
                    &client,
                    "200 OK",
                    &["Content-Type: application/json".into()],
                    format!(r#"{{"token":"{TEST_TOKEN}","expires_in":300}}"#).as_bytes(),
                )
            } else {
                respond(&client, "401 Unauthorized", &[], b"{}")
            };
        }
        if !redirected
            && header(&head, "authorization") != Some(format!("Bearer {TEST_TOKEN}").as_str())
        {
            let realm = format!("http://{host}/token");
            return respond(
                &client,
                "401 Unauthorized",
                &[format!(
                    r#"WWW-Authenticate: Bearer realm="{realm}",service="test-registry",scope="repository:x:pull""#
                )],
                br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
            );
        }
    }
    // The random schedule decides up front what this request meets.
    let mut random_cut: Option<f64> = None;
    let mut random_stall = false;
    let mut random_lost = false;
    let mut random_corrupt = false;
    if let Fault::Random { rng, percent } = fault {
        if path.starts_with("/v2/") && next_random(rng) % 100 < *percent {
            let is_blob_get = head[0].starts_with("GET") && path.contains("/blobs/sha256:");
            match next_random(rng) % if is_blob_get { 8 } else { 6 } {
                0 => return respond(&client, "500 Injected", &[], b"injected"),
                1 => return respond(&client, "502 Injected", &[], b"injected"),
                2 => return respond(&client, "503 Injected", &[], b"injected"),
                3 => {
                    return respond(
                        &client,
                        "429 Injected",
                        &["Retry-After: 0".into()],
                        b"slow down",
                    )
                }
                4 => return respond(&client, "429 Injected", &[], b"slow down"),
                5 if is_blob_get => random_cut = Some((next_random(rng) % 1000) as f64 / 1000.0),
                5 => random_lost = true,
                6 => {
                    random_cut = Some((next_random(rng) % 1000) as f64 / 1000.0);
                    random_stall = true;
                }
                _ => random_corrupt = true,
            }
        }
    }
    match fault {
        Fault::ReferrersLinkTo(to) if path.contains("/referrers/") => {
            let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
            let h = vec![
                "Content-Type: application/vnd.oci.image.index.v1+json".to_string(),
                format!("Link: <{to}>; rel=\"next\""),
            ];
            return respond(&client, "200 OK", &h, body);
        }
        Fault::EchoCredentials if path.contains("/manifests/") => {
            let auth = head
                .iter()
                .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                .map(|l| l.split_once(':').unwrap().1.trim().to_string());
            let Some(auth) = auth else {
                return respond(
                    &client,
                    "401 Unauthorized",
                    &["WWW-Authenticate: Basic realm=\"echo\"".to_string()],
                    b"",
                );
            };
            use base64::Engine as _;
            let decoded = auth
                .strip_prefix("Basic ")
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .map(|b| String::from_utf8_lossy(&b).to_string())
                .unwrap_or_default();
            let body = format!("you sent {auth} ({decoded})\x1b[2J\nerror: FORGED LINE");
            return respond(&client, "500 Echo", &[], body.as_bytes());
        }
        Fault::Status {
            path_contains,
            status,
            times,
            retry_after,
        } if path.contains(path_contains.as_str())
            && fired.fetch_add(1, Ordering::SeqCst) < *times =>
        {
            let h: Vec<String> = retry_after
                .iter()
                .map(|s| format!("Retry-After: {s}"))
                .collect();
            return respond(
                &client,
                &format!("{status} Injected"),
                &h,
                b"injected fault",
            );
        }
        Fault::NoMonolithicUpload
            if head[0].starts_with("PUT")
                && path.contains("/blobs/uploads/")
                && content_length > 0 =>
        {
            return respond(
                &client,
                "413 Payload Too Large",
                &[],
                b"use chunked uploads",
            );
        }
        Fault::RedirectBlobs
            if path.contains("/blobs/") && !redirected && head[0].starts_with("GET") =>
        {
            let port = host.rsplit(':').next().unwrap_or("");
            let other = if host.starts_with("127.0.0.1") {
                "localhost"
            } else {
                "127.0.0.1"
            };
            return respond(
                &client,
                "307 Temporary Redirect",
                &[format!(
                    "Location: http://{other}:{port}{path}?redirected=1"
                )],
                b"",
            );
        }
        _ => {}
    }
    // What goes upstream: the original path, and no credentials meant for the gate.
    let head: Vec<String> = head
        .iter()
        .map(|l| {
            if redirected {
                l.replace("?redirected=1", "")
            } else {
                l.clone()
            }
        })
        .filter(|l| !(gate.is_some() && l.to_ascii_lowercase().starts_with("authorization:")))
        .filter(|l| {
            !(matches!(fault, Fault::ShortIgnoringRange)
                && l.to_ascii_lowercase().starts_with("range:"))
        })
        .collect();
    let mut up = TcpStream::connect(upstream)?;
    let mut out = String::new();
    for l in &head {
        let low = l.to_ascii_lowercase();
        if low.starts_with("connection:") || low.starts_with("keep-alive:") {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    up.write_all(out.as_bytes())?;
    up.write_all(&body)?;
    let mut ur = BufReader::new(up);
    let mut rhead = read_head(&mut ur)?;
    let mut rest = Vec::new();
    ur.read_to_end(&mut rest)?;
    if matches!(fault, Fault::WrongContentDigest) && path.contains("/manifests/") {
        for l in rhead.iter_mut() {
            if l.to_ascii_lowercase().starts_with("docker-content-digest:") {
                *l = format!("Docker-Content-Digest: sha256:{}", "0".repeat(64));
            }
        }
    }
    if let Fault::ManifestTypeAs { from, to } = fault {
        if path.contains("/manifests/") {
            let was = String::from_utf8_lossy(&rest).to_string();
            rest = was.replace(from.as_str(), to.as_str()).into_bytes();
            for l in rhead.iter_mut() {
                let low = l.to_ascii_lowercase();
                if low.starts_with("content-length:") {
                    *l = format!("Content-Length: {}", rest.len());
                } else if low.starts_with("content-type:") {
                    *l = format!("Content-Type: {to}");
                } else if low.starts_with("docker-content-digest:") {
                    *l = format!(
                        "Docker-Content-Digest: sha256:{}",
                        crate::common::raw_bundle::sha(&rest)
                    );
                }
            }
        }
    }
    if let Fault::CatalogLinkTo(to) = fault {
        if path.contains("/_catalog") {
            rhead.push(format!("Link: <{to}>; rel=\"next\""));
        }
    }
    if let Fault::UploadsTo(to) = fault {
        if head[0].starts_with("POST") && path.contains("/blobs/uploads/") {
            for l in rhead.iter_mut() {
                if l.to_ascii_lowercase().starts_with("location:") {
                    let loc = l.split_once(':').map(|(_, v)| v.trim()).unwrap_or("");
                    let loc_path = loc.find("/v2/").map_or(loc, |i| &loc[i..]);
                    *l = format!("Location: {to}{loc_path}");
                }
            }
        }
    }
    if matches!(fault, Fault::ShortIgnoringRange)
        && path.contains("/blobs/sha256:")
        && rhead.first().is_some_and(|s| s.contains(" 200 "))
        && !rest.is_empty()
    {
        rest.pop();
        for l in rhead.iter_mut() {
            if l.to_ascii_lowercase().starts_with("content-length:") {
                *l = format!("Content-Length: {}", rest.len());
            }
        }
    }
    if random_lost {
        let _ = client.shutdown(std::net::Shutdown::Both);
        return Ok(());
    }
    let status_ok = rhead
        .first()
        .is_some_and(|s| s.contains(" 200 ") || s.contains(" 206 "));
    let mut client = client;
    let send_head = |c: &mut TcpStream| -> std::io::Result<()> {
        let mut h = String::new();
        for l in &rhead {
            if l.to_ascii_lowercase().starts_with("connection:") {
                continue;
            }
            h.push_str(l);
            h.push_str("\r\n");
        }
        h.push_str("Connection: close\r\n\r\n");
        c.write_all(h.as_bytes())
    };
    match fault {
        Fault::Random { .. }
            if status_ok && (random_cut.is_some() || random_corrupt) && !rest.is_empty() =>
        {
            if let Some(frac) = random_cut {
                send_head(&mut client)?;
                client.write_all(&rest[..(rest.len() as f64 * frac) as usize])?;
                client.flush()?;
                if random_stall {
                    std::thread::sleep(RANDOM_STALL);
                }
                let _ = client.shutdown(std::net::Shutdown::Both);
                return Ok(());
            }
            let mid = rest.len() / 2;
            rest[mid] ^= 0x55;
        }
        Fault::CutBody {
            path_contains,
            bytes,
            times,
        } if path.contains(path_contains.as_str())
            && status_ok
            && head[0].starts_with("GET")
            && fired.fetch_add(1, Ordering::SeqCst) < *times =>
        {
            send_head(&mut client)?;
            client.write_all(&rest[..(*bytes).min(rest.len())])?;
            client.flush()?;
            // Drop the connection mid-body.
            let _ = client.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        Fault::Stall {
            path_contains,
            bytes,
            times,
            seconds,
        } if path.contains(path_contains.as_str())
            && status_ok
            && head[0].starts_with("GET")
            && fired.fetch_add(1, Ordering::SeqCst) < *times =>
        {
            send_head(&mut client)?;
            client.write_all(&rest[..(*bytes).min(rest.len())])?;
            client.flush()?;
            std::thread::sleep(Duration::from_secs(*seconds));
            let _ = client.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        Fault::Drip { path_contains }
            if path.contains(path_contains.as_str()) && status_ok && head[0].starts_with("GET") =>
        {
            send_head(&mut client)?;
            for b in rest.iter() {
                client.write_all(&[*b])?;
                client.flush()?;
                std::thread::sleep(Duration::from_secs(1));
            }
            return Ok(());
        }
        Fault::Corrupt { path_contains }
            if path.contains(path_contains.as_str())
                && status_ok
                && head[0].starts_with("GET")
                && !rest.is_empty() =>
        {
            let mid = rest.len() / 2;
            rest[mid] ^= 0x55;
        }
        _ => {}
    }
    send_head(&mut client)?;
    client.write_all(&rest)?;
    client.flush()
}
