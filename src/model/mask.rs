//! Page-table modification bits and the sync mask.
//!
//! include/linux/pgtable.h defines the `pgtbl_mod_mask` bits
//! `__PGTBL_PGD_MODIFIED` 0, `__PGTBL_P4D_MODIFIED` 1, `__PGTBL_PUD_MODIFIED`
//! 2, `__PGTBL_PMD_MODIFIED` 3, `__PGTBL_PTE_MODIFIED` 4, and
//! `PGTBL_*_MODIFIED = BIT(__PGTBL_*_MODIFIED)`. An architecture sets
//! `ARCH_PAGE_TABLE_SYNC_MASK` (default 0) to the levels whose changes must
//! be propagated with `arch_sync_kernel_mappings()`.
//!
//! x86-64 (arch/x86/include/asm/pgtable_64_types.h, added by commit
//! 6659d027998083fbb6d42a165b0c90dc2e8ba989 "x86/mm/64: define
//! ARCH_PAGE_TABLE_SYNC_MASK and arch_sync_kernel_mappings()", 2025):
//! `pgtable_l5_enabled() ? PGTBL_PGD_MODIFIED : PGTBL_P4D_MODIFIED`. With
//! 4-level paging the P4D is folded into the PGD, `pgd_populate()` is a no-op
//! and the top-level slot is written by `p4d_populate()`: the P4D bit is the
//! one that means "a top-level slot changed".

use std::fmt;
use std::str::FromStr;

use crate::arch::x86_64::PagingMode;

/// A `pgtbl_mod_mask`: which page-table levels were modified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PgtblModMask(pub u32);

impl PgtblModMask {
    /// `PGTBL_PGD_MODIFIED`, `BIT(0)`.
    pub const PGD_MODIFIED: PgtblModMask = PgtblModMask(1 << 0);
    /// `PGTBL_P4D_MODIFIED`, `BIT(1)`.
    pub const P4D_MODIFIED: PgtblModMask = PgtblModMask(1 << 1);
    /// `PGTBL_PUD_MODIFIED`, `BIT(2)`.
    pub const PUD_MODIFIED: PgtblModMask = PgtblModMask(1 << 2);
    /// `PGTBL_PMD_MODIFIED`, `BIT(3)`.
    pub const PMD_MODIFIED: PgtblModMask = PgtblModMask(1 << 3);
    /// `PGTBL_PTE_MODIFIED`, `BIT(4)`.
    pub const PTE_MODIFIED: PgtblModMask = PgtblModMask(1 << 4);
    /// No level: the generic default of `ARCH_PAGE_TABLE_SYNC_MASK`.
    pub const NONE: PgtblModMask = PgtblModMask(0);

    /// `mask & bit` is non-zero.
    pub fn intersects(self, bit: PgtblModMask) -> bool {
        self.0 & bit.0 != 0
    }

    /// The names of the bits set, e.g. `["PGTBL_P4D_MODIFIED"]`.
    pub fn names(self) -> Vec<&'static str> {
        [
            (Self::PGD_MODIFIED, "PGTBL_PGD_MODIFIED"),
            (Self::P4D_MODIFIED, "PGTBL_P4D_MODIFIED"),
            (Self::PUD_MODIFIED, "PGTBL_PUD_MODIFIED"),
            (Self::PMD_MODIFIED, "PGTBL_PMD_MODIFIED"),
            (Self::PTE_MODIFIED, "PGTBL_PTE_MODIFIED"),
        ]
        .into_iter()
        .filter(|(bit, _)| self.intersects(*bit))
        .map(|(_, name)| name)
        .collect()
    }
}

impl std::ops::BitOr for PgtblModMask {
    type Output = PgtblModMask;
    fn bitor(self, rhs: PgtblModMask) -> PgtblModMask {
        PgtblModMask(self.0 | rhs.0)
    }
}

/// x86-64's `ARCH_PAGE_TABLE_SYNC_MASK` for a paging mode, as the fixed
/// kernel defines it (arch/x86/include/asm/pgtable_64_types.h).
pub fn x86_64_arch_page_table_sync_mask(mode: PagingMode) -> PgtblModMask {
    match mode {
        PagingMode::FiveLevel => PgtblModMask::PGD_MODIFIED,
        PagingMode::FourLevel => PgtblModMask::P4D_MODIFIED,
    }
}

/// Which sync mask a replay uses: the kernel's own, or a counterfactual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SyncMask {
    /// `ARCH_PAGE_TABLE_SYNC_MASK` as the fixed x86-64 kernel defines it
    /// for the dump's paging mode.
    #[default]
    KernelDefault,
    /// `PGTBL_PGD_MODIFIED` only, whatever the paging mode.
    Pgd,
    /// `PGTBL_P4D_MODIFIED` only, whatever the paging mode.
    P4d,
    /// No bit: `arch_sync_kernel_mappings()` is never called (the generic
    /// default, i.e. a kernel without the x86-64 part of the fix).
    None,
}

impl SyncMask {
    /// The mask bits this choice stands for under a paging mode.
    pub fn resolve(self, mode: PagingMode) -> PgtblModMask {
        match self {
            SyncMask::KernelDefault => x86_64_arch_page_table_sync_mask(mode),
            SyncMask::Pgd => PgtblModMask::PGD_MODIFIED,
            SyncMask::P4d => PgtblModMask::P4D_MODIFIED,
            SyncMask::None => PgtblModMask::NONE,
        }
    }

    /// Name as on the command line and in JSON.
    pub(crate) fn name(self) -> &'static str {
        match self {
            SyncMask::KernelDefault => "kernel-default",
            SyncMask::Pgd => "pgd",
            SyncMask::P4d => "p4d",
            SyncMask::None => "none",
        }
    }

    /// The JSON `replay.sync_mask` value (`pgd`, `p4d` or `none`): the
    /// kernel default is named by the bit it stands for in `mode`.
    pub(crate) fn effective_name(self, mode: PagingMode) -> &'static str {
        let bits = self.resolve(mode);
        if bits == PgtblModMask::PGD_MODIFIED {
            "pgd"
        } else if bits == PgtblModMask::P4D_MODIFIED {
            "p4d"
        } else {
            "none"
        }
    }
}

impl fmt::Display for SyncMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A sync-mask name that is none of `pgd`, `p4d`, `none`, `kernel-default`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sync mask {0:?}: expected pgd, p4d, none or kernel-default")]
pub struct UnknownSyncMask(pub String);

impl FromStr for SyncMask {
    type Err = UnknownSyncMask;
    fn from_str(s: &str) -> Result<SyncMask, UnknownSyncMask> {
        match s.trim().to_ascii_lowercase().as_str() {
            "kernel-default" | "default" => Ok(SyncMask::KernelDefault),
            "pgd" => Ok(SyncMask::Pgd),
            "p4d" => Ok(SyncMask::P4d),
            "none" => Ok(SyncMask::None),
            _ => Err(UnknownSyncMask(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_values_match_the_kernel() {
        assert_eq!(PgtblModMask::PGD_MODIFIED.0, 0x01);
        assert_eq!(PgtblModMask::P4D_MODIFIED.0, 0x02);
        assert_eq!(PgtblModMask::PUD_MODIFIED.0, 0x04);
        assert_eq!(PgtblModMask::PMD_MODIFIED.0, 0x08);
        assert_eq!(PgtblModMask::PTE_MODIFIED.0, 0x10);
    }

    #[test]
    fn x86_64_mask_depends_on_paging_mode() {
        assert_eq!(
            x86_64_arch_page_table_sync_mask(PagingMode::FourLevel),
            PgtblModMask::P4D_MODIFIED
        );
        assert_eq!(
            x86_64_arch_page_table_sync_mask(PagingMode::FiveLevel),
            PgtblModMask::PGD_MODIFIED
        );
        assert_eq!(
            SyncMask::KernelDefault.effective_name(PagingMode::FourLevel),
            "p4d"
        );
        assert_eq!(
            SyncMask::KernelDefault.effective_name(PagingMode::FiveLevel),
            "pgd"
        );
        assert_eq!(
            SyncMask::None.resolve(PagingMode::FiveLevel),
            PgtblModMask::NONE
        );
    }

    #[test]
    fn parse_names() {
        assert_eq!("pgd".parse(), Ok(SyncMask::Pgd));
        assert_eq!(" P4D ".parse(), Ok(SyncMask::P4d));
        assert_eq!("none".parse(), Ok(SyncMask::None));
        assert_eq!("kernel-default".parse(), Ok(SyncMask::KernelDefault));
        assert!("pud".parse::<SyncMask>().is_err());
        assert_eq!(
            (PgtblModMask::PGD_MODIFIED | PgtblModMask::PTE_MODIFIED).names(),
            vec!["PGTBL_PGD_MODIFIED", "PGTBL_PTE_MODIFIED"]
        );
    }
}
