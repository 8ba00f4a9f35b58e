//! Typed addresses: a physical address ([`PhysAddr`]) and a virtual address
//! ([`VirtAddr`]) are both 64-bit numbers, and passing one where the other is
//! wanted (a kernel VA handed to a physical read) is a real bug the compiler
//! can catch, the way gimli keeps `DebugInfoOffset` apart from `UnitOffset`.
//!
//! The types carry only the arithmetic callers need: adding a byte count
//! (checked where the value comes from a file, wrapping where the hardware
//! wraps) and page alignment. Everything that meets JSON or a table converts
//! with [`PhysAddr::get`] / [`VirtAddr::get`] at that edge.
//!
//! This module names no other module of the crate: it sits below `dump`.

use std::fmt;

macro_rules! address_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(u64);

        impl $name {
            #[doc = concat!("The ", $what, " address `addr`.")]
            pub const fn new(addr: u64) -> Self {
                Self(addr)
            }

            /// The address as a plain number (for JSON, tables, arithmetic on indexes).
            pub const fn get(self) -> u64 {
                self.0
            }

            /// `self + bytes`, or `None` past 2^64 (addresses read from a dump
            /// may lie anywhere).
            pub const fn checked_add(self, bytes: u64) -> Option<Self> {
                match self.0.checked_add(bytes) {
                    Some(a) => Some(Self(a)),
                    None => None,
                }
            }

            /// `self + bytes`, wrapping at 2^64 (where the code it replaces wrapped).
            pub const fn wrapping_add(self, bytes: u64) -> Self {
                Self(self.0.wrapping_add(bytes))
            }

            /// The offset of the address within its `page_size` page
            /// (`page_size` a power of two).
            pub const fn page_offset(self, page_size: u64) -> u64 {
                self.0 & (page_size - 1)
            }

            /// The address rounded down to a `page_size` boundary
            /// (`page_size` a power of two).
            pub const fn align_down(self, page_size: u64) -> Self {
                Self(self.0 & !(page_size - 1))
            }
        }

        impl From<$name> for u64 {
            fn from(addr: $name) -> u64 {
                addr.0
            }
        }

        // Debug prints the number in hex: addresses are read in hex everywhere.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0)
            }
        }

        // `{:#x}` prints exactly what it printed when the address was a bare u64.
        impl fmt::LowerHex for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::LowerHex::fmt(&self.0, f)
            }
        }
    };
}

address_type!(
    /// A physical address of the crashed machine (what a dump records).
    PhysAddr,
    "physical"
);

address_type!(
    /// A virtual address (kernel or user) of the crashed machine; translating
    /// it needs a page table.
    VirtAddr,
    "virtual"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_the_bare_number() {
        let pa = PhysAddr::new(0xabc_d000);
        assert_eq!(format!("{pa:#x}"), "0xabcd000");
        assert_eq!(format!("{pa:x}"), "abcd000");
        assert_eq!(format!("{pa:#018x}"), "0x000000000abcd000");
        assert_eq!(format!("{pa:?}"), "PhysAddr(0xabcd000)");
        let va = VirtAddr::new(0xffff_8880_0000_0010);
        assert_eq!(format!("{va:#x}"), "0xffff888000000010");
        assert_eq!(u64::from(va), 0xffff_8880_0000_0010);
    }

    #[test]
    fn arithmetic_is_checked_or_explicitly_wrapping() {
        let top = PhysAddr::new(u64::MAX - 7);
        assert_eq!(top.checked_add(7), Some(PhysAddr::new(u64::MAX)));
        assert_eq!(top.checked_add(8), None);
        assert_eq!(VirtAddr::new(u64::MAX).wrapping_add(2), VirtAddr::new(1));
        let va = VirtAddr::new(0xffff_c900_0020_1234);
        assert_eq!(va.page_offset(4096), 0x234);
        assert_eq!(va.align_down(2 << 20), VirtAddr::new(0xffff_c900_0020_0000));
        assert_eq!(va.page_offset(2 << 20), 0x1234);
    }
}
