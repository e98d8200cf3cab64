//! What refers to a manifest: the OCI 1.1 referrers API (`GET /v2/NAME/referrers/DIGEST`,
//! paged by `Link`), and manifests that may be missing (the fallback `sha256-<hex>` tag,
//! cosign's tags), for `create` to carry signatures, attestations and SBOMs with their images.

use super::client::{pull_scope, Req};
use super::client::{Manifest, RegistryClient};
use super::error::RegistryError;
use crate::digest::Digest;
use crate::manifest::Descriptor;
use reqwest::Method;

/// A referrers list longer than this is not read further (no real image has that many).
const MAX_PAGES: usize = 100;
/// Descriptors read from one list, over all its pages: twenty times the referrers an image may
/// carry; past it the list is not read further (memory and time stay bounded).
const MAX_LISTED: usize = 10_000;
const MAX_PAGE_BYTES: u64 = 4 << 20;

impl RegistryClient {
    /// The referrers of `subject` as the registry lists them; None when the registry has no
    /// referrers API (404, as Distribution 2.x answers, or 400/405/501: the caller falls back
    /// to the `sha256-<hex>` tag).
    pub fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
    ) -> Result<Option<Vec<Descriptor>>, RegistryError> {
        let what = format!("{}/{repo} referrers of {subject}", self.endpoint.registry);
        let scopes = pull_scope(repo);
        let mut next = url::Url::parse(&format!(
            "{}/v2/{repo}/referrers/{subject}",
            self.endpoint.base_url
        ))
        .ok();
        let mut out = Vec::new();
        for page in 0..MAX_PAGES {
            let Some(url) = next.take() else { break };
            let req = Req {
                accept: Some(crate::manifest::OCI_INDEX),
                ..Req::new(&scopes, &what)
            };
            let resp = self.send_registry(Method::GET, url.as_str(), req)?;
            if page == 0 && matches!(resp.status().as_u16(), 400 | 404 | 405 | 406 | 501) {
                return Ok(None);
            }
            // A `Link` to another host: its refusal is its own, not the source registry's.
            if let Some(e) = self.refused_elsewhere(url.as_str(), resp.status().as_u16(), &what) {
                return Err(e);
            }
            let resp = self.check_status(resp, &what)?;
            let raw;
            (raw, next) = self.read_page(
                resp,
                &url,
                &what,
                MAX_PAGE_BYTES,
                "reading the referrers list",
            )?;
            let index =
                crate::manifest::parse_index(&raw).map_err(|reason| RegistryError::Protocol {
                    what: what.clone(),
                    reason,
                })?;
            out.extend(index.manifests);
            if out.len() >= MAX_LISTED {
                out.truncate(MAX_LISTED);
                break;
            }
        }
        Ok(Some(out))
    }

    /// A manifest by tag or digest, or None if the registry does not have it. Asked with HEAD
    /// first: most of the tags looked for do not exist, and Docker Hub counts a manifest GET,
    /// not a HEAD, against the pull rate limit.
    pub fn find_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        let what = format!("{}/{repo}:{reference}", self.endpoint.registry);
        let scopes = pull_scope(repo);
        let req = Req {
            accept: Some(crate::manifest::MANIFEST_ACCEPT),
            ..Req::new(&scopes, &what)
        };
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.endpoint.base_url);
        if self
            .send_registry(Method::HEAD, &url, req)?
            .status()
            .as_u16()
            == 404
        {
            return Ok(None);
        }
        self.manifest_if_there(repo, reference)
    }

    /// A manifest a registry listed (so most likely there: no HEAD first), or None if it is
    /// gone.
    pub fn manifest_if_there(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        match self.get_manifest(repo, reference) {
            Ok(m) => Ok(Some(m)),
            Err(RegistryError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
