//! What prune found at a site, the same for a registry and a layout.

/// What prune found (and, with `removed`, removed).
#[derive(Debug, Default)]
pub struct Pruned {
    pub site: String,
    /// `REPO:TAG` (registry) or the `org.opencontainers.image.ref.name` (layout) that go.
    pub tags: Vec<String>,
    /// `REPO@DIGEST` (registry) or the digest of an index entry (layout) that go.
    pub manifests: Vec<String>,
    /// Blob files of a layout that go, and their bytes.
    pub blobs: usize,
    pub blob_bytes: u64,
    /// Indexes kept with fewer entries (a registry's `bundle-pinned` tags).
    pub rewritten: Vec<String>,
    pub removed: bool,
}
