//! Talking to OCI distribution registries.

pub mod auth;
pub mod client;
pub mod credentials;
pub mod deadline;
pub mod error;
mod hints;
pub mod listing;
pub mod pull;
pub mod push;
pub mod referrers;
mod registries;
pub mod retry;
mod settings;
pub mod stream;
pub mod web;

pub use client::{Manifest, RegistryClient};
pub use error::RegistryError;
pub use hints::Hints;
pub use registries::Registries;
pub use settings::{GlobalOptions, HttpSettings, RegistryConfig};
