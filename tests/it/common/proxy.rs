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

    /// `registry://ADDR`: the registry behind the proxy, as a `--to` or `--from` of the CLI.
    pub fn target(&self) -> String {
        format!("registry://{}", self.addr)
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

/// One request as the proxy read it, with the parts its faults look at.
struct Request {
    head: Vec<String>,
    body: Vec<u8>,
    content_length: usize,
    /// The path of the request line, `?redirected=1` included.
    path: String,
    host: String,
    /// Sent again after `RedirectBlobs` sent it to the other host name.
    redirected: bool,
}

impl Request {
    /// Whether the request line starts with `method` (`"GET"`, `"PUT "`).
    fn is(&self, method: &str) -> bool {
        self.head[0].starts_with(method)
    }

    /// A blob GET whose answer is a body to damage.
    fn gets(&self, status_ok: bool, path_contains: &str) -> bool {
        self.path.contains(path_contains) && status_ok && self.is("GET")
    }
}

/// An answer the proxy gives itself, without asking the registry.
struct Own {
    status: String,
    headers: Vec<String>,
    body: Vec<u8>,
}

impl Own {
    fn new(status: &str, headers: &[String], body: &[u8]) -> Own {
        Own {
            status: status.to_string(),
            headers: headers.to_vec(),
            body: body.to_vec(),
        }
    }

    fn send(&self, client: &TcpStream) -> std::io::Result<()> {
        respond(client, &self.status, &self.headers, &self.body)
    }
}

/// What the random schedule decided for a request that goes on to the registry.
#[derive(Default)]
struct RandomFate {
    /// Cut the body at this fraction of its length...
    cut: Option<f64>,
    /// ... after a silence of `RANDOM_STALL`.
    stall: bool,
    /// Never answer (the registry did the work).
    lost: bool,
    corrupt: bool,
}

/// The registry's answer, head lines and body, as the proxy may still change it.
struct Answer {
    head: Vec<String>,
    body: Vec<u8>,
}

impl Answer {
    fn status_is(&self, code: &str) -> bool {
        self.head.first().is_some_and(|s| s.contains(code))
    }

    /// Each head line that starts (in any case) with `name_colon` becomes `make()`.
    fn set_header(&mut self, name_colon: &str, make: impl Fn(&str) -> String) {
        for l in self.head.iter_mut() {
            if l.to_ascii_lowercase().starts_with(name_colon) {
                *l = make(l);
            }
        }
    }

    fn send_head(&self, c: &mut TcpStream) -> std::io::Result<()> {
        let mut h = String::new();
        for l in &self.head {
            if l.to_ascii_lowercase().starts_with("connection:") {
                continue;
            }
            h.push_str(l);
            h.push_str("\r\n");
        }
        h.push_str("Connection: close\r\n\r\n");
        c.write_all(h.as_bytes())
    }

    /// The head and the first `bytes` of the body, flushed.
    fn send_part(&self, c: &mut TcpStream, bytes: usize) -> std::io::Result<()> {
        self.send_head(c)?;
        c.write_all(&self.body[..bytes.min(self.body.len())])?;
        c.flush()
    }
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
    let content_length = content_length(&head);
    if stalls_upload(fault, &head, content_length, fired) {
        return stall_upload(fault, &head, &mut cr, reqs);
    }
    let body = read_body(&mut cr, content_length, fault)?;
    let req = request(head, body, content_length);
    reqs.lock().unwrap().push(log_line(&req));
    if let Some(own) = gate.and_then(|g| gate_answer(g, &req)) {
        return own.send(&client);
    }
    let fate = match random_fate(fault, &req) {
        Ok(fate) => fate,
        Err(own) => return own.send(&client),
    };
    if let Some(own) = own_answer(fault, &req, fired) {
        return own.send(&client);
    }
    let mut answer = forward(upstream, &req, fault, gate.is_some())?;
    change_answer(fault, &req, &mut answer);
    if fate.lost {
        let _ = client.shutdown(std::net::Shutdown::Both);
        return Ok(());
    }
    deliver(client, fault, &req, &fate, answer, fired)
}

fn content_length(head: &[String]) -> usize {
    head.iter()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// `StallUpload` takes this request: a blob-upload PUT with more than its `bytes`, within its
/// `times`.
fn stalls_upload(
    fault: &Fault,
    head: &[String],
    content_length: usize,
    fired: &AtomicUsize,
) -> bool {
    let Fault::StallUpload { bytes, times, .. } = fault else {
        return false;
    };
    head[0].starts_with("PUT ")
        && head[0].contains("/blobs/uploads/")
        && content_length > *bytes
        && fired.fetch_add(1, Ordering::SeqCst) < *times
}

/// Read the first `bytes` of the upload, then stay silent for `seconds` and close.
fn stall_upload(
    fault: &Fault,
    head: &[String],
    cr: &mut BufReader<TcpStream>,
    reqs: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let Fault::StallUpload { bytes, seconds, .. } = fault else {
        unreachable!("only a StallUpload stalls an upload");
    };
    reqs.lock().unwrap().push(format!("{} [stalled]", head[0]));
    let mut part = vec![0u8; *bytes];
    cr.read_exact(&mut part)?;
    std::thread::sleep(Duration::from_secs(*seconds));
    Ok(())
}

/// The request body; `SlowBodies` takes it in tenths of a second, so the sender sees a steady
/// trickle.
fn read_body(
    cr: &mut BufReader<TcpStream>,
    content_length: usize,
    fault: &Fault,
) -> std::io::Result<Vec<u8>> {
    let mut body = vec![0u8; content_length];
    match fault {
        Fault::SlowBodies { bytes_per_sec } => {
            for part in body.chunks_mut((*bytes_per_sec / 10).max(1)) {
                cr.read_exact(part)?;
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        _ => cr.read_exact(&mut body)?,
    }
    Ok(body)
}

fn request(head: Vec<String>, body: Vec<u8>, content_length: usize) -> Request {
    let path = head[0].split_whitespace().nth(1).unwrap_or("").to_string();
    Request {
        host: header(&head, "host").unwrap_or("").to_string(),
        redirected: path.contains("redirected=1"),
        path,
        head,
        body,
        content_length,
    }
}

/// `GET /v2/... HTTP/1.1 host=H auth=Basic [Range: ...]`: what `requests()` shows of it.
fn log_line(req: &Request) -> String {
    let range = req
        .head
        .iter()
        .find(|l| l.to_ascii_lowercase().starts_with("range:"))
        .cloned();
    let auth =
        header(&req.head, "authorization").map(|a| a.split(' ').next().unwrap_or("").to_string());
    format!(
        "{} host={} auth={}{}",
        req.head[0],
        req.host,
        auth.as_deref().unwrap_or("none"),
        range.map(|r| format!(" [{r}]")).unwrap_or_default()
    )
}

/// The Bearer gate's answer: a token for good Basic credentials at `/token`, a 401 challenge
/// for a request without the token; none for a request it lets through.
fn gate_answer(g: &BearerGate, req: &Request) -> Option<Own> {
    use base64::Engine;
    let auth = header(&req.head, "authorization");
    if req.path.starts_with("/token") {
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", g.user, g.password))
        );
        return Some(if auth == Some(want.as_str()) {
            Own::new(
                "200 OK",
                &["Content-Type: application/json".into()],
                format!(r#"{{"token":"{TEST_TOKEN}","expires_in":300}}"#).as_bytes(),
            )
        } else {
            Own::new("401 Unauthorized", &[], b"{}")
        });
    }
    if req.redirected || auth == Some(format!("Bearer {TEST_TOKEN}").as_str()) {
        return None;
    }
    let realm = format!("http://{}/token", req.host);
    Some(Own::new(
        "401 Unauthorized",
        &[format!(
            r#"WWW-Authenticate: Bearer realm="{realm}",service="test-registry",scope="repository:x:pull""#
        )],
        br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
    ))
}

/// The random schedule decides up front what this request meets: an answer of the proxy's own
/// (an error status), or a fate for the registry's answer.
fn random_fate(fault: &Fault, req: &Request) -> Result<RandomFate, Own> {
    let mut fate = RandomFate::default();
    let Fault::Random { rng, percent } = fault else {
        return Ok(fate);
    };
    if !(req.path.starts_with("/v2/") && next_random(rng) % 100 < *percent) {
        return Ok(fate);
    }
    let is_blob_get = req.is("GET") && req.path.contains("/blobs/sha256:");
    let fraction = || (next_random(rng) % 1000) as f64 / 1000.0;
    match next_random(rng) % if is_blob_get { 8 } else { 6 } {
        0 => return Err(Own::new("500 Injected", &[], b"injected")),
        1 => return Err(Own::new("502 Injected", &[], b"injected")),
        2 => return Err(Own::new("503 Injected", &[], b"injected")),
        3 => {
            let retry = ["Retry-After: 0".to_string()];
            return Err(Own::new("429 Injected", &retry, b"slow down"));
        }
        4 => return Err(Own::new("429 Injected", &[], b"slow down")),
        5 if is_blob_get => fate.cut = Some(fraction()),
        5 => fate.lost = true,
        6 => {
            fate.cut = Some(fraction());
            fate.stall = true;
        }
        _ => fate.corrupt = true,
    }
    Ok(fate)
}

/// The answers the other faults give in the registry's place; none when the request goes on.
fn own_answer(fault: &Fault, req: &Request, fired: &AtomicUsize) -> Option<Own> {
    let path = req.path.as_str();
    match fault {
        Fault::ReferrersLinkTo(to) if path.contains("/referrers/") => Some(referrers_link(to)),
        Fault::EchoCredentials if path.contains("/manifests/") => Some(echo_credentials(req)),
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
            Some(Own::new(
                &format!("{status} Injected"),
                &h,
                b"injected fault",
            ))
        }
        Fault::NoMonolithicUpload
            if req.is("PUT") && path.contains("/blobs/uploads/") && req.content_length > 0 =>
        {
            Some(Own::new(
                "413 Payload Too Large",
                &[],
                b"use chunked uploads",
            ))
        }
        Fault::RedirectBlobs if path.contains("/blobs/") && !req.redirected && req.is("GET") => {
            Some(redirect_to_other_host(req))
        }
        _ => None,
    }
}

/// An empty first page of referrers whose `Link` goes to `to`.
fn referrers_link(to: &str) -> Own {
    let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    let h = vec![
        "Content-Type: application/vnd.oci.image.index.v1+json".to_string(),
        format!("Link: <{to}>; rel=\"next\""),
    ];
    Own::new("200 OK", &h, body)
}

/// A Basic challenge, then a 500 that repeats the credentials (decoded too), a terminal escape
/// and a forged line.
fn echo_credentials(req: &Request) -> Own {
    let auth = req
        .head
        .iter()
        .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
        .map(|l| l.split_once(':').unwrap().1.trim().to_string());
    let Some(auth) = auth else {
        let challenge = ["WWW-Authenticate: Basic realm=\"echo\"".to_string()];
        return Own::new("401 Unauthorized", &challenge, b"");
    };
    use base64::Engine as _;
    let decoded = auth
        .strip_prefix("Basic ")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).to_string())
        .unwrap_or_default();
    let body = format!("you sent {auth} ({decoded})\x1b[2J\nerror: FORGED LINE");
    Own::new("500 Echo", &[], body.as_bytes())
}

/// The same proxy under the other name of 127.0.0.1, the path marked `redirected=1`.
fn redirect_to_other_host(req: &Request) -> Own {
    let port = req.host.rsplit(':').next().unwrap_or("");
    let other = if req.host.starts_with("127.0.0.1") {
        "localhost"
    } else {
        "127.0.0.1"
    };
    let location = format!("Location: http://{other}:{port}{}?redirected=1", req.path);
    Own::new("307 Temporary Redirect", &[location], b"")
}

/// Send the request to the registry and read its whole answer. What goes upstream: the
/// original path, no credentials meant for the gate, and no `Range` for `ShortIgnoringRange`.
fn forward(upstream: &str, req: &Request, fault: &Fault, gated: bool) -> std::io::Result<Answer> {
    let mut out = String::new();
    for l in &req.head {
        let l = match req.redirected {
            true => l.replace("?redirected=1", ""),
            false => l.clone(),
        };
        let low = l.to_ascii_lowercase();
        let dropped = (gated && low.starts_with("authorization:"))
            || (matches!(fault, Fault::ShortIgnoringRange) && low.starts_with("range:"))
            || low.starts_with("connection:")
            || low.starts_with("keep-alive:");
        if !dropped {
            out.push_str(&l);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(out.as_bytes())?;
    up.write_all(&req.body)?;
    let mut ur = BufReader::new(up);
    let head = read_head(&mut ur)?;
    let mut body = Vec::new();
    ur.read_to_end(&mut body)?;
    Ok(Answer { head, body })
}

/// The faults that change the registry's answer before it is sent on.
fn change_answer(fault: &Fault, req: &Request, a: &mut Answer) {
    let path = req.path.as_str();
    match fault {
        Fault::WrongContentDigest if path.contains("/manifests/") => {
            a.set_header("docker-content-digest:", |_| {
                format!("Docker-Content-Digest: sha256:{}", "0".repeat(64))
            });
        }
        Fault::ManifestTypeAs { from, to } if path.contains("/manifests/") => {
            manifest_type_as(a, from, to)
        }
        Fault::CatalogLinkTo(to) if path.contains("/_catalog") => {
            a.head.push(format!("Link: <{to}>; rel=\"next\""));
        }
        Fault::UploadsTo(to) if req.is("POST") && path.contains("/blobs/uploads/") => {
            a.set_header("location:", |l| {
                let loc = l.split_once(':').map(|(_, v)| v.trim()).unwrap_or("");
                let loc_path = loc.find("/v2/").map_or(loc, |i| &loc[i..]);
                format!("Location: {to}{loc_path}")
            });
        }
        Fault::ShortIgnoringRange
            if path.contains("/blobs/sha256:") && a.status_is(" 200 ") && !a.body.is_empty() =>
        {
            a.body.pop();
            let n = a.body.len();
            a.set_header("content-length:", |_| format!("Content-Length: {n}"));
        }
        _ => {}
    }
}

/// A manifest of media type `from` becomes one of type `to`, its length and digest to match.
fn manifest_type_as(a: &mut Answer, from: &str, to: &str) {
    let was = String::from_utf8_lossy(&a.body).to_string();
    a.body = was.replace(from, to).into_bytes();
    let (n, digest) = (a.body.len(), crate::common::raw_bundle::sha(&a.body));
    a.set_header("content-length:", |_| format!("Content-Length: {n}"));
    a.set_header("content-type:", |_| format!("Content-Type: {to}"));
    a.set_header("docker-content-digest:", |_| {
        format!("Docker-Content-Digest: sha256:{digest}")
    });
}

/// Send the registry's answer to the client: whole, or cut, stalled, dripped or corrupted as
/// the fault says.
fn deliver(
    mut client: TcpStream,
    fault: &Fault,
    req: &Request,
    fate: &RandomFate,
    mut a: Answer,
    fired: &AtomicUsize,
) -> std::io::Result<()> {
    let status_ok = a.status_is(" 200 ") || a.status_is(" 206 ");
    let c = &mut client;
    match fault {
        Fault::Random { .. }
            if status_ok && (fate.cut.is_some() || fate.corrupt) && !a.body.is_empty() =>
        {
            if let Some(frac) = fate.cut {
                a.send_part(c, (a.body.len() as f64 * frac) as usize)?;
                if fate.stall {
                    std::thread::sleep(RANDOM_STALL);
                }
                let _ = c.shutdown(std::net::Shutdown::Both);
                return Ok(());
            }
            let mid = a.body.len() / 2;
            a.body[mid] ^= 0x55;
        }
        Fault::CutBody {
            path_contains,
            bytes,
            times,
        } if req.gets(status_ok, path_contains)
            && fired.fetch_add(1, Ordering::SeqCst) < *times =>
        {
            a.send_part(c, *bytes)?;
            // Drop the connection mid-body.
            let _ = c.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        Fault::Stall {
            path_contains,
            bytes,
            times,
            seconds,
        } if req.gets(status_ok, path_contains)
            && fired.fetch_add(1, Ordering::SeqCst) < *times =>
        {
            a.send_part(c, *bytes)?;
            std::thread::sleep(Duration::from_secs(*seconds));
            let _ = c.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        Fault::Drip { path_contains } if req.gets(status_ok, path_contains) => {
            a.send_head(c)?;
            for b in a.body.iter() {
                c.write_all(&[*b])?;
                c.flush()?;
                std::thread::sleep(Duration::from_secs(1));
            }
            return Ok(());
        }
        Fault::Corrupt { path_contains }
            if req.gets(status_ok, path_contains) && !a.body.is_empty() =>
        {
            let mid = a.body.len() / 2;
            a.body[mid] ^= 0x55;
        }
        _ => {}
    }
    a.send_head(c)?;
    c.write_all(&a.body)?;
    c.flush()
}
