//! Test fixtures, by concern: the real registry, a fault-injecting proxy in front of it, images
//! made from local files, local stores as judges, the bundle file's bytes, and the real `bundle`
//! binary with a command builder.

pub mod bundle_file;
pub mod cli;
pub mod helm_repo;
pub mod images;
pub mod layout;
/// The gzip producers (Go toolchains and their judge program), shared with gzip-exact's own
/// judges: layers made as Go makes them.
#[path = "../../../crates/gzip-exact/tests/judges/producers.rs"]
pub mod producers;
pub mod proxy;
pub mod raw_bundle;
pub mod recorder;
pub mod registry;
pub mod stores;

pub use bundle_file::*;
pub use cli::*;
pub(crate) use cli::{assert_ok, bundle};
pub use images::*;
pub use proxy::*;
pub use recorder::*;
pub use registry::*;
pub use stores::*;
