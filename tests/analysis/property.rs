//! Seeded property tests: random synthetic kernels (layouts, member offsets,
//! paging levels, KASLR, slots, pid sets, link variants) from the builder,
//! checked against the builder's plan, never against a previous run.

use crate::common;

use common::*;

fn cases() -> u64 {
    std::env::var("PGSYNC_PROPERTY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

#[test]
fn random_kernels_match_their_plans() {
    let dir = std::env::temp_dir().join(format!("pgsync-prop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for seed in 0..cases() {
        let plan = pgsync_synth::random_plan(seed);
        let built =
            pgsync_synth::build(&plan).unwrap_or_else(|e| panic!("seed {seed}: build failed: {e}"));
        let case = dir.join(format!("seed-{seed}"));
        std::fs::create_dir_all(&case).unwrap();
        std::fs::write(case.join("vmcore"), &built.vmcore).unwrap();
        std::fs::write(case.join("vmlinux"), &built.vmlinux).unwrap();
        let (code, actual, stderr) = analyze_json(&case, &[]);
        let expected = &built.expected;
        assert_eq!(
            Some(i64::from(code)),
            expected["exit_code"].as_i64(),
            "seed {seed}: exit code; stderr: {stderr}"
        );
        assert_report_matches(&format!("seed {seed}"), expected, &actual);
        let _ = std::fs::remove_dir_all(&case);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
