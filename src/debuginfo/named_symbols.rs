//! Symbols from a name list without sizes: the kernel's kallsyms tables
//! ([`super::kallsyms`]) and System.map files ([`super::system_map`]).
//!
//! Both give, per symbol, an address and `nm`'s type letter, nothing else:
//! no size (a per-CPU array such as `__per_cpu_offset` must be bounded by
//! other means, e.g. `nr_cpu_ids`), no binding beyond the letter's case.

use std::collections::HashMap;

use super::{Symbol, SymbolKind, SymbolMap};

/// One symbol of a kallsyms table or System.map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedSymbol {
    /// kallsyms: the runtime address exactly as the kernel's
    /// `kallsyms_sym_address()` computes it (KASLR applied, except for
    /// absolute values). System.map: the link-time address.
    pub address: u64,
    /// `nm`'s type letter (`T`, `t`, `D`, `d`, `B`, `b`, `R`, `r`, `A`, ...):
    /// upper case is global, lower case file-local.
    pub type_letter: u8,
    /// The value is absolute, not an address KASLR relocates: 0-based
    /// per-CPU offsets (x86-64 up to Linux 6.14), `A` symbols.
    pub absolute: bool,
}

impl NamedSymbol {
    /// What the type letter says the symbol names.
    pub fn kind(&self) -> SymbolKind {
        match self.type_letter.to_ascii_lowercase() {
            b't' => SymbolKind::Func,
            b'd' | b'b' | b'r' | b'g' | b'c' | b's' | b'v' => SymbolKind::Object,
            _ => SymbolKind::Other,
        }
    }

    fn is_global(&self) -> bool {
        self.type_letter.is_ascii_uppercase()
    }
}

/// The symbols found for one lookup (`find`) by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamedSymbols {
    found: HashMap<String, NamedSymbol>,
}

impl NamedSymbols {
    pub fn get(&self, name: &str) -> Option<NamedSymbol> {
        self.found.get(name).copied()
    }

    pub fn len(&self) -> usize {
        self.found.len()
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, NamedSymbol)> {
        self.found.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// The same symbols as a [`SymbolMap`] of link-time addresses, the form
    /// `.symtab` lookups give: `kaslr` is subtracted from every relocated
    /// address (pass KERNELOFFSET for kallsyms, 0 for a System.map);
    /// absolute values are kept as they are. Sizes are 0: neither source
    /// records them.
    pub fn to_link_time_map(&self, kaslr: u64) -> SymbolMap {
        let mut map = SymbolMap::default();
        for (name, s) in &self.found {
            let address = if s.absolute {
                s.address
            } else {
                s.address.wrapping_sub(kaslr)
            };
            map.insert(
                name.clone(),
                Symbol {
                    address,
                    size: 0,
                    kind: s.kind(),
                },
            );
        }
        map
    }
}

/// The longest name looked up: System.map lines are bounded below this,
/// kallsyms names are cut at KSYM_NAME_LEN - 1 = 511 bytes.
pub(crate) const MAX_NAME_LEN: usize = 1024;

/// Collects, over one pass of a symbol list, the entries whose names are in
/// a wanted set, comparing names without allocating per symbol.
pub(crate) struct Collector<'n> {
    names: &'n [&'n str],
    /// Requested names by length (a name longer than the longest kallsyms
    /// keeps is never found): with `first_bytes`, most symbols are rejected
    /// by two table reads.
    by_len: Vec<Vec<usize>>,
    first_bytes: [bool; 256],
    best: Vec<Option<NamedSymbol>>,
}

impl<'n> Collector<'n> {
    pub(crate) fn new(names: &'n [&'n str]) -> Self {
        let mut by_len: Vec<Vec<usize>> = vec![Vec::new(); MAX_NAME_LEN + 1];
        let mut first_bytes = [false; 256];
        for (i, n) in names.iter().enumerate() {
            if let (Some(&b), Some(slot)) = (n.as_bytes().first(), by_len.get_mut(n.len())) {
                first_bytes[b as usize] = true;
                slot.push(i);
            }
        }
        Collector {
            names,
            by_len,
            first_bytes,
            best: vec![None; names.len()],
        }
    }

    /// Whether a name of `len` bytes can be wanted: lets a caller skip
    /// decoding names of other lengths.
    #[inline]
    pub(crate) fn wants_len(&self, len: usize) -> bool {
        self.by_len.get(len).is_some_and(|v| !v.is_empty())
    }

    /// Whether a name starting with `byte` can be wanted.
    #[inline]
    pub(crate) fn wants_first(&self, byte: u8) -> bool {
        self.first_bytes[byte as usize]
    }

    /// Offers one symbol. A global symbol wins over same-named file-local
    /// ones; among equals the first offered wins (kallsyms and System.map
    /// are sorted by address, and the kernel's `kallsyms_lookup_name()`
    /// returns the lowest address of equal names).
    #[inline]
    pub(crate) fn offer(&mut self, name: &[u8], sym: NamedSymbol) {
        let Some(&first) = name.first() else { return };
        if !self.first_bytes[first as usize] {
            return;
        }
        let Some(candidates) = self.by_len.get(name.len()) else {
            return;
        };
        let Some(&idx) = candidates
            .iter()
            .find(|&&i| self.names[i].as_bytes() == name)
        else {
            return;
        };
        match self.best[idx] {
            None => self.best[idx] = Some(sym),
            Some(old) if !old.is_global() && sym.is_global() => self.best[idx] = Some(sym),
            _ => {}
        }
    }

    pub(crate) fn finish(self) -> NamedSymbols {
        let mut out = NamedSymbols::default();
        for (i, b) in self.best.into_iter().enumerate() {
            if let Some(sym) = b {
                out.found.insert(self.names[i].to_string(), sym);
            }
        }
        out
    }
}
