//! A client for one registry (OCI distribution spec): manifests byte for byte, blobs streamed to
//! disk with hashing, resume and retries, and anonymous/Basic/Bearer auth.

use super::auth::{parse_challenge, Challenge, TokenResponse};
use super::credentials::Credential;
use super::retry::{parse_retry_after, RetryPolicy};
use crate::digest::{hasher_for_prefix, Digest, HashingWriter};
use crate::manifest::MANIFEST_ACCEPT;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{
    HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, RANGE, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Registries reject manifests over 4 MiB; refusing larger answers keeps memory bounded.
const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{registry}: cannot connect ({reason}); check the host name, port, and whether it speaks HTTPS (use plain-http: true for an HTTP-only registry)")]
    Connect { registry: String, reason: String },
    #[error("{what}: not found on {registry} (HTTP 404); check the name and tag")]
    NotFound { registry: String, what: String },
    #[error("{what}: {registry} refused access (HTTP {status}); {hint}")]
    Unauthorized {
        registry: String,
        what: String,
        status: u16,
        hint: &'static str,
    },
    #[error("{what}: {registry} answered HTTP {status}{detail}")]
    Status {
        registry: String,
        what: String,
        status: u16,
        detail: String,
    },
    #[error("{what}: {registry} sent content whose sha256 is {found}, not the expected {expected}; the registry or something between us and it corrupted the data")]
    DigestMismatch {
        registry: String,
        what: String,
        expected: Digest,
        found: Digest,
    },
    #[error("{what}: {registry} sent {found} bytes, expected {expected}")]
    SizeMismatch {
        registry: String,
        what: String,
        expected: u64,
        found: u64,
    },
    #[error("{what}: {reason}")]
    Protocol { what: String, reason: String },
    #[error("{what}: writing {path}: {source}")]
    Io {
        what: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{registry}: TLS setup failed: {reason}")]
    Tls { registry: String, reason: String },
}

pub struct Endpoint {
    /// Name as users write it (`docker.io`).
    pub registry: String,
    /// `https://registry-1.docker.io`
    pub base_url: String,
}

pub struct RegistryClient {
    pub endpoint: Endpoint,
    http: Client,
    /// Blob uploads, streamed from the calling thread.
    pub(crate) streamer: super::stream::Streamer,
    credential: Option<Credential>,
    challenge: Mutex<Option<Challenge>>,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    /// Held while a token is fetched, so parallel workers needing the same scope wait for one
    /// fetch instead of each asking the auth server.
    token_fetch: Mutex<()>,
    pub(crate) retry: RetryPolicy,
}

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
        }
    }
}

#[derive(Clone, Copy)]
enum Auth {
    /// Send credentials if the registry asks for them.
    Registry,
    /// A different host (a CDN we were redirected to): never send our Authorization there.
    None,
}

impl RegistryClient {
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
            tokens: Mutex::new(HashMap::new()),
            token_fetch: Mutex::new(()),
            retry,
        }
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
        resp.take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| RegistryError::Connect {
                registry: self.endpoint.registry.clone(),
                reason: format!("reading the manifest of {what}: {e}"),
            })?;
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(RegistryError::Protocol {
                what,
                reason: format!("manifest larger than {MAX_MANIFEST_BYTES} bytes; refusing it"),
            });
        }
        let digest = Digest::of(&bytes);
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

    /// Download a blob into `file` (opened for append), resuming from what is already there,
    /// and verify it. `progress` is told of every chunk written (bytes).
    pub fn fetch_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        file: &mut std::fs::File,
        partial: &Path,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), RegistryError> {
        let what = format!("blob {digest} of {}/{repo}", self.endpoint.registry);
        let io_err = |source| RegistryError::Io {
            what: what.clone(),
            path: partial.to_path_buf(),
            source,
        };
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let (mut hasher, mut have) = hasher_for_prefix(&mut *file).map_err(io_err)?;
        if have > size {
            file.set_len(0).map_err(io_err)?;
            (hasher, have) = hasher_for_prefix(std::io::empty()).map_err(io_err)?;
        }
        if have > 0 {
            progress(have);
        }
        let mut failures = 0u32;
        loop {
            if have == size {
                break;
            }
            let url = self.url(repo, "blobs", &digest.to_string());
            let range = (have > 0).then_some(have);
            let scopes = pull_scope(repo);
            let req = Req {
                range,
                ..Req::new(&scopes, &what)
            };
            let result = self.get_following_redirects(&url, req).and_then(|resp| {
                match resp.status() {
                    StatusCode::PARTIAL_CONTENT if range.is_some() => Ok(resp),
                    StatusCode::OK => {
                        if have > 0 {
                            // The server ignored Range: start over rather than append a duplicate.
                            file.set_len(0).map_err(io_err)?;
                            file.seek(SeekFrom::Start(0)).map_err(io_err)?;
                            (hasher, have) = hasher_for_prefix(std::io::empty()).map_err(io_err)?;
                        }
                        Ok(resp)
                    }
                    _ => Err(self.status_error(resp, &what)),
                }
            });
            // `send` has already retried the request itself; only broken bodies are resumed here.
            let mut resp = result?;
            let mut w = HashingWriter::resume(&mut *file, hasher.clone(), have);
            let copied = copy_limited(&mut resp, &mut w, size - have, progress);
            let before = have;
            have = w.count();
            // Keep the hash state in step with what reached the file.
            hasher = w_hasher(w);
            match copied {
                Ok(()) => {}
                Err(CopyError::Write(e)) => return Err(io_err(e)),
                Err(CopyError::Read(e)) => {
                    // A dropped connection: resume from `have` with Range. Only count it as a
                    // failure if no progress was made, so a flaky but moving transfer finishes.
                    if have == before {
                        failures += 1;
                    }
                    if failures > self.retry.retries {
                        return Err(RegistryError::Connect {
                            registry: self.endpoint.registry.clone(),
                            reason: format!("{what}: download kept failing: {e}"),
                        });
                    }
                    std::thread::sleep(self.retry.delay(failures.saturating_sub(1), None));
                    continue;
                }
                Err(CopyError::TooLong) => {
                    let _ = file.set_len(0);
                    return Err(RegistryError::SizeMismatch {
                        registry: self.endpoint.registry.clone(),
                        what,
                        expected: size,
                        found: size + 1,
                    });
                }
            }
        }
        file.flush().map_err(io_err)?;
        let found = Digest::from_sha256(sha2::Digest::finalize(hasher).into());
        if &found != digest {
            // A wrong blob must not be resumed from: throw the bytes away.
            let _ = file.set_len(0);
            return Err(RegistryError::DigestMismatch {
                registry: self.endpoint.registry.clone(),
                what,
                expected: digest.clone(),
                found,
            });
        }
        // No fsync: a cache entry is hashed again whenever a later run uses it, so a blob torn
        // by a crash is caught there, and syncing every blob costs create a third of its time.
        Ok(())
    }

    fn get_following_redirects(&self, url: &str, req: Req) -> Result<Response, RegistryError> {
        let what = req.what;
        let mut url = url.to_string();
        let mut auth = Auth::Registry;
        for _ in 0..6 {
            let resp = self.send(Method::GET, &url, req, auth)?;
            if !resp.status().is_redirection() {
                return Ok(resp);
            }
            let base = url::Url::parse(&url).map_err(|e| RegistryError::Protocol {
                what: what.to_string(),
                reason: e.to_string(),
            })?;
            let next = location(&base, &resp, what)?;
            auth = if next.origin() == base.origin() && matches!(auth, Auth::Registry) {
                Auth::Registry
            } else {
                Auth::None
            };
            url = next.to_string();
        }
        Err(RegistryError::Protocol {
            what: what.to_string(),
            reason: "too many redirects".into(),
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

    /// One request with retries on connection errors, 429 and 5xx, and the auth dance on 401.
    fn send(
        &self,
        method: Method,
        url: &str,
        req: Req,
        auth: Auth,
    ) -> Result<Response, RegistryError> {
        let what = req.what;
        let mut attempt = 0u32;
        let mut authenticated_once = false;
        loop {
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
            if matches!(auth, Auth::Registry) {
                if let Some(h) = self.auth_header(req.scopes)? {
                    rb = rb.header(AUTHORIZATION, h);
                }
            }
            let retry_after;
            match rb.send() {
                Err(e) => {
                    if attempt >= self.retry.retries {
                        return Err(RegistryError::Connect {
                            registry: self.endpoint.registry.clone(),
                            reason: crate::causes::of(&e),
                        });
                    }
                    retry_after = None;
                }
                Ok(resp) => {
                    let status = resp.status();
                    if status == StatusCode::UNAUTHORIZED
                        && matches!(auth, Auth::Registry)
                        && !authenticated_once
                    {
                        authenticated_once = true;
                        let header = resp
                            .headers()
                            .get(WWW_AUTHENTICATE)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        match parse_challenge(header) {
                            Some(c) => {
                                *self.challenge.lock().unwrap() = Some(c);
                                self.tokens.lock().unwrap().remove(req.scopes);
                                continue;
                            }
                            None => return Err(self.status_error(resp, what)),
                        }
                    }
                    let transient = status == StatusCode::TOO_MANY_REQUESTS
                        || matches!(status.as_u16(), 500 | 502 | 503 | 504);
                    if !transient || attempt >= self.retry.retries {
                        return Ok(resp);
                    }
                    retry_after = resp
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after);
                }
            }
            std::thread::sleep(self.retry.delay(attempt, retry_after));
            attempt += 1;
        }
    }

    pub(crate) fn auth_header(&self, scopes: &str) -> Result<Option<HeaderValue>, RegistryError> {
        let challenge = self.challenge.lock().unwrap().clone();
        let value = match challenge {
            None => return Ok(None),
            Some(Challenge::Basic) => match &self.credential {
                Some(Credential::Basic { username, password }) => basic(username, password),
                _ => return Ok(None),
            },
            Some(Challenge::Bearer { realm, service }) => {
                let scope = scopes.to_string();
                let cached = |tokens: &HashMap<String, (String, Instant)>| {
                    tokens
                        .get(&scope)
                        .filter(|(_, until)| Instant::now() < *until)
                        .map(|(tok, _)| bearer(tok))
                };
                if let Some(h) = cached(&self.tokens.lock().unwrap()) {
                    return Ok(Some(h));
                }
                let _fetching = self.token_fetch.lock().unwrap();
                if let Some(h) = cached(&self.tokens.lock().unwrap()) {
                    return Ok(Some(h));
                }
                let (tok, ttl) = self.fetch_token(&realm, service.as_deref(), &scope)?;
                let tok_header = bearer(&tok);
                // Refresh a little early so a long download does not start with a dying token.
                let until = Instant::now()
                    + ttl
                        .saturating_sub(Duration::from_secs(15))
                        .max(Duration::from_secs(5));
                self.tokens.lock().unwrap().insert(scope, (tok, until));
                return Ok(Some(tok_header));
            }
        };
        Ok(Some(value))
    }

    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<(String, Duration), RegistryError> {
        let what = format!("token for {scope} from {realm}");
        let mut url = url::Url::parse(realm).map_err(|e| RegistryError::Protocol {
            what: what.clone(),
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
        let mut attempt = 0;
        let resp = loop {
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
                _ => self.http.get(url.as_str()),
            };
            if let Some(Credential::Basic { username, password }) = &self.credential {
                rb = rb.header(AUTHORIZATION, basic(username, password));
            }
            match rb.send() {
                Ok(r) if r.status().is_server_error() && attempt < self.retry.retries => {}
                Ok(r) => break r,
                Err(e) if attempt >= self.retry.retries => {
                    return Err(RegistryError::Connect {
                        registry: self.endpoint.registry.clone(),
                        reason: format!("{what}: {}", crate::causes::of(&e)),
                    })
                }
                Err(_) => {}
            }
            std::thread::sleep(self.retry.delay(attempt, None));
            attempt += 1;
        };
        if !resp.status().is_success() {
            return Err(self.status_error(resp, &what));
        }
        let mut raw = Vec::new();
        resp.take(1 << 20)
            .read_to_end(&mut raw)
            .map_err(|e| RegistryError::Connect {
                registry: self.endpoint.registry.clone(),
                reason: format!("{what}: {e}"),
            })?;
        let body: TokenResponse =
            serde_json::from_slice(&raw).map_err(|e| RegistryError::Protocol {
                what: what.clone(),
                reason: format!("token response is not JSON: {e}"),
            })?;
        let tok = body
            .token
            .or(body.access_token)
            .ok_or_else(|| RegistryError::Protocol {
                what,
                reason: "token response has no token".into(),
            })?;
        Ok((
            tok,
            Duration::from_secs(body.expires_in.unwrap_or(60).max(60)),
        ))
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
        let registry = self.endpoint.registry.clone();
        let what = what.to_string();
        match status {
            404 => RegistryError::NotFound { registry, what },
            401 | 403 => RegistryError::Unauthorized {
                registry,
                what,
                status,
                hint: if self.credential.is_some() {
                    "the credentials were rejected or lack access to this repository"
                } else {
                    "no credentials found: log in with `docker login`, or set username-env/password-env in the image list"
                },
            },
            _ => {
                // Registries explain errors in a small JSON body; show a bounded excerpt.
                let body = body.trim();
                let detail = if body.is_empty() {
                    String::new()
                } else {
                    format!(": {body}")
                };
                RegistryError::Status {
                    registry,
                    what,
                    status,
                    detail,
                }
            }
        }
    }

    /// Forget the token for `scopes`, so the next request fetches a fresh one.
    pub(crate) fn drop_token(&self, scopes: &str) {
        self.tokens.lock().unwrap().remove(scopes);
    }
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

enum CopyError {
    Read(std::io::Error),
    Write(std::io::Error),
    TooLong,
}

fn copy_limited<W: Write>(
    r: &mut impl Read,
    w: &mut HashingWriter<W>,
    limit: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(), CopyError> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = limit;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        if n as u64 > left {
            return Err(CopyError::TooLong);
        }
        w.write_all(&buf[..n]).map_err(CopyError::Write)?;
        left -= n as u64;
        progress(n as u64);
    }
    if left > 0 {
        // The body ended early: treat like a dropped connection so the caller resumes.
        return Err(CopyError::Read(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("body ended {left} bytes short"),
        )));
    }
    Ok(())
}

fn w_hasher<W: Write>(w: HashingWriter<W>) -> sha2::Sha256 {
    w.into_hasher()
}
