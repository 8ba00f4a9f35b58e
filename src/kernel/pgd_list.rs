//! `pgd_list`: every pgd allocated by `pgd_alloc()` on x86-64 (since
//! SHARED_KERNEL_PMD is 0), linked through its struct page / struct ptdesc
//! (arch/x86/mm/pgtable.c). `sync_global_pgds()` walks exactly this list, so
//! page tables that no task owns (poking_mm, exited mms still lazily loaded)
//! are here too.

use crate::ErrorChain;
use crate::arch::x86_64::{PhysAddr, VirtAddr};

use super::list::{MAX_LIST_ENTRIES, walk_list_each};
use super::{Kernel, KernelError, ProblemScope, ReadProblem};

/// One pgd found on `pgd_list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgdListEntry {
    /// Address of the pgd's struct page (or ptdesc) in the vmemmap.
    pub page: VirtAddr,
    pub pgd_pa: PhysAddr,
    pub pgd_va: VirtAddr,
    /// The owner mm recorded by `pgd_set_mm()`, 0 if unreadable.
    pub owner_mm: VirtAddr,
}

/// All entries read, and what broke.
#[derive(Debug, Clone, Default)]
pub struct PgdListWalk {
    pub entries: Vec<PgdListEntry>,
    pub problems: Vec<ReadProblem>,
}

impl Kernel<'_> {
    /// `page_to_pfn()` with SPARSEMEM_VMEMMAP: (page - vmemmap) / sizeof(struct page)
    /// (include/asm-generic/memory_model.h).
    pub(crate) fn page_to_pfn(&self, page: u64) -> Option<u64> {
        let off = page.checked_sub(self.layout.vmemmap_base)?;
        let size = self.offsets.page_size;
        (size != 0 && off % size == 0).then(|| off / size)
    }

    pub fn pgd_list(&self) -> Result<PgdListWalk, KernelError> {
        let head = self
            .symbols
            .pgd_list
            .ok_or_else(|| KernelError::MissingSymbol {
                name: "pgd_list",
                vmlinux: self.debuginfo.name(),
            })?;
        let o = self.offsets.pgd_list;
        let mut walk = PgdListWalk::default();
        // Each entry is read as it is reached, while its page is cached.
        let (_, brk) = walk_list_each(self, head, "pgd_list", MAX_LIST_ENTRIES, |node| {
            let page = node.wrapping_sub(o.link);
            let Some(pfn) = self.page_to_pfn(page) else {
                walk.problems.push(ReadProblem::new(
                    ProblemScope::PgdList,
                    "pgd_list",
                    format!(
                        "entry {node:#x}: struct page {page:#x} is not in the vmemmap at {:#x} (sizeof(struct page) = {})",
                        self.layout.vmemmap_base, self.offsets.page_size
                    ),
                ));
                return;
            };
            let pgd_pa = PhysAddr::new(pfn << 12);
            let pgd_va = self.xlate.phys_to_direct(pgd_pa).unwrap_or_default();
            let owner_mm = match self.read_u64(page.wrapping_add(o.owner)) {
                Ok(mm) => VirtAddr::new(mm),
                Err(e) => {
                    walk.problems.push(
                        ReadProblem::new(
                            ProblemScope::PgdOwner,
                            "pgd_list",
                            format!("owner of pgd {pgd_va:#x} ({}): {}", o.via, ErrorChain(&e)),
                        )
                        .missing_page(e.missing_paddr()),
                    );
                    VirtAddr::new(0)
                }
            };
            walk.entries.push(PgdListEntry {
                page: VirtAddr::new(page),
                pgd_pa,
                pgd_va,
                owner_mm,
            });
        });
        if let Some(b) = brk {
            walk.problems.push(
                ReadProblem::new(ProblemScope::PgdList, "pgd_list", b.detail)
                    .missing_page(b.missing_paddr),
            );
        }
        Ok(walk)
    }
}
