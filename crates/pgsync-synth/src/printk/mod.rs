//! The kernel log of a synthetic machine: the records the kernel printed
//! (boot lines, then an oops or a plain panic), and the two printk buffer
//! formats they are stored in, written the way the kernel writes them:
//!
//! - the lockless ring buffer (5.10+, kernel/printk/printk_ringbuffer.c):
//!   descriptor ids start at `DESC0_ID` and data positions at `BLK0_LPOS`
//!   (both overflow soon), `prb_reserve()` pushes the descriptor tail when the
//!   descriptor ring is full and `data_alloc()` pushes the data tail when the
//!   text ring is, a block that does not fit before the end of the text ring
//!   is stored at its start with its id also at the old position
//!   (`get_next_lpos()` before 6.18), the newest record is committed and the
//!   others finalized;
//! - `log_buf` (3.11-5.9, kernel/printk/printk.c `log_store()`): records of
//!   `struct printk_log` padded to `LOG_ALIGN` (4 on x86-64, which has
//!   CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS), the oldest dropped by
//!   `log_make_free_space()`, a zero header marking the wrap.
//!
//! Survivors (what a reader must show) are returned for expected.json.

mod compose;
mod log_buf;
mod prb;

use super::memory::PhysMem;

pub use compose::compose;
pub use log_buf::{LOG_ALIGN, LogBufOutcome, PRINTK_LOG_SIZE, write_log_buf};
pub use prb::{PrbOutcome, PrbPlace, write_prb};

/// One printk record as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub ts_nsec: u64,
    pub level: u8,
    pub facility: u8,
    /// A thread id, or `0x80000000 | cpu`.
    pub caller_id: u32,
    pub text: String,
    /// (subsystem, device) of dev_printk() messages.
    pub dev: Option<(&'static str, &'static str)>,
}

/// A record that is still in the buffer, with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub seq: u64,
    pub rec: Rec,
}

/// What the oops text needs from the machine.
#[derive(Debug, Clone)]
pub struct OopsCtx {
    pub fault_va: u64,
    /// "PGD 0 P4D 0 " etc. (with the trailing space the kernel leaves).
    pub walk_line: String,
    pub cpu: u32,
    pub pid: u32,
    pub comm: String,
    pub rip_function: String,
    pub rip_offset: u64,
    pub rip_size: u64,
    pub rsp: u64,
    pub cr3: u64,
    pub gs_base: u64,
}

/// How the log ends.
#[derive(Debug, Clone)]
pub enum Ending {
    Oops(OopsCtx),
    /// A panic without an oops, printed by `pid` (`comm`) on `cpu`.
    Panic {
        message: String,
        cpu: u32,
        pid: u32,
        comm: String,
    },
}
/// `LOG_NEWLINE` in `printk_info.flags`.
const LOG_NEWLINE: u8 = 2;

/// What the kernel's `dump_pagetable()` (arch/x86/mm/fault.c) prints for
/// `va` in the table at `root`: "PGD %lx " then, while present and not a
/// leaf, "P4D %lx " (on 4-level the folded P4D repeats the PGD entry, and
/// `pgd_present()` is always true), "PUD %lx ", "PMD %lx ", "PTE %lx".
pub fn walk_line(mem: &PhysMem, levels: u8, root: u64, va: u64) -> String {
    use super::memory::{ADDR_MASK, P, PSE};
    let entry = |table: u64, shift: u32| mem.read_u64(table + ((va >> shift) & 511) * 8);
    let mut s = String::new();
    let pgd = entry(root, if levels == 5 { 48 } else { 39 });
    s.push_str(&format!("PGD {pgd:x} "));
    let p4d = if levels == 5 {
        if pgd & P == 0 {
            return s;
        }
        entry(pgd & ADDR_MASK, 39)
    } else {
        pgd
    };
    s.push_str(&format!("P4D {p4d:x} "));
    if p4d & P == 0 {
        return s;
    }
    let pud = entry(p4d & ADDR_MASK, 30);
    s.push_str(&format!("PUD {pud:x} "));
    if pud & P == 0 || pud & PSE != 0 {
        return s;
    }
    let pmd = entry(pud & ADDR_MASK, 21);
    s.push_str(&format!("PMD {pmd:x} "));
    if pmd & P == 0 || pmd & PSE != 0 {
        return s;
    }
    let pte = entry(pmd & ADDR_MASK, 12);
    s.push_str(&format!("PTE {pte:x}"));
    s
}
/// The lines `dmesg` prints for the stored records: "[%5lu.%06lu] " before
/// every line of a record (kernel/printk/printk.c `record_print_text()`).
pub fn dmesg_lines(stored: &[Stored]) -> Vec<String> {
    let mut out = Vec::new();
    for s in stored {
        let prefix = format!(
            "[{:5}.{:06}] ",
            s.rec.ts_nsec / 1_000_000_000,
            (s.rec.ts_nsec % 1_000_000_000) / 1000
        );
        for line in s.rec.text.split('\n') {
            out.push(format!("{prefix}{line}"));
        }
    }
    out
}
