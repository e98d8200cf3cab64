//! Ctrl-C and SIGTERM: exit promptly without leaving a half-written output where it could be
//! mistaken for a good one. Output files and temp files or directories register here while
//! they are partial; the handler removes them and exits with 130. Partial downloads in the blob cache are kept on purpose: the
//! next run resumes them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static PARTIAL: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Install the handler (once, from main); `kept` says, in the command's terms, what an
/// interrupted run keeps for the next one ("downloaded blobs stay in the cache").
pub fn install(kept: Option<&'static str>) {
    let _ = ctrlc::set_handler(move || {
        let paths = PARTIAL.lock().map(|p| p.clone()).unwrap_or_default();
        for p in &paths {
            if p.is_dir() {
                let _ = std::fs::remove_dir_all(p);
            } else {
                let _ = std::fs::remove_file(p);
            }
        }
        if paths.is_empty() {
            crate::console::line("interrupted");
        } else {
            crate::console::line(match kept {
                Some(k) => format!("interrupted; partial output removed ({k})"),
                None => "interrupted; partial output removed".to_string(),
            });
        }
        std::process::exit(130);
    });
}

/// A partial output file or temp directory, removed on interrupt while this guard lives.
pub struct PartialGuard(PathBuf);

impl PartialGuard {
    pub fn new(path: &Path) -> PartialGuard {
        if let Ok(mut p) = PARTIAL.lock() {
            p.push(path.to_path_buf());
        }
        PartialGuard(path.to_path_buf())
    }
}

impl Drop for PartialGuard {
    fn drop(&mut self) {
        if let Ok(mut p) = PARTIAL.lock() {
            p.retain(|x| x != &self.0);
        }
    }
}
