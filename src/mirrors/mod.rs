//! `bundle mirrors` (and `load --write-mirrors`): the configuration each container runtime needs
//! to pull a bundle's images under their source names (`docker.io/library/nginx:1.27`,
//! `quay.io/team/app@sha256:…`) from the site registry they were loaded into, named as `load`
//! named them (`naming`). `plan` maps source prefixes to site paths once; one file per runtime
//! renders that map (`containerd`, `crio`, `k3s`, `docker`, `openshift`); `sources` reads what
//! bundles hold, and `write` puts the files in place.

mod containerd;
mod crio;
mod docker;
mod error;
mod k3s;
mod openshift;
pub mod plan;
pub mod sources;
mod write;

pub use error::MirrorsError;
pub use plan::{plan, Mirror, MirrorPlan, Site};
pub use sources::{Provenance, Sources};
pub use write::{write, write_every, Format, Written};
