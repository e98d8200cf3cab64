//! What discovery finds: each image with the place it was written, each invalid value with
//! its place and why. An image found twice is kept once, at the first place it was found
//! (values before templates before subcharts; the order of the walk, documented in
//! docs/CLI.md); "the same image" means the same normalised reference, so `nginx` and
//! `docker.io/library/nginx:latest` are one.

use crate::reference::Reference;
use std::collections::HashSet;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The image as written, after the conventions (registry, appVersion, digest) applied.
    pub image: String,
    /// Where: `values.yaml webhook.image`, `charts/redis values.yaml master.image`,
    /// `rendered.yaml Deployment/web initContainers[init].image`.
    pub place: String,
    /// For a problem: why it is not a valid reference. `None` for a found image.
    pub why: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    pub found: Vec<Found>,
    /// Values that are not valid image references, each with its place.
    pub problems: Vec<Found>,
}

/// Gathers a `Discovery`, checking and deduplicating as it goes.
#[derive(Default)]
pub struct Collector {
    out: Discovery,
    seen: HashSet<String>,
    seen_problems: HashSet<(String, String)>,
}

impl Collector {
    pub fn add(&mut self, image: &str, place: String) {
        let image = image.trim();
        match Reference::parse(image) {
            Ok(r) => {
                if self.seen.insert(r.to_string()) {
                    self.out.found.push(Found {
                        image: image.to_string(),
                        place,
                        why: None,
                    });
                }
            }
            Err(e) => {
                if self
                    .seen_problems
                    .insert((image.to_string(), place.clone()))
                {
                    self.out.problems.push(Found {
                        image: image.to_string(),
                        place,
                        why: Some(e.to_string()),
                    });
                }
            }
        }
    }

    /// A value that should have held images but could not be read at all.
    pub fn problem(&mut self, text: &str, place: String, why: String) {
        let mut image: String = text.chars().take(200).collect();
        if image.len() < text.len() {
            image.push('…');
        }
        self.out.problems.push(Found {
            image,
            place,
            why: Some(why),
        });
    }

    pub fn finish(self) -> Discovery {
        self.out
    }
}
