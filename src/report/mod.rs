//! Everything `bundle` tells people: each command's result as text (and as JSON for `--json`),
//! and errors as one line with the exit code they mean. The commands return values; only this
//! module (and `main`, which prints what it returns) turns them into words.

mod json;

use crate::create::CreateSummary;
use crate::inspect::Inspection;
use crate::inventory::Inventory;
use crate::load::LoadReport;
use crate::verify::{Report as VerifyReport, VerifyError};
use indicatif::HumanBytes;
use std::fmt;
use std::path::Path;

/// An error and its causes on one line, prefixed `error: `.
pub fn error(e: &anyhow::Error) -> String {
    format!("error: {}", crate::causes::flatten(e.chain()))
}

/// A verification failure anywhere in the chain means exit code 3, a wrong command line 2,
/// anything else 1.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    if e.chain().any(|c| c.is::<crate::exit_codes::UsageError>()) {
        return crate::exit_codes::USAGE;
    }
    e.chain()
        .find_map(|c| c.downcast_ref::<VerifyError>())
        .map_or(crate::exit_codes::ERROR, |v| v.exit_code())
}

pub fn keygen(private: &Path, public: &Path, fingerprint: &str) -> String {
    format!(
        "wrote {} (private, keep it secret) and {}\nfingerprint {fingerprint}",
        private.display(),
        public.display()
    )
}

pub fn created(output: &Path, summary: &CreateSummary) -> String {
    let o = output.display();
    if summary.dry_run {
        return format!("dry run: nothing was downloaded or written; {o} would hold:\n{summary}");
    }
    match summary.parts {
        0 => format!("wrote {o}\n{summary}"),
        1 => format!("wrote {o}.part001 (one part: the bundle fits in one) and {o}.split.json\n{summary}"),
        n => format!(
            "wrote {o}.part001 to {o}.part{n:03} ({n} parts) and {o}.split.json (cat {o}.part* > {o} gives the single file)\n{summary}"
        ),
    }
}

/// `create --json`: the summary, and where it was written.
pub fn created_json(output: &Path, s: &CreateSummary) -> String {
    to_json(&json::Created::new(output, s))
}

/// What finished, for a failure's `--json`: `{"written": false}` or `{"loaded": false}`.
pub enum Done {
    Written,
    Loaded,
}

/// `create --json` / `load --json` when the command failed: the file, the error and the exit
/// code it means, as `verify --json` says `"verified": false`.
pub fn failed_json(e: &anyhow::Error, file: &Path, done: Done) -> String {
    to_json(&json::Failed {
        file: file.display().to_string(),
        written: matches!(done, Done::Written).then_some(false),
        loaded: matches!(done, Done::Loaded).then_some(false),
        verified: None,
        error: crate::causes::flatten(e.chain()),
        exit_code: exit_code(e),
    })
}

/// `verify --json` when the bundle did not verify: the reason and the exit code it means.
pub fn verify_failed_json(file: &Path, e: &VerifyError) -> String {
    to_json(&json::Failed {
        file: file.display().to_string(),
        written: None,
        loaded: None,
        verified: Some(false),
        error: crate::causes::of(e),
        exit_code: e.exit_code(),
    })
}

/// A `--json` document on one line. Its types hold only strings, numbers and lists, which
/// always serialise.
fn to_json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub fn verified(file: &Path, r: &VerifyReport, json: bool) -> String {
    if json {
        return to_json(&json::Verified::new(file, r));
    }
    let deltas = match r.deltas_unrebuilt {
        0 => String::new(),
        n => format!(
            "\n  {n} layer(s) carried as deltas against a base: their bytes match bundle.json; give the base with --base to rebuild them too"
        ),
    };
    format!(
        "{}: OK\n  signature: {}\n  {} images, {} manifests and {} blobs ({}) match bundle.json\n  all {} bytes of the file are as written ({:.2}s, {}/s){deltas}",
        file.display(),
        r.signer
            .as_deref()
            .map_or("none (unsigned, allowed)".to_string(), |s| format!("valid, key {s}")),
        r.images,
        r.contents.manifests,
        r.contents.blobs,
        HumanBytes(r.contents.blob_bytes),
        r.file_bytes,
        r.seconds,
        HumanBytes((r.file_bytes as f64 / r.seconds.max(1e-6)) as u64)
    )
}

pub fn loaded(r: &LoadReport, json: bool) -> String {
    if json {
        return to_json(&json::Loaded::new(r));
    }
    let mut out = String::new();
    for t in &r.targets {
        out.push_str(&format!(
            "{}: {} images; blobs: {} sent ({}), {} already there, {} mounted\n",
            t.target,
            t.names.len(),
            t.blobs.sent,
            HumanBytes(t.blobs.bytes),
            t.blobs.present,
            t.blobs.mounted
        ));
        for n in &t.names {
            out.push_str(&format!("  {n}\n"));
        }
    }
    for p in &r.partial {
        out.push_str(&format!(
            "note: {p} is multi-platform and not all of its platforms were loaded\n"
        ));
    }
    out.push_str(&format!("done in {:.2}s", r.seconds));
    out
}

/// `bundle mirrors` / `load --write-mirrors`: each mapping, then the files written.
pub fn mirrors(plan: &crate::mirrors::MirrorPlan, written: &[crate::mirrors::Written]) -> String {
    let site = &plan.site;
    let mut out = format!(
        "mirrors to {} for {} repositories:\n",
        match site.prefix.is_empty() {
            true => site.host.clone(),
            false => format!("{}/{}", site.host, site.prefix),
        },
        plan.mirrors
            .iter()
            .map(|m| m.repositories.len())
            .sum::<usize>()
    );
    for m in &plan.mirrors {
        out.push_str(&format!(
            "  {} -> {}: {}\n",
            m.source(),
            m.site(site),
            m.repositories.join(", ")
        ));
    }
    for w in written {
        for f in &w.files {
            out.push_str(&format!("{}: wrote {}\n", w.format.name(), f.display()));
        }
    }
    out.trim_end().to_string()
}

pub fn inventory(output: &Path, inv: &Inventory) -> String {
    let unlisted = match inv.unlisted.len() {
        0 => String::new(),
        n => format!(" ({n} repositories could not be listed, named above and in the file's `unlisted`: the next delta carries what they hold again)"),
    };
    format!(
        "wrote {}: {} digests held by {}{unlisted}",
        output.display(),
        inv.blobs.len(),
        inv.source
    )
}

/// `bundle cache`: where the cache is and what it holds.
pub fn cache(u: &crate::create::cache::Usage, json: bool) -> String {
    if json {
        return to_json(u);
    }
    format!(
        "blob cache {}:\n  {} blobs ({})\n  {} packed files of --compact ({})\n  {} partial downloads ({}), resumed by the next create",
        u.root.display(),
        u.blobs.files,
        HumanBytes(u.blobs.bytes),
        u.packed.files,
        HumanBytes(u.packed.bytes),
        u.partial.files,
        HumanBytes(u.partial.bytes)
    )
}

/// `bundle cache --prune`: what went and what stayed.
pub fn pruned(root: &Path, p: &crate::create::cache::Pruned, json: bool) -> String {
    if json {
        return to_json(&json::PrunedAt::new(root, p));
    }
    let mut out = format!(
        "blob cache {}: removed {} files ({}), kept {} ({})",
        root.display(),
        p.removed.files,
        HumanBytes(p.removed.bytes),
        p.kept.files,
        HumanBytes(p.kept.bytes)
    );
    if p.in_use.files > 0 {
        out.push_str(&format!(
            "; {} partial downloads ({}) in use by a running create were left alone",
            p.in_use.files,
            HumanBytes(p.in_use.bytes)
        ));
    }
    out
}

/// `bundle prune`: what goes (or went), and what the operator does next.
pub fn pruned_site(p: &crate::prune::Pruned) -> String {
    let mut out = String::new();
    for t in &p.tags {
        out.push_str(&format!("tag {t}\n"));
    }
    for m in &p.manifests {
        out.push_str(&format!("manifest {m}\n"));
    }
    for r in &p.rewritten {
        out.push_str(&format!("index {r} keeps only what stays\n"));
    }
    let blobs = match p.site.starts_with("oci:") {
        true => format!(", {} blobs ({})", p.blobs, HumanBytes(p.blob_bytes)),
        false => String::new(),
    };
    let counts = format!(
        "{} tags, {} manifests{blobs}",
        p.tags.len(),
        p.manifests.len()
    );
    let nothing =
        p.tags.is_empty() && p.manifests.is_empty() && p.blobs == 0 && p.rewritten.is_empty();
    let what = match (nothing, p.removed) {
        (true, _) => format!(
            "{}: nothing to prune: the kept bundles carry all it holds",
            p.site
        ),
        (false, true) => format!("{}: removed {counts}", p.site),
        (false, false) => format!(
            "{}: would remove {counts}; nothing was changed: run again with --yes to remove them",
            p.site
        ),
    };
    out.push_str(&what);
    if p.removed && !nothing && p.site.starts_with("registry://") {
        out.push_str("\nthe registry frees the blobs nothing names any more when it collects garbage: for distribution, run `registry garbage-collect --delete-untagged CONFIG.yml` on its host");
    }
    out
}

pub fn inspected(i: &Inspection, json: bool) -> serde_json::Result<String> {
    match json {
        true => {
            // bundle.json leaves an image's empty referrers out; scripts get an empty list.
            let mut v = serde_json::to_value(i)?;
            for img in v["images"].as_array_mut().into_iter().flatten() {
                if img["referrers"].is_null() {
                    img["referrers"] = serde_json::json!([]);
                }
            }
            serde_json::to_string_pretty(&v)
        }
        // Display ends every line itself.
        false => Ok(i.to_string().trim_end_matches('\n').to_string()),
    }
}

/// "3 layers (12.0 MiB) rebuilt by go1.8 level 6 from 40.0 MiB of tar".
fn carriage_line(c: &crate::format::Carriage) -> String {
    let mut line = format!(
        "{} layer{} ({}) {}",
        c.layers,
        if c.layers == 1 { "" } else { "s" },
        HumanBytes(c.bytes),
        crate::console::printable(&c.how)
    );
    let member = if c.delta { "delta" } else { "tar" };
    if c.raw_bytes != c.bytes {
        line.push_str(&format!(" from {} of {member}", HumanBytes(c.raw_bytes)));
    }
    line
}

/// A line per way layers are carried, those `--compact` stored as they came in one, by reason:
/// "3 layers (41.0 MiB) stored as they came: 2 made by an unknown producer (...), 1 not gzip".
fn carriage_lines(carriage: &[crate::format::Carriage]) -> Vec<String> {
    let (kept, others): (Vec<_>, Vec<_>) = carriage.iter().partition(|c| c.kept.is_some());
    let mut lines: Vec<String> = others.into_iter().map(carriage_line).collect();
    match kept[..] {
        [] => {}
        [one] => lines.push(carriage_line(one)),
        _ => {
            let why: Vec<String> = kept
                .iter()
                .map(|c| format!("{} {}", c.layers, c.kept.as_deref().unwrap_or_default()))
                .collect();
            let all = crate::format::Carriage {
                how: format!("stored as they came: {}", why.join(", ")),
                layers: kept.iter().map(|c| c.layers).sum(),
                bytes: kept.iter().map(|c| c.bytes).sum(),
                raw_bytes: kept.iter().map(|c| c.raw_bytes).sum(),
                delta: false,
                kept: None,
            };
            lines.push(carriage_line(&all));
        }
    }
    lines
}

impl fmt::Display for CreateSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "images:          {}", self.images)?;
        writeln!(f, "platforms:       {}", self.platforms)?;
        if let Some(r) = &self.referrers {
            writeln!(f, "referrers:       {r}")?;
        }
        writeln!(f, "manifests:       {}", self.contents.manifests)?;
        writeln!(
            f,
            "blobs:           {} configs and layers ({})",
            self.contents.blobs,
            HumanBytes(self.contents.blob_bytes)
        )?;
        if self.blobs_left_out > 0 {
            writeln!(
                f,
                "left out:        {} layers ({}) the other side holds (--since)",
                self.blobs_left_out,
                HumanBytes(self.bytes_left_out)
            )?;
        }
        if self.dry_run {
            return self.fmt_estimate(f);
        }
        writeln!(f, "pulled:          {}", HumanBytes(self.bytes_pulled))?;
        writeln!(f, "from cache:      {}", HumanBytes(self.bytes_cached))?;
        writeln!(
            f,
            "saved by dedup:  {}",
            HumanBytes(self.bytes_saved_by_dedup)
        )?;
        writeln!(
            f,
            "bundle size:     {} ({} bytes, {:.3}x the blobs)",
            HumanBytes(self.bundle_size),
            self.bundle_size,
            self.bundle_size as f64 / self.contents.blob_bytes.max(1) as f64
        )?;
        // One plain line says nothing the blobs line did not; a reason or a mix does.
        let plain = self.carriage.len() == 1 && self.carriage[0].how == "stored as they came";
        for line in carriage_lines(&self.carriage).iter().filter(|_| !plain) {
            writeln!(f, "  {line}")?;
        }
        writeln!(f, "sha256:          {}", self.sha256)?;
        writeln!(
            f,
            "signed by:       {}",
            self.signer.as_deref().unwrap_or("nobody (unsigned)")
        )?;
        write!(f, "time:            {:.2}s", self.seconds)?;
        for (img, why) in &self.failed {
            write!(f, "\nFAILED {img}: {why}")?;
        }
        Ok(())
    }
}

/// What an inspected entry is besides an image: a chart and the images found in it, a file,
/// or where an image was found. From the bundle: printable only.
fn write_carries(f: &mut fmt::Formatter<'_>, c: &crate::format::Carries) -> fmt::Result {
    let p = crate::console::printable;
    if let Some(ch) = &c.chart {
        writeln!(
            f,
            "    chart {} {} from {} ({}, {} images found)",
            p(&ch.name),
            p(&ch.version),
            p(&ch.from),
            HumanBytes(ch.size),
            ch.images.len()
        )?;
        for i in &ch.images {
            writeln!(f, "      uses {}", p(i))?;
        }
    }
    if let Some(file) = &c.file {
        writeln!(
            f,
            "    file {} from {} ({})",
            p(&file.name),
            p(&file.from),
            HumanBytes(file.size)
        )?;
    }
    if let Some(found) = &c.found {
        writeln!(f, "    found in {}", p(found))?;
    }
    Ok(())
}

impl CreateSummary {
    /// The end of a `--dry-run` summary: what the bundle would come to, and each thing it
    /// would carry with where it came from.
    fn fmt_estimate(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "carried:")?;
        for c in &self.carried {
            writeln!(
                f,
                "  {:<5} {}  {}  {}  ({})",
                c.kind,
                c.reference,
                c.digest,
                HumanBytes(c.bytes),
                crate::console::printable(&c.found)
            )?;
        }
        writeln!(
            f,
            "saved by dedup:  {}",
            HumanBytes(self.bytes_saved_by_dedup)
        )?;
        write!(
            f,
            "bundle size:     about {} (the blobs and manifests; --compact would make it smaller)",
            HumanBytes(self.bundle_size)
        )?;
        if self.parts > 0 {
            write!(f, "\nparts:           {} (--split)", self.parts)?;
        }
        for (img, why) in &self.failed {
            write!(f, "\nFAILED {img}: {why}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "bundle:   {} (format {})",
            self.file, self.format_version
        )?;
        // Everything below but our own figures comes from the bundle: printable, so it
        // cannot forge a line.
        let p = crate::console::printable;
        writeln!(f, "created:  {} by {}", p(&self.created), p(&self.tool))?;
        match (&self.signer, self.signed) {
            (Some(s), true) => {
                writeln!(f, "signer:   {s} (not checked here; run `bundle verify`)")?
            }
            _ => writeln!(f, "signer:   none (unsigned bundle)")?,
        }
        writeln!(
            f,
            "size:     {} file; {} manifests, {} blobs (configs and layers) totalling {}",
            HumanBytes(self.file_size),
            self.contents.manifests,
            self.contents.blobs,
            HumanBytes(self.contents.blob_bytes)
        )?;
        for line in carriage_lines(&self.layers) {
            writeln!(f, "layers:   {line}")?;
        }
        if let Some(b) = &self.base {
            writeln!(
                f,
                "delta:    over {} {} ({}); {} layers ({}) left out, to be found at the target",
                p(&b.kind),
                p(&b.name),
                b.digest,
                b.omitted.len(),
                HumanBytes(b.omitted.iter().map(|o| o.size).sum())
            )?;
        }
        for t in &self.tools {
            writeln!(
                f,
                "tool:     {} ({}); get it with: tar --zstd -xf {} {}",
                p(&t.path),
                HumanBytes(t.size),
                self.file,
                p(&t.path)
            )?;
        }
        writeln!(f, "images:   {}", self.images.len())?;
        for i in &self.images {
            let plats = if i.platforms.is_empty() {
                "-".to_string()
            } else {
                p(&i.platforms.join(","))
            };
            let partial = if i.complete {
                ""
            } else {
                " (some platforms left out)"
            };
            writeln!(
                f,
                "  {}\n    {} {}{partial}",
                p(&i.reference.to_string()),
                i.digest,
                plats
            )?;
            if let Some(sz) = self.image_sizes.iter().find(|s| s.image == i.reference) {
                writeln!(
                    f,
                    "    {} of configs and layers, {} of them shared with other images",
                    HumanBytes(sz.bytes),
                    HumanBytes(sz.shared_bytes)
                )?;
            }
            if let Some(r) = crate::format::referrer_summary(&i.referrers) {
                writeln!(f, "    {}", p(&r))?;
            }
            write_carries(f, &i.carries)?;
            for d in self.deltas.iter().filter(|d| d.image == i.reference) {
                writeln!(
                    f,
                    "    layer {} ({}) as a {} delta against {}",
                    d.layer,
                    HumanBytes(d.size),
                    HumanBytes(d.delta_size),
                    d.reference
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Carriage;

    fn way(how: &str, layers: usize, kept: Option<&str>) -> Carriage {
        Carriage {
            how: how.into(),
            layers,
            bytes: layers as u64 * 1024,
            raw_bytes: layers as u64 * 1024,
            delta: false,
            kept: kept.map(Into::into),
        }
    }

    #[test]
    fn layers_stored_as_they_came_are_one_line_that_counts_each_reason() {
        let unknown = "made by an unknown producer (preflate refused it)";
        let differs = "pgzip level 5 reproduced at the start but not to the end";
        let ways = [
            way(&format!("stored as they came: {unknown}"), 2, Some(unknown)),
            way("rebuilt by go1.8 level 6", 4, None),
            way(&format!("stored as they came: {differs}"), 1, Some(differs)),
        ];
        let lines = carriage_lines(&ways);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("4 layers"), "{lines:?}");
        assert_eq!(
            lines[1],
            format!("3 layers (3.00 KiB) stored as they came: 2 {unknown}, 1 {differs}")
        );
        let one = carriage_lines(&ways[2..]);
        assert_eq!(
            one,
            [format!("1 layer (1.00 KiB) stored as they came: {differs}")]
        );
    }
}
