//! x86-64 paging: entry formats, 4- and 5-level walks, the kernel memory
//! map, and kernel virtual-to-physical translation. Knows nothing of DWARF.

pub mod layout;
pub mod paging;
pub mod translate;

pub use layout::{KernelLayout, Region};
pub use paging::{
    Level, PageTable, PagingMode, PgdIndex, TopLevelEntry, Walk, WalkOutcome, WalkStep,
};
pub use translate::{KernelTranslator, TranslateError};
