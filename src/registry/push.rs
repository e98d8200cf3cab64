//! Pushing to a registry: blob existence, cross-repository mounts, monolithic uploads, and
//! manifests sent byte for byte with their own media type.

use super::client::RegistryClient;
use super::client::{Auth, Req};
use super::error::RegistryError;
use super::retry::Step;
use super::stream::StreamError;
use crate::digest::Digest;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use std::io::Read;

/// Chunk size for the chunked fallback: large enough for few round trips, and above the 5 MiB
/// minimum some S3-backed registries require for all but the last chunk.
const CHUNK: usize = 16 * 1024 * 1024;

/// Opens the blob's bytes from the start again (for a retry, or for the chunked fallback).
pub type BlobSource<'a> = &'a (dyn Fn() -> Result<Box<dyn Read + Send>, RegistryError> + Sync);

/// One blob to upload: where, which, how big, and how to read it (again).
#[derive(Clone, Copy)]
struct Upload<'a> {
    repo: &'a str,
    digest: &'a Digest,
    size: u64,
    open: BlobSource<'a>,
}

fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

impl RegistryClient {
    fn v2(&self, path: &str) -> String {
        format!("{}/v2/{path}", self.endpoint.base_url)
    }

    /// Whether we may push to `repo`, as far as the registry says before anything is sent:
    /// it answers, and takes our credentials (or a token for push) at its API root.
    pub fn check_push_access(&self, repo: &str) -> Result<(), RegistryError> {
        let what = format!("pushing to {}/{repo}", self.endpoint.registry);
        let scopes = push_scope(repo);
        let resp = self.send_registry(Method::GET, &self.v2(""), Req::new(&scopes, &what))?;
        self.check_status(resp, &what).map(|_| ())
    }

    pub fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<bool, RegistryError> {
        let what = format!("blob {digest} in {}/{repo}", self.endpoint.registry);
        let scopes = push_scope(repo);
        let resp = self.send_registry(
            Method::HEAD,
            &self.v2(&format!("{repo}/blobs/{digest}")),
            Req::new(&scopes, &what),
        )?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.status_error(resp, &what)),
        }
    }

    /// Ask the registry to link a blob it already holds in `from` into `repo`. False when it
    /// declines (202: it opened an upload instead), which is allowed by the spec.
    pub fn mount_blob(
        &self,
        repo: &str,
        from: &str,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let what = format!(
            "mount of {digest} from {from} into {}/{repo}",
            self.endpoint.registry
        );
        let scopes = format!("{} repository:{from}:pull", push_scope(repo));
        let url = self.v2(&format!("{repo}/blobs/uploads/?mount={digest}&from={from}"));
        let resp = self.send_registry(Method::POST, &url, Req::new(&scopes, &what))?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => Ok(false),
            _ => Err(self.status_error(resp, &what)),
        }
    }

    /// Upload a blob as one transaction under the retry policy: an upload session is
    /// single-use, so a request lost on the way (the registry may have finished it and only the
    /// answer was lost) cannot simply be sent again. After a failure, a HEAD tells whether the
    /// blob arrived anyway; if not, the whole upload starts over in a new session. The steps
    /// inside are sent once each: this is the only retry around them.
    pub fn upload_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        open: BlobSource,
    ) -> Result<(), RegistryError> {
        let up = Upload {
            repo,
            digest,
            size,
            open,
        };
        self.retry.run(|| match self.upload_once(&up) {
            Ok(()) => Step::Done(Ok(())),
            Err(_) if self.arrived(repo, digest) => Step::Done(Ok(())),
            // 404 or 416: the session was used up or lost; a new one is worth a try.
            Err(e @ RegistryError::NotFound { .. })
            | Err(e @ RegistryError::Status { status: 416, .. }) => Step::Retry {
                last: Err(e),
                after: None,
            },
            Err(e) if e.is_transient() => Step::Retry {
                last: Err(e),
                after: None,
            },
            Err(e) => Step::Done(Err(e)),
        })
    }

    /// One HEAD, not retried: did the blob arrive after all?
    fn arrived(&self, repo: &str, digest: &Digest) -> bool {
        let what = format!("blob {digest} in {}/{repo}", self.endpoint.registry);
        let scopes = push_scope(repo);
        let url = self.v2(&format!("{repo}/blobs/{digest}"));
        self.send(
            Method::HEAD,
            &url,
            Req::new(&scopes, &what).once(),
            Auth::Registry,
        )
        .is_ok_and(|r| r.status().is_success())
    }

    /// Monolithic upload: POST for a session, then one PUT with the whole blob and its digest,
    /// streamed from `open`. The registry checks the digest before it makes the blob visible. A
    /// registry that refuses a monolithic PUT (413, or 400/405/501) gets the blob in chunks.
    fn upload_once(&self, up: &Upload) -> Result<(), RegistryError> {
        let (repo, digest, size, open) = (up.repo, up.digest, up.size, up.open);
        let what = format!(
            "upload of blob {digest} to {}/{repo}",
            self.endpoint.registry
        );
        let scopes = push_scope(repo);
        // A token may expire between the POST (which renews it when asked) and the PUT:
        // one more session with a fresh token, then the answer stands.
        for fresh_token in [false, true] {
            let mut put = self.start_upload(repo, &scopes, &what)?;
            put.query_pairs_mut()
                .append_pair("digest", &digest.to_string());
            let mut headers = HeaderMap::new();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            if self.is_own(put.as_str()) {
                if let Some(h) = self.auth_header(&scopes)? {
                    headers.insert(AUTHORIZATION, h);
                }
            }
            let since = std::time::Instant::now();
            let answer = self
                .streamer
                .send(Method::PUT, put.as_str(), headers, open()?, size);
            let outcome = answer
                .as_ref()
                .map_or("no answer".to_string(), |a| a.status.as_u16().to_string());
            self.endpoint
                .log(&Method::PUT, put.as_str(), &outcome, since);
            let answer = answer.map_err(|e| match e {
                StreamError::Transfer(reason) => {
                    RegistryError::connect(&self.endpoint.registry, format!("{what}: {reason}"))
                }
                StreamError::Source(e) => RegistryError::Protocol {
                    what: what.clone(),
                    reason: format!("reading the blob from the bundle: {e}"),
                },
                StreamError::Setup(e) => e,
            })?;
            match answer.status {
                StatusCode::CREATED => return Ok(()),
                StatusCode::UNAUTHORIZED if !fresh_token => self.drop_token(&scopes),
                StatusCode::PAYLOAD_TOO_LARGE
                | StatusCode::BAD_REQUEST
                | StatusCode::METHOD_NOT_ALLOWED
                | StatusCode::NOT_IMPLEMENTED => return self.upload_chunked(up),
                s => {
                    return Err(self.status_error_of(
                        s.as_u16(),
                        &answer.excerpt,
                        &format!("{what} ({size} bytes)"),
                    ))
                }
            }
        }
        unreachable!("the second pass always returns")
    }

    /// POST for an upload session; the URL to continue it at.
    fn start_upload(
        &self,
        repo: &str,
        scopes: &str,
        what: &str,
    ) -> Result<url::Url, RegistryError> {
        let resp = self.send(
            Method::POST,
            &self.v2(&format!("{repo}/blobs/uploads/")),
            Req::new(scopes, what).once(),
            Auth::Registry,
        )?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.status_error(resp, what));
        }
        self.location(&resp, what)
    }

    fn location(
        &self,
        resp: &reqwest::blocking::Response,
        what: &str,
    ) -> Result<url::Url, RegistryError> {
        let base =
            url::Url::parse(&self.endpoint.base_url).map_err(|e| RegistryError::Protocol {
                what: what.to_string(),
                reason: e.to_string(),
            })?;
        super::client::location(&base, resp, what)
    }

    /// PATCH chunks with Content-Range, then PUT the digest. One chunk in memory at a time.
    fn upload_chunked(&self, up: &Upload) -> Result<(), RegistryError> {
        let (repo, digest, size, open) = (up.repo, up.digest, up.size, up.open);
        let what = format!(
            "chunked upload of blob {digest} to {}/{repo}",
            self.endpoint.registry
        );
        let scopes = push_scope(repo);
        let mut at = self.start_upload(repo, &scopes, &what)?;
        let mut src = open()?;
        let mut sent = 0u64;
        while sent < size {
            let n = CHUNK.min((size - sent) as usize);
            let mut chunk = vec![0u8; n];
            src.read_exact(&mut chunk)
                .map_err(|e| RegistryError::Protocol {
                    what: what.clone(),
                    reason: format!("reading the blob from the bundle: {e}"),
                })?;
            let make = move || Ok(reqwest::blocking::Body::from(chunk.clone()));
            let range = format!("{sent}-{}", sent + n as u64 - 1);
            let req = Req {
                body: Some(&make),
                content_type: Some("application/octet-stream"),
                content_range: Some(&range),
                ..Req::new(&scopes, &what)
            };
            let resp = self.send(Method::PATCH, at.as_str(), req.once(), Auth::Registry)?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(self.status_error(resp, &format!("{what} (bytes {range})")));
            }
            at = self.location(&resp, &what)?;
            sent += n as u64;
        }
        at.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let resp = self.send(
            Method::PUT,
            at.as_str(),
            Req::new(&scopes, &what).once(),
            Auth::Registry,
        )?;
        if resp.status() != StatusCode::CREATED {
            return Err(self.status_error(resp, &what));
        }
        Ok(())
    }

    /// PUT a manifest by digest or tag, exactly these bytes, with its own media type. Returns
    /// the `OCI-Subject` header's value: a registry with the referrers API sends it when it
    /// indexed the manifest's `subject`.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Option<String>, RegistryError> {
        let what = format!("manifest {}/{repo}:{reference}", self.endpoint.registry)
            .replace(":sha256:", "@sha256:");
        let scopes = push_scope(repo);
        let owned = bytes.to_vec();
        let make = move || Ok(reqwest::blocking::Body::from(owned.clone()));
        let req = Req {
            body: Some(&make),
            content_type: Some(media_type),
            ..Req::new(&scopes, &what)
        };
        let resp = self.send_registry(
            Method::PUT,
            &self.v2(&format!("{repo}/manifests/{reference}")),
            req,
        )?;
        if resp.status() != StatusCode::CREATED {
            return Err(self.status_error(resp, &what));
        }
        Ok(resp
            .headers()
            .get("oci-subject")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string))
    }

    /// DELETE a manifest by digest (which removes every tag of it in `repo`). Ok(false) when
    /// it was not there. A registry that does not allow deleting answers 405.
    pub fn delete_manifest(&self, repo: &str, digest: &Digest) -> Result<bool, RegistryError> {
        let what = format!("manifest {}/{repo}@{digest}", self.endpoint.registry);
        let scopes = format!("repository:{repo}:pull,push,delete");
        let url = self.v2(&format!("{repo}/manifests/{digest}"));
        let resp = self.send_registry(Method::DELETE, &url, Req::new(&scopes, &what))?;
        match resp.status() {
            StatusCode::ACCEPTED | StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.status_error(resp, &what)),
        }
    }
}
