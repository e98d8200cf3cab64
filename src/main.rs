use anyhow::{Context, Result};
use bundle::cli::{Cli, Command, CreateArgs, LoadArgs};
use bundle::{create, exit_codes, inspect, keys, platform::Platform, progress, registry, verify};
use clap::Parser;

fn main() {
    let cli = Cli::parse();
    bundle::interrupt::install();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", bundle::causes::flatten(e.chain()));
            exit_code_of(&e)
        }
    };
    std::process::exit(code);
}

/// A verification failure anywhere in the chain means exit code 3.
fn exit_code_of(e: &anyhow::Error) -> i32 {
    e.chain()
        .find_map(|c| c.downcast_ref::<verify::VerifyError>())
        .map_or(exit_codes::ERROR, |v| v.exit_code())
}

fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Keygen { out } => {
            let (k, p, fp) = keys::keygen(&out)?;
            println!(
                "wrote {} (private, keep it secret) and {}\nfingerprint {fp}",
                k.display(),
                p.display()
            );
        }
        Command::Create(args) => {
            let opts = create_options(args)?;
            let summary = create::create(&opts)?;
            match opts.split {
                None => println!("wrote {}\n{summary}", opts.output.display()),
                Some(_) => println!(
                    "wrote {0}.part001, {0}.part002, ... and {0}.parts.json (cat {0}.part* > {0} gives the single file)\n{summary}",
                    opts.output.display()
                ),
            }
            if !summary.failed.is_empty() {
                return Ok(exit_codes::ERROR);
            }
        }
        Command::Verify {
            file,
            keys,
            allow_unsigned,
            json,
        } => {
            let keys = verify::load_keys(&keys)?;
            let r = verify::verify_file(&file, &keys, allow_unsigned)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "file": file.display().to_string(), "verified": true, "signer": r.signer,
                        "images": r.images, "blobs": r.blobs, "blobBytes": r.bytes, "fileBytes": r.file_bytes,
                    })
                );
            } else {
                println!(
                    "{}: OK\n  signature: {}\n  {} images, {} blobs ({}) match bundle.json\n  all {} bytes of the file are as written ({:.2}s, {}/s)",
                    file.display(),
                    r.signer.as_deref().map_or("none (unsigned, allowed)".to_string(), |s| format!("valid, key {s}")),
                    r.images,
                    r.blobs,
                    indicatif::HumanBytes(r.bytes),
                    r.file_bytes,
                    r.seconds,
                    indicatif::HumanBytes((r.file_bytes as f64 / r.seconds.max(1e-6)) as u64)
                );
            }
        }
        Command::Load(args) => {
            let json = args.json;
            let opts = load_options(args)?;
            let r = bundle::load::load(&opts)?;
            if json {
                let targets: Vec<_> = r
                    .targets
                    .iter()
                    .map(|t| serde_json::json!({"target": t.target, "images": t.names, "blobsSent": t.blobs.sent,
                        "blobsPresent": t.blobs.present, "blobsMounted": t.blobs.mounted, "bytesSent": t.blobs.bytes}))
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({"signer": r.signer, "targets": targets, "partial": r.partial, "seconds": r.seconds})
                );
            } else {
                for t in &r.targets {
                    println!(
                        "{}: {} images; blobs: {} sent ({}), {} already there, {} mounted",
                        t.target,
                        t.names.len(),
                        t.blobs.sent,
                        indicatif::HumanBytes(t.blobs.bytes),
                        t.blobs.present,
                        t.blobs.mounted
                    );
                    for n in &t.names {
                        println!("  {n}");
                    }
                }
                for p in &r.partial {
                    println!(
                        "note: {p} is multi-platform and not all of its platforms were loaded"
                    );
                }
                println!("done in {:.2}s", r.seconds);
            }
        }
        Command::Inventory(a) => {
            let inv = bundle::inventory::take(
                &a.from,
                bundle::imagelist::RegistryConfig {
                    plain_http: a.plain_http,
                    ca_file: a.ca_file.clone(),
                    insecure_skip_tls_verify: a.insecure_skip_tls_verify,
                    ..Default::default()
                },
            )?;
            bundle::inventory::write(&inv, &a.output)?;
            println!(
                "wrote {}: {} digests held by {}",
                a.output.display(),
                inv.blobs.len(),
                inv.source
            );
        }
        Command::Serve(a) => {
            bundle::serve::serve(&bundle::serve::ServeOptions {
                files: a.files,
                keys: a.keys,
                allow_unsigned: a.allow_unsigned,
                listen: a.listen,
                tls: a.tls_cert.zip(a.tls_key),
                keep_registry: a.keep_registry,
                threads: a.threads,
                quiet: a.quiet,
            })?;
        }
        Command::Inspect { file, json } => {
            let i = inspect::inspect(&file)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&i)?);
            } else {
                print!("{i}");
            }
        }
    }
    Ok(exit_codes::OK)
}

fn create_options(a: CreateArgs) -> Result<create::CreateOptions> {
    let platforms = a
        .platforms
        .iter()
        .map(|p| p.parse::<Platform>())
        .collect::<Result<Vec<_>, _>>()?;
    let created = match a
        .created
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok())
    {
        Some(s) => parse_time(&s).with_context(|| {
            format!("--created / SOURCE_DATE_EPOCH {s:?}: expected Unix seconds or RFC 3339")
        })?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs(),
    };
    Ok(create::CreateOptions {
        list: a.images,
        output: a.output,
        key: a.key,
        platforms,
        jobs: a.jobs as usize,
        cache_dir: a.cache_dir,
        no_cache: a.no_cache,
        keep_going: a.keep_going,
        created,
        registry: registry::GlobalOptions {
            plain_http: a.plain_http,
            retry: registry::retry::RetryPolicy {
                retries: a.retries,
                ..Default::default()
            },
            read_timeout: Some(a.read_timeout),
            certs_dirs: Vec::new(),
        }
        .with_system_certs_dirs(),
        progress: progress::Mode::detect(a.quiet),
        since: a.since,
        split: a.split,
        sync: a.sync,
    })
}

fn parse_time(s: &str) -> Result<u64> {
    if let Ok(n) = s.trim().parse::<u64>() {
        return Ok(n);
    }
    let t = humantime::parse_rfc3339_weak(s.trim())?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)?.as_secs())
}

fn load_options(a: LoadArgs) -> Result<bundle::load::LoadOptions> {
    let targets = a
        .targets
        .iter()
        .map(|t| t.parse::<bundle::load::spec::TargetSpec>())
        .collect::<Result<Vec<_>>>()?;
    let platforms = a
        .platforms
        .iter()
        .map(|p| p.parse::<Platform>())
        .collect::<Result<Vec<_>, _>>()?;
    if a.password_stdin && a.file.as_os_str() == "-" {
        anyhow::bail!("--password-stdin and a bundle on stdin (-) cannot both use stdin");
    }
    let credential = if a.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        Some(registry::credentials::Credential::Basic {
            username: a.username.clone().unwrap_or_default(),
            password: line.trim_end_matches(['\r', '\n']).to_string(),
        })
    } else {
        None
    };
    let hosts: Vec<String> = targets
        .iter()
        .filter_map(|t| match t {
            bundle::load::spec::TargetSpec::Registry { host, .. } => Some(host.clone()),
            _ => None,
        })
        .collect();
    let cfg = bundle::imagelist::RegistryConfig {
        plain_http: a.plain_http,
        ca_file: a.ca_file.clone(),
        insecure_skip_tls_verify: a.insecure_skip_tls_verify,
        ..Default::default()
    };
    let global = registry::GlobalOptions {
        plain_http: a.plain_http,
        retry: registry::retry::RetryPolicy {
            retries: a.retries,
            ..Default::default()
        },
        read_timeout: Some(a.read_timeout),
        certs_dirs: Vec::new(),
    }
    .with_system_certs_dirs();
    let registries = move || {
        let configs = hosts.iter().map(|h| (h.clone(), cfg.clone())).collect();
        let mut r = registry::Registries::new(configs, global.clone());
        if let Some(c) = &credential {
            for h in &hosts {
                r = r.with_credential(h, c.clone());
            }
        }
        r
    };
    let rewrites = a
        .rewrites
        .iter()
        .map(|r| {
            let (old, new) = r
                .split_once('=')
                .with_context(|| format!("--rewrite {r:?}: expected OLD=NEW"))?;
            let old = old.trim_matches('/');
            anyhow::ensure!(!old.is_empty(), "--rewrite {r:?}: OLD must not be empty");
            Ok((old.to_string(), new.trim_matches('/').to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(bundle::load::LoadOptions {
        naming: bundle::load::registry::Naming {
            keep_registry: a.keep_registry,
            rewrites,
        },
        file: a.file,
        keys: a.keys,
        allow_unsigned: a.allow_unsigned,
        targets,
        images: a.images,
        platforms,
        jobs: a.jobs as usize,
        registries: Box::new(registries),
        progress: progress::Mode::detect(a.quiet || a.json),
    })
}
