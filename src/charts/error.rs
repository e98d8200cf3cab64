//! What can be wrong with a chart or a rendered file. Every message names the file (inside the
//! chart when it is one), the key or line, and what to do.

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error(
        "the chart is not a gzip-compressed tar ({0}); a chart is the .tgz `helm package` writes"
    )]
    NotTgz(String),
    #[error("the chart archive holds {path:?}, {why}; Helm refuses such a chart, so repackage it with `helm package`")]
    BadPath { path: String, why: &'static str },
    #[error("{path} in the chart archive unpacks to more than {limit} bytes, Helm's limit for one file of a chart")]
    FileTooLarge { path: String, limit: u64 },
    #[error("the chart archive unpacks to more than {limit} bytes, Helm's limit for a chart with its subcharts")]
    TooLarge { limit: u64 },
    #[error("the chart archive holds no files; a chart needs at least Chart.yaml")]
    Empty,
    #[error("{0}Chart.yaml is missing; a chart's archive holds NAME/Chart.yaml")]
    NoChartYaml(String),
    #[error("subcharts nest more than {0} deep; the chart is not one `helm package` makes")]
    TooDeep(usize),
    #[error("{file}: {message}; fix the YAML")]
    Yaml { file: String, message: String },
    #[error("{file}: {key} {message}")]
    Field {
        file: String,
        key: String,
        message: String,
    },
}
