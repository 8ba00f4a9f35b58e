//! Page-table entry bits, one definition for the walker, the checker and the
//! populate/sync model (arch/x86/include/asm/pgtable_types.h; Intel SDM vol. 3,
//! 4.5). The same format holds at every level; what differs per level (whether
//! PSE makes a leaf) is in [`super::paging`]'s level definitions.

use crate::addr::PhysAddr;

/// `_PAGE_PRESENT`.
pub(crate) const PRESENT: u64 = 1 << 0;
/// `_PAGE_ACCESSED`: set by hardware on use.
pub(crate) const ACCESSED: u64 = 1 << 5;
/// `_PAGE_DIRTY`: set by hardware on write.
pub(crate) const DIRTY: u64 = 1 << 6;
/// `_PAGE_PSE`: a 1 GiB (PUD) or 2 MiB (PMD) leaf.
pub(crate) const PSE: u64 = 1 << 7;
/// `_PAGE_KNL_ERRATUM_MASK`: the bits Knights Landing may set in a not-present
/// entry, which `p4d_none()`/`pud_none()` ignore on 4-level kernels.
pub(crate) const KNL_ERRATUM_MASK: u64 = ACCESSED | DIRTY;
/// Physical-address bits 12..51 of an entry (`PTE_PFN_MASK` before the SME
/// bit is taken out).
pub(crate) const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// A raw page-table entry, at any level, as read from the dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageTableEntry(pub u64);

impl PageTableEntry {
    /// The present bit.
    pub(crate) fn present(self) -> bool {
        self.0 & PRESENT != 0
    }

    /// `pgd_none()`: the entry is entirely zero.
    pub(crate) fn is_none(self) -> bool {
        self.0 == 0
    }

    /// The PSE bit (a leaf at the PUD or PMD level; meaningless elsewhere).
    pub(crate) fn is_large(self) -> bool {
        self.0 & PSE != 0
    }

    /// The entry without the bits hardware sets on use (Accessed, Dirty).
    pub fn without_hw_bits(self) -> u64 {
        self.0 & !(ACCESSED | DIRTY)
    }

    /// Physical address of the next-level table (or of a 4 KiB frame), minus
    /// the SME encryption bit.
    pub(crate) fn table_pa(self, sme_mask: u64) -> PhysAddr {
        PhysAddr::new(self.0 & ADDR_MASK & !sme_mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_of_a_real_kernel_entry() {
        // A 5-level kernel PGD entry as printed in an oops walk, with SME at bit 47.
        let sme = 1u64 << 47;
        let e = PageTableEntry(0x8000_0000_165a_0067 | sme);
        assert!(e.present());
        assert!(!e.is_none());
        assert!(!e.is_large());
        assert_eq!(e.table_pa(sme), PhysAddr::new(0x165a_0000));
        assert_eq!(e.without_hw_bits(), (0x8000_0000_165a_0067 | sme) & !0x60);
        assert!(PageTableEntry(0).is_none());
        assert!(!PageTableEntry(0x20).present());
        assert!(PageTableEntry(0x1_0000_00e3).is_large());
    }
}
