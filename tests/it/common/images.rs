//! Test images made from files on this machine, pushed into a registry by skopeo.

use super::layout;
use super::registry::Registry;

/// A set of test images in a layout: two apps sharing a base layer, a two-platform index and an
/// artifact. Returns (layout, shared base layer digest).
pub struct TestImages {
    pub layout_dir: tempfile::TempDir,
    pub base_layer: layout::Desc,
    pub arm_only_layer: layout::Desc,
    pub amd_only_layer: layout::Desc,
}

pub fn build_test_images() -> TestImages {
    use super::layout::*;
    let dir = tempfile::tempdir().unwrap();
    let mut l = Layout::new(dir.path());
    let (base_raw, base) = layer_from_files(
        &mut l,
        &["/usr/share/doc", "/usr/share/common-licenses"],
        3 << 20,
        "base",
    );
    let (app1_raw, app1) =
        layer_from_files(&mut l, &["/usr/lib/x86_64-linux-gnu"], 2 << 20, "app1");
    let (app2_raw, app2) = layer_from_files(
        &mut l,
        &["/usr/share/perl5", "/usr/share/misc"],
        1 << 20,
        "app2",
    );
    let a1 = l.image(
        &[
            (base_raw.clone(), base.clone()),
            (app1_raw.clone(), app1.clone()),
        ],
        "amd64",
        "app1",
    );
    l.tag("app1", &a1);
    let a2 = l.image(
        &[(base_raw.clone(), base.clone()), (app2_raw, app2)],
        "amd64",
        "app2",
    );
    l.tag("app2", &a2);
    let (arm_raw, arm_layer) =
        layer_from_files(&mut l, &["/usr/share/zoneinfo"], 1 << 20, "arm64-only");
    let amd = l.image(
        &[(base_raw.clone(), base.clone()), (app1_raw, app1.clone())],
        "amd64",
        "multi",
    );
    let arm = l.image(
        &[(base_raw, base.clone()), (arm_raw, arm_layer.clone())],
        "arm64",
        "multi",
    );
    let idx = l.index(&[amd, arm]);
    l.tag("multi", &idx);
    let art = l.artifact(b"\x1f\x8b\x08\x00helm chart bytes for the test");
    l.tag("chart", &art);
    TestImages {
        layout_dir: dir,
        base_layer: base,
        arm_only_layer: arm_layer,
        amd_only_layer: app1,
    }
}

pub fn push_test_images(reg: &Registry, imgs: &TestImages) {
    let d = imgs.layout_dir.path();
    reg.push(d, "app1", "team/app1:1.0", &[]);
    reg.push(d, "app2", "team/app2:1.0", &["--format", "v2s2"]);
    reg.push(d, "multi", "team/multi:2.0", &[]);
    reg.push(d, "chart", "charts/demo:0.1.0", &[]);
}
