//! Listing what a registry holds: `/v2/_catalog` and `/v2/NAME/tags/list`, following the
//! `Link: <...>; rel="next"` pages.

use super::client::RegistryClient;
use super::client::{pull_scope, Req};
use super::error::RegistryError;
use reqwest::header::LINK;
use reqwest::Method;
use std::io::Read;

/// Stop a registry that keeps sending `next` from looping forever.
const MAX_PAGES: usize = 100_000;
/// Names kept in memory at most (a hostile listing can repeat a huge page).
const MAX_NAMES: usize = 1_000_000;

impl RegistryClient {
    pub fn catalog(&self) -> Result<Vec<String>, RegistryError> {
        self.paged("_catalog?n=1000", "repositories", "registry:catalog:*")
    }

    pub fn tags(&self, repo: &str) -> Result<Vec<String>, RegistryError> {
        self.paged(
            &format!("{repo}/tags/list?n=1000"),
            "tags",
            &pull_scope(repo),
        )
    }

    fn paged(&self, first: &str, key: &str, scopes: &str) -> Result<Vec<String>, RegistryError> {
        let base = url::Url::parse(&format!("{}/v2/", self.endpoint.base_url)).map_err(|e| {
            RegistryError::Protocol {
                what: self.endpoint.registry.clone(),
                reason: e.to_string(),
            }
        })?;
        let what = format!("{}/v2/{first}", self.endpoint.registry);
        let mut next = base.join(first).ok();
        let mut out = Vec::new();
        let mut names = std::collections::HashSet::new();
        // A page asked for again would repeat forever: the listing ends there.
        let mut pages = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let Some(url) = next.take().filter(|u| pages.insert(u.to_string())) else {
                return Ok(out);
            };
            let resp = self.send_registry(Method::GET, url.as_str(), Req::new(scopes, &what))?;
            let resp = self.check_status(resp, &what)?;
            let raw;
            (raw, next) = self.read_page(resp, &url, &what, 64 << 20, "reading the listing")?;
            let v: serde_json::Value =
                serde_json::from_slice(&raw).map_err(|e| RegistryError::Protocol {
                    what: what.clone(),
                    reason: format!("not JSON: {e}"),
                })?;
            // A repository without tags lists `"tags": null`.
            let items = v[key].as_array().map(Vec::as_slice).unwrap_or_default();
            for name in items.iter().filter_map(|s| s.as_str()) {
                if names.insert(name.to_string()) {
                    out.push(name.to_string());
                }
            }
            if out.len() > MAX_NAMES {
                return Err(RegistryError::Protocol {
                    what,
                    reason: format!("the listing holds more than {MAX_NAMES} names"),
                });
            }
        }
        Err(RegistryError::Protocol {
            what,
            reason: format!("more than {MAX_PAGES} pages"),
        })
    }
}

impl RegistryClient {
    /// A page of a paged answer (a listing, a referrers list): its body, at most `limit`
    /// bytes and within the read deadline, and the next page its `Link` header points to.
    pub(crate) fn read_page(
        &self,
        resp: reqwest::blocking::Response,
        url: &url::Url,
        what: &str,
        limit: u64,
        doing: &str,
    ) -> Result<(Vec<u8>, Option<url::Url>), RegistryError> {
        let next = resp
            .headers()
            .get(LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| next_page(url, l));
        let mut raw = Vec::new();
        let expected = resp.content_length().unwrap_or(limit);
        self.deadline(resp.take(limit), expected)
            .read_to_end(&mut raw)
            .map_err(|e| self.read_error(what, doing, e))?;
        Ok((raw, next))
    }
}

/// The page a `Link: <...>; rel="next"` header points to, resolved against the page it came
/// with. Whether credentials may go there is `send`'s business, not this.
pub fn next_page(current: &url::Url, link: &str) -> Option<url::Url> {
    let target = link.split(';').next()?.trim();
    let target = target.trim_start_matches('<').trim_end_matches('>');
    current.join(target).ok()
}
