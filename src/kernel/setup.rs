//! Building a [`Kernel`]: KASLR, physical base, paging mode and the runtime
//! memory layout, in the order the facts become readable (the kernel text
//! map first, since it needs no page table; then the bases it holds).

use crate::arch::x86_64::layout::{LayoutInputs, default_bases};
use crate::arch::x86_64::{KernelLayout, KernelTranslator, PagingMode, PhysAddr, VirtAddr};
use crate::debuginfo::DebugInfo;
use crate::dump::{CrashDump, PhysicalMemory};

use super::symbols::WANTED;
use super::{Kernel, KernelError, KernelSymbols, Offsets};

impl<'d> Kernel<'d> {
    /// The kernel of `dump`, described by `debuginfo` (a `&Vmlinux`, or the
    /// dump's own tables: see [`DebugInfo`]).
    pub fn open(
        dump: &'d CrashDump,
        debuginfo: impl Into<DebugInfo<'d>>,
    ) -> Result<Kernel<'d>, KernelError> {
        Kernel::open_over(dump, dump.memory(), debuginfo.into())
    }

    /// Like [`Kernel::open`], reading physical memory through `mem` (an
    /// adapter over the dump's memory).
    pub(crate) fn open_over(
        dump: &'d CrashDump,
        mem: &'d dyn PhysicalMemory,
        debuginfo: DebugInfo<'d>,
    ) -> Result<Kernel<'d>, KernelError> {
        let info = dump.vmcoreinfo.as_ref().ok_or(KernelError::NoVmcoreinfo)?;
        let mut warnings = Vec::new();
        let vmlinux_name = debuginfo.name();
        let map = debuginfo.find_symbols_warming_types(WANTED, super::offsets::PREFETCH);

        // KASLR: VMCOREINFO's KERNELOFFSET; else the distance between the
        // runtime and link addresses of init_top_pgt.
        let link_pgt = map.get("init_top_pgt").map(|s| s.address);
        let dump_pgt = info
            .symbol("init_top_pgt")
            .or_else(|| info.symbol("swapper_pg_dir"));
        let kaslr_offset = match (info.kerneloffset, dump_pgt, link_pgt) {
            (Some(k), _, _) => k,
            (None, Some(rt), Some(link)) => rt.wrapping_sub(link),
            _ => {
                warnings.push(
                    "VMCOREINFO has no KERNELOFFSET: assuming the kernel was not relocated".into(),
                );
                0
            }
        };
        let symbols = KernelSymbols::resolve(&map, kaslr_offset);
        if let (Some(rt), Some(ours)) = (dump_pgt, symbols.init_top_pgt) {
            if rt != ours {
                return Err(KernelError::WrongVmlinux {
                    vmlinux: vmlinux_name,
                    dump: rt,
                    ours,
                    kaslr: kaslr_offset,
                });
            }
        }
        let init_pgd_va = dump_pgt
            .or(symbols.init_top_pgt)
            .ok_or(KernelError::MissingSymbol {
                name: "init_top_pgt",
                vmlinux: vmlinux_name.clone(),
            })?;
        let phys_base =
            info.number("phys_base")
                .map(|v| v as u64)
                .ok_or(KernelError::MissingVmcoreinfo {
                    what: "NUMBER(phys_base)",
                })?;
        let sme_mask = info.number("sme_mask").map_or(0, |v| v as u64);

        let mut xlate = KernelTranslator {
            mode: PagingMode::FourLevel,
            phys_base,
            sme_mask,
            root_pa: PhysAddr::new(0),
            direct_map: None,
        };
        let root_pa =
            xlate
                .text_pa(VirtAddr::new(init_pgd_va))
                .ok_or_else(|| KernelError::Inconsistent {
                    what: "init_top_pgt".into(),
                    detail: format!("{init_pgd_va:#x} is outside the kernel text map"),
                })?;
        xlate.root_pa = root_pa;
        xlate.mode = paging_mode(dump, mem, &symbols, &xlate, &mut warnings)?;

        let types = debuginfo.types()?;
        let offsets = Offsets::resolve(&types, symbols.pcpu_hot.is_some())?;

        let read_base =
            |sym: Option<u64>, name: &'static str, default: u64| -> Result<u64, KernelError> {
                match sym {
                    Some(va) => {
                        xlate
                            .read_u64(mem, VirtAddr::new(va))
                            .map_err(|source| KernelError::Read {
                                what: name.into(),
                                source,
                            })
                    }
                    None => Ok(default),
                }
            };
        let (dpo, dvm, dvmemmap) = default_bases(xlate.mode);
        let page_offset_base = read_base(symbols.page_offset_base, "page_offset_base", dpo)?;
        let vmalloc_base = read_base(symbols.vmalloc_base, "vmalloc_base", dvm)?;
        let vmemmap_base = read_base(symbols.vmemmap_base, "vmemmap_base", dvmemmap)?;
        let phys_end = match symbols
            .max_pfn
            .map(|a| xlate.read_u64(mem, VirtAddr::new(a)))
        {
            Some(Ok(pfn)) if pfn > 0 && pfn < (1 << 40) => pfn << 12,
            _ => mem.ranges().iter().map(|r| r.end).max().unwrap_or(0),
        };
        let layout = KernelLayout::new(LayoutInputs {
            mode: xlate.mode,
            page_offset_base,
            vmalloc_base,
            vmemmap_base,
            phys_end,
            struct_page_size: offsets.page_size,
            has_kasan: symbols.kasan,
        });
        xlate.direct_map = Some((page_offset_base, layout.direct_map_size));
        Ok(Kernel {
            dump,
            mem,
            debuginfo,
            init_mm: symbols.init_mm,
            symbols,
            offsets,
            xlate,
            layout,
            kaslr_offset,
            phys_base,
            init_pgd_va,
            warnings,
        })
    }
}

/// 4- or 5-level: VMCOREINFO `NUMBER(pgtable_l5_enabled)`, else the
/// `__pgtable_l5_enabled` variable (arch/x86/kernel/head64.c), as crash does.
fn paging_mode(
    dump: &CrashDump,
    mem: &dyn PhysicalMemory,
    symbols: &KernelSymbols,
    xlate: &KernelTranslator,
    warnings: &mut Vec<String>,
) -> Result<PagingMode, KernelError> {
    let info = dump.vmcoreinfo.as_ref().ok_or(KernelError::NoVmcoreinfo)?;
    let l5 = match info.number("pgtable_l5_enabled") {
        Some(v) => v != 0,
        None => match symbols.pgtable_l5_enabled {
            Some(va) => {
                let mut b = [0u8; 4];
                let pa =
                    xlate
                        .text_pa(VirtAddr::new(va))
                        .ok_or_else(|| KernelError::Inconsistent {
                            what: "__pgtable_l5_enabled".into(),
                            detail: format!("{va:#x} is outside the kernel text map"),
                        })?;
                mem.read(pa, &mut b).map_err(|e| KernelError::Read {
                    what: "__pgtable_l5_enabled".into(),
                    source: crate::arch::x86_64::TranslateError::Read {
                        va: VirtAddr::new(va),
                        source: e,
                    },
                })?;
                u32::from_le_bytes(b) != 0
            }
            None => {
                warnings.push(
                    "neither VMCOREINFO NUMBER(pgtable_l5_enabled) nor __pgtable_l5_enabled exists: assuming 4-level paging"
                        .into(),
                );
                false
            }
        },
    };
    Ok(if l5 {
        PagingMode::FiveLevel
    } else {
        PagingMode::FourLevel
    })
}
