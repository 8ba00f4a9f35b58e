//! The kernel symbols the analysis needs, at their runtime addresses.
//!
//! Runtime address = vmlinux (link) address + KERNELOFFSET, except per-CPU
//! variables up to Linux 6.14, which are linked from 0 and never relocated
//! (`.data..percpu`, arch/x86/kernel/vmlinux.lds.S); from 6.15 they are
//! ordinary kernel addresses ("x86/percpu/64: Use relative percpu offsets").

use crate::debuginfo::{SymbolKind, SymbolMap};

/// Every symbol looked up, in one pass over `.symtab`.
pub const WANTED: &[&str] = &[
    "init_task",
    "init_mm",
    "pgd_list",
    "init_top_pgt",
    "page_offset_base",
    "vmalloc_base",
    "vmemmap_base",
    "__per_cpu_offset",
    "__per_cpu_start",
    "nr_cpu_ids",
    "cpu_tlbstate",
    "pcpu_hot",
    "current_task",
    "__pgtable_l5_enabled",
    "efi_mm",
    "arch_sync_kernel_mappings",
    "max_pfn",
    "kasan_early_shadow_page",
    // The kernel log (kernel/printk/printk.c): `prb` from 5.10, `log_buf`
    // and its indexes before.
    "prb",
    "log_buf",
    "log_buf_len",
    "log_first_idx",
    "log_next_idx",
    "log_first_seq",
    "log_next_seq",
];

/// A per-CPU variable: its symbol value and whether it is 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerCpuSymbol {
    /// For 0-based per-CPU data, the offset into each CPU's area; otherwise
    /// a runtime kernel address (KASLR applied) to add the CPU's offset to.
    pub base: u64,
}

/// Runtime addresses of the kernel objects the analysis reads.
#[derive(Debug, Clone, Default)]
pub struct KernelSymbols {
    pub init_task: Option<u64>,
    pub init_mm: Option<u64>,
    pub pgd_list: Option<u64>,
    pub init_top_pgt: Option<u64>,
    pub page_offset_base: Option<u64>,
    pub vmalloc_base: Option<u64>,
    pub vmemmap_base: Option<u64>,
    pub per_cpu_offset: Option<(u64, u64)>,
    pub nr_cpu_ids: Option<u64>,
    pub cpu_tlbstate: Option<PerCpuSymbol>,
    pub pcpu_hot: Option<PerCpuSymbol>,
    pub current_task: Option<PerCpuSymbol>,
    pub pgtable_l5_enabled: Option<u64>,
    pub efi_mm: Option<u64>,
    pub max_pfn: Option<u64>,
    pub arch_sync_kernel_mappings: bool,
    pub kasan: bool,
    /// Link-time address of init_top_pgt, to cross-check KASLR.
    pub init_top_pgt_link: Option<u64>,
    /// `struct printk_ringbuffer *prb` (5.10+).
    pub prb: Option<u64>,
    /// `char *log_buf` and the pre-5.10 ring's indexes and sequence numbers.
    pub log_buf: Option<u64>,
    pub log_buf_len: Option<u64>,
    pub log_first_idx: Option<u64>,
    pub log_next_idx: Option<u64>,
    pub log_first_seq: Option<u64>,
    pub log_next_seq: Option<u64>,
}

impl KernelSymbols {
    /// Applies KASLR to the symbols found by one `.symtab` pass over [`WANTED`].
    pub(crate) fn resolve(map: &SymbolMap, kaslr: u64) -> KernelSymbols {
        let rt = |n: &str| map.get(n).map(|s| s.address.wrapping_add(kaslr));
        // 0-based per-CPU data: `__per_cpu_start` is 0 (arch/x86/kernel/vmlinux.lds.S
        // up to 6.14); then per-CPU symbols are offsets and take no KASLR.
        let zero_based = map.get("__per_cpu_start").is_some_and(|s| s.address == 0);
        let percpu = |n: &str| {
            map.get(n).map(|s| PerCpuSymbol {
                base: if zero_based {
                    s.address
                } else {
                    s.address.wrapping_add(kaslr)
                },
            })
        };
        KernelSymbols {
            init_task: rt("init_task"),
            init_mm: rt("init_mm"),
            pgd_list: rt("pgd_list"),
            init_top_pgt: rt("init_top_pgt"),
            page_offset_base: rt("page_offset_base"),
            vmalloc_base: rt("vmalloc_base"),
            vmemmap_base: rt("vmemmap_base"),
            per_cpu_offset: map
                .get("__per_cpu_offset")
                .map(|s| (s.address.wrapping_add(kaslr), s.size)),
            nr_cpu_ids: rt("nr_cpu_ids"),
            cpu_tlbstate: percpu("cpu_tlbstate"),
            pcpu_hot: percpu("pcpu_hot"),
            current_task: percpu("current_task"),
            pgtable_l5_enabled: rt("__pgtable_l5_enabled"),
            efi_mm: rt("efi_mm"),
            max_pfn: rt("max_pfn"),
            arch_sync_kernel_mappings: map
                .get("arch_sync_kernel_mappings")
                .is_some_and(|s| s.kind == SymbolKind::Func),
            kasan: map.get("kasan_early_shadow_page").is_some(),
            init_top_pgt_link: map.get("init_top_pgt").map(|s| s.address),
            prb: rt("prb"),
            log_buf: rt("log_buf"),
            log_buf_len: rt("log_buf_len"),
            log_first_idx: rt("log_first_idx"),
            log_next_idx: rt("log_next_idx"),
            log_first_seq: rt("log_first_seq"),
            log_next_seq: rt("log_next_seq"),
        }
    }
}
