//! Page-table entries and the walk, for 4-level (PML4) and 5-level (PML5)
//! paging. Bit meanings: Intel SDM vol. 3, 4.5; arch/x86/include/asm/pgtable_types.h.
//!
//! Like memflow, each paging mode is data (the list of levels) and one walker
//! interprets it. Leaf test as drgn's (libdrgn/arch_x86_64.c): not present,
//! or PSE at the PUD/PMD level, or the last level.

use crate::addr::{PhysAddr, VirtAddr};
use crate::dump::{PhysicalMemory, ReadError};

use super::entry::{ADDR_MASK, PageTableEntry};

pub(crate) const PAGE_SIZE: u64 = 4096;
pub(crate) const ENTRIES_PER_TABLE: usize = 512;

/// One paging level, named as Linux names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Pgd,
    P4d,
    Pud,
    Pmd,
    Pte,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Level {
    /// The kernel's lower-case name of the level (`pgd`, `p4d`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Level::Pgd => "pgd",
            Level::P4d => "p4d",
            Level::Pud => "pud",
            Level::Pmd => "pmd",
            Level::Pte => "pte",
        }
    }
}

struct LevelDef {
    level: Level,
    shift: u32,
    /// PSE makes an entry at this level a leaf (1 GiB at PUD, 2 MiB at PMD).
    large_leaf: bool,
}

const FOUR_LEVEL: [LevelDef; 4] = [
    // The P4D is folded into the PGD: the top table is both.
    LevelDef {
        level: Level::Pgd,
        shift: 39,
        large_leaf: false,
    },
    LevelDef {
        level: Level::Pud,
        shift: 30,
        large_leaf: true,
    },
    LevelDef {
        level: Level::Pmd,
        shift: 21,
        large_leaf: true,
    },
    LevelDef {
        level: Level::Pte,
        shift: 12,
        large_leaf: false,
    },
];

const FIVE_LEVEL: [LevelDef; 5] = [
    LevelDef {
        level: Level::Pgd,
        shift: 48,
        large_leaf: false,
    },
    LevelDef {
        level: Level::P4d,
        shift: 39,
        large_leaf: false,
    },
    LevelDef {
        level: Level::Pud,
        shift: 30,
        large_leaf: true,
    },
    LevelDef {
        level: Level::Pmd,
        shift: 21,
        large_leaf: true,
    },
    LevelDef {
        level: Level::Pte,
        shift: 12,
        large_leaf: false,
    },
];

/// 4-level (PML4, P4D folded) or 5-level (PML5, LA57) paging; chosen at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagingMode {
    FourLevel,
    FiveLevel,
}

impl PagingMode {
    fn defs(self) -> &'static [LevelDef] {
        match self {
            PagingMode::FourLevel => &FOUR_LEVEL,
            PagingMode::FiveLevel => &FIVE_LEVEL,
        }
    }

    pub fn levels(self) -> u8 {
        self.defs().len() as u8
    }

    /// PGDIR_SHIFT (arch/x86/include/asm/pgtable_64_types.h).
    pub(crate) fn pgdir_shift(self) -> u32 {
        self.defs()[0].shift
    }

    /// Number of significant virtual-address bits (48 or 57).
    pub(crate) fn va_bits(self) -> u32 {
        self.pgdir_shift() + 9
    }

    /// Whether `va` is canonical (bits above va_bits-1 copy that bit).
    pub(crate) fn is_canonical(self, va: u64) -> bool {
        let b = self.va_bits();
        let top = (va as i64) >> (b - 1);
        top == 0 || top == -1
    }

    /// Top-level slot of a virtual address (`pgd_index`).
    pub(crate) fn pgd_index(self, va: u64) -> PgdIndex {
        PgdIndex(((va >> self.pgdir_shift()) & 511) as u16)
    }

    /// First virtual address of a top-level slot, sign-extended.
    pub fn slot_start(self, slot: PgdIndex) -> u64 {
        let va = u64::from(slot.0) << self.pgdir_shift();
        let b = self.va_bits();
        (((va << (64 - b)) as i64) >> (64 - b)) as u64
    }

    /// Size of the address range one top-level slot covers.
    pub(crate) fn slot_size(self) -> u64 {
        1u64 << self.pgdir_shift()
    }
}

/// Index of a slot in a top-level table (0..512); the kernel half is 256..512.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct PgdIndex(pub u16);

/// One whole 4 KiB table (reading it costs about the same as one entry).
pub struct PageTable(pub Box<[u64; ENTRIES_PER_TABLE]>);

impl PageTable {
    pub(crate) fn read(mem: &dyn PhysicalMemory, pa: PhysAddr) -> Result<PageTable, ReadError> {
        let mut raw = [0u8; PAGE_SIZE as usize];
        mem.read(pa, &mut raw)?;
        let mut t = Box::new([0u64; ENTRIES_PER_TABLE]);
        for (e, c) in t.iter_mut().zip(raw.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            *e = u64::from_le_bytes(b);
        }
        Ok(PageTable(t))
    }

    /// The entry in top-level slot `idx`.
    pub(crate) fn entry(&self, idx: PgdIndex) -> PageTableEntry {
        PageTableEntry(self.0[usize::from(idx.0) & 511])
    }
}

/// One step of a walk: which entry was read, where, and its raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkStep {
    pub level: Level,
    pub entry_pa: PhysAddr,
    pub entry: u64,
}

/// How a walk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkOutcome {
    /// Translated: physical address and the size of the page that maps it.
    Mapped { pa: PhysAddr, page_size: u64 },
    /// The entry at `level` is not present.
    NotPresent { level: Level },
    /// The table at `level` could not be read from the dump.
    Unreadable { level: Level, error: ReadError },
    /// The address is not canonical for this paging mode.
    NonCanonical,
}

/// A full walk: the trace of entries read, then the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    pub va: VirtAddr,
    pub root_pa: PhysAddr,
    pub steps: Vec<WalkStep>,
    pub outcome: WalkOutcome,
}

impl Walk {
    pub fn pa(&self) -> Option<PhysAddr> {
        match self.outcome {
            WalkOutcome::Mapped { pa, .. } => Some(pa),
            _ => None,
        }
    }
}

/// Walks the page table rooted at `root_pa` for `va`.
pub fn walk(
    mem: &dyn PhysicalMemory,
    mode: PagingMode,
    sme_mask: u64,
    root_pa: PhysAddr,
    va: VirtAddr,
) -> Walk {
    let mut steps = Vec::with_capacity(mode.defs().len());
    let mut table = root_pa;
    let finish = |steps, outcome| Walk {
        va,
        root_pa,
        steps,
        outcome,
    };
    if !mode.is_canonical(va.get()) {
        return finish(steps, WalkOutcome::NonCanonical);
    }
    let defs = mode.defs();
    for (i, def) in defs.iter().enumerate() {
        let idx = (va.get() >> def.shift) & 511;
        // The root comes from the dump (a CR3 note, mm->pgd) and may lie at
        // the very top of the address space: an entry past 2^64 is simply
        // not in the dump. Found by fuzz/page_walk_and_checker.
        let Some(entry_pa) = table.checked_add(idx * 8) else {
            return finish(
                steps,
                WalkOutcome::Unreadable {
                    level: def.level,
                    error: ReadError::NotInDump { paddr: table },
                },
            );
        };
        let mut b = [0u8; 8];
        if let Err(error) = mem.read(entry_pa, &mut b) {
            return finish(
                steps,
                WalkOutcome::Unreadable {
                    level: def.level,
                    error,
                },
            );
        }
        let entry = u64::from_le_bytes(b);
        let pte = PageTableEntry(entry);
        steps.push(WalkStep {
            level: def.level,
            entry_pa,
            entry,
        });
        if !pte.present() {
            return finish(steps, WalkOutcome::NotPresent { level: def.level });
        }
        let last = i + 1 == defs.len();
        if last || (def.large_leaf && pte.is_large()) {
            let page_size = 1u64 << def.shift;
            // A large leaf's frame starts at its own alignment: bit 12 is PAT there.
            let frame = PhysAddr::new(entry & ADDR_MASK & !sme_mask).align_down(page_size);
            // The offset is below the page size and the frame aligned to it:
            // adding cannot carry, so this is the hardware's OR.
            let pa = frame.wrapping_add(va.page_offset(page_size));
            return finish(steps, WalkOutcome::Mapped { pa, page_size });
        }
        table = pte.table_pa(sme_mask);
    }
    // Unreachable in practice: the last level always returns above.
    finish(steps, WalkOutcome::NotPresent { level: Level::Pte })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::x86_64::entry::PSE;
    use crate::dump::sparse::SparseMemory as Pages;

    /// Reference translation computed independently of the walker's loop.
    fn idx(va: u64, shift: u32) -> u64 {
        (va >> shift) & 511
    }

    #[test]
    fn four_level_4k_2m_1g_and_sme() {
        let sme = 1u64 << 47;
        let mut m = Pages::new();
        let root = 0x1000;
        let va4k = 0xffff_8880_1234_5678u64;
        let va2m = 0xffff_c900_0020_1234u64;
        let va1g = 0xffff_ea00_4000_0042u64;
        // 4 KiB: pgd -> pud 0x2000 -> pmd 0x3000 -> pt 0x4000 -> frame 0xabcd000
        m.write_u64(root + idx(va4k, 39) * 8, 0x2000 | sme | 0x63);
        m.write_u64(0x2000 + idx(va4k, 30) * 8, 0x3000 | 0x63);
        m.write_u64(0x3000 + idx(va4k, 21) * 8, 0x4000 | 0x63);
        m.write_u64(0x4000 + idx(va4k, 12) * 8, 0xabcd000 | sme | 0x63);
        let w = walk(
            &m,
            PagingMode::FourLevel,
            sme,
            PhysAddr::new(root),
            VirtAddr::new(va4k),
        );
        assert_eq!(
            w.outcome,
            WalkOutcome::Mapped {
                pa: PhysAddr::new(0xabcd678),
                page_size: 4096
            }
        );
        assert_eq!(w.steps.len(), 4);
        assert_eq!(w.steps[0].entry_pa.get(), root + idx(va4k, 39) * 8);
        // 2 MiB leaf with the PAT bit (12) set: bit 12 is not address.
        m.write_u64(root + idx(va2m, 39) * 8, 0x5000 | 0x63);
        m.write_u64(0x5000 + idx(va2m, 30) * 8, 0x6000 | 0x63);
        m.write_u64(
            0x6000 + idx(va2m, 21) * 8,
            0x4060_0000 | 0x1000 | PSE | 0x63,
        );
        let w = walk(
            &m,
            PagingMode::FourLevel,
            sme,
            PhysAddr::new(root),
            VirtAddr::new(va2m),
        );
        assert_eq!(
            w.outcome,
            WalkOutcome::Mapped {
                pa: PhysAddr::new(0x4060_0000 + (va2m & 0x1f_ffff)),
                page_size: 2 << 20
            }
        );
        // 1 GiB leaf.
        m.write_u64(root + idx(va1g, 39) * 8, 0x7000 | 0x63);
        m.write_u64(0x7000 + idx(va1g, 30) * 8, 0x1_4000_0000 | PSE | 0x63);
        let w = walk(
            &m,
            PagingMode::FourLevel,
            sme,
            PhysAddr::new(root),
            VirtAddr::new(va1g),
        );
        assert_eq!(
            w.outcome,
            WalkOutcome::Mapped {
                pa: PhysAddr::new(0x1_4000_0042),
                page_size: 1 << 30
            }
        );
        // Not present at the PGD: "PGD 0".
        let w = walk(
            &m,
            PagingMode::FourLevel,
            sme,
            PhysAddr::new(root),
            VirtAddr::new(0xffff_e700_0000_0034),
        );
        assert_eq!(w.outcome, WalkOutcome::NotPresent { level: Level::Pgd });
        assert_eq!(w.steps[0].entry, 0);
        // Non-canonical.
        let w = walk(
            &m,
            PagingMode::FourLevel,
            sme,
            PhysAddr::new(root),
            VirtAddr::new(0x0000_9000_0000_0000),
        );
        assert_eq!(w.outcome, WalkOutcome::NonCanonical);
    }

    #[test]
    fn five_level_and_unreadable() {
        let mut m = Pages::new();
        let root = 0x10000;
        let va = 0xff11_0000_0010_0123u64;
        m.write_u64(root + idx(va, 48) * 8, 0x11000 | 0x63);
        m.write_u64(0x11000 + idx(va, 39) * 8, 0x12000 | 0x63);
        m.write_u64(0x12000 + idx(va, 30) * 8, 0x13000 | 0x63);
        m.write_u64(0x13000 + idx(va, 21) * 8, 0x14000 | 0x63);
        m.write_u64(0x14000 + idx(va, 12) * 8, 0x99000 | 0x63);
        let w = walk(
            &m,
            PagingMode::FiveLevel,
            0,
            PhysAddr::new(root),
            VirtAddr::new(va),
        );
        assert_eq!(w.pa(), Some(PhysAddr::new(0x99123)));
        assert_eq!(
            w.steps.iter().map(|s| s.level).collect::<Vec<_>>(),
            vec![Level::Pgd, Level::P4d, Level::Pud, Level::Pmd, Level::Pte]
        );
        // Next table outside the dump.
        let va2 = 0xff12_0000_0000_0000u64;
        m.write_u64(root + idx(va2, 48) * 8, 0x7_0000_0000 | 0x63);
        let w = walk(
            &m,
            PagingMode::FiveLevel,
            0,
            PhysAddr::new(root),
            VirtAddr::new(va2),
        );
        assert!(matches!(
            w.outcome,
            WalkOutcome::Unreadable {
                level: Level::P4d,
                ..
            }
        ));
    }

    #[test]
    fn slots() {
        let m4 = PagingMode::FourLevel;
        let m5 = PagingMode::FiveLevel;
        assert_eq!(m4.pgd_index(0xffff_8880_0000_0000), PgdIndex(273));
        assert_eq!(m4.pgd_index(0xffff_e700_0000_0034), PgdIndex(462));
        assert_eq!(m5.pgd_index(0xff11_0000_0000_0000), PgdIndex(273));
        assert_eq!(m4.slot_start(PgdIndex(273)), 0xffff_8880_0000_0000);
        assert_eq!(m5.slot_start(PgdIndex(256)), 0xff00_0000_0000_0000);
        assert_eq!(m4.slot_start(PgdIndex(255)), 0x0000_7f80_0000_0000);
    }
}
