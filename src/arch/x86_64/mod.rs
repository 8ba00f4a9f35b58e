//! x86-64 paging: entry formats, 4- and 5-level walks, the kernel memory
//! map, and kernel virtual-to-physical translation. Knows nothing of DWARF.

pub(crate) mod entry;
pub mod layout;
pub mod paging;
pub mod translate;

pub use crate::addr::{PhysAddr, VirtAddr};
pub use entry::PageTableEntry;
pub use layout::{KernelLayout, Region};
pub use paging::{Level, PageTable, PagingMode, PgdIndex, Walk, WalkOutcome, WalkStep};
pub use translate::{KernelTranslator, TranslateError};
