#![no_main]
//! Untrusted chart bytes (a repository's .tgz) and untrusted YAML (values files, rendered
//! manifests): reading and walking must not panic, hang, or expand an alias bomb in memory.
use bundle::charts::{discover, helm_manifest, rendered, Blob, Chart, ValuesFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Chart::from_tgz(data) {
        Ok(chart) => {
            let config = chart.config_json();
            let tgz = Blob::of(data);
            let _ = helm_manifest(
                &chart,
                &Blob::of(&config),
                &tgz,
                None,
                Some("2024-01-01T00:00:00Z"),
            );
            let _ = discover(&chart, &[]);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = rendered(text, "rendered.yaml").map(|d| d.found.len());
    // The same text as a user's values file over a small chart with a subchart.
    if let Ok(chart) = Chart::from_tgz(include_bytes!("../corpus/chart_values/seed.tgz")) {
        let values = [ValuesFile {
            name: "site-values.yaml".into(),
            text: text.to_string(),
        }];
        for f in discover(&chart, &values).found {
            assert!(
                bundle::reference::Reference::parse(&f.image).is_ok(),
                "{f:?}"
            );
        }
    }
});
