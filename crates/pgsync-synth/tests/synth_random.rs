//! Seeded property tests over random plans: every plan builds, twice to the
//! same bytes, and expected.json agrees with the plan on its own terms.

use std::collections::BTreeSet;

use pgsync_synth::{EditKind, MmRole, build, random_plan};

#[test]
fn random_plans_build_deterministically() {
    for seed in 0..200 {
        let plan = random_plan(seed);
        assert_eq!(
            random_plan(seed),
            plan,
            "random_plan({seed}) is not deterministic"
        );
        let a = build(&plan).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{plan:#?}"));
        let b = build(&plan).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(
            a.vmcore == b.vmcore && a.vmlinux == b.vmlinux && a.expected == b.expected,
            "seed {seed}"
        );
        assert!(
            a.vmcore.len() < 400_000,
            "seed {seed}: vmcore of {} bytes",
            a.vmcore.len()
        );

        // Planted edits on readable tables that are reached show up as findings of their kind.
        let e = &a.expected;
        let findings = e["findings"].as_array().expect("findings");
        let boundary = plan.slot_of(plan.page_offset_base);
        for (i, m) in plan.mms.iter().enumerate() {
            let reached = m.on_pgd_list || plan.tasks.iter().any(|t| t.mm == Some(i));
            if !reached || !m.pgd_in_dump || m.role == MmRole::Efi {
                continue;
            }
            for ed in &m.edits {
                let kind = match ed.kind {
                    EditKind::Missing => "missing",
                    EditKind::Mismatch => "mismatch",
                    EditKind::Stale => "stale",
                };
                assert!(ed.slot >= boundary);
                assert!(
                    findings
                        .iter()
                        .any(|f| f["pgd_index"] == ed.slot && f["kind"] == kind),
                    "seed {seed}: planted {kind} in slot {} of mm {i} not in expected",
                    ed.slot
                );
            }
        }
        // Every finding comes from a planted edit (A/D noise and the LDT
        // slot never make one).
        let planted: BTreeSet<u64> = plan
            .mms
            .iter()
            .flat_map(|m| m.edits.iter().map(|e| u64::from(e.slot)))
            .collect();
        for f in findings {
            assert!(
                planted.contains(&f["pgd_index"].as_u64().expect("slot")),
                "seed {seed}: unplanted finding {f}"
            );
        }
        let n = findings.len();
        let s = &e["summary"];
        assert_eq!(s["findings"], n);
        let code = e["exit_code"].as_u64().expect("exit");
        match s["verdict"].as_str().expect("verdict") {
            "inconsistent" | "missing-sync" => assert!(n > 0 && code == 1),
            "incomplete" => assert!(n == 0 && code == 3),
            "consistent" => assert!(n == 0 && code == 0),
            v => panic!("verdict {v}"),
        }
        assert_eq!(s["tasks"], 1 + plan.tasks.len());
    }
}
