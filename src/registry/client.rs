//! A client for one registry (OCI distribution spec): requests with the one retry policy and
//! anonymous/Basic/Bearer auth, and manifests byte for byte. Blob downloads are in `pull`,
//! uploads in `push`, listings in `listing`.

use super::auth::{parse_challenge, Challenge, TokenCache, TokenResponse};
use super::credentials::Credential;
use super::error::{is_transient_status, RegistryError};
use super::retry::{parse_retry_after, RetryPolicy, Step};
use crate::digest::Digest;
use crate::manifest::MANIFEST_ACCEPT;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{
    HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, RANGE, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

/// Registries reject manifests over 4 MiB; refusing larger answers keeps memory bounded.
const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// What a manifest without `Content-Length` is given time for, to begin with.
const UNSIZED_MANIFEST: u64 = 64 * 1024;

pub struct Endpoint {
    /// Name as users write it (`docker.io`).
    pub registry: String,
    /// How this command sets plain HTTP, a CA and credentials, for hints (`pass --plain-http`).
    pub hints: super::hints::Hints,
    /// `https://registry-1.docker.io`
    pub base_url: String,
    /// Log every request on stderr (`-v`).
    pub verbose: bool,
}

impl Endpoint {
    /// With `-v`: one line per request, method, URL, status and time. The query is left out
    /// (upload states, a CDN's signed URL); credentials travel in headers, which are never shown.
    pub(crate) fn log(&self, method: &Method, url: &str, outcome: &str, since: std::time::Instant) {
        if !self.verbose {
            return;
        }
        let shown = match url.split_once('?') {
            Some((path, _)) => format!("{path}?…"),
            None => url.to_string(),
        };
        crate::console::line(format!(
            "{method} {} {outcome} {} ms",
            crate::console::printable(&shown),
            since.elapsed().as_millis()
        ));
    }
}

pub struct RegistryClient {
    pub endpoint: Endpoint,
    http: Client,
    /// Blob uploads, streamed from the calling thread.
    pub(crate) streamer: super::stream::Streamer,
    credential: Option<Credential>,
    challenge: Mutex<Option<Challenge>>,
    tokens: TokenCache,
    pub(crate) retry: RetryPolicy,
}

#[derive(Clone)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// A request body that can be made again for a retry.
pub type BodyFactory<'a> = &'a (dyn Fn() -> Result<reqwest::blocking::Body, RegistryError> + Sync);

/// Everything `send` needs besides method and URL.
#[derive(Clone, Copy)]
pub(crate) struct Req<'a> {
    /// Token scopes, space separated: `repository:a:pull,push repository:b:pull`.
    pub scopes: &'a str,
    pub what: &'a str,
    pub accept: Option<&'a str>,
    pub range: Option<u64>,
    pub body: Option<BodyFactory<'a>>,
    pub content_type: Option<&'a str>,
    pub content_range: Option<&'a str>,
    /// Not retried by `send` (see there).
    pub once: bool,
}

impl<'a> Req<'a> {
    pub fn new(scopes: &'a str, what: &'a str) -> Self {
        Req {
            scopes,
            what,
            accept: None,
            range: None,
            body: None,
            content_type: None,
            content_range: None,
            once: false,
        }
    }

    /// The same request, sent once (its caller retries the transaction it belongs to).
    pub fn once(self) -> Self {
        Req { once: true, ..self }
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Auth {
    /// Send credentials if the registry asks for them.
    Registry,
    /// A different host (a CDN we were redirected to): never send our Authorization there.
    None,
}

/// Why an attempt gave no response to return.
enum Attempt {
    /// Try again at once (a challenge was learned).
    Again,
    Failed(RegistryError),
}

impl From<RegistryError> for Attempt {
    fn from(e: RegistryError) -> Self {
        Attempt::Failed(e)
    }
}

pub(crate) fn retry_after(resp: &Response) -> Option<Duration> {
    resp.headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

impl RegistryClient {
    /// `r` with a deadline for `expected` bytes (`deadline::Deadline`), the grace being the
    /// read timeout.
    pub(crate) fn deadline<R: Read>(&self, r: R, expected: u64) -> super::deadline::Deadline<R> {
        super::deadline::Deadline::new(r, expected, self.streamer.read_timeout())
    }

    /// A failed read of a response body: a registry too slow to finish is given up on (retrying
    /// would only wait as long again); anything else is a connection error, retried.
    pub(crate) fn read_error(&self, what: &str, doing: &str, e: std::io::Error) -> RegistryError {
        match super::deadline::too_slow(&e) {
            Some(slow) => RegistryError::Protocol {
                what: what.to_string(),
                reason: format!("{doing}: {slow}"),
            },
            None => {
                RegistryError::connect(&self.endpoint.registry, format!("{doing} of {what}: {e}"))
            }
        }
    }

    pub fn new(
        endpoint: Endpoint,
        http: Client,
        streamer: super::stream::Streamer,
        credential: Option<Credential>,
        retry: RetryPolicy,
    ) -> Self {
        RegistryClient {
            endpoint,
            http,
            streamer,
            credential,
            challenge: Mutex::new(None),
            tokens: TokenCache::default(),
            retry,
        }
    }

    /// A request that got no answer: why, in the operator's terms (not the HTTP client's chain),
    /// and what to check, never suggesting a setting that is already set.
    fn unreachable(
        &self,
        e: &(dyn std::error::Error + 'static),
        what: Option<&str>,
    ) -> RegistryError {
        let chain = crate::causes::of(e);
        let plain = self.endpoint.base_url.starts_with("http://");
        let hints = &self.endpoint.hints;
        let registry = self.endpoint.registry.clone();
        let with_what = |reason: String| what.map_or(reason.clone(), |w| format!("{w}: {reason}"));
        // Neither is transient: asking again gets the same answer.
        if chain.contains("InvalidContentType") {
            return RegistryError::Mismatch {
                registry,
                reason: with_what("it answered in plain HTTP, not HTTPS".into()),
                hint: hints.plain_http.into(),
            };
        }
        if let Some(why) = certificate_problem(&chain) {
            return RegistryError::Mismatch {
                registry,
                reason: with_what(format!("its TLS certificate is not trusted: {why}")),
                hint: format!(
                    "{}; or, for a registry you trust without TLS, {}",
                    hints.ca, hints.plain_http
                ),
            };
        }
        let hint = if plain {
            "; check the host name and port, and that the registry is running".to_string()
        } else {
            format!(
                "; check the host name and port, and whether it speaks HTTPS ({} for an HTTP-only registry)",
                hints.plain_http
            )
        };
        RegistryError::Connect {
            registry,
            reason: with_what(why_unreachable(e)),
            hint,
        }
    }

    /// Whether `url` is this registry's own origin (see `same_origin`).
    pub(crate) fn is_own(&self, url: &str) -> bool {
        same_origin(&self.endpoint.base_url, url)
    }

    fn url(&self, repo: &str, kind: &str, reference: &str) -> String {
        format!("{}/v2/{repo}/{kind}/{reference}", self.endpoint.base_url)
    }

    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<Manifest, RegistryError> {
        let what = format!("{}/{repo}:{reference}", self.endpoint.registry)
            .replace(":sha256:", "@sha256:");
        let url = self.url(repo, "manifests", reference);
        let scopes = pull_scope(repo);
        let req = Req {
            accept: Some(MANIFEST_ACCEPT),
            ..Req::new(&scopes, &what)
        };
        let resp = self.send(Method::GET, &url, req, Auth::Registry)?;
        let resp = self.check_status(resp, &what)?;
        let header_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or("").trim().to_string());
        let claimed = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_MANIFEST_BYTES)
        {
            return Err(RegistryError::Protocol {
                what,
                reason: format!("manifest larger than {MAX_MANIFEST_BYTES} bytes; refusing it"),
            });
        }
        let mut bytes = Vec::new();
        // Without a length, a manifest is given the time of a small one: real ones are a few
        // KiB, and `Deadline` gives more time as more arrives.
        let expected = resp.content_length().unwrap_or(UNSIZED_MANIFEST);
        self.deadline(resp.take(MAX_MANIFEST_BYTES + 1), expected)
            .read_to_end(&mut bytes)
            .map_err(|e| self.read_error(&what, "reading the manifest", e))?;
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(RegistryError::Protocol {
                what,
                reason: format!("manifest larger than {MAX_MANIFEST_BYTES} bytes; refusing it"),
            });
        }
        let digest = Digest::of(&bytes);
        if let Some(c) = claimed.filter(|c| *c != digest.to_string()) {
            // The body is what we carry and what its digest says; a registry whose header
            // disagrees is broken or tampered with, and the operator should know which.
            crate::console::line(format!(
                "warning: {}: the Docker-Content-Digest header of {what} says {}, but its bytes hash to {digest}; carrying the bytes",
                self.endpoint.registry,
                crate::console::printable(&c)
            ));
        }
        if let Ok(expected) = reference.parse::<Digest>() {
            if expected != digest {
                return Err(RegistryError::DigestMismatch {
                    registry: self.endpoint.registry.clone(),
                    what,
                    expected,
                    found: digest,
                });
            }
        }
        let media_type =
            crate::manifest::media_type_of(&bytes, header_type.as_deref()).map_err(|reason| {
                RegistryError::Protocol {
                    what: what.clone(),
                    reason,
                }
            })?;
        Ok(Manifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Send to the registry itself (credentials if it asks), with retries.
    pub(crate) fn send_registry(
        &self,
        method: Method,
        url: &str,
        req: Req,
    ) -> Result<Response, RegistryError> {
        self.send(method, url, req, Auth::Registry)
    }

    /// One request, retried by the policy on connection errors, 429 and 5xx (after retries a
    /// transient answer is returned as it is, for the caller to judge). A request marked
    /// `once` is not retried: it is a step of a transaction that its caller retries as a whole
    /// (an upload, a resumed download). A 401 with a challenge is answered either way.
    pub(crate) fn send(
        &self,
        method: Method,
        url: &str,
        req: Req,
        auth: Auth,
    ) -> Result<Response, RegistryError> {
        let policy = match req.once {
            true => RetryPolicy::NEVER,
            false => self.retry,
        };
        let mut challenged = false;
        policy.run(
            || match self.attempt(&method, url, req, auth, &mut challenged) {
                Ok(resp) if is_transient_status(resp.status().as_u16()) => Step::Retry {
                    after: retry_after(&resp),
                    last: Ok(resp),
                },
                Ok(resp) => Step::Done(Ok(resp)),
                Err(Attempt::Again) => Step::Again,
                Err(Attempt::Failed(e)) if e.is_transient() => Step::Retry {
                    last: Err(e),
                    after: None,
                },
                Err(Attempt::Failed(e)) => Step::Done(Err(e)),
            },
        )
    }

    /// One try. A first 401 that carries a challenge is learned from and asks for another try
    /// at once (`challenged` makes sure only once).
    fn attempt(
        &self,
        method: &Method,
        url: &str,
        req: Req,
        auth: Auth,
        challenged: &mut bool,
    ) -> Result<Response, Attempt> {
        let since = std::time::Instant::now();
        let sent = self.request(method, url, req, auth)?.send();
        let outcome = match &sent {
            Ok(r) => r.status().as_u16().to_string(),
            Err(_) => "no answer".to_string(),
        };
        self.endpoint.log(method, url, &outcome, since);
        let resp = sent.map_err(|e| self.unreachable(&e, None))?;
        if resp.status() != StatusCode::UNAUTHORIZED
            || !matches!(auth, Auth::Registry)
            || *challenged
        {
            return Ok(resp);
        }
        *challenged = true;
        let header = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match parse_challenge(header) {
            Some(c) => {
                *self.challenge.lock().unwrap() = Some(c);
                self.tokens.forget(req.scopes);
                Err(Attempt::Again)
            }
            None => Err(Attempt::Failed(
                self.refused_elsewhere(url, 401, req.what)
                    .unwrap_or_else(|| self.status_error(resp, req.what)),
            )),
        }
    }

    /// A 401/403 from a host other than this registry (a `Link` page, a redirect): named as
    /// that host's refusal, since our credentials are never sent there.
    pub(crate) fn refused_elsewhere(
        &self,
        url: &str,
        status: u16,
        what: &str,
    ) -> Option<RegistryError> {
        if self.is_own(url) || !matches!(status, 401 | 403) {
            return None;
        }
        let u = url::Url::parse(url).ok()?;
        let host = match u.port() {
            Some(p) => format!("{}:{p}", u.host_str()?),
            None => u.host_str()?.to_string(),
        };
        Some(RegistryError::Unauthorized {
            registry: host,
            what: what.to_string(),
            status,
            hint: format!(
                "{} sent us there, and its credentials are never sent to another host",
                self.endpoint.registry
            ),
        })
    }

    fn request(
        &self,
        method: &Method,
        url: &str,
        req: Req,
        auth: Auth,
    ) -> Result<RequestBuilder, RegistryError> {
        let mut rb: RequestBuilder = self.http.request(method.clone(), url);
        if let Some(a) = req.accept {
            rb = rb.header(ACCEPT, a);
        }
        if let Some(from) = req.range {
            rb = rb.header(RANGE, format!("bytes={from}-"));
        }
        if let Some(t) = req.content_type {
            rb = rb.header(CONTENT_TYPE, t);
        }
        if let Some(r) = req.content_range {
            rb = rb.header(reqwest::header::CONTENT_RANGE, r);
        }
        if let Some(make) = req.body {
            rb = rb.body(make()?);
        }
        if matches!(auth, Auth::Registry) && self.is_own(url) {
            if let Some(h) = self.auth_header(req.scopes)? {
                rb = rb.header(AUTHORIZATION, h);
            }
        }
        Ok(rb)
    }

    /// The Authorization for `scopes`: Basic credentials, or a Bearer token (cached, or fetched
    /// once for all the workers that need it).
    pub(crate) fn auth_header(&self, scopes: &str) -> Result<Option<HeaderValue>, RegistryError> {
        let challenge = self.challenge.lock().unwrap().clone();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(match &self.credential {
                Some(Credential::Basic { username, password }) => Some(basic(username, password)),
                _ => None,
            }),
            Some(Challenge::Bearer { realm, service }) => {
                let token = self.tokens.get_or_fetch(scopes, || {
                    self.fetch_token(&realm, service.as_deref(), scopes)
                })?;
                Ok(Some(bearer(&token)))
            }
        }
    }

    /// Ask the token service once (a failure is retried with the request that needed it).
    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<(String, Duration), RegistryError> {
        let what = format!("token for {scope} from {realm}");
        let connect = |e: &(dyn std::error::Error + 'static)| self.unreachable(e, Some(&what));
        let resp = self
            .token_request(realm, service, scope, &what)?
            .send()
            .map_err(|e| connect(&e))?;
        if !resp.status().is_success() {
            return Err(self.status_error(resp, &what));
        }
        let mut raw = Vec::new();
        self.deadline(resp.take(1 << 20), 1 << 20)
            .read_to_end(&mut raw)
            .map_err(|e| match super::deadline::too_slow(&e) {
                Some(_) => self.read_error(&what, "reading the token", e),
                None => connect(&e),
            })?;
        let body: TokenResponse =
            serde_json::from_slice(&raw).map_err(|e| RegistryError::Protocol {
                what: what.clone(),
                reason: format!("token response is not JSON: {e}"),
            })?;
        let ttl = body.lifetime();
        let tok = body
            .token
            .or(body.access_token)
            .ok_or_else(|| RegistryError::Protocol {
                what,
                reason: "token response has no token".into(),
            })?;
        Ok((tok, ttl))
    }

    fn token_request(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        what: &str,
    ) -> Result<RequestBuilder, RegistryError> {
        let mut rb = match &self.credential {
            Some(Credential::IdentityToken(refresh)) => {
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "refresh_token")
                    .append_pair("refresh_token", refresh)
                    .append_pair("service", service.unwrap_or(""))
                    .append_pair("scope", scope)
                    .append_pair("client_id", "bundle")
                    .finish();
                self.http
                    .post(realm)
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
            }
            _ => {
                let mut url = url::Url::parse(realm).map_err(|e| RegistryError::Protocol {
                    what: what.to_string(),
                    reason: format!("bad realm in WWW-Authenticate: {e}"),
                })?;
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    for one in scope.split(' ') {
                        q.append_pair("scope", one);
                    }
                }
                self.http.get(url.as_str())
            }
        };
        if let Some(Credential::Basic { username, password }) = &self.credential {
            if realm_may_see_credentials(&self.endpoint.base_url, realm) {
                rb = rb.header(AUTHORIZATION, basic(username, password));
            }
        }
        Ok(rb)
    }

    pub(crate) fn check_status(
        &self,
        resp: Response,
        what: &str,
    ) -> Result<Response, RegistryError> {
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(self.status_error(resp, what))
        }
    }

    pub(crate) fn status_error(&self, resp: Response, what: &str) -> RegistryError {
        let status = resp.status().as_u16();
        let mut body = String::new();
        if !matches!(status, 401 | 403 | 404) {
            let _ = resp.take(512).read_to_string(&mut body);
        }
        self.status_error_of(status, &body, what)
    }

    /// The error for an unexpected status; `body` is the start of the answer's body.
    pub(crate) fn status_error_of(&self, status: u16, body: &str, what: &str) -> RegistryError {
        RegistryError::of_status(
            &self.endpoint.registry,
            self.credential.is_some(),
            &self.endpoint.hints,
            status,
            &self.without_secrets(body),
            what,
        )
    }

    /// `body`, unless it repeats something secret we sent (a password, a Basic header, a
    /// token): an answer echoing the request must not put credentials on the operator's screen.
    fn without_secrets(&self, body: &str) -> String {
        let mut secrets = self.tokens.all();
        secrets.extend(self.credential.iter().flat_map(|c| c.secrets()));
        // Very short secrets would match by chance; nobody's password is 3 characters long.
        match secrets
            .iter()
            .any(|s| s.len() >= 4 && body.contains(s.as_str()))
        {
            true => "(the answer repeats the credentials sent, so it is not shown)".into(),
            false => body.to_string(),
        }
    }

    /// Forget the token for `scopes`, so the next request fetches a fresh one.
    pub(crate) fn drop_token(&self, scopes: &str) {
        self.tokens.forget(scopes);
    }
}

/// The root cause of a failed connection in plain words: "connection refused", "the host name
/// does not resolve", "no answer in time", or the root error without its OS error number.
/// A TLS certificate the client would not accept (rustls's words in the error chain), in plain
/// words.
fn certificate_problem(chain: &str) -> Option<&'static str> {
    let c = chain.to_ascii_lowercase();
    if !c.contains("certificate") {
        return None;
    }
    Some(if c.contains("unknownissuer") {
        "it is signed by a CA this machine does not know"
    } else if c.contains("expired") {
        "it has expired"
    } else if c.contains("notvalidforname") || c.contains("not valid for name") {
        "it does not name this host"
    } else if c.contains("selfsigned") || c.contains("self-signed") {
        "it is self-signed"
    } else {
        "it was refused"
    })
}

fn why_unreachable(e: &(dyn std::error::Error + 'static)) -> String {
    let root = std::iter::successors(Some(e), |e: &&(dyn std::error::Error + 'static)| {
        (*e).source()
    })
    .last()
    .map(|c| c.to_string())
    .unwrap_or_default();
    let all = crate::causes::of(e).to_ascii_lowercase();
    if all.contains("connection refused") {
        "connection refused".into()
    } else if all.contains("dns error") || all.contains("failed to lookup address") {
        "the host name does not resolve".into()
    } else if all.contains("timed out") {
        "no answer in time".into()
    } else {
        match root.find(" (os error") {
            Some(i) => root[..i].to_string(),
            None => root,
        }
    }
}

/// Credentials for a registry go to its own origin only (scheme, host and port): never to a
/// host a `Link`, an upload `Location` or a redirect points at.
pub(crate) fn same_origin(base: &str, url: &str) -> bool {
    match (url::Url::parse(base), url::Url::parse(url)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// The token service a registry's challenge names may get its Basic credentials, but only
/// over TLS, unless the registry itself is reached over plain HTTP by configuration.
pub(crate) fn realm_may_see_credentials(base: &str, realm: &str) -> bool {
    same_origin(base, realm)
        || url::Url::parse(realm).is_ok_and(|r| r.scheme() == "https")
        || base.starts_with("http://")
}

pub(crate) fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

fn basic(user: &str, pass: &str) -> HeaderValue {
    use base64::Engine;
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let mut v =
        HeaderValue::from_str(&format!("Basic {enc}")).unwrap_or(HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}

fn bearer(tok: &str) -> HeaderValue {
    let mut v =
        HeaderValue::from_str(&format!("Bearer {tok}")).unwrap_or(HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}

/// The `Location` of a response, resolved against the URL it answered (redirects and upload
/// sessions may give relative locations).
pub(crate) fn location(
    base: &url::Url,
    resp: &Response,
    what: &str,
) -> Result<url::Url, RegistryError> {
    let loc = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| RegistryError::Protocol {
            what: what.to_string(),
            reason: format!("HTTP {} without a Location", resp.status()),
        })?;
    base.join(loc).map_err(|e| RegistryError::Protocol {
        what: what.to_string(),
        reason: format!("bad Location {loc:?}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_stay_with_their_origin() {
        let reg = "https://reg.example:5000";
        assert!(same_origin(
            reg,
            "https://reg.example:5000/v2/x/blobs/uploads/1"
        ));
        assert!(!same_origin(reg, "https://reg.example:5001/v2/"));
        assert!(!same_origin(reg, "http://reg.example:5000/v2/"));
        assert!(!same_origin(reg, "https://other.example:5000/v2/"));
        assert!(realm_may_see_credentials(reg, "https://auth.example/token"));
        assert!(!realm_may_see_credentials(reg, "http://auth.example/token"));
        assert!(realm_may_see_credentials(
            "http://127.0.0.1:5000",
            "http://127.0.0.1:5000/token"
        ));
        assert!(realm_may_see_credentials(
            "http://127.0.0.1:5000",
            "http://auth.local/token"
        ));
    }
}
