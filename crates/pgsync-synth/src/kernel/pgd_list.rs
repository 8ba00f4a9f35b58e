//! pgd_list: the struct page (or ptdesc) of every pgd on the list, written
//! through the vmemmap, linked newest first from the `pgd_list` variable.

use super::super::SynthError;
use super::super::memory::PAGE;
use super::super::plan::PgdOwner;
use super::image::Variables;
use super::{Builder, MmAlloc, link_circular_split};

impl Builder<'_> {
    /// Fills the struct pages of the pgds on pgd_list and links them.
    pub(super) fn pgd_list(&mut self, v: &Variables, mms: &[MmAlloc]) -> Result<(), SynthError> {
        let plan = self.plan;
        let l = &self.l;
        let o_lru = match plan.pgd_owner {
            PgdOwner::Ptdesc => l.off("ptdesc", "pt_list")?,
            _ => l.off("page", "lru")?,
        };
        let o_owner_mm = match plan.pgd_owner {
            PgdOwner::PagePtMm => l.off("page", "pt_mm")?,
            PgdOwner::Ptdesc => l.off("ptdesc", "pt_mm")?,
            PgdOwner::PageIndex => l.off("page", "index")?,
        };
        let o_pflags = l.off("page", "flags")?;
        let o_refcount = l.off("page", "_refcount")?;
        // list_add() puts each new pgd at the head: newest first.
        let head_pa = self.img.pa(v.pgd_list);
        let mut nodes = vec![(head_pa, head_pa + 8, self.img.runtime(v.pgd_list))];
        for (i, m) in plan.mms.iter().enumerate().rev() {
            if !m.on_pgd_list {
                continue;
            }
            let sva = plan.vmemmap_base + (mms[i].pgd_pa / PAGE) * self.sizes.page;
            // Through the vmemmap mapping: a struct page may straddle two
            // 4 KiB vmemmap pages that are not physically adjacent.
            let (pg, root) = (self.pg, v.init_pgd_pa);
            let at = |mem: &_, off: u64| -> Result<u64, SynthError> {
                pg.translate(mem, root, sva + off).ok_or_else(|| {
                    SynthError::Plan(format!("struct page at {sva:#x} is not mapped"))
                })
            };
            // PG_head for order-1 (PTI) pgds, plus zone bits in the top.
            let flags = (3u64 << 62)
                | (self.r.range(0, 4) << 54)
                | if plan.pti { 1 << 16 } else { 0 }
                | 1 << 10;
            let mem = &mut self.mem;
            let a = at(mem, o_pflags)?;
            mem.write_u64(a, flags);
            let a = at(mem, o_refcount)?;
            mem.write_u32(a, 1);
            let a = at(mem, o_owner_mm)?;
            mem.write_u64(a, mms[i].mm_va);
            let a = at(mem, o_lru)?;
            // lru.prev may sit on the next vmemmap page.
            let b = at(mem, o_lru + 8)?;
            nodes.push((a, b, sva + o_lru));
        }
        link_circular_split(&mut self.mem, &nodes);
        Ok(())
    }
}
