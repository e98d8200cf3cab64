//! Where registry credentials come from, first match wins:
//! 1. the image list's `username-env`/`password-env` for that registry,
//! 2. podman's auth file (`REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`),
//! 3. docker's `config.json` (`DOCKER_CONFIG`, `~/.docker`) and its `docker-credential-*` helpers.
//!
//! Credentials live only in memory; they are never written to a bundle or a log.

use super::settings::RegistryConfig;
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
    #[error("{}: {reason}", file.display())]
    Config {
        file: std::path::PathBuf,
        reason: String,
    },
}

/// The credential files `lookup` reads through `docker_credential`, which takes a file that
/// does not parse, or a helper that is not installed, for "no credentials": checked here first
/// so the operator hears which file or helper is at fault instead of a 401 later.
fn credential_files() -> Vec<std::path::PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let podman = env("REGISTRY_AUTH_FILE").map(Into::into).or_else(|| {
        env("XDG_RUNTIME_DIR").map(|d| std::path::Path::new(&d).join("containers/auth.json"))
    });
    let docker = env("DOCKER_CONFIG")
        .map(|d| std::path::Path::new(&d).join("config.json"))
        .or_else(|| env("HOME").map(|h| std::path::Path::new(&h).join(".docker/config.json")));
    podman.into_iter().chain(docker).collect()
}

fn check_credential_files(keys: &[String]) -> Result<(), CredentialError> {
    for file in credential_files() {
        let bad = |reason: String| CredentialError::Config {
            file: file.clone(),
            reason,
        };
        let text = match std::fs::read(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(bad(format!("cannot be read ({e})"))),
        };
        let v: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| bad(format!("is not valid JSON ({e}); fix it or move it away")))?;
        let helper = keys
            .iter()
            .find_map(|k| v["credHelpers"][k].as_str().map(|h| (h, "credHelpers")))
            .or_else(|| v["credsStore"].as_str().map(|h| (h, "credsStore")));
        if let Some((name, key)) = helper.filter(|(h, _)| !h.is_empty()) {
            let program = format!("docker-credential-{name}");
            if !on_path(&program) {
                return Err(bad(format!(
                    "names the credential helper {program} ({key}), which is not on PATH; install it, or remove the entry to use the file's own credentials"
                )));
            }
        }
    }
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
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
    check_credential_files(&keys)?;
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
