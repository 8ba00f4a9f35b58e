//! Regenerates the committed fixtures: `cargo run -p pgsync-synth --bin gen-fixtures -- fixtures [NAME...]`.
//! Output is byte-identical for the same code (tests/synth_reproducible.rs).
//! Each fixture gets `vmcore` (ELF), `vmlinux`, `expected.json`, `plan.json`
//! and the plan's other dump formats (`vmcore.zlib`, `vmcore.lzo-d31.flat`, ...).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(root) = args.next() else {
        eprintln!("usage: gen-fixtures DIR [SCENARIO...]");
        return ExitCode::from(2);
    };
    let only: Vec<String> = args.collect();
    let root = PathBuf::from(root);
    for plan in pgsync_synth::scenarios() {
        if !only.is_empty() && !only.contains(&plan.name) {
            continue;
        }
        let dir = root.join(&plan.name);
        match pgsync_synth::write_fixture(&plan, &dir) {
            Ok(b) => {
                let summary = &b.expected["summary"];
                let formats: Vec<String> = b
                    .formats
                    .iter()
                    .map(|(n, d)| format!("{n} {}", d.len()))
                    .collect();
                println!(
                    "{}: vmcore {} bytes, vmlinux {} bytes, verdict {}, findings {}, crash {}, log {} records; {}",
                    dir.display(),
                    b.vmcore.len(),
                    b.vmlinux.len(),
                    summary["verdict"],
                    summary["findings"],
                    if b.expected["crash"].is_null() {
                        "none"
                    } else {
                        "yes"
                    },
                    b.expected["log"]["records"],
                    formats.join(", ")
                );
            }
            Err(e) => {
                eprintln!("{}: {e}", plan.name);
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
