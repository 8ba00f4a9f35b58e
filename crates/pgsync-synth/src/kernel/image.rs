//! The kernel image: its symbols (text, data, bss) and the variables a
//! reader finds through them, linked at [`TEXT_LINK`] and loaded at the
//! plan's KASLR offset and phys_base.

use std::collections::BTreeMap;

use pgsync_dump::write::elf::{ExecSection, ExecSymbol, ExecSymbolKind};

use super::super::memory::PAGE;
use super::super::plan::MmRole;
use super::super::rng::Rng;
use super::{BSS_LINK, Builder, DATA_LINK, START_KERNEL_MAP, TEXT_LINK, TEXT_SIZE};

/// The image being linked: where the next data and bss variables go, and
/// the symbols so far.
pub(super) struct Image {
    kaslr: u64,
    phys_base: u64,
    data_next: u64,
    bss_next: u64,
    syms: Vec<ExecSymbol>,
}

impl Image {
    pub(super) fn new(kaslr: u64, phys_base: u64) -> Image {
        Image {
            kaslr,
            phys_base,
            data_next: DATA_LINK,
            bss_next: BSS_LINK,
            syms: vec![],
        }
    }
    pub(super) fn pa(&self, link: u64) -> u64 {
        link.wrapping_add(self.kaslr)
            .wrapping_sub(START_KERNEL_MAP)
            .wrapping_add(self.phys_base)
    }
    pub(super) fn runtime(&self, link: u64) -> u64 {
        link.wrapping_add(self.kaslr)
    }
    pub(super) fn var(&mut self, r: &mut Rng, name: &str, size: u64, align: u64, bss: bool) -> u64 {
        let next = if bss {
            &mut self.bss_next
        } else {
            &mut self.data_next
        };
        *next += align.max(8) * r.range(0, 3);
        let a = next.div_ceil(align) * align;
        *next = a + size;
        self.syms.push(ExecSymbol {
            name: name.into(),
            link: a,
            size,
            kind: ExecSymbolKind::Object,
            sect: if bss {
                ExecSection::Bss
            } else {
                ExecSection::Data
            },
        });
        a
    }
    pub(super) fn sym(
        &mut self,
        name: &str,
        link: u64,
        size: u64,
        kind: ExecSymbolKind,
        sect: ExecSection,
    ) {
        self.syms.push(ExecSymbol {
            name: name.into(),
            link,
            size,
            kind,
            sect,
        });
    }
    pub(super) fn into_symbols(self) -> Vec<ExecSymbol> {
        self.syms
    }
}

/// The text symbols laid out so far; functions added later (the crash's
/// rip function, `panic`) go at `next_func`.
pub(super) struct TextSymbols {
    pub(super) stext: u64,
    pub(super) next_func: u64,
    pub(super) func_addr: BTreeMap<&'static str, u64>,
}

/// Link addresses of the image variables later steps fill in, and the
/// physical and runtime addresses derived from them.
pub(super) struct Variables {
    /// The image's own tables for the text map (level4/3/2_kernel_pgt).
    pub(super) text_tables: Vec<u64>,
    pub(super) init_pgd_pa: u64,
    pub(super) init_pgd_va: u64,
    pub(super) per_cpu_offset: u64,
    pub(super) pgd_list: u64,
    pub(super) init_signals: u64,
    pub(super) poking_mm: Option<u64>,
    pub(super) efi_mm: Option<u64>,
    pub(super) init_mm_va: u64,
    pub(super) init_task_va: u64,
}

impl Builder<'_> {
    /// `_text`, `_stext`, `_etext` and the functions a reader names.
    pub(super) fn text_symbols(&mut self) -> TextSymbols {
        use ExecSection::Text;
        let img = &mut self.img;
        img.sym("_text", TEXT_LINK, 0, ExecSymbolKind::NoType, Text);
        img.sym("startup_64", TEXT_LINK, 0x60, ExecSymbolKind::Func, Text);
        let stext = TEXT_LINK + 0x1000;
        img.sym("_stext", stext, 0, ExecSymbolKind::NoType, Text);
        let mut fpos = stext + 0x4000 * self.r.range(1, 8);
        let mut funcs = vec![
            "start_kernel",
            "sync_global_pgds",
            "pgd_alloc",
            "vmemmap_populate",
            "__schedule",
            "do_page_fault",
        ];
        if self.plan.has_sync_fix {
            funcs.push("arch_sync_kernel_mappings");
        }
        let mut func_addr = BTreeMap::new();
        for f in funcs {
            let size = 0x40 * self.r.range(2, 40);
            img.sym(f, fpos, size, ExecSymbolKind::Func, Text);
            func_addr.insert(f, fpos);
            fpos += size + 0x10 * self.r.range(1, 200);
        }
        let etext = TEXT_LINK + TEXT_SIZE - 0x1000;
        img.sym("_etext", etext, 0, ExecSymbolKind::NoType, Text);
        TextSymbols {
            stext,
            next_func: fpos,
            func_addr,
        }
    }

    /// The data and bss variables: page tables first (page aligned), then
    /// the bases, counts and objects a reader starts from, with their
    /// values.
    pub(super) fn kernel_variables(&mut self) -> Variables {
        let plan = self.plan;
        let pgd_size = self.sizes.pgd;
        let (img, r) = (&mut self.img, &mut self.r);
        let init_pgt = img.var(r, "init_top_pgt", pgd_size, pgd_size, false);
        if plan.pgd_symbols {
            // swapper_pg_dir is the same table under another name.
            img.sym(
                "swapper_pg_dir",
                init_pgt,
                pgd_size,
                ExecSymbolKind::Object,
                ExecSection::Data,
            );
        } else {
            img.syms.retain(|s| s.name != "init_top_pgt");
        }
        let names: &[&str] = if plan.levels == 5 {
            &[
                "level4_kernel_pgt",
                "level3_kernel_pgt",
                "level2_kernel_pgt",
            ]
        } else {
            &["level3_kernel_pgt", "level2_kernel_pgt"]
        };
        let mut text_tables = Vec::new();
        for n in names {
            let a = img.var(r, n, PAGE, PAGE, false);
            text_tables.push(img.pa(a));
        }
        let init_pgd_pa = img.pa(init_pgt);
        let init_pgd_va = img.runtime(init_pgt);
        self.mem.touch(init_pgd_pa);

        let v_pob = img.var(r, "page_offset_base", 8, 8, false);
        let v_vmalloc = img.var(r, "vmalloc_base", 8, 8, false);
        let v_vmemmap = img.var(r, "vmemmap_base", 8, 8, false);
        let v_phys_base = img.var(r, "phys_base", 8, 8, false);
        let v_max_pfn = img.var(r, "max_pfn", 8, 8, true);
        let v_nr_cpu_ids = img.var(r, "nr_cpu_ids", 4, 4, false);
        let pco_size = 8 * u64::from(plan.nr_cpus_max);
        let per_cpu_offset = img.var(r, "__per_cpu_offset", pco_size, 64, false);
        let v_l5 = if plan.l5_variable {
            Some(img.var(r, "__pgtable_l5_enabled", 4, 4, false))
        } else {
            None
        };
        let pgd_list = img.var(r, "pgd_list", 16, 8, false);
        let v_init_mm = img.var(r, "init_mm", self.sizes.mm, 64, false);
        let v_init_task = img.var(r, "init_task", self.sizes.task, 64, false);
        let init_signals = img.var(r, "init_signals", self.sizes.signal, 64, false);
        let poking_mm = if plan.mms.iter().any(|m| m.role == MmRole::Poking) {
            Some(img.var(r, "poking_mm", 8, 8, true))
        } else {
            None
        };
        let efi_mm = if plan.mms.iter().any(|m| m.role == MmRole::Efi) {
            Some(img.var(r, "efi_mm", self.sizes.mm, 64, false))
        } else {
            None
        };

        let mem = &mut self.mem;
        mem.write_u64(img.pa(v_pob), self.pob);
        mem.write_u64(img.pa(v_vmalloc), plan.vmalloc_base);
        mem.write_u64(img.pa(v_vmemmap), plan.vmemmap_base);
        mem.write_u64(img.pa(v_phys_base), plan.phys_base);
        mem.write_u64(img.pa(v_max_pfn), plan.ram_bytes / PAGE);
        mem.write_u32(img.pa(v_nr_cpu_ids), plan.cpus.len() as u32);
        if let Some(v) = v_l5 {
            mem.write_u32(img.pa(v), u32::from(plan.levels == 5));
        }
        Variables {
            text_tables,
            init_pgd_pa,
            init_pgd_va,
            per_cpu_offset,
            pgd_list,
            init_signals,
            poking_mm,
            efi_mm,
            init_mm_va: img.runtime(v_init_mm),
            init_task_va: img.runtime(v_init_task),
        }
    }
}
