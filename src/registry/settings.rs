//! How to reach registries: the command line's settings for all of them, an image list's for
//! one (`registries:`), and the HTTP clients made from both.

use super::error::RegistryError;
use super::hints::Hints;
use super::retry::RetryPolicy;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings that apply to every registry, from the command line.
#[derive(Debug, Clone, Default)]
pub struct GlobalOptions {
    pub plain_http: bool,
    pub retry: RetryPolicy,
    /// How long a registry may stay silent mid-request before the request is retried
    /// (None: 60 s).
    pub read_timeout: Option<Duration>,
    /// Where `certs.d` directories are looked up; tests point these at a temp dir.
    pub certs_dirs: Vec<PathBuf>,
    /// How this command sets plain HTTP, a CA and credentials, for the hints of its errors.
    pub hints: Hints,
    /// Log every request (`-v`).
    pub verbose: bool,
}

impl GlobalOptions {
    pub fn with_system_certs_dirs(mut self) -> Self {
        self.certs_dirs = vec![
            "/etc/docker/certs.d".into(),
            "/etc/containers/certs.d".into(),
        ];
        self
    }
}

/// One registry's settings, as an image list's `registries:` gives them.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistryConfig {
    #[serde(default)]
    pub plain_http: bool,
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_tls_verify: bool,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
}

/// How to reach one registry over HTTP; both the blocking client (most requests) and the
/// per-thread async clients that stream uploads (`stream`) are made from it.
#[derive(Clone)]
pub struct HttpSettings {
    pub(super) registry: String,
    pub(super) roots: Vec<reqwest::Certificate>,
    pub(super) insecure: bool,
    /// How long the registry may stay silent mid-request.
    pub read_timeout: Duration,
}

const USER_AGENT: &str = concat!("bundle/", env!("CARGO_PKG_VERSION"));

/// The same settings for reqwest's blocking and async builders, which share no trait.
macro_rules! configure {
    ($builder:expr, $s:expr) => {{
        let mut b = $builder
            .user_agent(USER_AGENT)
            // We follow redirects ourselves so Authorization never leaks to another host.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(32);
        for c in &$s.roots {
            b = b.add_root_certificate(c.clone());
        }
        if $s.insecure {
            b = b.danger_accept_invalid_certs(true);
        }
        b
    }};
}

impl HttpSettings {
    /// The settings for `registry`: its CA files (from its config and every `certs.d`
    /// directory), whether it skips TLS verification, and the read timeout.
    pub fn for_registry(
        registry: &str,
        cfg: &RegistryConfig,
        global: &GlobalOptions,
    ) -> Result<HttpSettings, RegistryError> {
        let tls_err = |reason: String| RegistryError::Tls {
            registry: registry.to_string(),
            reason,
        };
        let mut roots = Vec::new();
        let mut ca_files: Vec<PathBuf> = cfg.ca_file.iter().cloned().collect();
        for dir in &global.certs_dirs {
            ca_files.extend(certs_d_files(&dir.join(registry)));
        }
        for f in ca_files {
            let pem = std::fs::read(&f)
                .map_err(|e| tls_err(format!("cannot read CA file {}: {e}", f.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| tls_err(format!("{} is not a PEM certificate: {e}", f.display())))?;
            if certs.is_empty() {
                return Err(tls_err(format!("{} holds no PEM certificate", f.display())));
            }
            roots.extend(certs);
        }
        Ok(HttpSettings {
            registry: registry.to_string(),
            roots,
            insecure: cfg.insecure_skip_tls_verify,
            read_timeout: global.read_timeout.unwrap_or(Duration::from_secs(60)),
        })
    }

    fn tls_err(&self, e: reqwest::Error) -> RegistryError {
        RegistryError::Tls {
            registry: self.registry.clone(),
            reason: crate::causes::of(&e),
        }
    }

    pub fn blocking(&self) -> Result<reqwest::blocking::Client, RegistryError> {
        configure!(reqwest::blocking::Client::builder(), self)
            // In reqwest's blocking client this bounds each read, so it catches a stalled
            // transfer without limiting how long a large blob may take.
            .timeout(self.read_timeout)
            .build()
            .map_err(|e| self.tls_err(e))
    }

    pub fn asynchronous(&self) -> Result<reqwest::Client, RegistryError> {
        // No reqwest timeout here: `stream` watches for silence itself (see there why).
        configure!(reqwest::Client::builder(), self)
            .build()
            .map_err(|e| self.tls_err(e))
    }
}

/// `certs.d/<host>/*.crt` (docker and containers both use this layout); client key pairs
/// (`*.cert`/`*.key`) are not CAs and are skipped.
fn certs_d_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "crt"))
        .collect();
    v.sort();
    v
}
