//! The populate_kernel model: what a kernel carrying the 2025 sync fix does
//! when it installs a top-level kernel page-table entry, as data and
//! functions that can be replayed over a dump without modifying it.
//!
//! Kernel sources followed (see docs/model.md for the full story):
//! - include/linux/pgtable.h: the `PGTBL_*_MODIFIED` bits ([`mask`]).
//! - arch/x86/include/asm/pgtable_64_types.h: x86-64's
//!   `ARCH_PAGE_TABLE_SYNC_MASK` ([`mask`]).
//! - include/linux/pgalloc.h: `pgd_populate_kernel()` /
//!   `p4d_populate_kernel()` ([`populate`]).
//! - arch/x86/mm/init_64.c: `arch_sync_kernel_mappings()` ->
//!   `sync_global_pgds()` -> `sync_global_pgds_l4/_l5()` ([`sync`]).
//! - mm/sparse-vmemmap.c: which populate call installs a top-level slot
//!   for each paging mode ([`replay_missing_slots`]).
//!
//! Everything runs on an [`Overlay`]: a copy-on-write view of the dump's
//! physical memory. The dump itself is never written.

pub mod mask;
pub(crate) mod overlay;
pub mod populate;
pub(crate) mod replay;
pub mod sync;

pub use mask::{PgtblModMask, SyncMask, UnknownSyncMask, x86_64_arch_page_table_sync_mask};
pub use overlay::{Overlay, OverlayError, Pfn};
pub use populate::{
    ModelError, PopulateCall, PopulateKind, p4d_populate_kernel, pgd_populate_kernel,
};
pub use replay::{
    FaultRetranslation, MissingSlot, ReplayReport, derive_populate_kind, replay_missing_slots,
    retranslate,
};
pub use sync::{BugOn, KernelPageTables, PgdRef, SyncReport, arch_sync_kernel_mappings};
