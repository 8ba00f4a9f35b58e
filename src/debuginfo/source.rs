//! One interface over where the kernel's symbols and types come from: a DWARF
//! vmlinux, or the dump's own kallsyms (or a System.map) and BTF. Everything
//! above this layer (tasks, pgd_list, per-CPU state, the printk log, the
//! crash section, the replay, extract) asks [`DebugInfo`] and [`Types`] and
//! never which one answered.

use super::btf::Btf;
use super::from_dump::DumpDebugInfo;
use super::{DebugInfoError, StructType, SymbolMap, TypeError, TypeInfo, Vmlinux};

/// The debug information one analysis reads: a cheap, copyable handle on
/// storage the caller owns (a [`Vmlinux`], or the dump's tables).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum DebugInfo<'a> {
    /// A vmlinux: `.symtab` for symbols, DWARF for types.
    Dwarf(&'a Vmlinux),
    /// The dump's own kallsyms (or a System.map) and BTF.
    Dump(&'a DumpDebugInfo),
}

impl<'a> From<&'a DumpDebugInfo> for DebugInfo<'a> {
    fn from(d: &'a DumpDebugInfo) -> Self {
        DebugInfo::Dump(d)
    }
}

impl<'a> From<&'a Vmlinux> for DebugInfo<'a> {
    fn from(v: &'a Vmlinux) -> Self {
        DebugInfo::Dwarf(v)
    }
}

impl<'a> DebugInfo<'a> {
    /// The named symbols at their link-time addresses (the caller applies
    /// KASLR); names the source lacks are absent from the map.
    pub fn find_symbols(&self, names: &[&str]) -> SymbolMap {
        match self {
            DebugInfo::Dwarf(v) => v.find_symbols(names),
            DebugInfo::Dump(d) => d.find_symbols(names),
        }
    }

    /// [`DebugInfo::find_symbols`] on a second thread, while this one
    /// resolves the structs named in `structs` ([`Types::prefetch`]). With a cold page
    /// cache both are disk waits, a sequential read of `.symtab` and
    /// scattered DWARF pages, and overlapping them shortens the first look
    /// at a fresh dump by the shorter of the two (docs/benchmarks.md). The
    /// answers land in the vmlinux's type index, where the next
    /// [`DebugInfo::types`] view finds them. BTF is already in memory and
    /// needs no warming; a thread that cannot be started changes nothing but
    /// speed.
    pub fn find_symbols_warming_types(&self, names: &[&str], structs: &[&str]) -> SymbolMap {
        let DebugInfo::Dwarf(vmlinux) = *self else {
            return self.find_symbols(names);
        };
        // The symbol tables' read goes to the disk first: the scan of them
        // is the longer wait, and the DWARF pages queue behind it.
        vmlinux.will_need_symbols();
        std::thread::scope(|scope| {
            // The symbol scan is the thread's: it allocates next to nothing
            // (a small map), so the thread's malloc arena stays small, while
            // the type index, which grows, stays on the caller's heap.
            let symbols = std::thread::Builder::new()
                .name("symtab".into())
                .spawn_scoped(scope, move || vmlinux.scan_symbols(names));
            if let Ok(types) = vmlinux.types() {
                types.prefetch(structs);
            }
            match symbols.map(|handle| handle.join()) {
                Ok(Ok(map)) => map,
                // No thread, or it panicked: scan here.
                _ => vmlinux.find_symbols(names),
            }
        })
    }

    /// Struct layouts.
    pub fn types(&self) -> Result<Types<'a>, DebugInfoError> {
        match *self {
            DebugInfo::Dwarf(v) => Ok(Types::Dwarf(Box::new(v.types()?))),
            DebugInfo::Dump(d) => Ok(Types::Btf(d.btf())),
        }
    }

    /// The vmlinux, in DWARF mode.
    pub fn vmlinux(&self) -> Option<&'a Vmlinux> {
        match *self {
            DebugInfo::Dwarf(v) => Some(v),
            DebugInfo::Dump(_) => None,
        }
    }

    /// What answered, for messages ("symbol X not found in ..."): the
    /// vmlinux's path, or the dump's tables.
    pub fn name(&self) -> String {
        match self {
            DebugInfo::Dwarf(v) => v.path().display().to_string(),
            DebugInfo::Dump(d) => match &d.symbols_origin().path {
                Some(map) => format!("{} and the dump's BTF", map.display()),
                None => "the dump's kallsyms".into(),
            },
        }
    }
}

/// Struct layouts from either source, answering the same queries with the
/// same [`StructType`] values.
#[non_exhaustive]
pub enum Types<'a> {
    /// Boxed: a DWARF view is a few hundred bytes, a BTF one a reference.
    Dwarf(Box<TypeInfo<'a>>),
    Btf(&'a Btf),
}

impl Types<'_> {
    /// Struct or union by tag name, or by a typedef naming one.
    pub fn struct_type(&self, name: &str) -> Result<StructType, TypeError> {
        match self {
            Types::Dwarf(t) => t.struct_type(name),
            Types::Btf(b) => b.struct_type(name),
        }
    }

    /// Makes the later [`Types::struct_type`] calls for `names` cheap (one
    /// scan for all of them where the source scans).
    pub fn prefetch(&self, names: &[&str]) {
        match self {
            Types::Dwarf(t) => t.prefetch(names),
            Types::Btf(b) => b.prefetch(names),
        }
    }
}

/// Where one part (symbols or types) of the debug information came from,
/// for reports: what it is (a stable code), and the file or the dump
/// address it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartOrigin {
    /// `vmlinux-symtab`, `vmcoreinfo-kallsyms`, `system-map` (symbols);
    /// `vmlinux-dwarf`, `dump-btf`, `btf-file` (types).
    pub from: &'static str,
    /// The file it was read from, if any.
    pub path: Option<std::path::PathBuf>,
    /// The kernel virtual address it was read from, for tables in the dump.
    pub address: Option<u64>,
    /// Its size in bytes, where known.
    pub bytes: Option<u64>,
    /// How many symbols (or types) it holds, where known.
    pub count: Option<u64>,
}

impl PartOrigin {
    /// An origin with only its code set.
    pub fn named(from: &'static str) -> PartOrigin {
        PartOrigin {
            from,
            path: None,
            address: None,
            bytes: None,
            count: None,
        }
    }
}

/// What answered, part by part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// `dwarf` or `btf`: the kind of type information.
    pub source: &'static str,
    pub symbols: PartOrigin,
    pub types: PartOrigin,
    /// The vmlinux's build-id (DWARF), or the dump's own (BTF).
    pub build_id: Option<String>,
}

impl DebugInfo<'_> {
    /// Where the symbols and types come from.
    pub fn describe(&self) -> Description {
        match self {
            DebugInfo::Dwarf(v) => {
                let file = |from| PartOrigin {
                    from,
                    path: Some(v.path().to_path_buf()),
                    address: None,
                    bytes: None,
                    count: None,
                };
                Description {
                    source: "dwarf",
                    symbols: file("vmlinux-symtab"),
                    types: file("vmlinux-dwarf"),
                    build_id: v.build_id(),
                }
            }
            DebugInfo::Dump(d) => Description {
                source: "btf",
                symbols: d.symbols_origin().clone(),
                types: d.types_origin().clone(),
                build_id: d.build_id().map(str::to_string),
            },
        }
    }
}
