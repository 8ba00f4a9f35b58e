//! The x86-64 kernel memory map (Documentation/arch/x86/x86_64/mm.rst) as
//! runtime data: which regions a top-level slot holds, from the bases the
//! kernel chose at boot (arch/x86/mm/kaslr.c moves the direct map, vmalloc
//! and vmemmap in order) and the region sizes.

use super::paging::{PagingMode, PgdIndex};

const TB: u64 = 1 << 40;

/// A named part of the kernel address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Region {
    GuardHole,
    LdtRemap,
    DirectMap,
    Vmalloc,
    Vmemmap,
    KasanShadow,
    CpuEntryArea,
    EspFix,
    Efi,
    KernelText,
    Modules,
    Fixmap,
    /// Inside the kernel half but in no region above.
    Unused,
}

impl Region {
    /// Stable name used in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Region::GuardHole => "guard-hole",
            Region::LdtRemap => "ldt-remap",
            Region::DirectMap => "direct-map",
            Region::Vmalloc => "vmalloc",
            Region::Vmemmap => "vmemmap",
            Region::KasanShadow => "kasan-shadow",
            Region::CpuEntryArea => "cpu-entry-area",
            Region::EspFix => "espfix",
            Region::Efi => "efi",
            Region::KernelText => "kernel-text",
            Region::Modules => "modules",
            Region::Fixmap => "fixmap",
            Region::Unused => "unused",
        }
    }
}

/// Start of the kernel text mapping (`__START_KERNEL_map`).
pub const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
/// Default `KERNEL_IMAGE_SIZE` with KASLR (arch/x86/include/asm/page_64_types.h).
pub(crate) const DEFAULT_KERNEL_IMAGE_SIZE: u64 = 1 << 30;

/// Defaults from mm.rst; with CONFIG_RANDOMIZE_MEMORY the first three move.
struct Defaults {
    guard_hole: u64,
    ldt: u64,
    page_offset: u64,
    vmalloc: u64,
    vmemmap: u64,
    kasan: (u64, u64),
    direct_map_size: u64,
    vmalloc_size: u64,
    vmemmap_size: u64,
    /// MAX_PHYSMEM_BITS (arch/x86/include/asm/sparsemem.h).
    max_physmem_bits: u32,
}

const L4: Defaults = Defaults {
    guard_hole: 0xffff_8000_0000_0000,
    ldt: 0xffff_8800_0000_0000,
    page_offset: 0xffff_8880_0000_0000,
    vmalloc: 0xffff_c900_0000_0000,
    vmemmap: 0xffff_ea00_0000_0000,
    kasan: (0xffff_ec00_0000_0000, 0xffff_fc00_0000_0000),
    direct_map_size: 64 * TB,
    vmalloc_size: 32 * TB,
    vmemmap_size: TB,
    max_physmem_bits: 46,
};

const L5: Defaults = Defaults {
    guard_hole: 0xff00_0000_0000_0000,
    ldt: 0xff10_0000_0000_0000,
    page_offset: 0xff11_0000_0000_0000,
    vmalloc: 0xffa0_0000_0000_0000,
    vmemmap: 0xffd4_0000_0000_0000,
    kasan: (0xffdf_0000_0000_0000, 0xffff_fc00_0000_0000),
    direct_map_size: 32 * 1024 * TB,
    vmalloc_size: 12800 * TB,
    vmemmap_size: 512 * TB,
    max_physmem_bits: 52,
};

/// CONFIG_RANDOMIZE_MEMORY_PHYSICAL_PADDING default (arch/x86/Kconfig), in TB.
const DEFAULT_PHYSICAL_PADDING_TB: u64 = 0xa;

/// What the kernel's memory map looks like in this dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelLayout {
    pub mode: PagingMode,
    pub page_offset_base: u64,
    pub vmalloc_base: u64,
    pub vmemmap_base: u64,
    pub direct_map_size: u64,
    pub vmalloc_size: u64,
    pub vmemmap_size: u64,
    pub has_kasan: bool,
    /// The bases differ from the defaults (CONFIG_RANDOMIZE_MEMORY at work).
    pub randomized: bool,
}

/// Inputs to [`KernelLayout::new`], read from the dump by the caller.
#[derive(Debug, Clone, Copy)]
pub struct LayoutInputs {
    pub mode: PagingMode,
    pub page_offset_base: u64,
    pub vmalloc_base: u64,
    pub vmemmap_base: u64,
    /// One past the highest physical address of RAM (max_pfn << PAGE_SHIFT).
    pub phys_end: u64,
    /// `sizeof(struct page)` from DWARF.
    pub struct_page_size: u64,
    pub has_kasan: bool,
}

impl KernelLayout {
    pub fn new(i: LayoutInputs) -> KernelLayout {
        let d = defaults(i.mode);
        let randomized = i.page_offset_base != d.page_offset
            || i.vmalloc_base != d.vmalloc
            || i.vmemmap_base != d.vmemmap;
        let (direct_map_size, vmemmap_size) = if randomized {
            // kernel_randomize_memory(): the direct map is sized to RAM plus
            // padding, the vmemmap to the direct map's page count.
            let max_tb = 1u64 << (d.max_physmem_bits - 40);
            let size_tb = (i.phys_end.div_ceil(TB) + DEFAULT_PHYSICAL_PADDING_TB).min(max_tb);
            let vmemmap_bytes = (size_tb << (40 - 12)).saturating_mul(i.struct_page_size.max(1));
            (size_tb * TB, vmemmap_bytes.div_ceil(TB).max(1) * TB)
        } else {
            (d.direct_map_size, d.vmemmap_size)
        };
        KernelLayout {
            mode: i.mode,
            page_offset_base: i.page_offset_base,
            vmalloc_base: i.vmalloc_base,
            vmemmap_base: i.vmemmap_base,
            direct_map_size,
            vmalloc_size: d.vmalloc_size,
            vmemmap_size,
            has_kasan: i.has_kasan,
            randomized,
        }
    }

    /// `KERNEL_PGD_BOUNDARY`: the first slot `pgd_ctor` clones from init_mm
    /// (arch/x86/include/asm/pgtable.h: `pgd_index(PAGE_OFFSET)`).
    pub(crate) fn kernel_pgd_boundary(&self) -> PgdIndex {
        self.mode.pgd_index(self.page_offset_base)
    }

    /// `LDT_PGD_ENTRY` (-240UL << PGDIR_SHIFT, arch/x86/include/asm/pgtable_64_types.h):
    /// slot 272 in both modes; per-mm, empty in init_mm.
    pub fn ldt_slot(&self) -> PgdIndex {
        self.mode.pgd_index(defaults(self.mode).ldt)
    }

    /// All regions, in address order, as `[start, end)` (end may be 0 for
    /// "to the top of the address space").
    pub(crate) fn regions(&self) -> Vec<(Region, u64, u64)> {
        let d = defaults(self.mode);
        let mut v = vec![
            (Region::GuardHole, d.guard_hole, d.ldt),
            (
                Region::LdtRemap,
                d.ldt,
                d.ldt + (1u64 << self.mode.pgdir_shift()),
            ),
            (
                Region::DirectMap,
                self.page_offset_base,
                self.page_offset_base.saturating_add(self.direct_map_size),
            ),
            (
                Region::Vmalloc,
                self.vmalloc_base,
                self.vmalloc_base.saturating_add(self.vmalloc_size),
            ),
            (
                Region::Vmemmap,
                self.vmemmap_base,
                self.vmemmap_base.saturating_add(self.vmemmap_size),
            ),
        ];
        if self.has_kasan {
            v.push((Region::KasanShadow, d.kasan.0, d.kasan.1));
        }
        v.extend([
            (
                Region::CpuEntryArea,
                0xffff_fe00_0000_0000,
                0xffff_fe80_0000_0000,
            ),
            (Region::EspFix, 0xffff_ff00_0000_0000, 0xffff_ff80_0000_0000),
            (Region::Efi, 0xffff_ffef_0000_0000, 0xffff_ffff_0000_0000),
            (
                Region::KernelText,
                START_KERNEL_MAP,
                START_KERNEL_MAP + DEFAULT_KERNEL_IMAGE_SIZE,
            ),
            (
                Region::Modules,
                START_KERNEL_MAP + DEFAULT_KERNEL_IMAGE_SIZE,
                0xffff_ffff_ff00_0000,
            ),
            (Region::Fixmap, 0xffff_ffff_ff00_0000, u64::MAX),
        ]);
        v
    }

    /// The regions a top-level slot holds part of, in address order. A slot
    /// can hold the end of one region and the start of the next.
    pub fn regions_in_slot(&self, slot: PgdIndex) -> Vec<Region> {
        let start = self.mode.slot_start(slot);
        let last = start + (self.mode.slot_size() - 1);
        let mut out: Vec<Region> = self
            .regions()
            .into_iter()
            .filter(|&(_, s, e)| s <= last && e > start)
            .map(|(r, _, _)| r)
            .collect();
        out.dedup();
        if out.is_empty() {
            out.push(Region::Unused);
        }
        out
    }

    /// The region that holds one address.
    pub fn region_of(&self, va: u64) -> Region {
        self.regions()
            .into_iter()
            .find(|&(_, s, e)| va >= s && va < e)
            .map_or(Region::Unused, |(r, _, _)| r)
    }
}

/// The unrandomized `(page_offset_base, vmalloc_base, vmemmap_base)` of a
/// paging mode: what a kernel without CONFIG_DYNAMIC_MEMORY_LAYOUT uses
/// (it has no variables to read them from).
pub(crate) fn default_bases(mode: PagingMode) -> (u64, u64, u64) {
    let d = defaults(mode);
    (d.page_offset, d.vmalloc, d.vmemmap)
}

fn defaults(mode: PagingMode) -> &'static Defaults {
    match mode {
        PagingMode::FourLevel => &L4,
        PagingMode::FiveLevel => &L5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(mode: PagingMode, pob: u64, vb: u64, vmb: u64) -> KernelLayout {
        KernelLayout::new(LayoutInputs {
            mode,
            page_offset_base: pob,
            vmalloc_base: vb,
            vmemmap_base: vmb,
            phys_end: 4 << 30,
            struct_page_size: 64,
            has_kasan: false,
        })
    }

    #[test]
    fn default_four_level_slots() {
        let l = layout(
            PagingMode::FourLevel,
            L4.page_offset,
            L4.vmalloc,
            L4.vmemmap,
        );
        assert!(!l.randomized);
        assert_eq!(l.kernel_pgd_boundary(), PgdIndex(273));
        assert_eq!(l.ldt_slot(), PgdIndex(272));
        assert_eq!(l.regions_in_slot(PgdIndex(273)), vec![Region::DirectMap]);
        assert_eq!(l.regions_in_slot(PgdIndex(402)), vec![Region::Vmalloc]);
        assert_eq!(l.regions_in_slot(PgdIndex(468)), vec![Region::Vmemmap]);
        assert_eq!(l.regions_in_slot(PgdIndex(469)), vec![Region::Vmemmap]);
        assert_eq!(l.regions_in_slot(PgdIndex(470)), vec![Region::Unused]);
        assert_eq!(l.regions_in_slot(PgdIndex(508)), vec![Region::CpuEntryArea]);
        assert_eq!(l.regions_in_slot(PgdIndex(510)), vec![Region::EspFix]);
        assert_eq!(
            l.regions_in_slot(PgdIndex(511)),
            vec![
                Region::Efi,
                Region::KernelText,
                Region::Modules,
                Region::Fixmap
            ]
        );
    }

    #[test]
    fn randomized_regions_share_a_slot() {
        // vmalloc ends mid-slot and the vmemmap starts 1 GiB later in the same slot.
        let pob = 0xffff_9a00_0000_0000;
        let vb = 0xffff_b000_4000_0000;
        let vmb = vb + 32 * TB + (1 << 30);
        let l = layout(PagingMode::FourLevel, pob, vb, vmb);
        assert!(l.randomized);
        assert_eq!(l.direct_map_size, 11 * TB);
        assert_eq!(l.vmemmap_size, TB);
        let s = PagingMode::FourLevel.pgd_index(vmb);
        assert_eq!(l.regions_in_slot(s), vec![Region::Vmalloc, Region::Vmemmap]);
        assert_eq!(
            l.kernel_pgd_boundary(),
            PagingMode::FourLevel.pgd_index(pob)
        );
    }

    #[test]
    fn five_level_defaults() {
        let l = layout(
            PagingMode::FiveLevel,
            L5.page_offset,
            L5.vmalloc,
            L5.vmemmap,
        );
        assert_eq!(l.kernel_pgd_boundary(), PgdIndex(273));
        assert_eq!(l.ldt_slot(), PgdIndex(272));
        assert_eq!(l.regions_in_slot(PgdIndex(416)), vec![Region::Vmalloc]);
        assert_eq!(l.regions_in_slot(PgdIndex(468)), vec![Region::Vmemmap]);
        assert_eq!(l.regions_in_slot(PgdIndex(469)), vec![Region::Vmemmap]);
        assert_eq!(l.regions_in_slot(PgdIndex(470)), vec![Region::Unused]);
    }

    #[test]
    fn five_level_randomized_vmemmap_is_one_slot() {
        // 7.3.4 bug-5l (harness): with CONFIG_RANDOMIZE_MEMORY the vmemmap
        // is sized to the direct map's pages, DIV_ROUND_UP(11 TB / 4 KiB *
        // 64, 1 TB) = 1 TB (arch/x86/mm/kaslr.c), and the next region starts
        // at vmemmap_base + 1 TB rounded up to a PUD: in 5-level one slot is
        // 256 TB, so the slot after vmemmap_base's holds no region of
        // kernel_randomize_memory(). The 512 TB of mm.rst is the unrandomized
        // size (five_level_defaults). 4-level slots are 512 GB: there the
        // same 1 TB spans two or three slots.
        let pob = 0xff2e_1a80_0000_0000;
        let vb = 0xffa0_4b00_0000_0000;
        let vmb = 0xffe6_2e00_0000_0000;
        let l = layout(PagingMode::FiveLevel, pob, vb, vmb);
        assert!(l.randomized);
        assert_eq!(l.vmemmap_size, TB);
        let s = PagingMode::FiveLevel.pgd_index(vmb);
        assert_eq!(s, PgdIndex(486));
        assert_eq!(l.regions_in_slot(s), vec![Region::Vmemmap]);
        assert_eq!(l.regions_in_slot(PgdIndex(s.0 + 1)), vec![Region::Unused]);
    }
}
