//! The kernel layer over a mutated fixture vmcore: KASLR and paging-mode
//! setup, the task list and thread lists, pgd_list through the vmemmap, and
//! per-CPU state. The vmlinux is the fixture's whose build-id the dump names
//! (so that mutations reach the walks instead of stopping at a mismatch).
//! Seeds: fixtures/*/vmcore.

use std::path::Path;

use pgsync_dump::dump;
use pgsync_dump::kernel::Kernel;

pub fn run(data: &[u8]) {
    let Ok(d) = dump::open_bytes(Path::new("fuzz.vmcore"), data.to_vec()) else {
        return;
    };
    let Some(v) = super::fixtures::vmlinux_for(&d) else {
        return;
    };
    let Ok(k) = Kernel::open(&d, v) else {
        return;
    };
    if let Ok(t) = k.tasks() {
        let _ = t.tasks.len();
    }
    if let Ok(p) = k.pgd_list() {
        let _ = p.entries.len();
    }
    let _ = k.cpus();
}
