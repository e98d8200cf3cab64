//! `create --compact`: a gzip layer whose encoder we can run again is carried as its
//! uncompressed tar, in one zstd frame with a long window, and rebuilt byte for byte on the way
//! out (docs/FORMAT.md, `gzip-rebuild`). A layer is packed only once it is proven: its frame,
//! decoded and rebuilt, hashes to the layer's digest. Anything else is carried as it came.
//!
//! Packed frames are kept in the cache (`packed/`) for the next run, and proven again before
//! they are used: the cache is not trusted.

use crate::cpu::{self, Stage};
use crate::create::cache::BlobCache;
use crate::digest::{hash_reader, Digest, HashingReader, HashingWriter};
use crate::format::frames::{frame_reader, write_compressed_long};
use crate::format::{padded, RebuildRecord};
use crate::fsutil::PartialFile;
use anyhow::{Context, Result};
use flate2::bufread::DeflateDecoder;
use gzip_exact::preflate::{self, Refusal};
use gzip_exact::{self, Producer, Rebuilder, Recipe, Restart};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The window packed layers are compressed over: 64 MiB, so a file repeated far apart in a
/// large layer is found; a reader needs that much memory per layer it rebuilds at once (twice
/// as much would save under 2% more on real tars).
pub const WINDOW_LOG: u32 = 26;

/// How packed layers are compressed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub level: i32,
    pub window_log: u32,
}

impl Settings {
    /// The cache keeps frames per setting: another level makes other bytes.
    pub fn kind(&self) -> String {
        format!("zstd{}-w{}", self.level, self.window_log)
    }
}

/// A layer packed: how to rebuild it, and the frame that carries it.
#[derive(Debug, Clone)]
pub struct Packed {
    pub rebuild: RebuildRecord,
    pub frame: PathBuf,
    pub frame_len: u64,
}

/// Why a layer is carried as it came.
#[derive(Debug, Clone, PartialEq)]
pub enum Kept {
    /// Not a gzip stream (a config, an uncompressed layer); `zstd`: a zstd one.
    NotGzip { zstd: bool },
    /// A gzip stream no encoder here reproduces, and preflate could not within its bounds.
    Unreproduced(Refusal),
    /// More than one gzip member, or bytes after it.
    NotOneMember,
    /// The encoder and level the first MiB named (`Producer::id`) reproduced the start but
    /// not all of it, and preflate could not either.
    Differs(&'static str, i32),
    /// It inflates to more than `gzip_exact::MAX_INFLATION` times its size (real layers: 2 to 20):
    /// no layer does, a bomb does; readers refuse a record that claims more.
    Inflates,
}

impl Kept {
    /// In words, naming the producer where it is known: the summary counts layers per reason.
    fn reason(&self) -> String {
        let unknown = "made by an unknown producer";
        match self {
            Kept::NotGzip { zstd: true } => "zstd, not gzip".into(),
            Kept::NotGzip { zstd: false } => "not gzip".into(),
            Kept::Unreproduced(Refusal::TooLarge) => {
                format!("{unknown} (preflate: over 3% side data)")
            }
            Kept::Unreproduced(Refusal::Refused) => format!("{unknown} (preflate refused it)"),
            Kept::Unreproduced(Refusal::TooSlow) => format!("{unknown} (preflate: out of time)"),
            Kept::NotOneMember => "not a single gzip member".into(),
            Kept::Differs(encoder, level) => {
                format!("{encoder} level {level} reproduced at the start but not to the end")
            }
            Kept::Inflates => "inflates too far".into(),
        }
    }
}

pub type Outcome = std::result::Result<Packed, Kept>;

/// Pack the cached blob `digest` (`size` bytes), or say why it stays as it is.
pub fn pack(cache: &BlobCache, digest: &Digest, size: u64, s: Settings) -> Result<Outcome> {
    pack_counting(cache, digest, size, s, &mut Passes::default())
}

/// The passes over a layer that cost most: a proof rebuilds it (what its producer took to
/// compress it), an inflation reads its whole tar. A layer packed takes one of each, one
/// reused a proof.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Passes {
    proofs: u32,
    inflations: u32,
}

/// `pack`, counting its passes in `passes`.
fn pack_counting(
    cache: &BlobCache,
    digest: &Digest,
    size: u64,
    s: Settings,
    passes: &mut Passes,
) -> Result<Outcome> {
    let dir = cache.packed_dir(&s.kind())?;
    let frame_path = dir.join(format!("{}.zst", digest.hex()));
    let record_path = dir.join(format!("{}.json", digest.hex()));
    if let Some(p) = reuse(&frame_path, &record_path, digest, size, passes) {
        return Ok(Ok(p));
    }
    let gz_path = cache.path(digest);
    let head = read_head(&gz_path).with_context(|| format!("reading {}", gz_path.display()))?;
    let Some(at) = gzip_exact::header_len(&head) else {
        let zstd = head.starts_with(&crate::format::frames::ZSTD_MAGIC);
        return Ok(Err(Kept::NotGzip { zstd }));
    };
    let Ok(prefix) = read_prefix(&gz_path, at) else {
        return Ok(Err(Kept::NotOneMember));
    };
    let recipe = {
        let _in = cpu::enter(Stage::Identify);
        gzip_exact::guess(&head, &prefix)
    };
    let job = Job {
        gz_path,
        header: &head[..at],
        frame_path,
        digest,
        size,
        s,
        passes: Default::default(),
    };
    let packed = job.run(recipe);
    let done = job.passes.get();
    passes.proofs += done.proofs;
    passes.inflations += done.inflations;
    let packed = match packed? {
        Ok(packed) => packed,
        Err(kept) => return Ok(Err(kept)),
    };
    crate::fsutil::write_file(&record_path, &serde_json::to_vec(&packed.rebuild)?, false)?;
    Ok(Ok(packed))
}

/// One layer being packed: its gzip, where its frame goes and what it must rebuild to.
struct Job<'a> {
    gz_path: PathBuf,
    header: &'a [u8],
    frame_path: PathBuf,
    digest: &'a Digest,
    size: u64,
    s: Settings,
    /// The passes over the layer (`pack_counting`).
    passes: std::cell::Cell<Passes>,
}

impl Job<'_> {
    /// With `recipe`, the encoder the first MiB names, in one pass over the tar when the
    /// trailer's size is one the layer may have; else, after a pass that checks the stream,
    /// with the recipe or with preflate's side data.
    fn run(&self, recipe: Option<Recipe>) -> Result<Outcome> {
        let declared = declared_size(&self.gz_path, self.size)?;
        if let (Some(recipe), Some(raw_size)) = (&recipe, declared) {
            // A stream that ends early, or fails to inflate, fails this pass; the pass below
            // says why (and meets a failing disk again, to report it).
            if let Ok(Some(packed)) = self.try_recipe(raw_size, recipe, &[]) {
                return Ok(Ok(packed));
            }
        }
        self.count(|p| p.inflations += 1);
        let scan = match scan(&self.gz_path, self.header.len(), self.size)? {
            Ok(scan) => scan,
            Err(kept) => return Ok(Err(kept)),
        };
        // Tried already, unless the tar is longer than the trailer's 32 bits can say.
        let retry = recipe.as_ref().filter(|_| declared != Some(scan.raw_size));
        self.pack(&scan, recipe.as_ref(), retry)
    }

    fn count(&self, pass: impl FnOnce(&mut Passes)) {
        let mut p = self.passes.get();
        pass(&mut p);
        self.passes.set(p);
    }

    /// With `retry` if given, else with preflate's side data; `guessed` names the encoder the
    /// first MiB named, for the reason a layer is kept.
    fn pack(
        &self,
        scan: &Scan,
        guessed: Option<&Recipe>,
        retry: Option<&Recipe>,
    ) -> Result<Outcome> {
        if let Some(recipe) = retry {
            if let Some(packed) = self.try_recipe(scan.raw_size, recipe, &[])? {
                return Ok(Ok(packed));
            }
        }
        Ok(match (self.fallback(scan)?, guessed) {
            (Ok(packed), _) => Ok(packed),
            (Err(_), Some(guessed)) => {
                let (encoder, level) = guessed.producer.id();
                Err(Kept::Differs(encoder, level))
            }
            (Err(refusal), None) => Err(Kept::Unreproduced(refusal)),
        })
    }

    /// Pack the layer, a tar of `raw_size` bytes, with `recipe`, `side` (its side data)
    /// before the tar, if that proves to rebuild it: with the restart points the proof went
    /// by, so a reader rebuilds what was proven, on every core.
    fn try_recipe(&self, raw_size: u64, recipe: &Recipe, side: &[u8]) -> Result<Option<Packed>> {
        let mut frame = PartialFile::unique(&self.frame_path)?;
        let proven = self.compress_and_prove(raw_size, recipe, side, &mut frame)?;
        let Some((restarts, raw_digest)) = proven else {
            return Ok(None);
        };
        // The points are where the proof's pieces began; ones a reader would refuse (never
        // met: they are spaced as readers require) leave the proof without a recipe.
        let Some(recipe) = recipe.clone().with_restarts(restarts, raw_size) else {
            return Ok(None);
        };
        let frame_len = frame.file().metadata()?.len();
        frame.commit(false)?;
        let recipe = &recipe;
        Ok(Some(Packed {
            rebuild: RebuildRecord::new(recipe, raw_size, raw_digest),
            frame: self.frame_path.clone(),
            frame_len,
        }))
    }

    /// Pack a layer no encoder here reproduces with preflate's side data, if it describes the
    /// stream within its bounds (`preflate::Bounds::for_gzip`) and that proves to rebuild it.
    fn fallback(&self, scan: &Scan) -> Result<std::result::Result<Packed, Refusal>> {
        if scan.raw_size > preflate::MAX_RAW {
            return Ok(Err(Refusal::Refused));
        }
        let at = self.header.len();
        let deflate = deflate_stream(&self.gz_path, at)?.take(self.size - at as u64 - 8);
        let analysed = {
            let _in = cpu::enter(Stage::Preflate);
            preflate::analyse(deflate, &preflate::Bounds::for_gzip(self.size))
        };
        let side = match analysed.with_context(|| format!("reading {}", self.gz_path.display()))? {
            Ok(side) => side,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let producer = Producer::Preflate {
            side: side.len() as u64,
            sha256: Digest::of(&side).sha256(),
        };
        let recipe = Recipe::new(producer, self.header.to_vec()).context("a checked header")?;
        Ok(self
            .try_recipe(scan.raw_size, &recipe, &side)?
            .ok_or(Refusal::Refused))
    }

    /// Compress the member (`side`, then the `raw_size`-byte tar) into `frame` while a second
    /// thread rebuilds the gzip from the same bytes; if the rebuild is exactly the blob, the
    /// restart points it went by (`Rebuilder::recording`) and the tar's digest. One pass does
    /// all: a rebuild that is the blob proves the stream one member, its trailer right and
    /// its tar `raw_size` bytes.
    fn compress_and_prove(
        &self,
        raw_size: u64,
        recipe: &Recipe,
        side: &[u8],
        frame: &mut PartialFile,
    ) -> Result<Option<(Vec<Restart>, Digest)>> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
        let rebuilder = Rebuilder::recording(recipe).context("an encoder without a rebuilder")?;
        let blob = SameAs(deflate_stream(&self.gz_path, 0)?);
        self.count(|p| p.proofs += 1);
        std::thread::scope(|threads| {
            let prover = threads.spawn(move || {
                let _in = cpu::enter(Stage::Prove);
                let mut w = gzip_exact::RebuildWriter::new(HashingWriter::new(blob), rebuilder);
                for piece in rx {
                    io::Write::write_all(&mut w, &piece).ok()?;
                }
                let restarts = w.restarts();
                let (_, found, count) = w.finish().ok()?.finish();
                Some((found, count, restarts))
            });
            let inflated = inflater(&self.gz_path, self.header.len())?;
            self.count(|p| p.inflations += 1);
            let tar = cpu::In::new(Stage::Inflate, HashingReader::new(inflated)).take(raw_size);
            let member = Tee {
                inner: side.chain(tar),
                to: Some(tx),
            };
            let member_size = side.len() as u64 + raw_size;
            let len = padded(member_size);
            let mut out = BufWriter::with_capacity(1 << 20, &mut *frame);
            let (level, window) = (self.s.level, self.s.window_log);
            let mut padded_member = member.chain(io::repeat(0).take(len - member_size));
            let written = {
                let _in = cpu::enter(Stage::Zstd);
                write_compressed_long(&mut out, &mut padded_member, len, level, window)
                    .and_then(|()| io::Write::flush(&mut out))
            };
            // Ends the prover's input even when the compressor stopped at `len` without
            // reading to the end.
            let tar = padded_member.into_inner().0.into_inner().into_inner().1;
            let raw_digest = tar.into_inner().into_inner().digest();
            let rebuilt = prover
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            match written {
                Err(e) if e.get_ref().is_some_and(|e| e.is::<GaveUp>()) => return Ok(None),
                written => written
                    .with_context(|| format!("compressing the tar of layer {}", self.digest))?,
            }
            Ok(rebuilt
                .filter(|(found, count, _)| found == self.digest && *count == self.size)
                .map(|(_, _, restarts)| (restarts, raw_digest)))
        })
    }
}

/// Hands every byte read to a second reader through a channel, as well as to the caller; fails
/// with `GaveUp` once that reader stops listening.
struct Tee<R> {
    inner: R,
    to: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
}

impl<R> Tee<R> {
    /// The reader, the second one told there is no more.
    fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.to = None;
        } else if let Some(to) = &self.to {
            if to.send(buf[..n].to_vec()).is_err() {
                return Err(io::Error::other(GaveUp));
            }
        }
        Ok(n)
    }
}

/// The prover stopped at the first byte its rebuild got wrong: the rest of the layer is not
/// compressed for nothing (a wrong guess is then tried with side data, from the start).
#[derive(Debug)]
struct GaveUp;

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the rebuild differs from the layer")
    }
}

impl std::error::Error for GaveUp {}

/// The blob's bytes, compared with what is written to it: the first write that differs (or
/// runs past its end) fails.
struct SameAs<R>(R);

impl<R: Read> io::Write for SameAs<R> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let mut blob = vec![0; b.len()];
        self.0.read_exact(&mut blob)?;
        match blob == b {
            true => Ok(b.len()),
            false => Err(io::Error::other(GaveUp)),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A frame packed by an earlier run, if it still rebuilds to the digest.
fn reuse(
    frame: &Path,
    record: &Path,
    digest: &Digest,
    size: u64,
    passes: &mut Passes,
) -> Option<Packed> {
    let bytes = std::fs::read(record).ok()?;
    let rebuild: RebuildRecord = serde_json::from_slice(&bytes).ok()?;
    let recipe = rebuild.recipe()?;
    let frame_len = std::fs::metadata(frame).ok()?.len();
    passes.proofs += 1;
    let _in = cpu::enter(Stage::Prove);
    match proven(frame, rebuild.member(digest).1, &recipe, digest, size) {
        Ok(true) => {
            BlobCache::touch(frame);
            BlobCache::touch(record);
            Some(Packed {
                rebuild,
                frame: frame.to_path_buf(),
                frame_len,
            })
        }
        _ => None,
    }
}

/// The first bytes of the blob: enough for `gzip_exact::guess`.
fn read_head(path: &Path) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    File::open(path)?
        .take(gzip_exact::HEAD as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// The first `gzip_exact::PREFIX` bytes of the blob's tar: enough for `gzip_exact::guess`.
fn read_prefix(path: &Path, at: usize) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(gzip_exact::PREFIX);
    cpu::In::new(Stage::Inflate, inflater(path, at)?)
        .take(gzip_exact::PREFIX as u64)
        .read_to_end(&mut prefix)?;
    Ok(prefix)
}

/// The tar's size as the `size`-byte blob's trailer says it (modulo 2^32), if a layer of that
/// size may have a tar so large: what one pass compresses and proves the layer with.
fn declared_size(path: &Path, size: u64) -> io::Result<Option<u64>> {
    if size < 8 {
        return Ok(None);
    }
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(size - 4))?;
    let mut isize = [0u8; 4];
    f.read_exact(&mut isize)?;
    let raw = u64::from(u32::from_le_bytes(isize));
    Ok((raw <= gzip_exact::max_raw_size(size)).then_some(raw))
}

/// The deflate stream of the blob at `path`, whose header is `at` bytes, inflated.
fn inflater(path: &Path, at: usize) -> io::Result<DeflateDecoder<BufReader<File>>> {
    Ok(DeflateDecoder::new(deflate_stream(path, at)?))
}

/// The blob at `path` from its deflate stream on, after a header of `at` bytes.
fn deflate_stream(path: &Path, at: usize) -> io::Result<BufReader<File>> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(at as u64))?;
    Ok(BufReader::with_capacity(1 << 20, f))
}

/// What a pass over the uncompressed bytes tells.
struct Scan {
    raw_size: u64,
}

/// Inflate the whole stream: its size, and the check that it is one gzip member whose
/// trailer holds (for a layer the one-pass proof did not take).
fn scan(path: &Path, at: usize, size: u64) -> Result<std::result::Result<Scan, Kept>> {
    let mut dec = inflater(path, at)?;
    let mut crc = crc32fast::Hasher::new();
    let most = gzip_exact::max_raw_size(size);
    let copied = io::copy(
        &mut cpu::In::new(Stage::Inflate, &mut dec).take(most + 1),
        &mut CrcWriter(&mut crc),
    );
    let Ok(raw_size) = copied else {
        return Ok(Err(Kept::NotOneMember));
    };
    if raw_size > most {
        return Ok(Err(Kept::Inflates));
    }
    let used = at as u64 + dec.total_in();
    let mut trailer = [0u8; 8];
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(used))?;
    let want = [
        crc.clone().finalize().to_le_bytes(),
        (raw_size as u32).to_le_bytes(),
    ]
    .concat();
    if used + 8 != size || f.read_exact(&mut trailer).is_err() || trailer[..] != want[..] {
        return Ok(Err(Kept::NotOneMember));
    }
    Ok(Ok(Scan { raw_size }))
}

/// Feeds a CRC-32.
struct CrcWriter<'a>(&'a mut crc32fast::Hasher);

impl io::Write for CrcWriter<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Does the frame at `path` (a member of `member_size` bytes), decoded and rebuilt with
/// `recipe`, give exactly the blob?
fn proven(
    path: &Path,
    member_size: u64,
    recipe: &Recipe,
    digest: &Digest,
    size: u64,
) -> Result<bool> {
    let Some(rebuilder) = Rebuilder::new(recipe) else {
        return Ok(false);
    };
    let f = BufReader::with_capacity(1 << 20, File::open(path)?);
    let raw = frame_reader(f, padded(member_size))?.take(member_size);
    // A frame that does not decode proves nothing: it is packed again.
    Ok(hash_reader(gzip_exact::RebuildReader::new(raw, rebuilder))
        .is_ok_and(|(found, count)| &found == digest && count == size))
}

/// Pack every layer of the plan that can be, a core each, following the downloads (`ready`
/// waits for a blob and fails when the bundle is given up). Returns the packed ones.
pub fn pack_all(
    plan: &super::plan::Plan,
    cache: &BlobCache,
    s: Settings,
    ready: super::fetch::Ready,
    progress: &crate::progress::Progress,
) -> Result<Compacted> {
    use rayon::prelude::*;
    let layers: Vec<_> = plan.needs.iter().filter(|n| !n.is_config()).collect();
    let bytes: u64 = layers.iter().map(|n| n.size).sum();
    progress.line(&format!(
        "compacting {} layers ({}): zstd level {}, window {} MiB",
        layers.len(),
        indicatif::HumanBytes(bytes),
        s.level,
        1u64 << s.window_log.saturating_sub(20)
    ));
    // Largest first, each to the next free core: the last to finish is then a small one, not
    // the largest layer alone on one core while the others idle (a slice's parallel iterator
    // would start the second core halfway down the list instead).
    let mut order = layers;
    order.sort_by_key(|n| std::cmp::Reverse(n.size));
    let pool = crate::workers::pool(crate::workers::cores(), "compact")?;
    let outcomes: Vec<(Digest, Outcome)> = pool.install(|| {
        order
            .into_iter()
            .par_bridge()
            .map(|n| {
                ready(&n.digest)?;
                let o = pack(cache, &n.digest, n.size, s)
                    .with_context(|| format!("compacting layer {}", n.digest))?;
                Ok((n.digest.clone(), o))
            })
            .collect::<Result<_>>()
    })?;
    progress.line(&outcome_line(&outcomes));
    let mut c = Compacted::default();
    for (d, o) in outcomes {
        match o {
            Ok(p) => {
                c.packed.insert(d, p);
            }
            Err(k) => {
                c.kept.insert(d, k.reason());
            }
        }
    }
    Ok(c)
}

/// What `pack_all` came to: the layers packed, and why each other one is carried as it came
/// (recorded in bundle.json, so the summary, `--json` and `inspect` say it, not only the log).
#[derive(Default)]
pub struct Compacted {
    pub packed: std::collections::HashMap<Digest, Packed>,
    pub kept: std::collections::HashMap<Digest, String>,
}

/// "compacted 15 of 35 layers; carried as they came: 12 made by an unknown producer, ..."
fn outcome_line(outcomes: &[(Digest, Outcome)]) -> String {
    let packed = outcomes.iter().filter(|(_, o)| o.is_ok()).count();
    let why = counted(
        outcomes
            .iter()
            .filter_map(|(_, o)| Some(o.as_ref().err()?.reason())),
    );
    let mut line = format!("compacted {packed} of {} layers", outcomes.len());
    if !why.is_empty() {
        line.push_str(&format!("; carried as they came: {why}"));
    }
    line
}

/// Reasons counted, in the order first met: "12 made by an unknown producer, 1 not gzip"; empty
/// for none.
pub(super) fn counted(reasons: impl IntoIterator<Item = String>) -> String {
    let mut tally: Vec<(String, usize)> = Vec::new();
    for reason in reasons {
        match tally.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => tally.push((reason, 1)),
        }
    }
    let parts: Vec<String> = tally.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(cache: &BlobCache, gz: &[u8]) -> Digest {
        let d = Digest::of(gz);
        std::fs::write(cache.path(&d), gz).unwrap();
        d
    }

    #[test]
    fn a_layer_is_packed_only_when_it_rebuilds_and_does_not_inflate_without_bound() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::open(dir.path()).unwrap();
        let s = Settings {
            level: 3,
            window_log: 20,
        };
        let text: Vec<u8> = (0..120_000u32)
            .flat_map(|i| format!("line {} of {}\n", i % 977, i / 13).into_bytes())
            .collect();
        let gz = gzip_exact::go::gzip(&text, 6).unwrap();
        let d = cached(&cache, &gz);
        let p = pack(&cache, &d, gz.len() as u64, s)
            .unwrap()
            .expect("packed");
        assert_eq!((p.rebuild.encoder.as_str(), p.rebuild.level), ("go1.8", 6));
        assert_eq!(p.rebuild.raw_digest, Digest::of(&text));
        // Proven again, not recompressed, on the next run.
        let again = pack(&cache, &d, gz.len() as u64, s)
            .unwrap()
            .expect("reused");
        assert_eq!(again.frame_len, p.frame_len);

        let bomb = gzip_exact::go::gzip(&vec![0u8; 6 << 20], 1).unwrap();
        let d = cached(&cache, &bomb);
        let o = pack(&cache, &d, bomb.len() as u64, s).unwrap();
        assert_eq!(
            o.err(),
            Some(Kept::Inflates),
            "{} bytes of gzip",
            bomb.len()
        );

        // A trailer that says more than the stream holds: the one pass comes up short.
        let mut long = gz.clone();
        let n = long.len();
        long[n - 4..].copy_from_slice(&(text.len() as u32 + 1000).to_le_bytes());
        let d = cached(&cache, &long);
        let o = pack(&cache, &d, long.len() as u64, s).unwrap();
        assert_eq!(o.err(), Some(Kept::NotOneMember));

        let mut two = gz.clone();
        two.extend_from_slice(&gz);
        let d = cached(&cache, &two);
        let o = pack(&cache, &d, two.len() as u64, s).unwrap();
        assert_eq!(o.err(), Some(Kept::NotOneMember));

        let d = cached(&cache, b"{\"config\": true}");
        let not_gzip = Some(Kept::NotGzip { zstd: false });
        assert_eq!(pack(&cache, &d, 16, s).unwrap().err(), not_gzip);
        let zst = zstd::stream::encode_all(&text[..1000], 3).unwrap();
        let d = cached(&cache, &zst);
        let o = pack(&cache, &d, zst.len() as u64, s).unwrap().err();
        assert_eq!(o.map(|k| k.reason()).as_deref(), Some("zstd, not gzip"));
    }

    #[test]
    fn a_wrong_recipe_is_given_up_where_its_rebuild_goes_wrong_not_as_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::open(dir.path()).unwrap();
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("line {} of {}\n", i % 977, i / 13).into_bytes())
            .collect();
        let gz = gzip_exact::go::gzip(&text, 6).unwrap();
        let d = cached(&cache, &gz);
        let gz_path = cache.path(&d);
        let head = read_head(&gz_path).unwrap();
        let at = gzip_exact::header_len(&head).unwrap();
        let raw_size = text.len() as u64;
        let frame_path = dir.path().join("frame.zst");
        let job = Job {
            gz_path,
            header: &head[..at],
            frame_path: frame_path.clone(),
            digest: &d,
            size: gz.len() as u64,
            s: Settings {
                level: 1,
                window_log: 20,
            },
            passes: Default::default(),
        };
        let wrong = Recipe::new(Producer::Go { level: 5 }, head[..at].to_vec()).unwrap();
        let mut frame = PartialFile::unique(&frame_path).unwrap();
        let proven = job.compress_and_prove(raw_size, &wrong, &[], &mut frame);
        assert!(matches!(proven, Ok(None)), "{proven:?}");
        let prefix = read_prefix(&job.gz_path, at).unwrap();
        let right = gzip_exact::guess(&head, &prefix).unwrap();
        let mut frame = PartialFile::unique(&frame_path).unwrap();
        let proven = job.compress_and_prove(raw_size, &right, &[], &mut frame);
        let digest = proven.unwrap().map(|(_, raw_digest)| raw_digest);
        assert_eq!(digest, Some(Digest::of(&text)));
        // Past its end, or a byte off: not the blob.
        let mut same = SameAs(&b"abc"[..]);
        assert!(io::Write::write_all(&mut same, b"ab").is_ok());
        assert!(io::Write::write_all(&mut same, b"d").is_err());
        assert!(io::Write::write_all(&mut SameAs(&b"abc"[..]), b"abcd").is_err());
    }

    #[test]
    fn a_layer_with_restart_points_is_inflated_and_proven_once_by_the_pass_that_finds_them() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::open(dir.path()).unwrap();
        let s = Settings {
            level: 1,
            window_log: 20,
        };
        let mut seed = 5u32;
        let mut text = Vec::new();
        while text.len() < 9 << 20 {
            seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
            text.extend_from_slice(
                format!("usr/lib/{}/lib{}.so\n", seed % 4099, seed >> 28).as_bytes(),
            );
        }
        let gz = gzip_exact::go::gzip(&text, 6).unwrap();
        let d = cached(&cache, &gz);
        let mut passes = Passes::default();
        let p = pack_counting(&cache, &d, gz.len() as u64, s, &mut passes)
            .unwrap()
            .expect("packed");
        assert!(p.rebuild.restarts.len() >= 2, "{:?}", p.rebuild.restarts);
        let once = Passes {
            proofs: 1,
            inflations: 1,
        };
        assert_eq!(passes, once, "the passes it took to pack the layer");
        // The next run proves the frame with the recipe as recorded, restart points and all,
        // as a reader rebuilds it: once.
        let mut passes = Passes::default();
        let again = pack_counting(&cache, &d, gz.len() as u64, s, &mut passes)
            .unwrap()
            .expect("reused");
        assert_eq!((passes.proofs, passes.inflations), (1, 0));
        assert_eq!(again.rebuild.restarts, p.rebuild.restarts);
    }
}
