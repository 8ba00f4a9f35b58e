//! The last oops in a kernel log, parsed.
//!
//! What the kernel prints for a kernel-mode page fault (x86-64):
//! - arch/x86/mm/fault.c `show_fault_oops()`: "BUG: kernel NULL pointer
//!   dereference, address: %px" (address below PAGE_SIZE) or "BUG: unable to
//!   handle page fault for address: %px"; then "#PF: %s %s in %s mode"
//!   (user/supervisor; instruction fetch/write access/read access; user/kernel)
//!   and "#PF: error_code(0x%04lx) - %s". Kernels before 5.1 printed "BUG:
//!   unable to handle kernel paging request at %px" / "BUG: unable to handle
//!   kernel NULL pointer dereference at %px" and an "IP: %pS" line.
//! - `dump_pagetable()` (same file): "PGD %lx ", then "P4D %lx ", "PUD %lx ",
//!   "PMD %lx ", "PTE %lx" as long as the entry is present and not a leaf.
//!   With 4-level paging `pgd_present()` is always true (the P4D is folded),
//!   so an empty top slot prints "PGD 0 P4D 0"; with 5-level it prints
//!   "PGD 0". A table it cannot read makes it print "BAD" on its own line.
//! - arch/x86/kernel/dumpstack.c `__die_header()`: "%s: %04lx [#%d]" + " PREEMPT"
//!   " SMP" " DEBUG_PAGEALLOC" " KASAN" " PTI"/" NOPTI"; since 6.10 prefixed
//!   with "Oops: ", so a page fault reads "Oops: Oops: 0000 [#1] ...".
//! - lib/dump_stack.c `dump_stack_print_info()`: "CPU: %d PID: %d Comm: %.20s
//!   %s%s %s %.*s" (the %s are "Kdump: loaded ", print_tainted() = "Not
//!   tainted" or `Tainted: <flags>`, the release, the version); since 6.10
//!   "CPU: %d UID: %u PID: %d Comm: ...".
//! - arch/x86/kernel/process_64.c `__show_regs()` / dumpstack.c
//!   `show_ip()`: "RIP: %04x:%pS" and "CR2: %016lx CR3: %016lx CR4: %016lx";
//!   `page_fault_oops()` repeats "CR2: %016lx" after `__die()`.
//!
//! The parser is line-oriented and never anchors on a line's start: lines may
//! carry dmesg timestamps, syslog levels (`<1>`), caller ids (`[T123]`) or
//! journal prefixes ("host kernel: "). It never panics on any input.

mod fault;
mod header;
mod last;
mod prefix;
mod rip;
mod task;
#[cfg(test)]
mod tests;
mod text;

pub use last::{parse_last_oops, parse_last_oops_text};

use crate::arch::x86_64::paging::Level;

/// One record of the kernel log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// printk sequence number (or line index for plain text).
    pub seq: u64,
    /// Timestamp in nanoseconds since boot (0 when unknown).
    pub ts_nsec: u64,
    /// The text; may hold several lines separated by '\n'.
    pub text: String,
}

impl From<&crate::kernel::LogRecord> for LogLine {
    fn from(r: &crate::kernel::LogRecord) -> LogLine {
        LogLine {
            seq: r.seq,
            ts_nsec: r.ts_nsec,
            text: r.text.clone(),
        }
    }
}

/// Which "BUG:" line opened the oops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// "BUG: unable to handle page fault for address: X" (5.1 and later) or
    /// "BUG: unable to handle kernel paging request at X" (older).
    PageFault,
    /// "BUG: kernel NULL pointer dereference, address: X" (5.1 and later) or
    /// "BUG: unable to handle kernel NULL pointer dereference at X" (older).
    NullPointerDereference,
}

/// The "BUG: ..." line of a page-fault oops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultLine {
    pub kind: FaultKind,
    /// `None` when the address could not be read (e.g. "(null)", truncated).
    pub address: Option<u64>,
    /// Printed in the pre-5.1 wording.
    pub legacy_wording: bool,
}

/// Who made the faulting access (first word of the "#PF:" line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PfPrivilege {
    Supervisor,
    User,
}

/// What kind of access faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PfAccessKind {
    Read,
    Write,
    InstructionFetch,
}

/// Mode the CPU was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuMode {
    Kernel,
    User,
}

/// "#PF: supervisor read access in kernel mode".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PfAccess {
    pub privilege: Option<PfPrivilege>,
    pub access: Option<PfAccessKind>,
    pub mode: Option<CpuMode>,
}

/// "#PF: error_code(0x0000) - not-present page".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PfErrorCode {
    pub code: Option<u64>,
    /// "not-present page", "permissions violation", ...
    pub reason: Option<String>,
}

/// One "LEVEL value" pair of the walk line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OopsWalkEntry {
    pub level: Level,
    pub value: u64,
}

/// The walk line: "PGD 0 P4D 0", "PGD 10f067 P4D 10f067 PUD 10e067 PMD 0".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OopsWalk {
    pub entries: Vec<OopsWalkEntry>,
    /// The kernel printed "BAD" (it could not read a table).
    pub bad: bool,
}

impl OopsWalk {
    /// The first level whose entry is not present (bit 0 clear).
    pub fn not_present_level(&self) -> Option<Level> {
        self.entries
            .iter()
            .find(|e| e.value & 1 == 0)
            .map(|e| e.level)
    }

    /// Paging levels the walk implies, when it tells: a P4D entry after a
    /// non-present PGD, or a P4D equal to the PGD, only happen with 4-level
    /// paging (folded P4D). A lone non-present "PGD 0" is 5-level on kernels
    /// that know P4D (4.12 and later) but also what 4-level kernels older than
    /// that printed, so it is not a hint.
    pub fn paging_levels_hint(&self) -> Option<u8> {
        let mut it = self.entries.iter();
        let pgd = it.next().filter(|e| e.level == Level::Pgd)?;
        let p4d = it.next().filter(|e| e.level == Level::P4d)?;
        if pgd.value & 1 == 0 || pgd.value == p4d.value {
            Some(4)
        } else {
            Some(5)
        }
    }
}

/// "Oops: 0000 [#1] PREEMPT SMP PTI" (or "Oops: Oops: ...", "general
/// protection fault: 0000 [#1] SMP", ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OopsHeader {
    /// The `__die()` string: "Oops", "general protection fault, ...".
    pub label: String,
    /// The low 16 bits of the error code.
    pub error_code: Option<u64>,
    /// The kernel's die counter ("[#2]": the second oops since boot).
    pub die_counter: Option<u32>,
    /// " PREEMPT SMP PTI" as words.
    pub flags: Vec<String>,
}

/// "CPU: 3 UID: 0 PID: 1234 Comm: ndctl Not tainted 6.12.0 #1".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OopsTask {
    pub cpu: Option<u32>,
    /// Only printed by 6.10 and later.
    pub uid: Option<u32>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    /// `Some(false)` for "Not tainted", `Some(true)` for "Tainted: ...".
    pub tainted: Option<bool>,
    /// The taint flag letters ("G W"), when tainted.
    pub taint_flags: Option<String>,
    /// Kernel release ("6.1.0-18-amd64").
    pub release: Option<String>,
    /// "Kdump: loaded" was printed.
    pub kdump_loaded: bool,
}

/// `RIP: 0010:memmap_init_zone_device+0x1a4/0x2c0 [dax]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OopsRip {
    /// Code segment selector (0010 kernel, 0033 user); `None` for the old
    /// "IP:" line.
    pub cs: Option<u16>,
    pub symbol: Option<String>,
    pub offset: Option<u64>,
    pub size: Option<u64>,
    pub module: Option<String>,
    /// A raw address, when printed (`[<ffffffff81234567>]` or `0x7f..`).
    pub address: Option<u64>,
}

/// The last oops of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oops {
    /// How many oopses the log holds (this is the last).
    pub oops_count: usize,
    /// Sequence number and timestamp of the oops's first line.
    pub start_seq: u64,
    pub start_ts_nsec: u64,
    pub fault: Option<FaultLine>,
    pub pf_access: Option<PfAccess>,
    pub pf_error: Option<PfErrorCode>,
    pub walk: Option<OopsWalk>,
    pub header: Option<OopsHeader>,
    pub task: Option<OopsTask>,
    pub rip: Option<OopsRip>,
    pub cr2: Option<u64>,
    pub cr3: Option<u64>,
    /// "Kernel panic - not syncing: ..." after the oops.
    pub panic: Option<String>,
}

impl Oops {
    /// The faulting address: from the "BUG:" line, else from CR2.
    pub fn fault_address(&self) -> Option<u64> {
        self.fault.and_then(|f| f.address).or(self.cr2)
    }
}
