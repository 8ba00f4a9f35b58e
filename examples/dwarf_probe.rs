//! Times struct lookups on a vmlinux: `cargo run --release --example dwarf_probe -- VMLINUX NAME...`.
fn main() {
    let mut a = std::env::args().skip(1);
    let path = a.next().expect("vmlinux path");
    let v = pgsync_dump::debuginfo::Vmlinux::open(std::path::Path::new(&path)).expect("open");
    let t = v.types().expect("types");
    for name in a {
        let t0 = std::time::Instant::now();
        let r = t.struct_type(&name).map(|s| s.size);
        println!(
            "{name}: {r:?} in {:?} ({} units scanned)",
            t0.elapsed(),
            t.units_scanned()
        );
    }
}
