//! Plain HTTP(S) downloads from a host that is not spoken to as a registry: a Helm repository's
//! `index.yaml` and charts, a file's URL. The host gets what a registry of that host gets
//! (`registries:` settings, certs.d, auth files), through the same retry policy.

use super::credentials::Credential;
use super::error::RegistryError;
use super::retry::{RetryPolicy, Step};
use std::io::Read;

/// One host's client. Credentials go only to that host's origin; redirects elsewhere are
/// followed without them.
pub struct WebClient {
    pub(super) host: String,
    pub(super) http: reqwest::blocking::Client,
    pub(super) credential: Option<Credential>,
    pub(super) retry: RetryPolicy,
}

/// How many redirects a download follows (as browsers and Helm: 10).
const MAX_REDIRECTS: usize = 10;

impl WebClient {
    /// The body of `url`, refused past `max` bytes (an index or a chart is not allowed to fill
    /// memory).
    pub fn get(&self, url: &str, max: u64) -> Result<Vec<u8>, RegistryError> {
        let resp = self.open(url)?;
        self.body(url, resp, max)
    }

    /// The answer to a GET of `url`, once its headers say success (asked again while the host
    /// is unreachable or busy); its body is the caller's to read.
    pub fn open(&self, url: &str) -> Result<reqwest::blocking::Response, RegistryError> {
        self.retry.run(|| match self.attempt(url) {
            Ok(resp) => Step::Done(Ok(resp)),
            Err(e) if transient(&e) => Step::Retry {
                last: Err(e),
                after: None,
            },
            Err(e) => Step::Done(Err(e)),
        })
    }

    fn attempt(&self, url: &str) -> Result<reqwest::blocking::Response, RegistryError> {
        let mut at = url::Url::parse(url).map_err(|e| self.protocol(url, e.to_string()))?;
        let origin = at.origin();
        for _ in 0..=MAX_REDIRECTS {
            let mut req = self.http.get(at.clone());
            if at.origin() == origin {
                req = self.authorize(req);
            }
            let resp = req.send().map_err(|e| self.connect(url, &e))?;
            let status = resp.status();
            if status.is_redirection() {
                let next = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| self.protocol(url, format!("HTTP {status} without Location")))?;
                at = at
                    .join(next)
                    .map_err(|e| self.protocol(url, e.to_string()))?;
                continue;
            }
            if !status.is_success() {
                return Err(self.status(url, status.as_u16()));
            }
            return Ok(resp);
        }
        Err(self.protocol(url, format!("more than {MAX_REDIRECTS} redirects")))
    }

    fn authorize(
        &self,
        req: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        match &self.credential {
            Some(Credential::Basic { username, password }) => {
                req.basic_auth(username, Some(password))
            }
            Some(Credential::IdentityToken(t)) => req.bearer_auth(t),
            None => req,
        }
    }

    fn body(
        &self,
        url: &str,
        resp: reqwest::blocking::Response,
        max: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut body = Vec::new();
        resp.take(max + 1)
            .read_to_end(&mut body)
            .map_err(|e| RegistryError::connect(&self.host, format!("reading {url}: {e}")))?;
        if body.len() as u64 > max {
            return Err(self.protocol(url, format!("larger than {max} bytes; refused")));
        }
        Ok(body)
    }

    fn protocol(&self, url: &str, reason: String) -> RegistryError {
        RegistryError::Protocol {
            what: url.to_string(),
            reason,
        }
    }

    fn connect(&self, url: &str, e: &reqwest::Error) -> RegistryError {
        RegistryError::Connect {
            registry: self.host.clone(),
            reason: format!("{url}: {}", crate::causes::of(e)),
            hint: "; check the URL, and for a host you trust without TLS write http://".into(),
        }
    }

    fn status(&self, url: &str, status: u16) -> RegistryError {
        match status {
            404 => RegistryError::NotFound {
                registry: self.host.clone(),
                what: url.to_string(),
            },
            401 | 403 => RegistryError::Unauthorized {
                registry: self.host.clone(),
                what: url.to_string(),
                status,
                hint: match self.credential {
                    Some(_) => "check the credentials given for this host".into(),
                    None => format!(
                        "give credentials for {} (username-env/password-env under registries:, or an auth file)",
                        self.host
                    ),
                },
            },
            _ => RegistryError::Status {
                registry: self.host.clone(),
                what: url.to_string(),
                status,
                detail: String::new(),
            },
        }
    }
}

/// Worth asking again: the connection broke or the server said it is busy.
fn transient(e: &RegistryError) -> bool {
    match e {
        RegistryError::Connect { .. } => true,
        RegistryError::Status { status, .. } => *status == 429 || *status >= 500,
        _ => false,
    }
}
