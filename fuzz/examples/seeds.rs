//! Turn a real (small, unsigned) bundle into seeds for the two bundle targets:
//! `seeds FILE.bundle corpus/` writes corpus/bundle_file/NAME and corpus/bundle_members/NAME.
use bundle::format::reader::BundleReader;
use bundle_fuzz::{encode_members, Member};
use std::path::PathBuf;

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [bundle, corpus] = &args[..] else {
        eprintln!("usage: seeds FILE.bundle CORPUS_DIR");
        std::process::exit(2);
    };
    let name = bundle.file_name().expect("a file name");
    let reader = BundleReader::open(bundle).unwrap_or_else(|e| panic!("{e}"));
    let members: Vec<Member> = reader
        .index
        .members
        .iter()
        .filter(|m| m.path != "bundle.json.sig")
        .map(|m| Member {
            kind: b'0',
            path: m.path.clone().into_bytes(),
            data: if m.size == 0 {
                Vec::new()
            } else {
                reader.read_member(&m.path).expect("member")
            },
            declared: None,
        })
        .collect();
    for (dir, bytes) in [
        ("bundle_file", std::fs::read(bundle).expect("read bundle")),
        ("bundle_members", encode_members(&members)),
    ] {
        let d = corpus.join(dir);
        std::fs::create_dir_all(&d).expect("corpus dir");
        std::fs::write(d.join(name), bytes).expect("write seed");
    }
}
