//! Helm charts, purely: reading a packaged chart, the bytes `helm push` makes of it (OCI
//! config and manifest), and the images a chart or a rendered manifest uses. No network, no
//! files: `create` fetches and stores, this reads.

mod archive;
mod chart;
mod discover;
mod error;
mod found;
mod gojson;
mod metadata;
mod oci;
mod rendered;
mod values;
mod walk;
mod yaml;

#[cfg(test)]
mod tests;

pub use chart::Chart;
pub use discover::{discover, ValuesFile};
pub use error::ChartError;
pub use found::{Discovery, Found};
pub use metadata::{Dependency, Maintainer, Metadata};
pub use oci::{helm_manifest, Blob, CHART_MEDIA_TYPE, CONFIG_MEDIA_TYPE, PROV_MEDIA_TYPE};
pub use rendered::rendered;
