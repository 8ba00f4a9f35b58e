//! The committed fixtures are exactly what the builder makes today:
//! regenerate with `cargo run -p pgsync-synth --bin gen-fixtures -- fixtures`.

use std::path::Path;

use pgsync_synth::{build, scenarios, to_json};

#[test]
fn committed_fixtures_match_the_builder() {
    // The fixtures are the workspace root's (crates/pgsync-synth/../../fixtures).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut checked = 0;
    for plan in scenarios() {
        let dir = root.join(&plan.name);
        let built = build(&plan).unwrap_or_else(|e| panic!("{}: {e}", plan.name));
        let mut files = vec![
            ("vmcore", built.vmcore.clone()),
            ("expected.json", to_json(&built.expected).expect("json")),
            ("plan.json", to_json(&plan).expect("json")),
        ];
        // dump-only is committed without its vmlinux: the dump alone.
        if plan.vmlinux_beside {
            files.push(("vmlinux", built.vmlinux.clone()));
        }
        if let Some(map) = &built.system_map {
            files.push(("System.map", map.clone().into_bytes()));
        }
        files.extend(built.formats.iter().cloned());
        // No stale dump file the plan no longer makes.
        for entry in std::fs::read_dir(&dir).expect("fixture dir") {
            let name = entry.expect("entry").file_name();
            let name = name.to_string_lossy();
            assert!(
                files.iter().any(|(n, _)| *n == name),
                "{}/{name} is not made by the builder any more: delete it",
                dir.display()
            );
        }
        for (name, fresh) in files {
            let path = dir.join(name);
            let committed = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (run `cargo run -p pgsync-synth --bin gen-fixtures -- fixtures`)",
                    path.display()
                )
            });
            assert!(
                committed == fresh,
                "{} differs from the builder's output ({} vs {} bytes); regenerate with `cargo run -p pgsync-synth --bin gen-fixtures -- fixtures` and review the diff",
                path.display(),
                committed.len(),
                fresh.len()
            );
        }
        // plan.json round-trips.
        let text = std::fs::read_to_string(dir.join("plan.json")).expect("plan.json");
        let back: pgsync_synth::Plan = serde_json::from_str(&text).expect("plan.json parses");
        assert_eq!(back, plan);
        checked += 1;
    }
    assert!(checked >= 14);
}

#[test]
fn building_twice_gives_the_same_bytes() {
    for plan in scenarios() {
        let a = build(&plan).expect("build");
        let b = build(&plan).expect("build");
        assert!(
            a.vmcore == b.vmcore
                && a.vmlinux == b.vmlinux
                && a.system_map == b.system_map
                && a.expected == b.expected
                && a.formats == b.formats,
            "{}",
            plan.name
        );
    }
}
