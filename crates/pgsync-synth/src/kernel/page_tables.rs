//! Page tables: init_mm's (direct map, vmalloc, cpu_entry_area, espfix, the
//! kernel text through the image's own tables, KASAN's early shadow, the
//! vmemmap of the pgds' struct pages) and each planned mm's, copied from
//! init_mm's kernel half with the plan's edits (missing, mismatched and
//! stale slots).

use std::collections::BTreeSet;

use super::super::SynthError;
use super::super::memory::*;
use super::super::plan::{EditKind, MmPlan, MmRole, SlotEdit, VmemmapPages};
use super::image::Variables;
use super::{
    Builder, BuiltTable, CPU_ENTRY_AREA_BASE, DATA_LINK, EFI_VA_END, ESPFIX_BASE, IMAGE_END,
    LDT_BASE_L4, LDT_BASE_L5, MmAlloc, TEXT_LINK, check,
};

impl Builder<'_> {
    /// The direct map (first GiB with 2 MiB pages, the rest with 1 GiB
    /// pages), one vmalloc page, cpu_entry_area and espfix.
    pub(super) fn map_init_mm(&mut self, root: u64) -> Result<(), SynthError> {
        let plan = self.plan;
        let pob = self.pob;
        let (pg, mem) = (self.pg, &mut self.mem);
        let small = &mut self.small;
        let mut tab = || -> Result<u64, SynthError> { small.alloc(PAGE, PAGE) };
        for g in 0..plan.ram_bytes / GIB {
            if g == 0 {
                for k in 0..512 {
                    let (va, pa) = (pob + k * MIB2, k * MIB2);
                    pg.map(mem, &mut tab, root, va, pa, MIB2, KERNEL_LARGE, PAGE_TABLE)?;
                }
            } else {
                let (va, pa) = (pob + g * GIB, g * GIB);
                pg.map(mem, &mut tab, root, va, pa, GIB, KERNEL_LARGE, PAGE_TABLE)?;
            }
        }
        // vmalloc: one mapped page.
        // Leaf frames come from a separate allocator (they are not dumped).
        let r = &mut self.r;
        let mut frames = RamAlloc::new(plan.ram_bytes - GIB, plan.ram_bytes);
        let vpage = frames.alloc(PAGE, PAGE)?;
        let vva = plan.vmalloc_base + (r.range(1, 4096) << 12);
        pg.map(mem, &mut tab, root, vva, vpage, PAGE, KERNEL_4K, PAGE_TABLE)?;
        // cpu_entry_area and espfix.
        let cea = frames.alloc(PAGE, PAGE)?;
        let cea_va = CPU_ENTRY_AREA_BASE + (r.range(0, 16) << 12);
        pg.map(
            mem,
            &mut tab,
            root,
            cea_va,
            cea,
            PAGE,
            KERNEL_4K,
            KERNPG_TABLE,
        )?;
        let esp = frames.alloc(PAGE, PAGE)?;
        let esp_va = ESPFIX_BASE + (r.range(0, 1024) << 12);
        pg.map(
            mem,
            &mut tab,
            root,
            esp_va,
            esp,
            PAGE,
            KERNEL_4K,
            KERNPG_TABLE,
        )?;
        Ok(())
    }

    /// The kernel text map, through the image's own tables.
    pub(super) fn map_kernel_text(&mut self, v: &Variables) -> Result<(), SynthError> {
        let mut it = v.text_tables.clone().into_iter();
        let mut tab = || -> Result<u64, SynthError> {
            it.next()
                .ok_or_else(|| SynthError::Plan("text map needs more tables".into()))
        };
        let img = &self.img;
        let mut va = img.runtime(TEXT_LINK);
        while va < img.runtime(IMAGE_END) {
            let flags = if va < img.runtime(DATA_LINK) {
                KERNEL_LARGE_EXEC
            } else {
                KERNEL_LARGE
            };
            let pa = img.pa(va - self.plan.kaslr_offset);
            let (mem, root) = (&mut self.mem, v.init_pgd_pa);
            self.pg
                .map(mem, &mut tab, root, va, pa, MIB2, flags, KERNPG_TABLE)?;
            va += MIB2;
        }
        Ok(())
    }

    /// KASAN early shadow: every slot fully inside the shadow points at the
    /// same chain of early shadow tables.
    pub(super) fn map_kasan_shadow(&mut self, root: u64) {
        let plan = self.plan;
        let (ks, ke) = if plan.levels == 5 {
            (0xffdf_0000_0000_0000u64, 0xffff_fc00_0000_0000u64)
        } else {
            (0xffff_ec00_0000_0000u64, 0xffff_fc00_0000_0000u64)
        };
        let (img, r, mem) = (&mut self.img, &mut self.r, &mut self.mem);
        let page = img.var(r, "kasan_early_shadow_page", PAGE, PAGE, true);
        let pte = img.var(r, "kasan_early_shadow_pte", PAGE, PAGE, true);
        let pmd = img.var(r, "kasan_early_shadow_pmd", PAGE, PAGE, true);
        let pud = img.var(r, "kasan_early_shadow_pud", PAGE, PAGE, true);
        let mut chain = vec![
            (pte, img.pa(page) | KERNEL_4K & !NX & !RW),
            (pmd, img.pa(pte) | KERNPG_TABLE),
            (pud, img.pa(pmd) | KERNPG_TABLE),
        ];
        let mut top_target = img.pa(pud);
        if plan.levels == 5 {
            let p4d = img.var(r, "kasan_early_shadow_p4d", PAGE, PAGE, true);
            chain.push((p4d, img.pa(pud) | KERNPG_TABLE));
            top_target = img.pa(p4d);
        }
        mem.touch(img.pa(page));
        for (table, entry) in chain {
            for i in 0..512 {
                mem.write_u64(img.pa(table) + 8 * i, entry);
            }
        }
        let first = plan.slot_of(ks) as u64;
        let last = plan.slot_of(ke) as u64; // exclusive: the slot holding the end
        for s in first..last {
            if s >= 511 {
                break;
            }
            mem.write_u64(root + 8 * s, top_target | KERNPG_TABLE);
        }
    }

    /// Bytes one vmemmap frame maps.
    fn vmemmap_chunk(&self) -> u64 {
        match self.plan.vmemmap_pages {
            VmemmapPages::Small4k => PAGE,
            VmemmapPages::Huge2m => MIB2,
        }
    }

    /// Maps one vmemmap frame at `va` in init_mm's table.
    fn map_vmemmap_frame(&mut self, root: u64, va: u64) -> Result<(), SynthError> {
        let chunk = self.vmemmap_chunk();
        let frame = if chunk == MIB2 {
            self.huge.alloc(MIB2, MIB2)?
        } else {
            self.small.alloc(PAGE, PAGE)?
        };
        let small = &mut self.small;
        let mut tab = || -> Result<u64, SynthError> { small.alloc(PAGE, PAGE) };
        let flags = if chunk == MIB2 {
            KERNEL_LARGE
        } else {
            KERNEL_4K
        };
        self.pg.map(
            &mut self.mem,
            &mut tab,
            root,
            va,
            frame,
            chunk,
            flags,
            PAGE_TABLE,
        )
    }

    /// Maps the vmemmap frames that hold the struct page of `pfn`
    /// (`frames`: the VAs of those mapped so far).
    fn map_struct_page(
        &mut self,
        frames: &mut BTreeSet<u64>,
        root: u64,
        pfn: u64,
    ) -> Result<(), SynthError> {
        let chunk = self.vmemmap_chunk();
        let sz_page = self.sizes.page;
        let va = self.plan.vmemmap_base + pfn * sz_page;
        let mut mapped_any = false;
        let mut a = va & !(chunk - 1);
        while a < va + sz_page {
            if frames.insert(a) {
                self.map_vmemmap_frame(root, a)?;
            }
            mapped_any = true;
            a += chunk;
        }
        // Struct pages are contiguous in physical memory when they straddle
        // two 4 KiB chunks only if the frames are; they are written through
        // the VA (see pgd_list).
        if mapped_any {
            Ok(())
        } else {
            Err(SynthError::Plan("empty struct page".into()))
        }
    }

    /// vmemmap: the struct pages of every pgd on pgd_list, then the late
    /// block when the plan has one.
    pub(super) fn map_vmemmap(&mut self, root: u64, mms: &[MmAlloc]) -> Result<(), SynthError> {
        let mut frames = BTreeSet::new();
        for (i, m) in self.plan.mms.iter().enumerate() {
            if m.on_pgd_list {
                self.map_struct_page(&mut frames, root, mms[i].pgd_pa / PAGE)?;
            }
        }
        // Late vmemmap block (device memory hot-added after the tables were
        // copied): mapped in init_mm only. Its frame is device memory, not dumped.
        if let Some(off) = self.plan.late_vmemmap_offset {
            check(off % MIB2 == 0, || {
                "late_vmemmap_offset must be 2 MiB aligned".into()
            })?;
            let va = self.plan.vmemmap_base.wrapping_add(off);
            self.map_vmemmap_frame(root, va)?;
        }
        Ok(())
    }

    /// init_mm's top-level entries as built; with PTI, its user copy gets
    /// the cpu_entry_area slot.
    pub(super) fn init_entries(&mut self, root: u64) -> Vec<u64> {
        let init_entries: Vec<u64> = (0..512).map(|i| self.mem.read_u64(root + 8 * i)).collect();
        if self.plan.pti {
            let s = self.plan.slot_of(CPU_ENTRY_AREA_BASE) as u64;
            self.mem
                .write_u64(root + PAGE + 8 * s, init_entries[s as usize]);
        }
        init_entries
    }

    /// Each planned mm's table: init_mm's kernel half, a few user
    /// mappings, the EFI and LDT tables, A/D noise and the plan's edits.
    pub(super) fn process_tables(
        &mut self,
        init_entries: &[u64],
        mms: &[MmAlloc],
    ) -> Result<Vec<BuiltTable>, SynthError> {
        let plan = self.plan;
        let mut tables = Vec::new();
        for (i, m) in plan.mms.iter().enumerate() {
            let mut e = self.kernel_copy(m, init_entries)?;
            for ed in &m.edits {
                self.apply_edit(i, ed, init_entries, &mut e)?;
            }
            let pa = mms[i].pgd_pa;
            self.write_process_pgd(m, pa, &e, init_entries);
            tables.push(BuiltTable {
                mm_index: i,
                role: m.role,
                mm_va: mms[i].mm_va,
                pgd_pa: pa,
                pgd_va: self.pob + pa,
                in_dump: m.pgd_in_dump,
                on_pgd_list: m.on_pgd_list,
                entries: e,
            });
        }
        Ok(tables)
    }

    /// One mm's entries before the edits.
    fn kernel_copy(&mut self, m: &MmPlan, init_entries: &[u64]) -> Result<Vec<u64>, SynthError> {
        let plan = self.plan;
        let boundary = plan.slot_of(self.pob) as usize;
        let ldt_slot = plan.slot_of(if plan.levels == 5 {
            LDT_BASE_L5
        } else {
            LDT_BASE_L4
        }) as usize;
        let (r, mem) = (&mut self.r, &mut self.mem);
        let mut e = vec![0u64; 512];
        e[boundary..512].copy_from_slice(&init_entries[boundary..512]);
        if m.role != MmRole::Efi {
            // A few user mappings.
            for _ in 0..r.range(1, 4) {
                let s = *r.pick(&[0usize, 0, 1, 170, 254, 255]);
                e[s] = (r.range(0x10000, 0x40000) << 12) | PAGE_TABLE;
            }
        } else {
            // efi_pgd: its own table for the EFI runtime region (slot 511's
            // next level is a private copy).
            let s = plan.slot_of(EFI_VA_END) as usize;
            let t = self.small.alloc(PAGE, PAGE)?;
            let src = init_entries[s] & ADDR_MASK;
            for k in 0..512 {
                mem.write_u64(t + 8 * k, mem.read_u64(src + 8 * k));
            }
            if plan.levels == 4 {
                let k = (EFI_VA_END >> 30) & 511;
                mem.write_u64(t + 8 * k, (r.range(0x1000, 0x8000) << 12) | PAGE_TABLE);
            }
            e[s] = t | (init_entries[s] & !ADDR_MASK);
        }
        if m.ldt_slot {
            let t = self.small.alloc(PAGE, PAGE)?;
            mem.touch(t);
            e[ldt_slot] = t | KERNPG_TABLE;
        }
        // Hardware-set A/D differences: never findings.
        if m.role != MmRole::Efi {
            for v in e.iter_mut().skip(boundary) {
                if *v & P != 0 && r.chance(1, 4) {
                    let bits = *r.pick(&[ACCESSED, DIRTY, ACCESSED | DIRTY]);
                    *v &= !bits;
                }
            }
        }
        Ok(e)
    }

    /// Plants one planned difference from init_mm in mm `i`'s entries.
    fn apply_edit(
        &mut self,
        i: usize,
        ed: &SlotEdit,
        init_entries: &[u64],
        e: &mut [u64],
    ) -> Result<(), SynthError> {
        let boundary = self.plan.slot_of(self.pob) as usize;
        let s = usize::from(ed.slot);
        check(s >= boundary && s < 512, || {
            format!("mm {i}: slot {s} is outside the compared range {boundary}..511")
        })?;
        let mem = &mut self.mem;
        match ed.kind {
            EditKind::Missing => {
                check(init_entries[s] & P != 0, || {
                    format!("mm {i}: slot {s} is empty in init_mm, cannot be missing")
                })?;
                e[s] = 0;
            }
            EditKind::Mismatch => {
                check(init_entries[s] & P != 0, || {
                    format!("mm {i}: slot {s} is empty in init_mm, cannot mismatch")
                })?;
                let t = self.small.alloc(PAGE, PAGE)?;
                let src = init_entries[s] & ADDR_MASK;
                mem.touch(t);
                for k in 0..512 {
                    let v = mem.read_u64(src + 8 * k);
                    if v != 0 {
                        mem.write_u64(t + 8 * k, v);
                    }
                }
                e[s] = t | (init_entries[s] & !ADDR_MASK);
            }
            EditKind::Stale => {
                check(init_entries[s] & P == 0, || {
                    format!("mm {i}: slot {s} is present in init_mm, cannot be stale")
                })?;
                let t = self.small.alloc(PAGE, PAGE)?;
                mem.touch(t);
                let r = &mut self.r;
                mem.write_u64(
                    t + 8 * r.range(0, 512),
                    (r.range(0x1000, 0x8000) << 12) | PAGE_TABLE,
                );
                e[s] = t | PAGE_TABLE;
            }
        }
        Ok(())
    }

    /// Writes a process pgd (and its PTI user copy); a pgd the plan keeps
    /// out of the dump is excluded.
    fn write_process_pgd(&mut self, m: &MmPlan, pa: u64, e: &[u64], init_entries: &[u64]) {
        let plan = self.plan;
        let mem = &mut self.mem;
        for (k, v) in e.iter().enumerate() {
            if *v != 0 {
                mem.write_u64(pa + 8 * k as u64, *v);
            }
        }
        mem.touch(pa);
        if plan.pti {
            // User copy: the user half and the cpu_entry_area slot.
            for (k, v) in e.iter().enumerate().take(256) {
                if *v != 0 {
                    mem.write_u64(pa + PAGE + 8 * k as u64, *v);
                }
            }
            let s = plan.slot_of(CPU_ENTRY_AREA_BASE) as usize;
            mem.write_u64(pa + PAGE + 8 * s as u64, init_entries[s]);
        }
        if !m.pgd_in_dump {
            mem.exclude(pa, self.sizes.pgd);
        }
    }
}
