//! The command line, as clap definitions. `config` resolves them into each command's options.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "bundle",
    version,
    about = "Move container images into air-gapped networks as one signed, deduplicated, seekable file",
    long_about = "Move container images into air-gapped networks.\n\n\
On the connected side, `bundle create images.yaml -o site.bundle --key bundle.key` pulls every image \
in the list (each distinct blob once, in parallel) and writes one signed, compressed file. \
The file is a zstd-compressed tar holding an OCI image layout; see docs/FORMAT.md.\n\n\
Exit codes: 0 ok, 1 error, 2 usage (a bad flag or value), 3 verification failed, \
130 interrupted (Ctrl-C or SIGTERM; partial output removed)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Make an ed25519 key pair: PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM).
    Keygen {
        /// Path prefix of the two files.
        #[arg(long, default_value = "bundle")]
        out: PathBuf,
    },
    /// Pull the images of a list and write one signed bundle.
    Create(CreateArgs),
    /// Check the signature, then every blob and every byte of a bundle. Exit 3 if anything fails.
    #[command(after_help = EXIT_CODES)]
    Verify {
        file: PathBuf,
        /// Trusted public key (SPKI PEM), or a directory of *.pub files; repeatable (key rotation).
        #[arg(long = "key", required_unless_present = "allow_unsigned")]
        keys: Vec<PathBuf>,
        /// Accept a bundle without a signature (its digests are still checked).
        #[arg(long)]
        allow_unsigned: bool,
        /// For a `create --compact --since` update: the bundle it was made against, so the
        /// layers carried as patches are rebuilt and proven too (without it, their bytes are
        /// checked against bundle.json).
        #[arg(long, value_name = "FILE")]
        base: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Verify a bundle, then load its images into registries or local stores, digests unchanged.
    Load(LoadArgs),
    /// Write the mirror configuration that lets containerd, CRI-O/podman, k3s/RKE2, Docker or
    /// OpenShift pull a bundle's images under their source names from the site registry they
    /// were loaded into (with load's prefix, --keep-registry and --rewrite).
    #[command(after_help = MIRRORS_HELP)]
    Mirrors(MirrorsArgs),
    /// List the digests a registry or OCI layout holds, for `create --since` on the other side.
    #[command(after_help = EXIT_CODES)]
    Inventory(InventoryArgs),
    /// Show the blob cache create downloads into (where, how much), or prune it.
    Cache(CacheArgs),
    /// List what a site registry or OCI layout holds that none of the kept bundles carries;
    /// remove it with --yes.
    #[command(after_help = EXIT_CODES)]
    Prune(PruneArgs),
    /// Serve bundles as a read-only registry (pull only), straight from the files.
    #[command(after_help = EXIT_CODES)]
    Serve(ServeArgs),
    /// Show what a bundle holds, from its index (nothing is decompressed but the manifest).
    #[command(after_help = EXIT_CODES)]
    Inspect {
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script: `bundle completions bash > /etc/bash_completion.d/bundle`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `bundle man > /usr/local/share/man/man1/bundle.1`.
    Man,
}

macro_rules! exit_codes {
    () => {
        "Exit codes: 0 ok, 1 error, 2 usage (a bad flag or value), 3 verification failed, 130 interrupted (partial output removed)."
    };
}
const EXIT_CODES: &str = exit_codes!();

const CREATE_HELP: &str = concat!(
    "\
The image list (YAML; or plain text, one reference per line):
  platforms: [linux/amd64]          # default for every image; absent = every platform
  images:
    - nginx:1.27                    # docker.io/library/nginx:1.27
    - name: registry.k8s.io/pause@sha256:<digest>
      platforms: [linux/amd64, linux/arm64]
  registries:
    registry.example:5000:
      plain-http: true              # or: ca-file, insecure-skip-tls-verify
      username-env: REG_USER        # credentials from the environment
      password-env: REG_PASS

Credentials, first match wins: username-env/password-env in the list; podman's auth file
($REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json); docker's config.json
($DOCKER_CONFIG, else ~/.docker) with its credsStore/credHelpers.

",
    exit_codes!()
);

const LOAD_HELP: &str = concat!(
    "\
Targets (--to, repeatable):
  registry://HOST[:PORT][/PREFIX]           push, digests unchanged
  oci:DIR                                   create or merge into an OCI image layout
  docker-archive:FILE.tar                   one tar for docker load, podman load, ctr images import
  containers-storage                        podman's and CRI-O's store, through podman load
  containers-storage:[DRIVER@ROOT+RUNROOT]  the same, another store (the brackets are literal)
  containerd[://SOCKET][?namespace=NS]      containerd's store through ctr (default namespace k8s.io)

Registry targets take --username with --password-stdin, or podman's auth file and docker's
config.json as create does; --plain-http, --ca-file, --insecure-skip-tls-verify for TLS.

",
    exit_codes!()
);

const MIRRORS_HELP: &str = concat!(
    "\
Formats (--format) and what each writes under DIR:
  containerd   DIR/<source host>/hosts.toml    containerd's config_path, ctr --hosts-dir
  cri-o        DIR/50-bundle-mirrors.conf      registries.conf.d drop-in (CRI-O, podman, skopeo)
  k3s, rke2    DIR/registries.yaml             /etc/rancher/k3s/ or /etc/rancher/rke2/
  docker       DIR/daemon.json, DIR/README.txt Docker Hub only (registry-mirrors)
  openshift    DIR/mirror-sets.yaml            ImageDigestMirrorSet and ImageTagMirrorSet

Pulls by digest through a mirror are exact; pulls by tag trust the site registry's tags.
Exit code 1 when a format cannot map some image it could mirror (named on stderr; the files
for the rest are written). An inventory file names no sources: give the bundle.

",
    exit_codes!()
);

#[derive(Args, Debug)]
#[command(after_help = CREATE_HELP)]
pub struct CreateArgs {
    /// The image list: YAML (see docs/CLI.md) or one reference per line.
    pub images: PathBuf,
    /// The bundle to write. Written as FILE.partial and renamed when complete. Not needed
    /// with --dry-run.
    #[arg(short, long, required_unless_present = "dry_run")]
    pub output: Option<PathBuf>,
    /// Write a delta: leave out the layers this earlier bundle (or `bundle inventory` file)
    /// shows the other side already has.
    #[arg(long, value_name = "BUNDLE|INVENTORY")]
    pub since: Option<PathBuf>,
    /// Write FILE.part001, FILE.part002, ... of at most SIZE each (4.7G, 25G, 650M, 4GiB), plus
    /// FILE.split.json listing each part's sha256 (signed with --key).
    #[arg(long, value_name = "SIZE", value_parser = crate::format::parts::parse_size)]
    pub split: Option<u64>,
    /// Flush the bundle (or each part) to disk before renaming it into place, so it survives a
    /// power loss right after create. Without it the kernel writes it out in its own time; a
    /// bundle torn by a crash is always rejected by verify and load.
    #[arg(long)]
    pub sync: bool,
    /// Carry the bundle binary in the bundle as tools/bundle-linux-ARCH, signed with the rest,
    /// so the other side can get it with `tar --zstd -xf FILE tools/bundle-linux-x86_64`.
    /// --include-tool=PATH carries that binary (e.g. the static one `make dist` builds) instead
    /// of the running one.
    #[arg(long, value_name = "PATH", num_args = 0..=1, require_equals = true)]
    pub include_tool: Option<Option<PathBuf>>,
    /// Carry gzip layers as their uncompressed tars, compressed with zstd at LEVEL (1-22,
    /// default 12) over a 64 MiB window, when the gzip can be rebuilt byte for byte on load:
    /// Go's compress/gzip before and since Go 1.27 (BuildKit, docker, containerd, crane),
    /// klauspost's pgzip (podman, buildah, skopeo), zlib (Python's gzip, Java), GNU gzip,
    /// pigz; others through preflate side data when it is small. Other layers are carried
    /// as they came. Smaller bundles; load, serve and verify rebuild the gzip.
    #[arg(long, value_name = "LEVEL", num_args = 0..=1, require_equals = true,
          default_missing_value = "12", value_parser = clap::value_parser!(i32).range(1..=22))]
    pub compact: Option<i32>,
    /// Which artifacts that refer to the images to carry with them: `all` (signatures,
    /// attestations, SBOMs; found through the referrers API, its fallback tag and cosign's
    /// tags), `signatures` only, or `none`.
    #[arg(long, value_name = "WHICH", default_value = "all",
          value_parser = ["all", "signatures", "none"])]
    pub referrers: String,
    /// Carry only referrers of this artifact type (e.g. application/spdx+json); repeatable.
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: Vec<String>,
    /// Every image must carry a cosign signature by this public key (cosign.pub, ECDSA P-256
    /// PEM) over its digest; checked offline, no transparency log. An image without one fails
    /// (with --keep-going it is left out).
    #[arg(long, value_name = "COSIGN.pub")]
    pub verify_images: Option<PathBuf>,
    /// ed25519 private key (PKCS#8 PEM) to sign the bundle with (`bundle keygen` makes one);
    /// required, unless --unsigned.
    #[arg(long, conflicts_with = "unsigned")]
    pub key: Option<PathBuf>,
    /// Write an unsigned bundle. Loading it will need --allow-unsigned.
    #[arg(long)]
    pub unsigned: bool,
    /// Resolve every manifest (no layer is downloaded, nothing is written) and say what the
    /// bundle would carry: images, platforms, referrers, blobs and their bytes, what --since
    /// leaves out, the estimated size and, with --split, how many parts.
    #[arg(long)]
    pub dry_run: bool,
    /// Allow images whose names differ only in their registry (a.io/team/app:1 and
    /// b.io/team/app:1): the site must then load and serve with --keep-registry, which keeps
    /// the registry in the path. Without it such a list is refused.
    #[arg(long)]
    pub keep_registry: bool,
    /// Only these platforms (OS/ARCH[/VARIANT]); repeatable. Overrides the list's `platforms:`.
    #[arg(long = "platform")]
    pub platforms: Vec<String>,
    /// Downloads in flight at once, across all images.
    #[arg(short, long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Blob cache directory [default: $XDG_CACHE_HOME/bundle or ~/.cache/bundle].
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Do not keep downloaded blobs after the bundle is written.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
    /// Bundle the images that work and list the ones that failed (exit code stays 1).
    #[arg(long)]
    pub keep_going: bool,
    /// Created time recorded in the bundle (RFC 3339 or Unix seconds) [default: $SOURCE_DATE_EPOCH or now].
    #[arg(long)]
    pub created: Option<String>,
    /// Talk plain HTTP to every registry (per registry: `plain-http: true` in the list).
    #[arg(long)]
    pub plain_http: bool,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Args, Debug)]
#[command(after_help = LOAD_HELP)]
pub struct LoadArgs {
    /// The bundle, or `-` to read it from stdin.
    pub file: PathBuf,
    /// Trusted public key (SPKI PEM), or a directory of *.pub files; repeatable.
    #[arg(long = "key", required_unless_present = "allow_unsigned")]
    pub keys: Vec<PathBuf>,
    /// Load a bundle without a valid signature (its digests are still checked).
    #[arg(long)]
    pub allow_unsigned: bool,
    /// registry://HOST[:PORT][/PREFIX], oci:DIR, docker-archive:FILE, containers-storage or
    /// containerd (below); repeatable.
    #[arg(long = "to", required = true)]
    pub targets: Vec<String>,
    /// Only this image (as listed by `bundle inspect`, as written in the image list, or any
    /// unambiguous end of its name: `team/app:1.0`, `app:1.0`); repeatable.
    #[arg(long = "image")]
    pub images: Vec<String>,
    /// Only these platforms of multi-platform images (OS/ARCH[/VARIANT]); repeatable.
    #[arg(long = "platform")]
    pub platforms: Vec<String>,
    /// Load only if every image chosen carries a cosign signature by this public key
    /// (cosign.pub, ECDSA P-256 PEM) over its digest, checked offline before anything is
    /// written. Needs the bundle as a file.
    #[arg(long, value_name = "COSIGN.pub")]
    pub verify_images: Option<PathBuf>,
    /// A bundle the site holds (repeatable: the full release and the deltas over it): the
    /// layers a `--since` delta leaves out, and the reference layers of `--compact --since`
    /// deltas, are read from it when a target does not hold them (a new oci: layout,
    /// docker-archive:, containerd). Checked with the same keys as the bundle.
    #[arg(long, value_name = "FILE")]
    pub base: Vec<PathBuf>,
    /// Blobs loaded at once.
    #[arg(short, long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Registry targets: keep the source registry host as the first path component
    /// (HOST/PREFIX/docker.io/library/nginx; a port's ':' becomes '_') instead of dropping it.
    #[arg(long)]
    pub keep_registry: bool,
    /// Registry targets: rewrite a repository path prefix, OLD=NEW (whole components; NEW may
    /// be empty); repeatable, first match wins. Applied before the target's PREFIX.
    #[arg(long = "rewrite", value_name = "OLD=NEW")]
    pub rewrites: Vec<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// After a successful load, write the mirror configuration of every runtime for the
    /// images loaded into the registry:// target, in DIR/containerd, DIR/cri-o, DIR/k3s,
    /// DIR/docker and DIR/openshift (as `bundle mirrors` writes them).
    #[arg(long, value_name = "DIR")]
    pub write_mirrors: Option<PathBuf>,
    /// User name for registry targets; the password is read from stdin (--password-stdin).
    #[arg(long, requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the registry password from the first line of stdin.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Bundle files; where two hold the same tag, the later one's image is served.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Trusted public key (SPKI PEM), or a directory of *.pub files; repeatable.
    #[arg(long = "key", required_unless_present = "allow_unsigned")]
    pub keys: Vec<PathBuf>,
    /// Serve unsigned bundles (their digests are still checked).
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub listen: String,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Keep the source registry as the first path component (`127.0.0.1_5000/team/app`).
    #[arg(long)]
    pub keep_registry: bool,
    /// Threads answering requests (blob reads run on a separate blocking pool).
    #[arg(long, default_value_t = 4)]
    pub threads: usize,
    /// Connections open at once (held within the open-file limit); at the limit, the one quiet
    /// longest is closed to admit a new one.
    #[arg(long, default_value_t = 4096)]
    pub max_connections: usize,
    /// Disk (under TMPDIR) for layers of --compact bundles rebuilt for clients, kept for later
    /// requests once nobody reads them (4GiB, 500M, 0); least recently asked for goes first.
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = crate::format::parts::parse_bytes)]
    pub rebuild_space: u64,
    /// Only errors on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// A line per request on stderr: client, method, path, status.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, clap::Args)]
pub struct MirrorsArgs {
    /// The bundle(s) whose images were loaded into the site registry.
    #[arg(required = true, value_name = "BUNDLE")]
    pub files: Vec<PathBuf>,
    /// The site registry and prefix the images were loaded into, as given to `load --to`:
    /// registry://HOST[:PORT][/PREFIX].
    #[arg(long, value_name = "registry://SITE[/PREFIX]")]
    pub to: String,
    /// containerd, cri-o, k3s (or rke2), docker or openshift (below).
    #[arg(long)]
    pub format: String,
    /// The directory to write into (made if missing).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// As given to load: the source registry host was kept as the first path component.
    #[arg(long)]
    pub keep_registry: bool,
    /// As given to load: OLD=NEW repository path rewrites, first match wins; repeatable.
    #[arg(long = "rewrite", value_name = "OLD=NEW")]
    pub rewrites: Vec<String>,
    /// How the runtimes reach the site: plain HTTP, a CA file (its path on the nodes, written
    /// as an absolute path), or no certificate check.
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Debug, clap::Args)]
pub struct InventoryArgs {
    /// `registry://HOST[:PORT]` (every tag in its catalog) or `oci:DIR`.
    #[arg(long)]
    pub from: String,
    /// Where to write the inventory (JSON). Written as FILE.partial and renamed.
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// `registry://HOST[:PORT]` (every tag in its catalog) or `oci:DIR`.
    #[arg(long)]
    pub from: String,
    /// A bundle or inventory whose content stays (repeatable): typically the releases the
    /// site runs now. Everything else goes.
    #[arg(long, value_name = "FILE", required = true)]
    pub keep: Vec<PathBuf>,
    /// Remove what is listed. Without it, nothing is changed.
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub tls: TlsArgs,
}

#[derive(Args, Debug)]
pub struct CacheArgs {
    /// The cache (default `$XDG_CACHE_HOME/bundle`, else `~/.cache/bundle`).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Remove cached files: all of them, or only those --older-than / over --max-size says.
    /// A download a running create holds is left alone; do not prune while a create reads it.
    #[arg(long)]
    pub prune: bool,
    /// With --prune: files not used by a create for this long (30d, 12h).
    #[arg(long, requires = "prune", value_name = "AGE", value_parser = humantime::parse_duration)]
    pub older_than: Option<std::time::Duration>,
    /// With --prune: then the least recently used until the cache holds at most SIZE (20G,
    /// 500MiB).
    #[arg(long, requires = "prune", value_name = "SIZE", value_parser = crate::format::parts::parse_bytes)]
    pub max_size: Option<u64>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// How hard to try with a registry; the same for create and load.
#[derive(Args, Debug)]
pub struct NetworkArgs {
    /// Retries per request on connection errors, 429 and 5xx.
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// How long a registry may send nothing before the request is retried (e.g. 30s, 2m).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub read_timeout: std::time::Duration,
    /// A line per registry request on stderr: method, URL (without its query), status, time.
    /// Credentials are never shown.
    #[arg(short, long)]
    pub verbose: bool,
}

/// How to reach the registry `load` pushes to or `inventory` lists.
#[derive(Args, Debug)]
pub struct TlsArgs {
    /// Talk plain HTTP to the registry.
    #[arg(long)]
    pub plain_http: bool,
    /// Extra CA certificate (PEM) for the registry, added to the system roots.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Do not verify the registry's TLS certificate.
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
}

/// What create and load print.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
    /// The summary as JSON on stdout (no progress output).
    #[arg(long)]
    pub json: bool,
}

impl ReportArgs {
    pub fn progress(&self) -> crate::progress::Mode {
        crate::progress::Mode::detect(self.quiet || self.json)
    }
}

/// One manual page for the whole tool: the top-level page, then each command's description and
/// options under its own heading (clap_mangen renders a command at a time).
pub fn man_page() -> std::io::Result<Vec<u8>> {
    use clap::CommandFactory;
    let top = Cli::command();
    let mut out = Vec::new();
    // Not `render`: its SEE ALSO names a page per subcommand (bundle-keygen(1), ...), and
    // those are sections of this one page.
    let man = clap_mangen::Man::new(top.clone());
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    for sub in top.get_subcommands().filter(|c| c.get_name() != "help") {
        let name = sub.get_name().to_uppercase();
        out.extend_from_slice(format!(".SH \"BUNDLE {name}\"\n").as_bytes());
        let man = clap_mangen::Man::new(sub.clone());
        let mut part = Vec::new();
        man.render_description_section(&mut part)?;
        man.render_synopsis_section(&mut part)?;
        man.render_options_section(&mut part)?;
        // Under the command's heading, its own sections are subsections.
        let part = String::from_utf8_lossy(&part).replace(".SH ", ".SS ");
        out.extend_from_slice(part.as_bytes());
    }
    man.render_version_section(&mut out)?;
    Ok(out)
}
