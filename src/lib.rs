//! pgsync-dump: offline x86-64 Linux crash-dump analyzer for missing kernel
//! top-level page-table syncs.
//!
//! Layers, data flowing one way (lower layers never name higher ones):
//! [`dump`] (physical memory) -> [`arch::x86_64`] (paging, translation) ->
//! [`debuginfo`] (symbols, DWARF types) -> [`kernel`] (tasks, mms, pgd_list) ->
//! [`analysis`] (the checker) -> [`report`] (table, JSON). With the default
//! `write` feature, `write` holds the writers (ELF core and exec files,
//! notes, DWARF, kdump) that `extract` and the fixture builder
//! (crates/pgsync-synth, not shipped) use.
//!
//! Used as a library, the check is four calls, the whole analysis five:
//!
//! ```
//! use pgsync_dump::{analysis, debuginfo::Vmlinux, dump, kernel::Kernel};
//!
//! let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/missing-4l");
//! let crash_dump = dump::open(&[dir.join("vmcore")])?;
//! let vmlinux = Vmlinux::open(&dir.join("vmlinux"))?;
//! let kernel = Kernel::open(&crash_dump, &vmlinux)?;
//! let result = analysis::check(&kernel)?;
//! assert_eq!(result.verdict(), analysis::Verdict::MissingSync);
//! for f in &result.findings {
//!     println!("slot {} {} in pgd {:#x}: entry {:#x} at {:#x}", f.slot.0, f.kind.as_str(), f.pgd_va, f.actual.0, f.actual_pa);
//! }
//!
//! // The whole chain as `analyze` runs it: the check, the kernel log, the
//! // crash and (on request) the replay.
//! let outcome = analysis::run(&kernel, &analysis::Options::default())?;
//! let crash = outcome.crash.expect("the fixture's log holds an oops");
//! assert_eq!(crash.explanation, analysis::crash::Explanation::MissingSync);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(unsafe_code)]

mod addr;
pub mod analysis;
pub mod arch;
pub mod debuginfo;
pub mod dump;
mod error_chain;
#[cfg(feature = "write")]
pub mod extract;
pub mod kernel;
mod mapped;
pub mod model;
pub mod report;
#[cfg(feature = "write")]
pub mod write;

pub use error_chain::ErrorChain;
