//! Where registry credentials come from, first match wins:
//! 1. the image list's `username-env`/`password-env` for that registry,
//! 2. podman's auth file (`REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`),
//! 3. docker's `config.json` (`DOCKER_CONFIG`, `~/.docker`) and its `docker-credential-*` helpers.
//!
//! Credentials live only in memory; they are never written to a bundle or a log.

use crate::imagelist::RegistryConfig;
use docker_credential::{CredentialRetrievalError, DockerCredential};
use std::fmt;

#[derive(Clone)]
pub enum Credential {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token from `docker login` against some registries.
    IdentityToken(String),
}

impl Credential {
    /// What of this credential goes on the wire, in every form a server could echo back: the
    /// secret itself and the Basic header's base64.
    pub fn secrets(&self) -> Vec<String> {
        use base64::Engine as _;
        match self {
            Credential::Basic { username, password } => vec![
                password.clone(),
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")),
            ],
            Credential::IdentityToken(t) => vec![t.clone()],
        }
    }
}

// Never print secrets, even in debug output.
impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credential::IdentityToken(_) => write!(f, "IdentityToken(<redacted>)"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "registry {registry}: environment variable {var} (named in the image list) is not set"
    )]
    MissingEnv { registry: String, var: String },
    #[error("registry {registry}: reading credentials failed: {reason}")]
    Store { registry: String, reason: String },
}

pub fn lookup(registry: &str, cfg: &RegistryConfig) -> Result<Option<Credential>, CredentialError> {
    if let (Some(u), Some(p)) = (&cfg.username_env, &cfg.password_env) {
        let get = |var: &String| {
            std::env::var(var).map_err(|_| CredentialError::MissingEnv {
                registry: registry.to_string(),
                var: var.clone(),
            })
        };
        return Ok(Some(Credential::Basic {
            username: get(u)?,
            password: get(p)?,
        }));
    }
    // docker.io credentials are stored under the legacy index URL by `docker login`.
    let keys: Vec<String> = if registry == "docker.io" {
        vec![
            "https://index.docker.io/v1/".into(),
            "docker.io".into(),
            "index.docker.io".into(),
        ]
    } else {
        vec![registry.to_string(), format!("https://{registry}")]
    };
    for key in &keys {
        for source in [
            docker_credential::get_podman_credential,
            docker_credential::get_credential,
        ] {
            match source(key) {
                Ok(DockerCredential::UsernamePassword(username, password)) => {
                    return Ok(Some(Credential::Basic { username, password }))
                }
                Ok(DockerCredential::IdentityToken(t)) => {
                    return Ok(Some(Credential::IdentityToken(t)))
                }
                // Helpers answer "credentials not found" with a failure exit code.
                Err(CredentialRetrievalError::HelperFailure { stdout, .. })
                    if stdout.to_ascii_lowercase().contains("not found") => {}
                Err(CredentialRetrievalError::HelperFailure { helper, stderr, .. }) => {
                    return Err(CredentialError::Store {
                        registry: registry.to_string(),
                        reason: format!("{helper} failed: {}", stderr.trim()),
                    })
                }
                Err(
                    CredentialRetrievalError::NoCredentialConfigured
                    | CredentialRetrievalError::ConfigNotFound
                    | CredentialRetrievalError::ConfigReadError,
                ) => {}
                Err(e) => {
                    return Err(CredentialError::Store {
                        registry: registry.to_string(),
                        reason: e.to_string(),
                    })
                }
            }
        }
    }
    Ok(None)
}
