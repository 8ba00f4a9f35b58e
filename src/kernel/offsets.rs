//! Struct layouts the analysis reads, resolved once from DWARF. Nothing here
//! is a hard-coded offset: real kernels differ by version, config and
//! randomized layout (CONFIG_RANDSTRUCT).

use crate::debuginfo::{StructType, TypeError, Types};

use super::error::KernelError;

/// How a task's threads are linked (include/linux/sched.h,
/// include/linux/sched/signal.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThreadLink {
    /// 6.7 and later: `signal_struct.thread_head` lists `task_struct.thread_node`.
    SignalThreadHead {
        task_thread_node: u64,
        signal_thread_head: u64,
    },
    /// Older kernels: the threads form a ring through `task_struct.thread_group`.
    ThreadGroup { task_thread_group: u64 },
}

/// Offsets in `struct task_struct`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskOffsets {
    pub tasks: u64,
    pub pid: u64,
    pub tgid: u64,
    pub comm: u64,
    pub comm_len: u64,
    pub mm: u64,
    pub active_mm: u64,
    pub flags: u64,
    pub flags_size: u64,
    pub signal: u64,
    pub threads: ThreadLink,
}

/// Which members link the pgd pages on `pgd_list` and name their owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PgdListLinkage {
    /// `page.lru` and `page.pt_mm` (4.x to 6.4).
    PageLruPtMm,
    /// `ptdesc.pt_list` and `ptdesc.pt_mm` (6.5+: struct ptdesc overlays struct page).
    PtdescPtListPtMm,
    /// `page.lru` and `page.index` (kernels before `pt_mm`).
    PageLruIndex,
}

impl PgdListLinkage {
    /// The members, as reports name them ("page.lru/page.pt_mm").
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PgdListLinkage::PageLruPtMm => "page.lru/page.pt_mm",
            PgdListLinkage::PtdescPtListPtMm => "ptdesc.pt_list/ptdesc.pt_mm",
            PgdListLinkage::PageLruIndex => "page.lru/page.index",
        }
    }
}

impl std::fmt::Display for PgdListLinkage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the pgd pages on `pgd_list` are linked and owned
/// (arch/x86/mm/pgtable.c `pgd_list_add`, `pgd_set_mm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgdListOffsets {
    /// Offset of the list_head in the struct page (or ptdesc overlaying it).
    pub link: u64,
    /// Offset of the owner `struct mm_struct *`.
    pub owner: u64,
    /// Which members were used.
    pub via: PgdListLinkage,
}

/// Every layout fact the kernel layer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offsets {
    pub list_next: u64,
    pub task: TaskOffsets,
    pub mm_pgd: u64,
    pub page_size: u64,
    pub pgd_list: PgdListOffsets,
    /// `tlb_state.loaded_mm`, absent on kernels without the struct in DWARF.
    pub tlb_loaded_mm: Option<u64>,
    /// `pcpu_hot.current_task` (6.2 to 6.14).
    pub pcpu_hot_current_task: Option<u64>,
}

/// Structs looked up at start-up; on a real kernel all are complete in the
/// second compile unit, so one prefetch pass stops almost at once.
pub(crate) const PREFETCH: &[&str] = &[
    "task_struct",
    "mm_struct",
    "list_head",
    "page",
    "signal_struct",
    "tlb_state",
];

fn off(s: &StructType, path: &str) -> Result<u64, TypeError> {
    s.member(path).map(|m| m.offset)
}

impl Offsets {
    /// `has_pcpu_hot`: the kernel has the `pcpu_hot` per-CPU symbol (6.2-6.14),
    /// whose `current_task` member then names the running task.
    pub fn resolve(types: &Types<'_>, has_pcpu_hot: bool) -> Result<Offsets, KernelError> {
        types.prefetch(PREFETCH);
        let task = types.struct_type("task_struct")?;
        let threads = if task.has_member("thread_node") {
            let signal = types.struct_type("signal_struct")?;
            ThreadLink::SignalThreadHead {
                task_thread_node: off(&task, "thread_node")?,
                signal_thread_head: off(&signal, "thread_head")?,
            }
        } else {
            ThreadLink::ThreadGroup {
                task_thread_group: off(&task, "thread_group")?,
            }
        };
        let comm = task.member("comm")?;
        let flags = task.member("flags")?;
        let task = TaskOffsets {
            tasks: off(&task, "tasks")?,
            pid: off(&task, "pid")?,
            tgid: off(&task, "tgid")?,
            comm: comm.offset,
            comm_len: comm.ty.size().unwrap_or(16).min(64),
            mm: off(&task, "mm")?,
            active_mm: off(&task, "active_mm")?,
            flags: flags.offset,
            flags_size: flags.ty.size().unwrap_or(4).min(8),
            signal: off(&task, "signal")?,
            threads,
        };
        let mm = types.struct_type("mm_struct")?;
        let list = types.struct_type("list_head")?;
        let page = types.struct_type("page")?;
        let pgd_list = pgd_list_offsets(types, &page)?;
        let tlb_loaded_mm = types
            .struct_type("tlb_state")
            .ok()
            .and_then(|t| t.member("loaded_mm").ok())
            .map(|m| m.offset);
        Ok(Offsets {
            list_next: off(&list, "next")?,
            task,
            mm_pgd: off(&mm, "pgd")?,
            page_size: page.size,
            pgd_list,
            tlb_loaded_mm,
            pcpu_hot_current_task: if has_pcpu_hot {
                types
                    .struct_type("pcpu_hot")
                    .ok()
                    .and_then(|t| t.member("current_task").ok())
                    .map(|m| m.offset)
            } else {
                None
            },
        })
    }
}

/// The pgd's `struct page` is linked through `lru` and owned through
/// `pt_mm` (4.x-6.4); from 6.5 page tables are `struct ptdesc` overlaying
/// struct page (include/linux/mm_types.h), with `pt_list` and `pt_mm`; very
/// old kernels kept the owner in `page->index`. struct ptdesc is looked up
/// only when struct page lacks `pt_mm`, so older kernels never pay for a
/// search that cannot succeed.
fn pgd_list_offsets(types: &Types<'_>, page: &StructType) -> Result<PgdListOffsets, KernelError> {
    if page.has_member("lru") && page.has_member("pt_mm") {
        return Ok(PgdListOffsets {
            link: off(page, "lru")?,
            owner: off(page, "pt_mm")?,
            via: PgdListLinkage::PageLruPtMm,
        });
    }
    match types.struct_type("ptdesc") {
        Ok(pt) => Ok(PgdListOffsets {
            link: off(&pt, "pt_list")?,
            owner: off(&pt, "pt_mm")?,
            via: PgdListLinkage::PtdescPtListPtMm,
        }),
        Err(TypeError::NotFound { .. }) => Ok(PgdListOffsets {
            link: off(page, "lru")?,
            owner: off(page, "index")?,
            via: PgdListLinkage::PageLruIndex,
        }),
        Err(e) => Err(e.into()),
    }
}
