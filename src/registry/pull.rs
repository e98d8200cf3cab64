//! Downloading a blob: streamed to a file while it is hashed, resumed with `Range` after a cut,
//! redirects followed without credentials to other hosts, and the digest checked at the end.
//! The whole download is one transaction under the retry policy.

use super::client::RegistryClient;
use super::client::{pull_scope, retry_after, Auth, Req};
use super::error::{is_transient_status, RegistryError};
use super::retry::Step;
use crate::digest::{hasher_for_prefix, Digest, HashingWriter};
use reqwest::blocking::Response;
use reqwest::{Method, StatusCode};
use sha2::Sha256;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// A download in progress: the bytes in the file so far and their hash state.
struct Partial<'a> {
    file: &'a mut File,
    path: &'a Path,
    hasher: Sha256,
    have: u64,
}

impl Partial<'_> {
    fn restart(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        (self.hasher, self.have) = hasher_for_prefix(std::io::empty())?;
        Ok(())
    }
}

/// What one request of a download came to.
enum Outcome {
    Complete,
    /// The body broke off, as this error says.
    Cut(std::io::Error),
    /// The registry is busy or failing for now (429, 5xx), maybe saying when to come back.
    Busy(RegistryError, Option<std::time::Duration>),
}

impl RegistryClient {
    /// Download a blob into `file` (opened for append), resuming from what is already there,
    /// and verify it. `progress` is told of every chunk received (bytes that crossed the link);
    /// returns how many bytes were resumed from the file instead.
    pub fn fetch_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        file: &mut File,
        partial: &Path,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<u64, RegistryError> {
        let what = format!("blob {digest} of {}/{repo}", self.endpoint.registry);
        let io_err = |source| RegistryError::Io {
            what: what.clone(),
            path: partial.to_path_buf(),
            source,
        };
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let (hasher, have) = hasher_for_prefix(&mut *file).map_err(io_err)?;
        let mut dl = Partial {
            file,
            path: partial,
            hasher,
            have,
        };
        if dl.have > size {
            dl.restart().map_err(io_err)?;
        }
        let resumed = dl.have;
        self.retry.run(|| {
            if dl.have == size {
                return Step::Done(Ok(()));
            }
            let before = dl.have;
            match self.fetch_rest(repo, digest, size, &mut dl, &what, progress) {
                Ok(Outcome::Complete) => Step::Done(Ok(())),
                // A flaky but moving transfer finishes: only a cut without progress counts.
                Ok(Outcome::Cut(_)) if dl.have > before => Step::Again,
                Ok(Outcome::Busy(e, after)) => Step::Retry {
                    last: Err(e),
                    after,
                },
                Ok(Outcome::Cut(e)) => Step::Retry {
                    last: Err(RegistryError::connect(
                        &self.endpoint.registry,
                        format!("{what}: download kept failing: {e}"),
                    )),
                    after: None,
                },
                Err(e) if e.is_transient() => Step::Retry {
                    last: Err(e),
                    after: None,
                },
                Err(e) => Step::Done(Err(e)),
            }
        })?;
        let Partial { file, hasher, .. } = dl;
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
        Ok(resumed)
    }

    /// One request for the bytes from `dl.have` on, written to the file as they come.
    fn fetch_rest(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        dl: &mut Partial,
        what: &str,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Outcome, RegistryError> {
        let io_err = |source| RegistryError::Io {
            what: what.to_string(),
            path: dl.path.to_path_buf(),
            source,
        };
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.endpoint.base_url);
        let range = (dl.have > 0).then_some(dl.have);
        let scopes = pull_scope(repo);
        let req = Req {
            range,
            ..Req::new(&scopes, what)
        };
        let mut resp = self.get_following_redirects(&url, req)?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT if range.is_some() => {}
            // The server ignored Range: start over rather than append a duplicate.
            StatusCode::OK if dl.have > 0 => dl.restart().map_err(io_err)?,
            StatusCode::OK => {}
            s if is_transient_status(s.as_u16()) => {
                let after = retry_after(&resp);
                return Ok(Outcome::Busy(self.status_error(resp, what), after));
            }
            _ => return Err(self.status_error(resp, what)),
        }
        let mut w = HashingWriter::resume(&mut *dl.file, dl.hasher.clone(), dl.have);
        let mut body = self.deadline(&mut resp, size - dl.have);
        let copied = copy_limited(&mut body, &mut w, size - dl.have, progress);
        dl.have = w.count();
        // Keep the hash state in step with what reached the file.
        dl.hasher = w.into_hasher();
        match copied {
            Ok(()) => Ok(Outcome::Complete),
            // A registry too slow to finish would be as slow again on a retry.
            Err(CopyError::Read(e)) if super::deadline::too_slow(&e).is_some() => {
                Err(self.read_error(what, "downloading", e))
            }
            Err(CopyError::Read(e)) => Ok(Outcome::Cut(e)),
            Err(CopyError::Write(e)) => Err(io_err(e)),
            Err(CopyError::TooLong) => {
                let _ = dl.file.set_len(0);
                Err(RegistryError::SizeMismatch {
                    registry: self.endpoint.registry.clone(),
                    what: what.to_string(),
                    expected: size,
                    found: size + 1,
                })
            }
        }
    }

    /// GET, following redirects; credentials go only to the registry's own origin. Not retried
    /// here: the download around it is.
    fn get_following_redirects(&self, url: &str, req: Req) -> Result<Response, RegistryError> {
        let what = req.what;
        let mut url = url.to_string();
        let mut auth = Auth::Registry;
        for _ in 0..6 {
            let resp = self.send(Method::GET, &url, req.once(), auth)?;
            if !resp.status().is_redirection() {
                return Ok(resp);
            }
            let base = url::Url::parse(&url).map_err(|e| RegistryError::Protocol {
                what: what.to_string(),
                reason: e.to_string(),
            })?;
            let next = super::client::location(&base, &resp, what)?;
            if next.origin() != base.origin() {
                auth = Auth::None;
            }
            url = next.to_string();
        }
        Err(RegistryError::Protocol {
            what: what.to_string(),
            reason: "too many redirects".into(),
        })
    }
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
