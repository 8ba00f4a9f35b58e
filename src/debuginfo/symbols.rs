//! ELF `.symtab` lookups: one linear pass collecting only the requested names.
//!
//! A real vmlinux has ~121k symbols; building a full name index would cost
//! more than the whole analysis needs, so each call scans once and compares
//! names in place in `.strtab` (no allocation, no NUL search per symbol).

use std::collections::HashMap;

use object::LittleEndian;
use object::elf::{SHN_UNDEF, STB_LOCAL, STT_FUNC, STT_OBJECT};
use object::read::elf::Sym as _;

use super::Vmlinux;
use super::elf::{self, SHT_SYMTAB};
use crate::mapped::Access;

/// What an ELF symbol names (STT_OBJECT, STT_FUNC, anything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SymbolKind {
    Object,
    Func,
    Other,
}

/// A symbol's link-time address (KASLR not applied) and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol {
    pub address: u64,
    pub size: u64,
    pub kind: SymbolKind,
}

/// The symbols found for one [`Vmlinux::find_symbols`] request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymbolMap {
    found: HashMap<String, Symbol>,
}

impl SymbolMap {
    pub fn get(&self, name: &str) -> Option<Symbol> {
        self.found.get(name).copied()
    }

    pub fn len(&self) -> usize {
        self.found.len()
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// Adds (or replaces) one symbol; how the sources without `.symtab`
    /// (kallsyms, System.map) build their maps.
    pub(crate) fn insert(&mut self, name: String, symbol: Symbol) {
        self.found.insert(name, symbol);
    }

    /// The entries of `names` this map has.
    pub(crate) fn subset(&self, names: &[&str]) -> SymbolMap {
        SymbolMap {
            found: names
                .iter()
                .filter_map(|n| self.found.get(*n).map(|s| (n.to_string(), *s)))
                .collect(),
        }
    }

    // Used by `extract` only (feature `write`).
    #[cfg_attr(not(feature = "write"), allow(dead_code))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, Symbol)> {
        self.found.iter().map(|(k, v)| (k.as_str(), *v))
    }
}

/// `Elf64_Sym`'s size, the only `sh_entsize` a `.symtab` may declare.
const SYM_SIZE: u64 = std::mem::size_of::<object::elf::Sym64<LittleEndian>>() as u64;
const LE: LittleEndian = LittleEndian;

/// The symbol table and its string table, if the file has a usable pair.
fn symbol_tables(vmlinux: &Vmlinux) -> Option<(&elf::Section, &elf::Section)> {
    // entsize 0 is tolerated (some linkers leave it unset); anything else
    // must be Elf64_Sym's size or the records would be misread.
    let symtab = vmlinux
        .sections
        .iter()
        .find(|s| s.sh_type == SHT_SYMTAB && (s.entsize == 0 || s.entsize == SYM_SIZE))?;
    Some((symtab, vmlinux.sections.get(symtab.link as usize)?))
}

/// Starts reading both tables: the scan reads them front to back (5 MB on
/// a 6.1 vmlinux), so one readahead of each beats a fault per page of a map
/// advised random.
pub(super) fn will_need_symbols(vmlinux: &Vmlinux) {
    if let Some((symtab, strtab)) = symbol_tables(vmlinux) {
        vmlinux.advise_section(symtab, Access::WillNeed);
        vmlinux.advise_section(strtab, Access::WillNeed);
    }
}

/// The scan behind [`Vmlinux::find_symbols`], which asks for the tables
/// first ([`will_need_symbols`]).
pub(super) fn scan_symbols(vmlinux: &Vmlinux, names: &[&str]) -> SymbolMap {
    let mut map = SymbolMap::default();
    if names.is_empty() {
        return map;
    }
    let Some((symtab, strtab_sec)) = symbol_tables(vmlinux) else {
        return map;
    };
    let (Ok(syms), Ok(strtab)) = (
        vmlinux.section_bytes(symtab),
        vmlinux.section_bytes(strtab_sec),
    ) else {
        return map;
    };

    // Requested names grouped by first byte: most symbols are rejected by one
    // table lookup, the rest by a memcmp against one or two candidates.
    let mut by_first: Vec<Vec<usize>> = vec![Vec::new(); 256];
    for (i, n) in names.iter().enumerate() {
        if let Some(&b) = n.as_bytes().first() {
            by_first[b as usize].push(i);
        }
    }
    // Best match per requested name: (symbol, is global/weak).
    let mut best: Vec<Option<(Symbol, bool)>> = vec![None; names.len()];

    for entry in elf::symbols(syms) {
        let name_off = entry.st_name(LE) as usize;
        let Some(&first) = strtab.get(name_off) else {
            continue;
        };
        let candidates = &by_first[first as usize];
        if candidates.is_empty() {
            continue;
        }
        let rest = &strtab[name_off..];
        let Some(&idx) = candidates.iter().find(|&&i| {
            let n = names[i].as_bytes();
            rest.len() > n.len() && &rest[..n.len()] == n && rest[n.len()] == 0
        }) else {
            continue;
        };
        if entry.st_shndx(LE) == SHN_UNDEF {
            continue;
        }
        let global = entry.st_bind() != STB_LOCAL;
        let kind = match entry.st_type() {
            STT_OBJECT => SymbolKind::Object,
            STT_FUNC => SymbolKind::Func,
            _ => SymbolKind::Other,
        };
        let sym = Symbol {
            address: entry.st_value(LE),
            size: entry.st_size(LE),
            kind,
        };
        // A global definition wins over same-named file-local statics; among
        // equals the first in the table wins.
        match best[idx] {
            None => best[idx] = Some((sym, global)),
            Some((_, false)) if global => best[idx] = Some((sym, global)),
            _ => {}
        }
    }
    for (i, b) in best.into_iter().enumerate() {
        if let Some((sym, _)) = b {
            map.found.insert(names[i].to_string(), sym);
        }
    }
    map
}
