//! The reference tars that layers carried as patches (`format::patch`, made by
//! `create --compact`) are decoded against: found in the bundle itself or a base bundle, or read
//! back from a load target or a registry, unpacked into scratch files, and checked against the
//! digest the patch names.

use crate::digest::Digest;
use crate::format::reader::BundleReader;
use anyhow::Result;
use std::io::Read;

/// A reader of a layer's tar, or None when the source does not hold the layer.
pub type TarSource =
    Box<dyn Fn(&Digest) -> Option<std::io::Result<Box<dyn Read + Send>>> + Send + Sync>;

/// The reference tars that layers carried as patches (`format::patch`) need: read from the
/// first source that holds each (a base bundle, a load target), checked against the digest the
/// patch names, and kept in scratch files for the run (read at random, never all in memory).
/// Each layer is spooled once: who asks while it is being spooled waits for that spool.
pub struct ReferenceTars {
    sources: Vec<(String, TarSource)>,
    scratch: std::sync::Mutex<Option<crate::fsutil::ScratchDir>>,
    spooled: std::sync::Mutex<std::collections::HashMap<Digest, Slot>>,
}

/// A layer's spool, once made; its lock is held while it is being made.
type Slot = std::sync::Arc<std::sync::Mutex<Option<Spooled>>>;

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Default for ReferenceTars {
    fn default() -> Self {
        Self::new()
    }
}

impl ReferenceTars {
    pub fn new() -> Self {
        ReferenceTars {
            sources: Vec::new(),
            scratch: Default::default(),
            spooled: Default::default(),
        }
    }

    /// Look in `source` (called `name` in messages) after the sources added before.
    pub fn add(&mut self, name: String, source: TarSource) {
        self.sources.push((name, source));
    }

    /// The tars of the layers a bundle file carries: a compact layer's tar straight from its
    /// member, any other gzip layer inflated.
    pub fn bundle_source(reader: BundleReader) -> Result<TarSource> {
        let (doc, _) = reader.bundle_manifest()?;
        let records: std::collections::HashMap<Digest, crate::format::BlobRecord> = doc
            .blobs
            .into_iter()
            .map(|b| (b.digest.clone(), b))
            .collect();
        Ok(Box::new(move |digest: &Digest| {
            let rec = records.get(digest)?;
            let io = |e: crate::format::FormatError| std::io::Error::other(e.to_string());
            Some(match &rec.rebuild {
                Some(r) if r.reference.is_none() => {
                    let path = rec.member_path();
                    let m = reader.member(&path)?;
                    let side = r.side_size.unwrap_or(0);
                    reader.open_member(m).map_err(io).and_then(|mut member| {
                        std::io::copy(&mut (&mut member).take(side), &mut std::io::sink())?;
                        Ok(Box::new(member.take(r.raw_size)) as Box<dyn Read + Send>)
                    })
                }
                Some(_) => return None,
                None => reader.open_blob(rec).map(gunzip).map_err(io),
            })
        }))
    }

    /// The tar of `layer` from the first source that has it: where it is spooled, its size
    /// and its sha256. Kept for the run once spooled; different layers spool in parallel, and
    /// one layer once however many ask at the same time.
    /// A tar past `limit` bytes (what the delta's record promises) is refused as it spools.
    pub fn fetch(&self, layer: &Digest, limit: u64) -> Result<Spooled, String> {
        let slot = self.slot(layer);
        let mut slot = lock(&slot);
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let s = self.fetch_new(layer, limit)?;
        *slot = Some(s.clone());
        Ok(s)
    }

    fn fetch_new(&self, layer: &Digest, limit: u64) -> Result<Spooled, String> {
        let mut tried = Vec::new();
        for (name, source) in &self.sources {
            let Some(opened) = source(layer) else {
                continue;
            };
            match opened
                .map_err(anyhow::Error::from)
                .and_then(|tar| self.spool_from(tar, layer, limit))
            {
                Ok(s) => return Ok(s),
                Err(e) => tried.push(format!("{name}: {}", crate::causes::flatten(e.chain()))),
            }
        }
        Err(match tried.is_empty() {
            true => format!(
                "layer {layer} is needed as the reference of a delta, and {} does not hold it; load the release it came with first, or give the bundle that carries it with --base",
                self.names()
            ),
            false => format!("reference layer {layer}: {}", tried.join("; ")),
        })
    }

    /// Keep `tar` as the tar of `layer`, for `fetch` and `get`; at most `limit` bytes of it.
    pub fn spool(&self, layer: &Digest, tar: Box<dyn Read + Send>, limit: u64) -> Result<Spooled> {
        let s = self.spool_from(tar, layer, limit)?;
        Ok(self.keep(layer, s))
    }

    fn slot(&self, layer: &Digest) -> Slot {
        lock(&self.spooled)
            .entry(layer.clone())
            .or_default()
            .clone()
    }

    /// The first tar spooled for `layer` wins.
    fn keep(&self, layer: &Digest, s: Spooled) -> Spooled {
        let slot = self.slot(layer);
        let mut slot = lock(&slot);
        slot.get_or_insert(s).clone()
    }

    fn names(&self) -> String {
        match self.sources.is_empty() {
            true => "nothing here".into(),
            false => {
                let names: Vec<&str> = self.sources.iter().map(|(n, _)| n.as_str()).collect();
                names.join(" nor ")
            }
        }
    }

    /// Write `tar` to a scratch file of its own: its name is gone once written (the open file
    /// is what is kept), so nothing is left behind on any exit.
    fn spool_from(&self, tar: Box<dyn Read + Send>, layer: &Digest, limit: u64) -> Result<Spooled> {
        let dir = {
            let mut scratch = lock(&self.scratch);
            if scratch.is_none() {
                *scratch = Some(crate::fsutil::ScratchDir::new(".bundle-refs-")?);
            }
            scratch.as_ref().expect("made above").path().to_path_buf()
        };
        let file = crate::fsutil::PartialFile::scratch(&dir, &format!("{}-", layer.hex()))?;
        let mut out = crate::digest::HashingWriter::new(std::io::BufWriter::new(file.file()));
        // A gzip (or zstd) bomb stops at the size the signed record promises, not at a full disk.
        std::io::copy(&mut tar.take(limit.saturating_add(1)), &mut out)?;
        let (w, digest, size) = out.finish();
        anyhow::ensure!(
            size <= limit,
            "reference layer {layer} unpacks to more than the {limit} bytes of tar its delta was made against; refused"
        );
        w.into_inner().map_err(|e| e.into_error())?;
        Ok(Spooled {
            tar: std::sync::Arc::new(file.file().try_clone()?),
            size,
            digest,
        })
    }
}

/// A reference tar in a scratch file, with its size and sha256.
#[derive(Clone)]
pub struct Spooled {
    pub tar: std::sync::Arc<dyn crate::format::patch::Reference>,
    pub size: u64,
    pub digest: Digest,
}

impl crate::format::References for ReferenceTars {
    fn get(
        &self,
        r: &crate::format::ReferenceRecord,
    ) -> Result<std::sync::Arc<dyn crate::format::patch::Reference>, String> {
        let s = self.fetch(&r.layer, r.raw_size)?;
        if s.digest != r.raw_digest || s.size != r.raw_size {
            return Err(format!(
                "reference layer {}: its tar is {} ({} bytes), not {} as the delta was made against",
                r.layer, s.digest, s.size, r.raw_digest
            ));
        }
        Ok(s.tar)
    }
}

/// The tar inside a gzip layer (all its members).
pub fn gunzip(gz: impl Read + Send + 'static) -> Box<dyn Read + Send> {
    Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
        gz,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_reference_asked_for_at_once_is_spooled_once() {
        let tar: Arc<Vec<u8>> = Arc::new((0..3 << 20).map(|i| (i % 253) as u8).collect());
        let layer = Digest::of(b"the reference layer");
        let opens = Arc::new(AtomicUsize::new(0));
        let mut tars = ReferenceTars::new();
        let (t, o, l) = (tar.clone(), opens.clone(), layer.clone());
        tars.add(
            "test".into(),
            Box::new(move |d: &Digest| {
                if *d != l {
                    return None;
                }
                o.fetch_add(1, Ordering::SeqCst);
                // Slow enough that the others ask while the first spools.
                std::thread::sleep(std::time::Duration::from_millis(100));
                let r: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(t.to_vec()));
                Some(Ok(r))
            }),
        );
        let tars = Arc::new(tars);
        let askers: Vec<_> = (0..8)
            .map(|_| {
                let (tars, layer) = (tars.clone(), layer.clone());
                std::thread::spawn(move || tars.fetch(&layer, 4 << 20).map(|s| s.size))
            })
            .collect();
        for a in askers {
            assert_eq!(a.join().unwrap(), Ok(tar.len() as u64));
        }
        assert_eq!(opens.load(Ordering::SeqCst), 1, "one spool for all");
    }

    #[test]
    fn a_spool_stops_at_the_size_its_record_promises() {
        let tars = ReferenceTars::new();
        let layer = Digest::of(b"bomb");
        let endless: Box<dyn Read + Send> = Box::new(std::io::repeat(0));
        let e = tars.spool(&layer, endless, 1 << 20).err().expect("refused");
        assert!(e.to_string().contains("more than the 1048576 bytes"), "{e}");
        let fits: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(vec![1u8; 1000]));
        assert_eq!(tars.spool(&layer, fits, 1000).unwrap().size, 1000);
    }
}
