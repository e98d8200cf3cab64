use anyhow::Result;
use bundle::cli::{Cli, Command};
use bundle::{config, exit_codes, report};
use clap::Parser;
use std::io::Write as _;

fn main() {
    fixed_malloc_thresholds();
    let cli = Cli::parse();
    bundle::interrupt::install(match &cli.command {
        Command::Create(_) => Some("downloaded blobs stay in the cache for the next run"),
        Command::Load(_) => Some(
            "blobs already at a registry or in an oci: layout stay, and the next run reuses them",
        ),
        _ => None,
    });
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            bundle::console::line(report::error(&e));
            report::exit_code(&e)
        }
    };
    std::process::exit(code);
}

/// Layers are rebuilt in pieces of a few MiB, allocated on one thread and freed on another.
/// glibc then raises its mmap threshold past their size and keeps the freed pieces in its
/// arenas: `load --compact` of the medium bench peaked at 482 MB of RSS, 250 MB with the
/// threshold held at 1 MiB, for the same time. Held, large buffers go back to the kernel.
/// Holding it also holds the trim threshold at glibc's 128 KiB, so each piece's encoder state
/// (about 1.5 MiB, allocated and freed per piece) went back to the kernel and was faulted in
/// again: 4 MiB kept per arena halves a served pgzip layer's page faults (147k to 76k).
fn fixed_malloc_thresholds() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets tuning parameters of glibc's allocator, before any thread
    // starts; it has no memory-safety preconditions.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 4 << 20);
    }
}

/// Print a result. When whoever reads our output has gone (`bundle inspect X | head -1`),
/// stop quietly, as ripgrep does: the rest was not wanted.
macro_rules! say {
    ($($arg:tt)*) => {{
        let mut out = std::io::stdout().lock();
        let text = format!($($arg)*);
        let text = bundle::console::terminal_safe(&text);
        if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(exit_codes::OK);
            }
            return Err(anyhow::Error::new(e).context("writing to standard output"));
        }
    }};
}

/// `--json` of a command that failed: one JSON object on stdout, as for success (the error is
/// on stderr too); returns the exit code.
fn failed_json(e: &anyhow::Error, file: &std::path::Path, done: report::Done) -> Result<i32> {
    say!("{}", report::failed_json(e, file, done));
    bundle::console::line(report::error(e));
    Ok(report::exit_code(e))
}

/// Run one command; what it prints comes from `report`. Returns the exit code.
fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Keygen { out } => {
            let (private, public, fingerprint) = bundle::keys::keygen(&out)?;
            say!("{}", report::keygen(&private, &public, &fingerprint));
        }
        Command::Create(args) => return create(args),
        Command::Verify {
            file,
            keys,
            allow_unsigned,
            base,
            json,
        } => return verify(&file, &keys, allow_unsigned, base.as_deref(), json),
        Command::Load(args) => return load(args),
        Command::Mirrors(args) => return mirrors(args),
        Command::Inventory(a) => {
            let inv = bundle::inventory::take(&a.from, a.tls.registry_config())?;
            bundle::inventory::write(&inv, &a.output)?;
            say!("{}", report::inventory(&a.output, &inv));
        }
        Command::Cache(a) => return cache(a),
        Command::Prune(a) => {
            let p = bundle::prune::prune(&a.into_options())?;
            say!("{}", report::pruned_site(&p));
        }
        Command::Serve(a) => bundle::serve::serve(&a.into_options())?,
        Command::Completions { shell } => {
            let mut out = Vec::new();
            let mut cli = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cli, "bundle", &mut out);
            say!("{}", String::from_utf8_lossy(&out).trim_end());
        }
        Command::Man => {
            let out = bundle::cli::man_page()
                .map_err(|e| anyhow::Error::new(e).context("rendering the manual page"))?;
            say!("{}", String::from_utf8_lossy(&out).trim_end());
        }
        Command::Inspect { file, json } => {
            let i = bundle::inspect::inspect(&file)?;
            say!("{}", report::inspected(&i, json)?);
        }
    }
    Ok(exit_codes::OK)
}

/// `bundle create`: exit 1 when an image failed under --keep-going (the bundle was written).
fn create(args: bundle::cli::CreateArgs) -> Result<i32> {
    let json = args.report.json;
    let opts = config::create_options(args)?;
    let summary = match bundle::create::create(&opts) {
        Ok(s) => s,
        Err(e) if json => return failed_json(&e, &opts.output, report::Done::Written),
        Err(e) => return Err(e),
    };
    match json {
        true => say!("{}", report::created_json(&opts.output, &summary)),
        false => say!("{}", report::created(&opts.output, &summary)),
    }
    match summary.failed.is_empty() {
        true => Ok(exit_codes::OK),
        false => Ok(exit_codes::ERROR),
    }
}

/// `bundle verify`: with --json, a failure is a JSON object too, with its exit code.
fn verify(
    file: &std::path::Path,
    keys: &[std::path::PathBuf],
    allow_unsigned: bool,
    base: Option<&std::path::Path>,
    json: bool,
) -> Result<i32> {
    let checked = bundle::verify::load_keys(keys)
        .and_then(|keys| bundle::verify::verify_file(file, &keys, allow_unsigned, base));
    match checked {
        Ok(r) => say!("{}", report::verified(file, &r, json)),
        Err(e) if json => {
            say!("{}", report::verify_failed_json(file, &e));
            let code = e.exit_code();
            bundle::console::line(report::error(&anyhow::Error::new(e)));
            return Ok(code);
        }
        Err(e) => return Err(e.into()),
    }
    Ok(exit_codes::OK)
}

/// `bundle load`, then with --write-mirrors the mirror configuration of every runtime for
/// what was loaded (its notes on stderr; a format that cannot map everything is only a note
/// here, since the load itself succeeded).
fn load(args: bundle::cli::LoadArgs) -> Result<i32> {
    let json = args.report.json;
    let write_mirrors = config::load_mirrors(&args)?;
    let opts = config::load_options(args)?;
    let r = match bundle::load::load(&opts) {
        Ok(r) => r,
        Err(e) if json => return failed_json(&e, &opts.file, report::Done::Loaded),
        Err(e) => return Err(e),
    };
    say!("{}", report::loaded(&r, json));
    if let Some((dir, site)) = write_mirrors {
        use bundle::mirrors;
        let provenance = mirrors::Provenance::of_bundle(
            &opts.file,
            &r.bundle_json,
            &r.created,
            "bundle load --write-mirrors",
        );
        let plan = mirrors::plan(&r.sources, site, &opts.naming);
        let written = mirrors::write_every(&plan, &provenance, &dir)?;
        let text = report::mirrors(&plan, &written);
        match json {
            true => bundle::console::line(text),
            false => say!("{text}"),
        }
        for n in written.iter().flat_map(|w| &w.notes) {
            bundle::console::line(format!("note: {n}"));
        }
    }
    Ok(exit_codes::OK)
}

/// `bundle mirrors`: exit 1 when the format leaves images it could mirror uncovered (the
/// files for the rest are written, and the notes name them).
fn mirrors(args: bundle::cli::MirrorsArgs) -> Result<i32> {
    use bundle::mirrors;
    let opts = config::mirrors_options(args)?;
    let usage = |e: mirrors::MirrorsError| match e.is_usage() {
        true => anyhow::Error::new(exit_codes::UsageError(e.to_string())),
        false => anyhow::Error::new(e),
    };
    let sources = mirrors::sources::read(&opts.files).map_err(usage)?;
    let plan = mirrors::plan(&sources.images, opts.site, &opts.naming);
    let written = mirrors::write(opts.format, &plan, &sources.provenance, &opts.output)?;
    say!("{}", report::mirrors(&plan, std::slice::from_ref(&written)));
    for n in &written.notes {
        bundle::console::line(format!("note: {n}"));
    }
    written.complete()?;
    Ok(exit_codes::OK)
}

/// `bundle cache`: what it holds, or `--prune`.
fn cache(a: bundle::cli::CacheArgs) -> Result<i32> {
    use bundle::create::cache;
    let root = a.cache_dir.unwrap_or_else(cache::BlobCache::default_root);
    match a.prune {
        false => say!("{}", report::cache(&cache::usage(&root), a.json)),
        true => {
            let p = cache::prune(&root, a.older_than, a.max_size);
            say!("{}", report::pruned(&root, &p, a.json));
        }
    }
    Ok(exit_codes::OK)
}
