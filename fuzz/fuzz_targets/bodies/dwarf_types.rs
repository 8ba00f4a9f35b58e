//! vmlinux parsing on mutated files: the section table, `.symtab` lookups,
//! the build-id note, compressed debug sections, and DWARF struct layouts
//! (unit scan, typedef/qualifier chains, arrays, nested and anonymous
//! members, dotted member paths) as the kernel layer resolves them.
//! Seeds: fixtures/*/vmlinux.

use pgsync_dump::debuginfo::Vmlinux;
use pgsync_dump::kernel::Offsets;
use pgsync_dump::kernel::symbols::WANTED;

const STRUCTS: &[&str] = &[
    "task_struct",
    "mm_struct",
    "list_head",
    "page",
    "ptdesc",
    "signal_struct",
    "tlb_state",
    "pcpu_hot",
    "no_such_struct",
];

const PATHS: &[&str] = &[
    "tasks.next",
    "pgd",
    "comm",
    "lru.prev",
    "thread_node",
    "a..b",
    "",
];

pub fn run(data: &[u8]) {
    let Ok(v) = Vmlinux::from_bytes("fuzz.vmlinux", data.to_vec()) else {
        return;
    };
    let _ = v.build_id();
    let syms = v.find_symbols(WANTED);
    let _ = syms.len();
    let Ok(types) = pgsync_dump::debuginfo::DebugInfo::from(&v).types() else {
        return;
    };
    let _ = Offsets::resolve(&types, data.len() % 2 == 0);
    for name in STRUCTS {
        if let Ok(s) = types.struct_type(name) {
            let _ = s.member_names();
            for p in PATHS {
                if let Ok(m) = s.member(p) {
                    let _ = m.ty.size();
                }
            }
        }
    }
}
