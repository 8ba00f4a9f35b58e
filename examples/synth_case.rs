//! Writes one random synthetic case (for debugging a property-test seed):
//! `cargo run --example synth_case -- SEED DIR`.
fn main() {
    let mut a = std::env::args().skip(1);
    let seed: u64 = a.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let dir = std::path::PathBuf::from(
        a.next()
            .unwrap_or_else(|| format!("/tmp/pgsync-seed-{seed}")),
    );
    let plan = pgsync_synth::random_plan(seed);
    if let Err(e) = pgsync_synth::write_fixture(&plan, &dir) {
        eprintln!("{e}");
        std::process::exit(2);
    }
    println!("{}", dir.display());
}
