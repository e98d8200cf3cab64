//! The images a bundle names, and what every written file says made it. Only bundle.json is
//! read (as `inspect` does): the names decide the mirrors, and the files written are for the
//! operator to review and install, so no key is needed. A `bundle inventory` file is refused:
//! it holds the site's digests and repositories, not the source names the mirrors map.

use super::error::MirrorsError;
use crate::digest::Digest;
use crate::format::reader::BundleReader;
use crate::format::FormatError;
use crate::reference::Reference;
use std::path::{Path, PathBuf};

/// What made a set of mirror files: a line for their comments.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// `site.bundle (bundle.json sha256:…, created 2026-…)`, one per bundle.
    pub from: Vec<String>,
    /// The bundles' bundle.json digest (of them all, for several): names OpenShift's sets.
    pub digest: Digest,
    /// When the files were written (RFC 3339, UTC).
    pub date: String,
    /// `bundle mirrors` or `bundle load --write-mirrors`.
    pub command: String,
}

impl Provenance {
    pub fn of_bundle(file: &Path, bundle_json: &Digest, created: &str, command: &str) -> Self {
        Provenance {
            from: vec![describe(file, bundle_json, created)],
            digest: bundle_json.clone(),
            date: now(),
            command: command.to_string(),
        }
    }

    /// The comment lines every file starts with (without the comment marker).
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "Written by bundle {} (`{}`) on {} from",
            env!("CARGO_PKG_VERSION"),
            self.command,
            self.date
        )];
        out.extend(self.from.iter().map(|f| format!("  {f}")));
        out.push(
            "Pulls by digest through a mirror are exact; pulls by tag trust the site registry's tags."
                .into(),
        );
        out
    }
}

fn describe(file: &Path, bundle_json: &Digest, created: &str) -> String {
    format!(
        "{} (bundle.json {bundle_json}, created {created})",
        file.display()
    )
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The images of the bundles given, and their provenance.
#[derive(Debug)]
pub struct Sources {
    pub images: Vec<Reference>,
    pub provenance: Provenance,
}

/// Read each bundle's bundle.json (a split bundle's parts are found as `load` finds them).
pub fn read(files: &[PathBuf]) -> Result<Sources, MirrorsError> {
    let mut images = Vec::new();
    let mut from = Vec::new();
    let mut digests = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let reader = match BundleReader::open(file) {
            Ok(r) => r,
            Err(FormatError::NotABundle { .. }) if crate::inventory::read(file).is_ok() => {
                return Err(MirrorsError::Inventory { path: name });
            }
            Err(e) => return Err(e.into()),
        };
        let (doc, bytes) = reader.bundle_manifest()?;
        let digest = Digest::of(&bytes);
        // Runtimes pull images; charts and files are fetched by name from the site.
        for img in doc.images.iter().filter(|i| i.carries.is_image()) {
            let r = Reference::parse(&img.reference).map_err(|e| MirrorsError::BadReference {
                path: name.clone(),
                reference: img.reference.clone(),
                why: e.to_string(),
            })?;
            images.push(r);
        }
        from.push(describe(file, &digest, &doc.created));
        digests.push(digest);
    }
    let digest = match digests.as_slice() {
        [one] => one.clone(),
        many => Digest::of(
            many.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
                .as_bytes(),
        ),
    };
    Ok(Sources {
        images,
        provenance: Provenance {
            from,
            digest,
            date: now(),
            command: "bundle mirrors".into(),
        },
    })
}
