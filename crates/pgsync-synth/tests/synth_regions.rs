//! Region names and slots of the planted findings, written by hand from
//! Documentation/arch/x86/x86_64/mm.rst and kaslr.c, independently of
//! `KernelLayout::regions_in_slot` (which expected.json uses).

use pgsync_synth::{build, scenarios};

fn findings(name: &str) -> Vec<(u64, String, Vec<String>, String)> {
    let plan = scenarios()
        .into_iter()
        .find(|p| p.name == name)
        .expect("scenario");
    let b = build(&plan).expect("build");
    b.expected["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["pgd_index"].as_u64().expect("slot"),
                f["kind"].as_str().expect("kind").to_string(),
                f["regions"]
                    .as_array()
                    .expect("regions")
                    .iter()
                    .map(|r| r.as_str().expect("name").to_string())
                    .collect(),
                f["va_start"].as_str().expect("va").to_string(),
            )
        })
        .collect()
}

fn summary(name: &str) -> (String, u64) {
    let plan = scenarios()
        .into_iter()
        .find(|p| p.name == name)
        .expect("scenario");
    let b = build(&plan).expect("build");
    (
        b.expected["summary"]["verdict"]
            .as_str()
            .expect("v")
            .to_string(),
        b.expected["exit_code"].as_u64().expect("code"),
    )
}

#[test]
fn planted_slots_and_regions() {
    // 4-level default vmemmap: ffffea0000000000 is slot 468; the second TB half is 469.
    for f in findings("missing-4l") {
        assert_eq!(
            (f.0, f.1.as_str(), f.2.clone(), f.3.as_str()),
            (
                469,
                "missing",
                vec!["vmemmap".to_string()],
                "0xffffea8000000000"
            )
        );
    }
    assert_eq!(findings("missing-4l").len(), 4);
    // 5-level: vmemmap ffd4000000000000 is slot 468 (256 TiB slots), 469 next.
    for f in findings("missing-5l") {
        assert_eq!(
            (f.0, f.1.as_str(), f.2.clone(), f.3.as_str()),
            (
                469,
                "missing",
                vec!["vmemmap".to_string()],
                "0xffd5000000000000"
            )
        );
    }
    assert_eq!(findings("missing-5l").len(), 2);
    // Randomized: vmemmap_base = ffffe1ff80000000 (slot 451); the block at
    // +2 GiB lies in slot 452, which holds only vmemmap (1 TB region).
    for f in findings("kaslr-randomized") {
        assert_eq!(
            (f.0, f.1.as_str(), f.2.clone(), f.3.as_str()),
            (
                452,
                "missing",
                vec!["vmemmap".to_string()],
                "0xffffe20000000000"
            )
        );
    }
    assert_eq!(findings("kaslr-randomized").len(), 2);
    // mismatch: vmalloc slot 402 (ffffc90000000000), stale in unused slot 470.
    let m = findings("mismatch");
    assert_eq!(m.len(), 2);
    assert_eq!(
        (m[0].0, m[0].1.as_str(), m[0].2.clone(), m[0].3.as_str()),
        (
            402,
            "mismatch",
            vec!["vmalloc".to_string()],
            "0xffffc90000000000"
        )
    );
    assert_eq!(
        (m[1].0, m[1].1.as_str(), m[1].2.clone(), m[1].3.as_str()),
        (
            470,
            "stale",
            vec!["unused".to_string()],
            "0xffffeb0000000000"
        )
    );
    // orphan: one finding, vmemmap 469.
    let o = findings("orphan-pgd-list");
    assert_eq!(o.len(), 1);
    assert_eq!(
        (o[0].0, o[0].1.as_str(), o[0].2.clone()),
        (469, "missing", vec!["vmemmap".to_string()])
    );
    for n in ["healthy-4l", "healthy-5l", "ldt-slot", "incomplete"] {
        assert!(findings(n).is_empty(), "{n}");
    }
    assert_eq!(summary("healthy-4l"), ("consistent".into(), 0));
    assert_eq!(summary("ldt-slot"), ("consistent".into(), 0));
    assert_eq!(summary("incomplete"), ("incomplete".into(), 3));
    assert_eq!(summary("mismatch"), ("inconsistent".into(), 1));
    assert_eq!(summary("missing-4l"), ("missing-sync".into(), 1));
}
