//! Kernel symbols from the kallsyms tables in the dump's own memory, found
//! through VMCOREINFO (`SYMBOL(kallsyms_*)`, exported since Linux 6.0:
//! 5fd8fea935a1 "vmcoreinfo: include kallsyms symbols" and f09bddbd8661
//! "vmcoreinfo: add kallsyms_num_syms symbol").
//!
//! The format is the one the kernel's scripts/kallsyms.c writes and
//! kernel/kallsyms.c reads:
//! - `kallsyms_num_syms`: a u32;
//! - `kallsyms_names`: per symbol, a token count then that many token
//!   codes; the first decoded character is `nm`'s type letter. Since 6.1
//!   (73bbb94466fd "kallsyms: support "big" kernel symbols") a count with
//!   bit 7 set takes a second byte: `(b0 & 0x7f) | b1 << 7`. Nothing in the
//!   dump says which rule applies; before 6.1 names were at most 128 tokens,
//!   so the second rule is taken from 6.1 on ([`KallsymsLocation::big_names`]);
//! - `kallsyms_token_table`: 256 NUL-terminated tokens laid end to end, and
//!   `kallsyms_token_index`: 256 u16 offsets of them into the table;
//! - the addresses, in one of four encodings ([`AddressEncoding`]): plain
//!   `kallsyms_addresses[]` (removed in 6.11 by 64e166099b69 "kallsyms: get
//!   rid of code for absolute kallsyms"); u32 offsets from
//!   `kallsyms_relative_base`; the same with CONFIG_KALLSYMS_ABSOLUTE_PERCPU
//!   (x86-64 SMP until 6.15, "kallsyms: Drop KALLSYMS_ABSOLUTE_PERCPU", when
//!   per-CPU symbols stopped being 0-based), where non-negative values are
//!   absolute and negative ones count down from `relative_base - 1`; and,
//!   since "kallsyms: Get rid of kallsyms relative base" (Ard Biesheuvel,
//!   2026; the Debian 7.2 and 7.3 kernels have it), place-relative s32
//!   offsets: `&kallsyms_offsets[i] + kallsyms_offsets[i]`, with no
//!   `kallsyms_relative_base` in VMCOREINFO.
//!
//! Every table is read in bulk through the caller's reader and bounded
//! ([`MAX_SYMS`], [`MAX_NAMES_BYTES`], 256 tokens of at most
//! [`KSYM_NAME_LEN`] bytes, names of at least one token); the token index
//! is checked to be the layout
//! scripts/kallsyms.c writes, and the decoded `_stext` against VMCOREINFO's.
//! Symbol sizes are not in kallsyms.

use std::error::Error as StdError;

mod tables;

use tables::{fetch, read_bulk, read_names, read_tokens};

use super::named_symbols::{Collector, NamedSymbol, NamedSymbols};
use crate::addr::VirtAddr;
use crate::dump::VmcoreInfo;

/// Bound on `kallsyms_num_syms`: a Debian 6.1 kernel with KALLSYMS_ALL has
/// ~200k symbols; allmodconfig-sized kernels stay under 1M.
pub const MAX_SYMS: u32 = 1 << 21;
/// Bound on the `kallsyms_names` table (1.4 MB on Debian 6.1).
pub const MAX_NAMES_BYTES: usize = 32 << 20;
/// The kernel's KSYM_NAME_LEN (512 since 6.1): longer names are truncated
/// to this minus one byte, as kallsyms_expand_symbol() does; also the bound
/// on one token's length.
pub const KSYM_NAME_LEN: usize = 512;

/// Where the address of symbol `i` comes from, as VMCOREINFO names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressTable {
    /// `kallsyms_addresses[]`: one u64 per symbol.
    Addresses(VirtAddr),
    /// `kallsyms_offsets[]`: one 32-bit value per symbol, relative to
    /// `kallsyms_relative_base` when VMCOREINFO names it, to the entry's
    /// own address when it does not.
    Offsets {
        offsets: VirtAddr,
        relative_base: Option<VirtAddr>,
    },
}

/// The runtime addresses of the kallsyms tables (VMCOREINFO's `SYMBOL()`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KallsymsLocation {
    pub num_syms: VirtAddr,
    pub names: VirtAddr,
    pub token_table: VirtAddr,
    pub token_index: VirtAddr,
    pub addresses: AddressTable,
    /// Token counts of 128 and more take two bytes (Linux 6.1+).
    pub big_names: bool,
    /// VMCOREINFO's `SYMBOL(_stext)`: the decoded `_stext` must equal it.
    pub stext: Option<VirtAddr>,
}

impl KallsymsLocation {
    /// The tables VMCOREINFO names, or `None` when one is missing (kernels
    /// before 6.0, or built without CONFIG_KALLSYMS). `big_names` follows
    /// OSRELEASE (6.1 and later, or an unparsable release: every kernel
    /// that exports these tables but 6.0 uses it).
    pub fn from_vmcoreinfo(info: &VmcoreInfo) -> Option<KallsymsLocation> {
        let sym = |n: &str| info.symbol(n).map(VirtAddr::new);
        let addresses = match (sym("kallsyms_offsets"), sym("kallsyms_addresses")) {
            (Some(offsets), _) => AddressTable::Offsets {
                offsets,
                relative_base: sym("kallsyms_relative_base"),
            },
            (None, Some(a)) => AddressTable::Addresses(a),
            (None, None) => return None,
        };
        let big_names = info
            .osrelease
            .as_deref()
            .and_then(release_major_minor)
            .is_none_or(|v| v >= (6, 1));
        Some(KallsymsLocation {
            num_syms: sym("kallsyms_num_syms")?,
            names: sym("kallsyms_names")?,
            token_table: sym("kallsyms_token_table")?,
            token_index: sym("kallsyms_token_index")?,
            addresses,
            big_names,
            stext: sym("_stext"),
        })
    }
}

/// `"6.12.117+deb12-cloud-amd64"` -> (6, 12).
fn release_major_minor(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// How `kallsyms_sym_address()` turns table entry `i` into an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressEncoding {
    /// `kallsyms_addresses[i]`.
    Absolute,
    /// `relative_base + (u32)offsets[i]`.
    RelativeBase { base: u64 },
    /// `offsets[i] >= 0 ? offsets[i] : relative_base - 1 - offsets[i]`
    /// (CONFIG_KALLSYMS_ABSOLUTE_PERCPU).
    AbsolutePercpu { base: u64 },
    /// `&offsets[i] + (s32)offsets[i]`.
    PlaceRelative { offsets: VirtAddr },
}

/// Why the kallsyms tables could not be read or make no sense.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KallsymsError {
    #[error("cannot read {table} ({len} bytes at {addr:#x})")]
    Read {
        table: &'static str,
        addr: VirtAddr,
        len: usize,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    #[error("{table} at {addr:#x} + {len} bytes runs past the end of the address space")]
    AddressOverflow {
        table: &'static str,
        addr: VirtAddr,
        len: usize,
    },
    #[error("kallsyms_num_syms at {addr:#x} is {value}: not a plausible symbol count (1..={max})")]
    NumSyms {
        addr: VirtAddr,
        value: u32,
        max: u32,
    },
    #[error(
        "broken kallsyms_token_index at {addr:#x}: entry {entry} is {value}, expected {expected} (where token {} ends)", .entry.wrapping_sub(1)
    )]
    TokenIndex {
        addr: VirtAddr,
        entry: usize,
        value: u16,
        expected: usize,
    },
    #[error(
        "kallsyms_token_table at {addr:#x}: token {entry} at offset {offset} has no NUL within {max} bytes"
    )]
    UnterminatedToken {
        addr: VirtAddr,
        entry: usize,
        offset: usize,
        max: usize,
    },
    #[error("kallsyms_names at {addr:#x}: symbol {symbol} at offset {offset} has no tokens")]
    EmptyName {
        addr: VirtAddr,
        symbol: usize,
        offset: usize,
    },
    #[error(
        "kallsyms_names at {addr:#x}: symbol {symbol} at offset {offset} ends past the {max}-byte bound on the table"
    )]
    NamesTooLong {
        addr: VirtAddr,
        symbol: usize,
        offset: usize,
        max: usize,
    },
    #[error(
        "kallsyms tables disagree with VMCOREINFO: _stext decodes to {decoded:#x} ({encoding:?}), VMCOREINFO's SYMBOL(_stext) is {expected:#x}"
    )]
    StextMismatch {
        decoded: u64,
        expected: u64,
        encoding: AddressEncoding,
    },
}

/// The kallsyms tables of one kernel, read from its memory.
#[derive(Debug, Clone)]
pub struct Kallsyms {
    num_syms: usize,
    /// Exactly the `num_syms` entries of `kallsyms_names`, validated.
    names: Vec<u8>,
    big_names: bool,
    token_table: Vec<u8>,
    /// (start, length) of each token in `token_table`, validated.
    tokens: Vec<(usize, usize)>,
    /// Each token's length, for a name's length without decoding it.
    token_lens: [u16; 256],
    /// The raw `kallsyms_offsets` (4 bytes each) or `kallsyms_addresses`
    /// (8 bytes each).
    values: Vec<u8>,
    encoding: AddressEncoding,
    stext_verified: bool,
}

/// Reads kernel virtual memory: fills the whole buffer or fails.
pub type MemoryReader<'r, E> = dyn FnMut(VirtAddr, &mut [u8]) -> Result<(), E> + 'r;

impl Kallsyms {
    /// Reads and checks the tables at `loc` through `read` (kernel virtual
    /// memory; each call fills the whole buffer or fails).
    pub fn read<E>(
        loc: &KallsymsLocation,
        read: &mut MemoryReader<'_, E>,
    ) -> Result<Kallsyms, KallsymsError>
    where
        E: StdError + Send + Sync + 'static,
    {
        let mut word = [0u8; 4];
        fetch(read, "kallsyms_num_syms", loc.num_syms, &mut word)?;
        let value = u32::from_le_bytes(word);
        if value == 0 || value > MAX_SYMS {
            return Err(KallsymsError::NumSyms {
                addr: loc.num_syms,
                value,
                max: MAX_SYMS,
            });
        }
        let num_syms = value as usize;
        let (token_table, tokens) = read_tokens(loc, read)?;
        let names = read_names(loc, num_syms, read)?;

        let (table_name, table_addr, width) = match loc.addresses {
            AddressTable::Addresses(a) => ("kallsyms_addresses", a, 8),
            AddressTable::Offsets { offsets, .. } => ("kallsyms_offsets", offsets, 4),
        };
        let values = read_bulk(read, table_name, table_addr, num_syms * width)?;
        let candidates = match loc.addresses {
            AddressTable::Addresses(_) => vec![AddressEncoding::Absolute],
            AddressTable::Offsets {
                offsets,
                relative_base: None,
            } => vec![AddressEncoding::PlaceRelative { offsets }],
            AddressTable::Offsets {
                relative_base: Some(at),
                ..
            } => {
                let mut quad = [0u8; 8];
                fetch(read, "kallsyms_relative_base", at, &mut quad)?;
                let base = u64::from_le_bytes(quad);
                // With absolute per-CPU symbols every ordinary address is
                // stored negative; without, every offset is a small
                // distance from the lowest symbol. _stext decides below.
                let any_negative = values.chunks_exact(4).any(|c| c[3] & 0x80 != 0);
                let (pcpu, rel) = (
                    AddressEncoding::AbsolutePercpu { base },
                    AddressEncoding::RelativeBase { base },
                );
                if any_negative {
                    vec![pcpu, rel]
                } else {
                    vec![rel, pcpu]
                }
            }
        };
        let mut token_lens = [0u16; 256];
        for (len, &(_, l)) in token_lens.iter_mut().zip(&tokens) {
            // At most KSYM_NAME_LEN (checked when read).
            *len = l as u16;
        }
        let mut kallsyms = Kallsyms {
            num_syms,
            names,
            big_names: loc.big_names,
            token_table,
            tokens,
            token_lens,
            values,
            encoding: candidates[0],
            stext_verified: false,
        };
        kallsyms.settle_encoding(&candidates, loc.stext)?;
        Ok(kallsyms)
    }

    /// Picks the encoding under which `_stext` decodes to VMCOREINFO's
    /// value, the check drgn's libdrgn/kallsyms.c makes; without `_stext`
    /// on either side the first candidate stands unverified.
    fn settle_encoding(
        &mut self,
        candidates: &[AddressEncoding],
        stext: Option<VirtAddr>,
    ) -> Result<(), KallsymsError> {
        let Some(expected) = stext.map(VirtAddr::get) else {
            return Ok(());
        };
        let Some(index) = self.index_of("_stext") else {
            return Ok(());
        };
        for &encoding in candidates {
            self.encoding = encoding;
            if self.address(index).0 == expected {
                self.stext_verified = true;
                return Ok(());
            }
        }
        self.encoding = candidates[0];
        Err(KallsymsError::StextMismatch {
            decoded: self.address(index).0,
            expected,
            encoding: self.encoding,
        })
    }

    pub fn num_syms(&self) -> usize {
        self.num_syms
    }

    /// How the addresses were decoded.
    pub fn encoding(&self) -> AddressEncoding {
        self.encoding
    }

    /// Whether `_stext` was found and decoded to VMCOREINFO's value.
    pub fn stext_verified(&self) -> bool {
        self.stext_verified
    }

    /// Symbol `index`'s address as kallsyms_sym_address() computes it, and
    /// whether it is an absolute value (not relocated by KASLR).
    fn address(&self, index: usize) -> (u64, bool) {
        match self.encoding {
            AddressEncoding::Absolute => {
                let v = self.value_u64(index);
                // On x86-64 anything below the kernel half is not a
                // relocated kernel address: a 0-based per-CPU offset.
                (v, v >> 63 == 0)
            }
            AddressEncoding::RelativeBase { base } => {
                (base.wrapping_add(u64::from(self.value_u32(index))), false)
            }
            AddressEncoding::AbsolutePercpu { base } => {
                let v = self.value_u32(index) as i32;
                if v >= 0 {
                    (v as u64, true)
                } else {
                    (
                        base.wrapping_sub(1).wrapping_sub(i64::from(v) as u64),
                        false,
                    )
                }
            }
            AddressEncoding::PlaceRelative { offsets } => {
                let v = self.value_u32(index) as i32;
                let entry = offsets.get().wrapping_add(4 * index as u64);
                (entry.wrapping_add(i64::from(v) as u64), false)
            }
        }
    }

    fn value_u32(&self, index: usize) -> u32 {
        let b = self.values.get(4 * index..4 * index + 4).unwrap_or(&[0; 4]);
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    fn value_u64(&self, index: usize) -> u64 {
        let mut q = [0u8; 8];
        if let Some(b) = self.values.get(8 * index..8 * index + 8) {
            q.copy_from_slice(b);
        }
        u64::from_le_bytes(q)
    }

    /// Calls `f(name, symbol)` for every symbol in table (address) order;
    /// `name` is decoded into a reused buffer.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], NamedSymbol)) {
        let mut buf = [0u8; KSYM_NAME_LEN];
        let mut pos = 0;
        for index in 0..self.num_syms {
            let Some((codes, next)) = self.entry(pos) else {
                return;
            };
            pos = next;
            let (type_letter, len) = self.expand(codes, &mut buf);
            let (address, absolute) = self.address(index);
            f(
                &buf[..len],
                NamedSymbol {
                    address,
                    type_letter,
                    absolute,
                },
            );
        }
    }

    /// One pass over all names collecting exactly the requested ones
    /// (a global symbol wins over file-local ones of the same name, then the
    /// lowest address, as `kallsyms_lookup_name()` answers). Only names of a
    /// wanted length are decoded.
    pub fn find(&self, names: &[&str]) -> NamedSymbols {
        let mut collector = Collector::new(names);
        let mut buf = [0u8; KSYM_NAME_LEN];
        self.scan(|index, codes, name_len| {
            if !collector.wants_len(name_len)
                || !self
                    .first_name_byte(codes)
                    .is_some_and(|b| collector.wants_first(b))
            {
                return;
            }
            let (type_letter, len) = self.expand(codes, &mut buf);
            let (address, absolute) = self.address(index);
            collector.offer(
                &buf[..len],
                NamedSymbol {
                    address,
                    type_letter,
                    absolute,
                },
            );
        });
        collector.finish()
    }

    /// Calls `f(index, token codes, decoded name length)` for every entry;
    /// the length comes from the token lengths, without decoding.
    fn scan(&self, mut f: impl FnMut(usize, &[u8], usize)) {
        let mut pos = 0;
        for index in 0..self.num_syms {
            let Some((codes, next)) = self.entry(pos) else {
                return;
            };
            pos = next;
            let full: usize = codes
                .iter()
                .map(|&c| usize::from(self.token_lens[usize::from(c)]))
                .sum();
            // The first character is the type letter; names are cut at
            // KSYM_NAME_LEN - 1 bytes.
            f(index, codes, full.saturating_sub(1).min(KSYM_NAME_LEN - 1));
        }
    }

    fn index_of(&self, wanted: &str) -> Option<usize> {
        let (mut found, mut global) = (None, false);
        let mut buf = [0u8; KSYM_NAME_LEN];
        self.scan(|index, codes, name_len| {
            if name_len != wanted.len() {
                return;
            }
            let (type_letter, len) = self.expand(codes, &mut buf);
            let is_global = type_letter.is_ascii_uppercase();
            if &buf[..len] == wanted.as_bytes() && (found.is_none() || (is_global && !global)) {
                found = Some(index);
                global = is_global;
            }
        });
        found
    }

    /// The token codes of the entry at `pos` and the next entry's offset.
    fn entry(&self, pos: usize) -> Option<(&[u8], usize)> {
        let (len, header) = entry_len(&self.names, pos, self.big_names)?;
        let start = pos + header;
        let codes = self.names.get(start..start + len)?;
        Some((codes, start + len))
    }

    /// The name's first byte (the one after the type letter), from the
    /// first token or two.
    fn first_name_byte(&self, codes: &[u8]) -> Option<u8> {
        let mut skipped_type = false;
        for &code in codes {
            let (start, len) = self.tokens[usize::from(code)];
            for &b in &self.token_table[start..start + len] {
                if skipped_type {
                    return Some(b);
                }
                skipped_type = true;
            }
        }
        None
    }

    /// Expands token codes into `out` as kallsyms_expand_symbol() does:
    /// the first character is the type letter, the rest the name, cut at
    /// KSYM_NAME_LEN - 1 bytes. Returns (type letter, name length).
    fn expand(&self, codes: &[u8], out: &mut [u8; KSYM_NAME_LEN]) -> (u8, usize) {
        let mut type_letter = None;
        let mut len = 0;
        for &code in codes {
            let (start, tlen) = self.tokens[code as usize];
            let mut token = &self.token_table[start..start + tlen];
            if type_letter.is_none() {
                if let Some((&first, rest)) = token.split_first() {
                    type_letter = Some(first);
                    token = rest;
                }
            }
            let room = KSYM_NAME_LEN - 1 - len;
            let take = token.len().min(room);
            out[len..len + take].copy_from_slice(&token[..take]);
            len += take;
            if take < token.len() {
                break;
            }
        }
        (type_letter.unwrap_or(b'?'), len)
    }
}

/// A names entry's token count and header size (1 or 2 bytes) at `pos`.
fn entry_len(names: &[u8], pos: usize, big: bool) -> Option<(usize, usize)> {
    let b0 = *names.get(pos)?;
    if big && b0 & 0x80 != 0 {
        let b1 = *names.get(pos + 1)?;
        Some((usize::from(b0 & 0x7f) | usize::from(b1) << 7, 2))
    } else {
        Some((usize::from(b0), 1))
    }
}
