//! `bundle create`, as a pipeline of stages, each in its own file and passing plain values:
//! the image list → `resolve` (every manifest, in parallel) → `plan` (each distinct blob once,
//! what a delta leaves out; pure) → `fetch` (downloads into the cache) and, following the
//! downloads, `describe` (bundle.json; pure) and `write` (the signed file or its parts) →
//! `summary`.

pub mod cache;
mod charts;
pub mod compact;
mod describe;
mod fetch;
mod files;
mod local;
pub mod patch;
mod plan;
pub mod referrers;
mod resolve;
mod summary;
mod tool;
mod versions;
mod write;

pub use summary::{CarriedItem, CreateSummary};

use crate::create::cache::BlobCache;
use crate::digest::Digest;
use crate::held::Held;
use crate::imagelist::ImageList;
use crate::platform::Platform;
use crate::progress::{Mode, Progress};
use crate::registry::{GlobalOptions, Registries};
use anyhow::{bail, Context, Result};
use fetch::Abandoned;
use fetch::{Downloads, Fetched};
use plan::Plan;
use resolve::ResolvedImage;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;
use summary::failure_report;
use summary::WrittenBundle;
use write::Output;

pub struct CreateOptions {
    pub list: PathBuf,
    pub output: PathBuf,
    /// None: unsigned (the user said --unsigned).
    pub key: Option<PathBuf>,
    /// Overrides the list's default `platforms:`.
    pub platforms: Vec<Platform>,
    pub jobs: usize,
    pub cache_dir: Option<PathBuf>,
    pub no_cache: bool,
    pub keep_going: bool,
    /// `--keep-registry`: the site keeps the source registry in its paths, so names that
    /// differ only in their registry are told apart there.
    pub keep_registry: bool,
    /// `--dry-run`: resolve and plan, download and write nothing.
    pub dry_run: bool,
    /// Unix seconds.
    pub created: u64,
    pub registry: GlobalOptions,
    pub progress: Mode,
    /// A delta: leave out the layers this earlier bundle or inventory says the other side has.
    pub since: Option<PathBuf>,
    /// Write FILE.part001, FILE.part002, ... of at most this many bytes, and FILE.split.json.
    pub split: Option<u64>,
    /// Flush the bundle to disk before renaming it into place.
    pub sync: bool,
    /// Carry a bundle binary as `tools/...` (`Some(None)`: the running one).
    pub include_tool: Option<Option<PathBuf>>,
    /// `--compact`: carry the layers whose gzip can be rebuilt as their uncompressed tars.
    pub compact: Option<compact::Settings>,
    /// Which signatures, attestations, SBOMs and other referrers to carry.
    pub referrers: referrers::Policy,
    /// `--verify-images`: every image must carry a cosign signature by this public key.
    pub verify_images: Option<PathBuf>,
}

pub fn create(opts: &CreateOptions) -> Result<CreateSummary> {
    let started = Instant::now();
    let mut inputs = Inputs::gather(opts)?;
    let progress = Progress::new(opts.progress, "downloaded");
    let registries = inputs.registries(opts);
    let apps = gather_apps(opts, &mut inputs, &registries, &progress)?;
    let resolve::Resolved {
        mut images,
        mut failed,
    } = resolve_images(opts, &inputs, &registries, &progress)?;
    apps.join(&mut images);
    let output = Output {
        path: &opts.output,
        created: opts.created,
        split: opts.split,
        sync: opts.sync,
        signing: inputs.signing.as_ref(),
        cache: &inputs.cache,
        tool: inputs.tool.as_ref(),
    };
    let bundle = Bundle {
        base: inputs.base.as_ref(),
        registries: &registries,
        compact: opts.compact,
        signer: inputs
            .signing
            .as_ref()
            .map(|k| crate::keys::fingerprint(&k.verifying_key())),
        output: &output,
    };
    let plan = Plan::new(&images, inputs.base.as_ref())?;
    if opts.dry_run {
        progress.finish();
        return Ok(CreateSummary::planned(&images, &plan, opts.split, failed));
    }
    check_room(&inputs.cache, &plan, &opts.output, opts.compact.is_some())?;
    let (fetched, streamed) =
        bundle.fetch_and_write(&mut images, &plan, &registries, opts.jobs, &progress);
    progress.finish();
    for (&i, e) in &fetched.failed {
        let entry = &images[i].entry;
        failed.push((format!("{} ({})", entry.source, entry.whence()), e.clone()));
    }
    if !failed.is_empty() && !opts.keep_going {
        return Err(failure_report(&opts.list, &failed));
    }
    let (images, plan, written) = match streamed {
        Some(Ok(w)) => (images, plan, w),
        Some(Err(e)) if !e.is::<Abandoned>() => return Err(e),
        // --keep-going and a download failed: bundle the complete images from the cache.
        _ => bundle.rewrite_complete(images, &fetched, opts, &failed)?,
    };
    Ok(CreateSummary {
        bytes_pulled: fetched.pulled,
        bytes_cached: fetched.cached,
        seconds: started.elapsed().as_secs_f64(),
        failed,
        signer: bundle.signer,
        ..CreateSummary::of(&images, &plan, &written)
    })
}

/// What create reads and checks before it contacts a registry: the list, the keys, the
/// `--since` base, the cache and the tool to carry.
struct Inputs {
    list: ImageList,
    signing: Option<ed25519_dalek::SigningKey>,
    image_key: Option<crate::cosign::CosignKey>,
    base: Option<Held>,
    cache: BlobCache,
    tool: Option<tool::Tool>,
}

impl Inputs {
    fn gather(opts: &CreateOptions) -> Result<Inputs> {
        let list = load_list(&opts.list, &opts.platforms)?;
        for w in &list.warnings {
            crate::console::line(format!("warning: {w}"));
        }
        let signing = signing_key(opts)?;
        let image_key = opts
            .verify_images
            .as_deref()
            .map(crate::cosign::CosignKey::load)
            .transpose()?;
        let base = opts
            .since
            .as_deref()
            .map(|p| crate::held::read(p).context("--since"))
            .transpose()?;
        let cache = open_cache(opts, &output_dir(&opts.output)?)?;
        let tool = opts
            .include_tool
            .as_ref()
            .map(|p| tool::prepare(p.as_deref()))
            .transpose()?;
        Ok(Inputs {
            list,
            signing,
            image_key,
            base,
            cache,
            tool,
        })
    }

    /// The registries, their errors phrased for a YAML list or a plain-text one.
    fn registries(&self, opts: &CreateOptions) -> Registries {
        let mut global = opts.registry.clone();
        if self.list.plain_text {
            global.hints = crate::registry::Hints::PLAIN_LIST;
        }
        Registries::new(self.list.registries.clone(), global)
    }
}

/// The list's charts and files, fetched into the cache (small: a chart is read to find its
/// images, before the images are resolved); the images found join the list's.
fn gather_apps(
    opts: &CreateOptions,
    inputs: &mut Inputs,
    registries: &Registries,
    progress: &Progress,
) -> Result<Apps> {
    let list = &inputs.list;
    let default_platforms = match opts.platforms.is_empty() {
        true => list.platforms.as_deref(),
        false => Some(opts.platforms.as_slice()),
    };
    let charts = charts::gather(
        &opts.list,
        &list.charts,
        default_platforms,
        registries,
        &inputs.cache,
        opts.keep_going,
    )?;
    for w in &charts.warnings {
        progress.line(&format!("warning: {w}"));
    }
    let files = files::gather(&opts.list, &list.files, registries, &inputs.cache)?;
    let mut seen: HashSet<String> = list
        .images
        .iter()
        .map(|i| i.reference.to_string())
        .collect();
    let found: Vec<_> = charts
        .images
        .into_iter()
        .filter(|i| seen.insert(i.reference.to_string()))
        .collect();
    inputs.list.images.extend(found);
    inputs
        .list
        .images
        .extend(charts.oci.iter().map(|(entry, _)| entry.clone()));
    Ok(Apps {
        made: charts.artifacts.into_iter().chain(files).collect(),
        oci_charts: charts.oci,
    })
}

/// Charts and files, between gathering and bundling.
struct Apps {
    /// Artifacts made here (charts from Helm repositories, files), blobs in the cache.
    made: Vec<ResolvedImage>,
    /// `oci://` charts, resolved with the images: what to record of each.
    oci_charts: Vec<(crate::imagelist::ImageEntry, crate::format::ChartRecord)>,
}

impl Apps {
    /// The charts and files among the resolved images, after them.
    fn join(self, images: &mut Vec<ResolvedImage>) {
        for (entry, record) in self.oci_charts {
            let same = images
                .iter_mut()
                .find(|i| i.entry.reference == entry.reference);
            if let Some(img) = same {
                img.carries.chart = Some(record);
            }
        }
        images.extend(self.made);
    }
}

/// Every image of the list resolved, and those that failed (an error unless --keep-going);
/// two images that would drop to one name are refused unless --keep-registry.
fn resolve_images(
    opts: &CreateOptions,
    inputs: &Inputs,
    registries: &Registries,
    progress: &Progress,
) -> Result<resolve::Resolved> {
    let resolved = resolve::resolve_all(
        &inputs.list.images,
        registries,
        opts.jobs,
        &opts.referrers,
        inputs.image_key.as_ref(),
        &inputs.cache,
        progress,
    )?;
    if !resolved.failed.is_empty() && !opts.keep_going {
        progress.finish();
        return Err(failure_report(&opts.list, &resolved.failed));
    }
    if !opts.keep_registry {
        plan::refuse_name_clashes(&opts.list, &resolved.images)?;
    }
    for w in resolved
        .images
        .iter()
        .filter_map(resolve::partial_index_warning)
    {
        crate::console::line(w);
    }
    Ok(resolved)
}

/// The list, with `--platform` replacing its default (an image's own `platforms:` still wins).
/// The private key, with a warning when others can read it (as ssh does); None: --unsigned.
fn signing_key(opts: &CreateOptions) -> Result<Option<ed25519_dalek::SigningKey>> {
    let Some(key) = opts.key.as_deref() else {
        return Ok(None);
    };
    let signing = crate::keys::load_private(key)?;
    if let Some(w) = crate::keys::exposure_warning(key) {
        crate::console::line(w);
    }
    Ok(Some(signing))
}

fn load_list(path: &Path, platforms: &[Platform]) -> Result<ImageList> {
    let mut list = crate::imagelist::load(path)?;
    if !platforms.is_empty() {
        for img in list.images.iter_mut().filter(|i| !i.own_platforms) {
            img.platforms = Some(platforms.to_vec());
        }
    }
    Ok(list)
}

/// The directory the bundle goes to, checked before anything is downloaded.
fn output_dir(output: &Path) -> Result<PathBuf> {
    if output.is_dir() {
        bail!(
            "-o {0}: that is a directory; give the name of the bundle file to write (e.g. {0}/site.bundle)",
            output.display()
        );
    }
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!("output directory {} does not exist", dir.display());
    }
    Ok(dir)
}

/// Room for what will be downloaded into the cache and, without `--compact` (whose size is
/// not known before), for the bundle (about the blobs' size): checked before the first
/// download, for both at once where they share a filesystem.
fn check_room(cache: &BlobCache, plan: &Plan, output: &Path, compact: bool) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let download: u64 = plan
        .needs
        .iter()
        .filter(|n| !cache.has(&n.digest, n.size))
        .map(|n| n.size)
        .sum();
    let bundle = if compact { 0 } else { plan.bytes() };
    let out = crate::fsutil::parent_of(output);
    let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
    if dev(cache.dir()).is_some() && dev(cache.dir()) == dev(out) {
        crate::fsutil::check_room(out, download + bundle)?;
    } else {
        crate::fsutil::check_room(cache.dir(), download)?;
        crate::fsutil::check_room(out, bundle)?;
    }
    Ok(())
}

fn open_cache(opts: &CreateOptions, output_dir: &Path) -> Result<BlobCache> {
    Ok(if opts.no_cache {
        BlobCache::temporary(output_dir)?
    } else {
        let root = opts
            .cache_dir
            .clone()
            .unwrap_or_else(BlobCache::default_root);
        BlobCache::open(&root)?
    })
}

/// The images whose blobs all arrived.
fn without(images: Vec<ResolvedImage>, fetched: &Fetched) -> Vec<ResolvedImage> {
    images
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !fetched.failed.contains_key(i))
        .map(|(_, img)| img)
        .collect()
}

/// What every way of writing this bundle shares.
struct Bundle<'a> {
    base: Option<&'a Held>,
    /// Where an inventory base's reference layers are fetched from (`--compact --since`).
    registries: &'a Registries,
    compact: Option<compact::Settings>,
    signer: Option<String>,
    output: &'a Output<'a>,
}

impl Bundle<'_> {
    /// Download each distinct blob once while the bundle is written behind the downloads:
    /// configs come first (describing the bundle needs them), then the rest in bundle order,
    /// and the writer appends each blob as soon as it is in the cache (written after all
    /// downloads, the bundle took a third of the run with one core idle). Returns what the
    /// downloads did, and the bundle unless a download failed first.
    fn fetch_and_write(
        &self,
        images: &mut [ResolvedImage],
        plan: &Plan,
        registries: &Registries,
        jobs: usize,
        progress: &Progress,
    ) -> (Fetched, Option<Result<WrittenBundle>>) {
        let cache = self.output.cache;
        let downloads = Downloads::new(plan, cache, registries, progress);
        progress.line(&format!(
            "{} images, {} blobs (configs and layers, each once), {} ({} already cached)",
            images.len(),
            plan.needs.len(),
            indicatif::HumanBytes(plan.bytes()),
            indicatif::HumanBytes(downloads.cached)
        ));
        progress.start_bytes(plan.bytes(), downloads.cached);
        let streamed = std::thread::scope(|s| {
            for _ in 0..jobs.max(1) {
                s.spawn(|| downloads.work());
            }
            let configs_failed = plan
                .needs
                .iter()
                .filter(|n| n.is_config())
                .any(|n| downloads.arrivals.wait(&n.digest) == fetch::Arrival::Failed);
            if configs_failed {
                return None;
            }
            resolve::fill_platforms(images, cache);
            progress.line(&format!("writing {}", self.output.path.display()));
            let ready = |d: &Digest| fetch::abandon_on_failure(downloads.arrivals.wait(d));
            let quiet = Progress::new(Mode::Quiet, "written");
            let r = self.write(images, plan, &ready, &quiet, progress);
            if r.is_err() {
                downloads.stop();
            }
            Some(r)
        });
        (downloads.finish(), streamed)
    }

    /// --keep-going after a failed download: the complete images bundled from the cache.
    fn rewrite_complete(
        &self,
        images: Vec<ResolvedImage>,
        fetched: &Fetched,
        opts: &CreateOptions,
        failed: &[(String, String)],
    ) -> Result<(Vec<ResolvedImage>, Plan, WrittenBundle)> {
        let images = without(images, fetched);
        if images.is_empty() {
            return Err(failure_report(&opts.list, failed).context("no image could be bundled"));
        }
        let writing = Progress::new(opts.progress, "written");
        let r = self.rewrite(images, &fetched.fresh, &writing);
        writing.finish();
        r
    }

    /// After failed downloads (--keep-going): the images that are complete, from the cache.
    fn rewrite(
        &self,
        mut images: Vec<ResolvedImage>,
        fresh: &HashSet<Digest>,
        writing: &Progress,
    ) -> Result<(Vec<ResolvedImage>, Plan, WrittenBundle)> {
        let plan = Plan::new(&images, self.base)?;
        resolve::fill_platforms(&mut images, self.output.cache);
        writing.line(&format!("writing {}", self.output.path.display()));
        let ready = |d: &Digest| Ok(fresh.contains(d));
        let written = self.write(&images, &plan, &ready, writing, writing)?;
        Ok((images, plan, written))
    }

    /// With `--compact --since BASE.bundle`: the changed layers encoded against the base's.
    fn against_base(
        &self,
        images: &[ResolvedImage],
        base: &Held,
        packed: &mut HashMap<Digest, compact::Packed>,
        s: compact::Settings,
        notes: &Progress,
    ) -> Result<()> {
        let picks = patch::pick(images, base, packed);
        if picks.is_empty() {
            return Ok(());
        }
        let mut refs = crate::reference_tars::ReferenceTars::new();
        match &base.file {
            Some(file) => {
                let reader = crate::format::reader::BundleReader::open(file)?;
                let source = crate::reference_tars::ReferenceTars::bundle_source(reader)?;
                refs.add(base.name.clone(), source);
            }
            None => patch::fetch_references(&picks, self.registries, &refs, self.output.cache),
        }
        let line = patch::encode_all(&picks, &refs, packed, self.output.cache, s, "the base's")?;
        notes.line(&line);
        Ok(())
    }

    /// With `--compact`: each layer packed if it can be, then the changed ones encoded against
    /// the base's layers (with `--since`) and against this bundle's other layers.
    fn pack(
        &self,
        images: &[ResolvedImage],
        plan: &Plan,
        ready: fetch::Ready,
        notes: &Progress,
    ) -> Result<compact::Compacted> {
        let Some(s) = self.compact else {
            return Ok(Default::default());
        };
        let mut compacted = compact::pack_all(plan, self.output.cache, s, ready, notes)?;
        if let Some(base) = self.base {
            self.against_base(images, base, &mut compacted.packed, s, notes)?;
        }
        self.against_own(images, plan, &mut compacted.packed, s, notes)?;
        Ok(compacted)
    }

    /// The layers encoded against other layers of this bundle.
    fn against_own(
        &self,
        images: &[ResolvedImage],
        plan: &Plan,
        packed: &mut HashMap<Digest, compact::Packed>,
        s: compact::Settings,
        notes: &Progress,
    ) -> Result<()> {
        let picks = patch::pick_within(images, &plan.needs, packed);
        if picks.is_empty() {
            return Ok(());
        }
        let refs = crate::reference_tars::ReferenceTars::new();
        patch::spool_own(&picks, packed, &refs)?;
        let other = "other layers of this bundle";
        let line = patch::encode_all(&picks, &refs, packed, self.output.cache, s, other)?;
        notes.line(&line);
        Ok(())
    }

    fn write(
        &self,
        images: &[ResolvedImage],
        plan: &Plan,
        ready: fetch::Ready,
        writing: &Progress,
        notes: &Progress,
    ) -> Result<WrittenBundle> {
        // bundle.json, written first, says how each layer is carried: packing comes before it.
        let compacted = self.pack(images, plan, ready, notes)?;
        let described = describe::describe(
            images,
            plan,
            &compacted,
            self.base,
            self.output.created,
            self.signer.clone(),
            self.output.tool.iter().map(|t| t.record.clone()).collect(),
        )?;
        let written = self
            .output
            .write(&described, images, ready, writing, &compacted.packed)?;
        Ok(WrittenBundle {
            doc: described.doc,
            written,
        })
    }
}
