//! The command line resolved into each command's options: parsed platforms, targets, times,
//! credentials and registry settings. `cli.rs` says what may be typed; this says what it means.

use crate::cli::{CreateArgs, LoadArgs, MirrorsArgs, NetworkArgs, TlsArgs};
use crate::create::CreateOptions;
use crate::load::spec::TargetSpec;
use crate::load::LoadOptions;
use crate::naming::Naming;
use crate::platform::Platform;
use crate::registry::credentials::Credential;
use crate::registry::retry::RetryPolicy;
use crate::registry::RegistryConfig;
use crate::registry::{GlobalOptions, Registries};
use anyhow::{Context, Result};

use crate::exit_codes::UsageError;

fn usage(e: impl Into<anyhow::Error>) -> anyhow::Error {
    UsageError(crate::causes::flatten(e.into().chain())).into()
}

impl NetworkArgs {
    /// Settings for every registry: these, plain HTTP or not, and the system's `certs.d`.
    pub fn global(&self, plain_http: bool) -> GlobalOptions {
        GlobalOptions {
            plain_http,
            retry: RetryPolicy {
                retries: self.retries,
                ..Default::default()
            },
            read_timeout: Some(self.read_timeout),
            certs_dirs: Vec::new(),
            hints: crate::registry::Hints::IMAGE_LIST,
            verbose: self.verbose,
        }
        .with_system_certs_dirs()
    }
}

fn platforms(given: &[String]) -> Result<Vec<Platform>> {
    given
        .iter()
        .map(|p| p.parse::<Platform>().map_err(usage))
        .collect()
}

pub fn create_options(a: CreateArgs) -> Result<CreateOptions> {
    if a.key.is_none() && !a.unsigned && !a.dry_run {
        return Err(usage(anyhow::anyhow!(
            "create signs the bundle: give --key PRIVATE.key (`bundle keygen --out site` makes one), or pass --unsigned to write it unsigned (loading it will need --allow-unsigned)"
        )));
    }
    if a.verify_images.is_some() && a.referrers == "none" {
        return Err(usage(anyhow::anyhow!(
            "--verify-images checks the signatures create carries: it cannot be used with --referrers none"
        )));
    }
    let created = match a
        .created
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
    {
        Some(s) => parse_time(&s)
            .with_context(|| {
                format!("--created / SOURCE_DATE_EPOCH {s:?}: expected Unix seconds or RFC 3339")
            })
            .map_err(usage)?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs(),
    };
    Ok(CreateOptions {
        platforms: platforms(&a.platforms)?,
        registry: a.network.global(a.plain_http),
        // A dry run writes nothing: the name only says where the bundle would go.
        output: a
            .output
            .unwrap_or_else(|| a.images.with_extension("bundle")),
        list: a.images,
        key: a.key,
        jobs: a.jobs as usize,
        cache_dir: a.cache_dir,
        no_cache: a.no_cache,
        keep_going: a.keep_going,
        keep_registry: a.keep_registry,
        dry_run: a.dry_run,
        created,
        progress: a.report.progress(),
        since: a.since,
        split: a.split,
        sync: a.sync,
        include_tool: a.include_tool,
        compact: a.compact.map(|level| crate::create::compact::Settings {
            level,
            window_log: crate::create::compact::WINDOW_LOG,
        }),
        referrers: crate::create::referrers::Policy {
            mode: match a.referrers.as_str() {
                "none" => crate::create::referrers::Mode::None,
                "signatures" => crate::create::referrers::Mode::Signatures,
                _ => crate::create::referrers::Mode::All,
            },
            artifact_types: a.artifact_type,
        },
        verify_images: a.verify_images,
    })
}

fn parse_time(s: &str) -> Result<u64> {
    if let Ok(n) = s.trim().parse::<u64>() {
        return Ok(n);
    }
    let t = humantime::parse_rfc3339_weak(s.trim())?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)?.as_secs())
}

pub fn load_options(a: LoadArgs) -> Result<LoadOptions> {
    let targets = a
        .targets
        .iter()
        .map(|t| t.parse::<TargetSpec>().map_err(usage))
        .collect::<Result<Vec<_>>>()?;
    if a.password_stdin && a.file.as_os_str() == "-" {
        return Err(usage(anyhow::anyhow!(
            "--password-stdin and a bundle on stdin (-) cannot both use stdin"
        )));
    }
    if a.verify_images.is_some() && a.file.as_os_str() == "-" {
        return Err(usage(anyhow::anyhow!(
            "--verify-images reads the signatures before loading anything, which a bundle on stdin (-) cannot give: pass the bundle file"
        )));
    }
    let registries = target_registries(&a, &targets)?;
    Ok(LoadOptions {
        verify_images: a.verify_images,
        naming: Naming {
            keep_registry: a.keep_registry,
            rewrites: rewrites(&a.rewrites).map_err(usage)?,
        },
        platforms: platforms(&a.platforms)?,
        progress: a.report.progress(),
        file: a.file,
        keys: a.keys,
        allow_unsigned: a.allow_unsigned,
        targets,
        bases: a.base,
        images: a.images,
        jobs: a.jobs as usize,
        registries,
    })
}

/// `bundle mirrors`, resolved.
pub struct MirrorsOptions {
    pub files: Vec<std::path::PathBuf>,
    pub format: crate::mirrors::Format,
    pub output: std::path::PathBuf,
    pub site: crate::mirrors::Site,
    pub naming: Naming,
}

pub fn mirrors_options(a: MirrorsArgs) -> Result<MirrorsOptions> {
    let format = a
        .format
        .parse()
        .map_err(|e: String| usage(anyhow::anyhow!(e)))?;
    let site = match a.to.parse::<TargetSpec>() {
        Ok(TargetSpec::Registry { host, prefix }) => mirror_site(host, prefix, &a.tls)?,
        _ => {
            return Err(usage(anyhow::anyhow!(
                "--to {}: mirrors point runtimes at a registry: expected registry://HOST[:PORT][/PREFIX], as given to load",
                a.to
            )))
        }
    };
    Ok(MirrorsOptions {
        files: a.files,
        format,
        output: a.output,
        site,
        naming: Naming {
            keep_registry: a.keep_registry,
            rewrites: rewrites(&a.rewrites).map_err(usage)?,
        },
    })
}

/// The site as runtimes reach it; a CA file by its absolute path, which they read on the node.
fn mirror_site(host: String, prefix: String, tls: &TlsArgs) -> Result<crate::mirrors::Site> {
    let ca_file = match &tls.ca_file {
        Some(p) => Some(
            std::path::absolute(p)
                .with_context(|| format!("--ca-file {}", p.display()))
                .map_err(usage)?,
        ),
        None => None,
    };
    Ok(crate::mirrors::Site {
        host,
        prefix,
        plain_http: tls.plain_http,
        ca_file,
        skip_verify: tls.insecure_skip_tls_verify,
    })
}

/// `load --write-mirrors DIR`: the directory and the site, checked before anything is loaded
/// (one registry:// target, whose images the mirrors are for).
pub fn load_mirrors(a: &LoadArgs) -> Result<Option<(std::path::PathBuf, crate::mirrors::Site)>> {
    let Some(dir) = &a.write_mirrors else {
        return Ok(None);
    };
    let registries: Vec<(String, String)> = a
        .targets
        .iter()
        .filter_map(|t| match t.parse::<TargetSpec>() {
            Ok(TargetSpec::Registry { host, prefix }) => Some((host, prefix)),
            _ => None,
        })
        .collect();
    match registries.as_slice() {
        [(host, prefix)] => Ok(Some((
            dir.clone(),
            mirror_site(host.clone(), prefix.clone(), &a.tls)?,
        ))),
        [] => Err(usage(anyhow::anyhow!(
            "--write-mirrors {}: mirrors point runtimes at a registry, and no --to is registry://HOST[/PREFIX]",
            dir.display()
        ))),
        _ => Err(usage(anyhow::anyhow!(
            "--write-mirrors {}: there are {} registry:// targets; load with --write-mirrors into one at a time",
            dir.display(),
            registries.len()
        ))),
    }
}

/// How to reach the registry targets: one set of settings (and the credential from
/// `--password-stdin`, read now) for each of their hosts.
fn target_registries(
    a: &LoadArgs,
    targets: &[TargetSpec],
) -> Result<Box<dyn Fn() -> Registries + Send + Sync>> {
    let credential = match a.password_stdin {
        true => Some(read_password(a.username.clone().unwrap_or_default())?),
        false => None,
    };
    let hosts: Vec<String> = targets
        .iter()
        .filter_map(|t| match t {
            TargetSpec::Registry { host, .. } => Some(host.clone()),
            _ => None,
        })
        .collect();
    let cfg = a.tls.registry_config();
    let global = GlobalOptions {
        hints: crate::registry::Hints::FLAGS,
        ..a.network.global(a.tls.plain_http)
    };
    Ok(Box::new(move || {
        let configs = hosts.iter().map(|h| (h.clone(), cfg.clone())).collect();
        let mut r = Registries::new(configs, global.clone());
        if let Some(c) = &credential {
            for h in &hosts {
                r = r.with_credential(h, c.clone());
            }
        }
        r
    }))
}

fn read_password(username: String) -> Result<Credential> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    Ok(Credential::Basic {
        username,
        password: line.trim_end_matches(['\r', '\n']).to_string(),
    })
}

/// `--rewrite OLD=NEW`, each checked.
fn rewrites(given: &[String]) -> Result<Vec<(String, String)>> {
    given
        .iter()
        .map(|r| {
            let (old, new) = r
                .split_once('=')
                .with_context(|| format!("--rewrite {r:?}: expected OLD=NEW"))?;
            let old = old.trim_matches('/');
            anyhow::ensure!(!old.is_empty(), "--rewrite {r:?}: OLD must not be empty");
            Ok((old.to_string(), new.trim_matches('/').to_string()))
        })
        .collect()
}

impl crate::cli::TlsArgs {
    pub fn registry_config(&self) -> RegistryConfig {
        RegistryConfig {
            plain_http: self.plain_http,
            ca_file: self.ca_file.clone(),
            insecure_skip_tls_verify: self.insecure_skip_tls_verify,
            ..Default::default()
        }
    }
}

impl crate::cli::PruneArgs {
    pub fn into_options(self) -> crate::prune::PruneOptions {
        crate::prune::PruneOptions {
            registry: self.tls.registry_config(),
            from: self.from,
            keep: self.keep,
            yes: self.yes,
        }
    }
}

impl crate::cli::ServeArgs {
    pub fn into_options(self) -> crate::serve::ServeOptions {
        crate::serve::ServeOptions {
            files: self.files,
            keys: self.keys,
            allow_unsigned: self.allow_unsigned,
            listen: self.listen,
            tls: self.tls_cert.zip(self.tls_key),
            keep_registry: self.keep_registry,
            threads: self.threads,
            quiet: self.quiet,
            verbose: self.verbose,
            max_connections: self.max_connections,
            rebuild_space: self.rebuild_space,
        }
    }
}
