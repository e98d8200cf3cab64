//! One client per registry, shared by every worker.

use super::client::{Endpoint, RegistryClient};
use super::error::RegistryError;
use super::settings::{GlobalOptions, HttpSettings, RegistryConfig};
use super::{credentials, stream};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

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

    /// Just `host`, reached as `cfg` says, its errors naming command-line flags (`inventory`,
    /// `prune`), with the system's certs.d directories.
    pub fn single(host: &str, cfg: RegistryConfig) -> Self {
        let global = GlobalOptions {
            plain_http: cfg.plain_http,
            hints: super::hints::Hints::FLAGS,
            ..Default::default()
        }
        .with_system_certs_dirs();
        Registries::new([(host.to_string(), cfg)].into_iter().collect(), global)
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
        let credential = self.credential(registry, &cfg)?;
        let settings = HttpSettings::for_registry(registry, &cfg, &self.global)?;
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

    /// A client for plain downloads from `host` (a Helm repository, a file's URL), reached with
    /// the settings and credentials a registry of that host would get.
    pub fn web(&self, host: &str) -> Result<super::web::WebClient, RegistryError> {
        let cfg = self.configs.get(host).cloned().unwrap_or_default();
        let credential = self.credential(host, &cfg)?;
        let settings = HttpSettings::for_registry(host, &cfg, &self.global)?;
        Ok(super::web::WebClient {
            host: host.to_string(),
            http: settings.blocking()?,
            credential,
            retry: self.global.retry,
        })
    }

    /// The command line's credential for `host`, else the list's or a store's.
    fn credential(
        &self,
        host: &str,
        cfg: &RegistryConfig,
    ) -> Result<Option<credentials::Credential>, RegistryError> {
        match self.explicit.get(host) {
            Some(c) => Ok(Some(c.clone())),
            None => credentials::lookup(host, cfg).map_err(|e| RegistryError::Protocol {
                what: format!("credentials for {host}"),
                reason: e.to_string(),
            }),
        }
    }
}
