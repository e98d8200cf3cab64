//! Builds the demo's sample images as an OCI layout from real files on this machine:
//! a base, a runtime on top of it, two apps on the runtime, a two-platform tools image and a
//! Helm-style artifact. Used by `make demo`; push the tags with skopeo.
//!
//!     cargo run --example sample-images -- DIR

#[path = "../tests/it/common/layout.rs"]
mod layout;

use layout::*;

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: sample-images DIR");
        std::process::exit(2)
    });
    let mut l = Layout::new(std::path::Path::new(&dir));
    let base = layer_from_files(
        &mut l,
        &["/usr/share/doc", "/usr/share/common-licenses", "/etc"],
        12 << 20,
        "base",
    );
    let runtime = layer_from_files(&mut l, &["/usr/lib"], 24 << 20, "runtime");
    let web = layer_from_files(
        &mut l,
        &["/usr/share/perl5", "/usr/share/perl"],
        4 << 20,
        "web",
    );
    let worker = layer_from_files(
        &mut l,
        &["/usr/share/zoneinfo", "/usr/share/misc"],
        4 << 20,
        "worker",
    );
    let tools_amd = layer_from_files(&mut l, &["/usr/bin"], 6 << 20, "tools-amd64");
    let tools_arm = layer_from_files(
        &mut l,
        &["/usr/sbin", "/usr/libexec"],
        6 << 20,
        "tools-arm64",
    );

    let img = l.image(std::slice::from_ref(&base), "amd64", "base");
    l.tag("base", &img);
    let img = l.image(&[base.clone(), runtime.clone()], "amd64", "runtime");
    l.tag("runtime", &img);
    let img = l.image(&[base.clone(), runtime.clone(), web], "amd64", "web");
    l.tag("web", &img);
    let img = l.image(&[base.clone(), runtime, worker], "amd64", "worker");
    l.tag("worker", &img);
    let amd = l.image(&[base.clone(), tools_amd], "amd64", "tools");
    let arm = l.image(&[base, tools_arm], "arm64", "tools");
    let idx = l.index(&[amd, arm]);
    l.tag("tools", &idx);
    let chart = l.artifact(b"\x1f\x8b\x08\x00 a stand-in for a packaged Helm chart");
    l.tag("chart", &chart);
    println!("sample images written to {dir} (tags: base runtime web worker tools chart)");
}
