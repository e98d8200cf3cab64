//! Talking to OCI distribution registries.

pub mod auth;
pub mod client;
pub mod credentials;
pub mod deadline;
pub mod error;
pub mod listing;
pub mod pull;
pub mod push;
pub mod referrers;
pub mod retry;
pub mod stream;

pub use client::{Manifest, RegistryClient};
pub use error::RegistryError;

use crate::imagelist::RegistryConfig;
use client::Endpoint;
use retry::RetryPolicy;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
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

/// How the command at hand sets what a registry error may call for: its errors say it in the
/// command's own terms (an image list's keys for `create`, flags for `load` and `inventory`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hints {
    pub plain_http: &'static str,
    pub ca: &'static str,
    pub credentials: &'static str,
}

impl Hints {
    /// `create`: settings live in the image list.
    pub const IMAGE_LIST: Hints = Hints {
        plain_http: "add `plain-http: true` for it under registries: in the image list",
        ca: "give its CA as `ca-file: PEM` for it under registries: in the image list, or put it in /etc/docker/certs.d/HOST/ca.crt",
        credentials: "log in with `docker login`, or set username-env/password-env for it under registries: in the image list",
    };
    /// `create` from a plain-text list, which has no `registries:` section.
    pub const PLAIN_LIST: Hints = Hints {
        plain_http: "pass --plain-http (a plain-text list has no registries: section; write the list as YAML to set plain-http per registry)",
        ca: "put its CA in /etc/docker/certs.d/HOST/ca.crt (or write the list as YAML, with `ca-file: PEM` under registries:)",
        credentials: "log in with `docker login` (or write the list as YAML, with username-env/password-env under registries:)",
    };
    /// `load`, `inventory`: settings are flags.
    pub const FLAGS: Hints = Hints {
        plain_http: "pass --plain-http",
        ca: "pass --ca-file PEM with its CA, or put it in /etc/docker/certs.d/HOST/ca.crt",
        credentials: "log in with `docker login`, or pass --username USER --password-stdin",
    };
}

impl Default for Hints {
    fn default() -> Hints {
        Hints::IMAGE_LIST
    }
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

/// One client per registry, made on first use and shared by all workers, so tokens and
/// connections are reused.
pub struct Registries {
    configs: BTreeMap<String, RegistryConfig>,
    global: GlobalOptions,
    clients: Mutex<HashMap<String, Arc<RegistryClient>>>,
    /// Given on the command line (`--username` + `--password-stdin`); wins over every store.
    explicit: HashMap<String, credentials::Credential>,
}

impl Registries {
    pub fn new(configs: BTreeMap<String, RegistryConfig>, global: GlobalOptions) -> Self {
        Registries {
            configs,
            global,
            clients: Mutex::new(HashMap::new()),
            explicit: HashMap::new(),
        }
    }

    pub fn with_credential(mut self, registry: &str, credential: credentials::Credential) -> Self {
        self.explicit.insert(registry.to_string(), credential);
        self
    }

    pub fn client(&self, registry: &str) -> Result<Arc<RegistryClient>, RegistryError> {
        // Built under the lock: two workers must share one client, or a token fetched by one
        // is invisible to the other.
        let mut clients = self.clients.lock().unwrap();
        if let Some(c) = clients.get(registry) {
            return Ok(c.clone());
        }
        let cfg = self.configs.get(registry).cloned().unwrap_or_default();
        let credential = match self.explicit.get(registry) {
            Some(c) => Some(c.clone()),
            None => credentials::lookup(registry, &cfg).map_err(|e| RegistryError::Protocol {
                what: format!("credentials for {registry}"),
                reason: e.to_string(),
            })?,
        };
        let settings = self.http_settings(registry, &cfg)?;
        let http = settings.blocking()?;
        let scheme = if cfg.plain_http || self.global.plain_http {
            "http"
        } else {
            "https"
        };
        let client = Arc::new(RegistryClient::new(
            Endpoint {
                registry: registry.to_string(),
                hints: self.global.hints,
                base_url: format!("{scheme}://{}", crate::reference::api_host(registry)),
                verbose: self.global.verbose,
            },
            http,
            stream::Streamer::new(settings),
            credential,
            self.global.retry,
        ));
        clients.insert(registry.to_string(), client.clone());
        Ok(client)
    }

    fn http_settings(
        &self,
        registry: &str,
        cfg: &RegistryConfig,
    ) -> Result<HttpSettings, RegistryError> {
        let tls_err = |reason: String| RegistryError::Tls {
            registry: registry.to_string(),
            reason,
        };
        let mut roots = Vec::new();
        let mut ca_files: Vec<PathBuf> = cfg.ca_file.iter().cloned().collect();
        for dir in &self.global.certs_dirs {
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
            read_timeout: self.global.read_timeout.unwrap_or(Duration::from_secs(60)),
        })
    }
}

/// How to reach one registry over HTTP; both the blocking client (most requests) and the
/// per-thread async clients that stream uploads (`stream`) are made from it.
#[derive(Clone)]
pub struct HttpSettings {
    registry: String,
    roots: Vec<reqwest::Certificate>,
    insecure: bool,
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
