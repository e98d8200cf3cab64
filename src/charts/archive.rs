//! A chart's .tgz unpacked in memory, with the checks and limits of Helm's
//! `loader.LoadArchiveFiles`: paths stay inside the chart's folder, one file unpacks to at
//! most 5 MiB, and the chart to at most 100 MiB. Here that total covers the subcharts'
//! archives inside it too (Helm gives each archive its own), so nested archives cannot
//! multiply it.

use super::error::ChartError;
use flate2::read::MultiGzDecoder;
use std::io::Read;

pub const MAX_FILE: u64 = 5 << 20;
pub const MAX_TOTAL: u64 = 100 << 20;

pub struct File {
    /// Relative to the chart's folder, `/`-separated and clean (`templates/web.yaml`).
    pub name: String,
    pub data: Vec<u8>,
}

/// The files of a chart archive; `remaining` is what may still be unpacked.
pub fn files(tgz: &[u8], remaining: &mut u64) -> Result<Vec<File>, ChartError> {
    let not_tgz = |e: std::io::Error| ChartError::NotTgz(e.to_string());
    let mut archive = tar::Archive::new(MultiGzDecoder::new(tgz));
    let mut out = Vec::new();
    for entry in archive.entries().map_err(not_tgz)? {
        let mut entry = entry.map_err(not_tgz)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = chart_path(&raw)?;
        let size = entry.size();
        let total_exceeded = ChartError::TooLarge { limit: MAX_TOTAL };
        if size > *remaining {
            return Err(total_exceeded);
        }
        if size > MAX_FILE {
            return Err(ChartError::FileTooLarge {
                path: raw,
                limit: MAX_FILE,
            });
        }
        let mut data = Vec::new();
        (&mut entry)
            .take(*remaining)
            .read_to_end(&mut data)
            .map_err(not_tgz)?;
        *remaining -= data.len() as u64;
        if (data.len() as u64) < size || *remaining == 0 {
            return Err(total_exceeded);
        }
        if data.starts_with(b"\xEF\xBB\xBF") {
            data.drain(..3);
        }
        out.push(File { name, data });
    }
    if out.is_empty() {
        return Err(ChartError::Empty);
    }
    Ok(out)
}

/// The path inside the chart's folder, refused as Helm refuses it: the archive's first
/// component is the chart's folder and is dropped; nothing may leave it.
fn chart_path(raw: &str) -> Result<String, ChartError> {
    let bad = |why| ChartError::BadPath {
        path: raw.to_string(),
        why,
    };
    let delimiter = if raw.contains('\\') { '\\' } else { '/' };
    let mut parts = raw.split(delimiter);
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let joined = rest.join("/");
    if joined.starts_with('/') {
        return Err(bad("an absolute path"));
    }
    let name = clean(&joined);
    if name == "." {
        return Err(bad("a file outside the chart's folder"));
    }
    if name.starts_with("..") {
        return Err(bad("a path into the parent folder"));
    }
    let b = name.as_bytes();
    if b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'/' {
        return Err(bad("a Windows drive path"));
    }
    if first == "Chart.yaml" {
        return Err(bad("Chart.yaml outside the chart's folder"));
    }
    Ok(name)
}

/// Go's `path.Clean` for a relative path.
fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." if out.last().is_some_and(|l| *l != "..") => {
                out.pop();
            }
            _ => out.push(part),
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_and_escapes_refused_as_helm_refuses_them() {
        assert_eq!(
            chart_path("web/templates/./a.yaml").unwrap(),
            "templates/a.yaml"
        );
        assert_eq!(
            chart_path("web\\charts\\x\\Chart.yaml").unwrap(),
            "charts/x/Chart.yaml"
        );
        for bad in ["web/../../etc/passwd", "Chart.yaml", "web//etc", "web/c:/x"] {
            assert!(chart_path(bad).is_err(), "{bad}");
        }
    }
}
