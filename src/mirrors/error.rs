//! What can go wrong in `bundle mirrors`, each naming the file at fault and what to do.

use crate::format::FormatError;

#[derive(Debug, thiserror::Error)]
pub enum MirrorsError {
    #[error("{path} is a `bundle inventory` file: it lists the digests and repositories the site holds, not the source registries its images came from, which the mirrors map; give the bundle file(s) that were loaded")]
    Inventory { path: String },
    #[error(transparent)]
    Bundle(#[from] FormatError),
    #[error("{path}: image {reference:?} in bundle.json is not a valid image reference ({why}); the bundle was not made by `bundle create`")]
    BadReference {
        path: String,
        reference: String,
        why: String,
    },
    #[error("writing {path}: {source}; nothing else was changed there")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the {format} configuration written does not cover {count} image(s) of the bundle (named above); pull those by their site names, or use a format that can map them")]
    NotCovered { format: String, count: usize },
}

impl MirrorsError {
    /// What was given on the command line is the wrong kind of file: exit code 2.
    pub fn is_usage(&self) -> bool {
        matches!(self, MirrorsError::Inventory { .. })
    }
}
