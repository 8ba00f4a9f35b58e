//! The kernel's debug information from a vmlinux: ELF symbols ([`SymbolMap`]),
//! build-id, DWARF struct layouts ([`TypeInfo`]) and where to find the file
//! ([`finder`] on this machine, [`debuginfod`] servers; [`resolve`] tries
//! them in order); the same struct layouts from BTF ([`btf::Btf`]); symbols
//! without a vmlinux: the kallsyms tables in the dump's memory ([`kallsyms`])
//! and System.map files ([`system_map`]); both read from the dump by
//! [`from_dump`], and one handle over either source ([`DebugInfo`]).
//!
//! The file is memory-mapped once; symbol lookups and DWARF parsing read the
//! mapping in place (zero-copy). Only compressed debug sections are copied,
//! decompressed, into buffers owned by the [`Vmlinux`].
//! See docs/debuginfo.md for the lookup strategy and what is supported.

pub mod btf;
pub mod debuginfod;
mod elf;
pub mod finder;
pub mod from_dump;
pub mod kallsyms;
mod named_symbols;
pub mod resolve;
pub(crate) mod source;
pub(crate) mod symbols;
pub mod system_map;
pub(crate) mod types;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::mapped::{Access, FileBytes, OpenError};

pub use finder::{SearchRoots, find_vmlinux, find_vmlinux_in};
pub use from_dump::{DumpDebugInfo, DumpDebugInfoError, DumpSourceOptions};
pub use kallsyms::{Kallsyms, KallsymsError, KallsymsLocation};
pub use named_symbols::{NamedSymbol, NamedSymbols};
pub use resolve::{
    Attempt, Failure, Origin, ResolveError, Resolved, Step, VmlinuxQuery, resolve_vmlinux,
};
pub use source::{DebugInfo, Description, PartOrigin, Types};
pub use symbols::{Symbol, SymbolKind, SymbolMap};
pub use system_map::{SystemMap, SystemMapError};
pub use types::{
    BitField, MAX_MEMBER_PATHS, Member, StructType, TypeDesc, TypeError, TypeInfo, TypeSource,
};

/// Why a vmlinux could not be opened, read or found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DebugInfoError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not an ELF file (no \\x7fELF magic at offset 0)")]
    NotElf { path: PathBuf },
    #[error("{path}: unsupported ELF at offset {offset:#x}: {reason}")]
    Unsupported {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("{path}: malformed ELF at offset {offset:#x}: {reason}")]
    Malformed {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("{path}: cannot decompress section {section} at offset {offset:#x}: {reason}")]
    Decompress {
        path: PathBuf,
        section: String,
        offset: u64,
        reason: String,
    },
    #[error(
        "vmlinux without DWARF: {path} has no {section} section (install the kernel's -dbg package, or pass the unstripped vmlinux)"
    )]
    NoDwarf { path: PathBuf, section: String },
    #[error(
        "{path} does not belong to this dump: its build-id is {file_id}, the dump's (VMCOREINFO BUILD-ID) is {dump_id}"
    )]
    BuildIdMismatch {
        path: PathBuf,
        file_id: String,
        dump_id: String,
    },
    #[error("no vmlinux matches the dump's build-id {dump_id}; candidates with other build-ids: {}", fmt_candidates(.candidates))]
    NoMatchingBuildId {
        dump_id: String,
        /// (path, that file's build-id)
        candidates: Vec<(PathBuf, String)>,
    },
    #[error("no vmlinux found (pass --vmlinux FILE); tried: {}{}", fmt_paths(.tried), fmt_rejected(.rejected))]
    NotFound {
        tried: Vec<PathBuf>,
        /// Candidates that exist but could not be used, with the reason.
        rejected: Vec<(PathBuf, String)>,
    },
}

fn fmt_paths(paths: &[PathBuf]) -> String {
    let v: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    v.join(", ")
}

fn fmt_candidates(c: &[(PathBuf, String)]) -> String {
    let v: Vec<String> = c
        .iter()
        .map(|(p, id)| format!("{} ({id})", p.display()))
        .collect();
    v.join(", ")
}

fn fmt_rejected(r: &[(PathBuf, String)]) -> String {
    if r.is_empty() {
        return String::new();
    }
    let v: Vec<String> = r
        .iter()
        .map(|(p, why)| format!("{}: {why}", p.display()))
        .collect();
    format!("; unusable: {}", v.join("; "))
}

/// The DWARF sections [`types::TypeInfo`] reads. `.debug_line` and
/// `.debug_addr` are there because gimli's `Unit` reads the unit DIE's
/// line-program header and `DW_FORM_addrx` low PC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DwarfSection {
    Info,
    Abbrev,
    Str,
    LineStr,
    StrOffsets,
    Line,
    Addr,
}

impl DwarfSection {
    const COUNT: usize = 7;
    const ALL: [DwarfSection; DwarfSection::COUNT] = [
        DwarfSection::Info,
        DwarfSection::Abbrev,
        DwarfSection::Str,
        DwarfSection::LineStr,
        DwarfSection::StrOffsets,
        DwarfSection::Line,
        DwarfSection::Addr,
    ];
    fn name(self) -> &'static str {
        match self {
            DwarfSection::Info => ".debug_info",
            DwarfSection::Abbrev => ".debug_abbrev",
            DwarfSection::Str => ".debug_str",
            DwarfSection::LineStr => ".debug_line_str",
            DwarfSection::StrOffsets => ".debug_str_offsets",
            DwarfSection::Line => ".debug_line",
            DwarfSection::Addr => ".debug_addr",
        }
    }
}

/// Where one DWARF section's bytes are: in the mapping, or decompressed.
enum SectionBytes {
    Absent,
    Mapped { offset: usize, len: usize },
    Owned(Vec<u8>),
}

/// A memory-mapped vmlinux (or any ELF64 x86-64 executable with symbols and
/// DWARF, such as a synthetic fixture or a gcc-built test program).
pub struct Vmlinux {
    path: PathBuf,
    map: FileBytes,
    sections: Vec<elf::Section>,
    /// Filled by the first successful [`Vmlinux::types`]; failures are not
    /// cached (they are cheap to recompute and carry non-Clone I/O errors).
    dwarf: OnceLock<[SectionBytes; DwarfSection::COUNT]>,
    /// What every [`TypeInfo`] of this file has learned from `dwarf` (the
    /// unit index, resolved structs): built lazily, once per file.
    type_index: types::TypeIndex,
}

impl std::fmt::Debug for Vmlinux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vmlinux")
            .field("path", &self.path)
            .field("len", &self.map.bytes().len())
            .field("sections", &self.sections.len())
            .finish()
    }
}

impl Vmlinux {
    /// Maps the file and checks it is ELF64, little-endian, x86-64, ET_EXEC
    /// (a vmlinux) or ET_DYN (a PIE test program); reads the section table.
    pub fn open(path: &Path) -> Result<Vmlinux, DebugInfoError> {
        let io = |source| DebugInfoError::Io {
            path: path.to_path_buf(),
            source,
        };
        let map = FileBytes::open(path).map_err(|e| match e {
            OpenError::IsDirectory => io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "is a directory, not a regular file",
            )),
            OpenError::Io(source) | OpenError::MapFailed(_, source) => io(source),
        })?;
        // Symbols, notes and DWARF are each a few scattered pages of a
        // file of hundreds of MB: no readahead around faults (the symbol
        // scan asks for its tables explicitly).
        map.advise(Access::Random);
        Self::from_backing(path.to_path_buf(), map)
    }

    /// A vmlinux whose bytes are already in memory (fuzz targets, tests):
    /// the same checks and lookups as [`Vmlinux::open`], without a mapping.
    /// `path` only names the input in messages.
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<Vmlinux, DebugInfoError> {
        Self::from_backing(path.into(), FileBytes::from_vec(bytes))
    }

    fn from_backing(path: PathBuf, map: FileBytes) -> Result<Vmlinux, DebugInfoError> {
        let sections = elf::parse_sections(&path, map.bytes())?;
        Ok(Vmlinux {
            path,
            map,
            sections,
            dwarf: OnceLock::new(),
            type_index: types::TypeIndex::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn section_by_name(&self, name: &str) -> Option<&elf::Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    pub(crate) fn section_bytes(&self, s: &elf::Section) -> Result<&[u8], DebugInfoError> {
        elf::section_bytes(&self.path, self.map.bytes(), s)
    }

    /// Tells the kernel how a section's bytes will be read (a hint).
    pub(crate) fn advise_section(&self, s: &elf::Section, access: Access) {
        self.map.advise_range(access, s.offset, s.size);
    }

    /// The GNU build-id (NT_GNU_BUILD_ID, normally in `.note.gnu.build-id`)
    /// as lowercase hex, the form VMCOREINFO's `BUILD-ID=` uses.
    pub fn build_id(&self) -> Option<String> {
        // The dedicated section first; other note sections as a fallback.
        let preferred = self.section_by_name(".note.gnu.build-id");
        let others = self
            .sections
            .iter()
            .filter(|s| s.sh_type == elf::SHT_NOTE && s.name != ".note.gnu.build-id");
        for s in preferred.into_iter().chain(others) {
            let Ok(bytes) = self.section_bytes(s) else {
                continue;
            };
            if let Some(id) = elf::find_build_id(bytes, s.addralign).filter(|id| !id.is_empty()) {
                return Some(id.iter().map(|b| format!("{b:02x}")).collect());
            }
        }
        None
    }

    /// One pass over `.symtab` collecting exactly the requested names.
    /// Addresses are link-time (the caller applies KASLR). Names absent from
    /// the table are absent from the map; a file without `.symtab` (stripped)
    /// gives an empty map.
    pub fn find_symbols(&self, names: &[&str]) -> SymbolMap {
        self.will_need_symbols();
        symbols::scan_symbols(self, names)
    }

    /// Starts reading what [`Vmlinux::find_symbols`] scans (a hint: see
    /// [`crate::debuginfo::DebugInfo::find_symbols_warming_types`]).
    pub(crate) fn will_need_symbols(&self) {
        symbols::will_need_symbols(self);
    }

    /// [`Vmlinux::find_symbols`] for a caller that has already called
    /// [`Vmlinux::will_need_symbols`].
    pub(crate) fn scan_symbols(&self, names: &[&str]) -> SymbolMap {
        symbols::scan_symbols(self, names)
    }

    /// DWARF type information. Fails if the file has no `.debug_info`
    /// ("vmlinux without DWARF") or a debug section cannot be decompressed.
    /// Cheap after the first call: every view shares this file's type index
    /// and answers, so nothing is scanned or resolved twice.
    pub fn types(&self) -> Result<TypeInfo<'_>, DebugInfoError> {
        if self.dwarf.get().is_none() {
            let loaded = self.load_dwarf()?;
            // The index scan reads the name of every top-level DIE of the
            // first units: a few hundred `DW_FORM_strp` strings spread over
            // all of `.debug_str` (3.4 MB on 6.1). With a cold page cache one
            // sequential read of the section beats as many 4 KiB faults.
            if let SectionBytes::Mapped { offset, len } = &loaded[DwarfSection::Str as usize] {
                self.map
                    .advise_range(Access::WillNeed, *offset as u64, *len as u64);
            }
            // A concurrent initializer would have produced the same bytes.
            let _ = self.dwarf.set(loaded);
        }
        let Some(dwarf) = self.dwarf.get() else {
            return Err(DebugInfoError::NoDwarf {
                path: self.path.clone(),
                section: ".debug_info".into(),
            });
        };
        let get = |which: DwarfSection| -> &[u8] {
            match &dwarf[which as usize] {
                SectionBytes::Absent => &[],
                SectionBytes::Mapped { offset, len } => &self.map.bytes()[*offset..*offset + *len],
                SectionBytes::Owned(v) => v,
            }
        };
        Ok(TypeInfo::new(
            &self.path,
            &self.type_index,
            &self.map,
            move |id| {
                DwarfSection::ALL
                    .into_iter()
                    .find(|which| which.name() == id.name())
                    .map_or(&[][..], get)
            },
        ))
    }

    fn load_dwarf(&self) -> Result<[SectionBytes; DwarfSection::COUNT], DebugInfoError> {
        let mut out = [const { SectionBytes::Absent }; DwarfSection::COUNT];
        for which in DwarfSection::ALL {
            let name = which.name();
            let zname = format!(".z{}", &name[1..]);
            let (section, gnu_zdebug) = match self.section_by_name(name) {
                Some(s) => (s, false),
                None => match self.section_by_name(&zname) {
                    Some(s) => (s, true),
                    None => continue,
                },
            };
            // A stripped file keeps empty (SHT_NOBITS) placeholders.
            if section.sh_type == elf::SHT_NOBITS || section.size == 0 {
                continue;
            }
            let raw = self.section_bytes(section)?;
            out[which as usize] = if gnu_zdebug || section.flags & elf::SHF_COMPRESSED != 0 {
                SectionBytes::Owned(elf::decompress(&self.path, section, raw, gnu_zdebug)?)
            } else {
                SectionBytes::Mapped {
                    offset: section.offset as usize,
                    len: raw.len(),
                }
            };
        }
        for required in [DwarfSection::Info, DwarfSection::Abbrev] {
            if matches!(out[required as usize], SectionBytes::Absent) {
                return Err(DebugInfoError::NoDwarf {
                    path: self.path.clone(),
                    section: required.name().into(),
                });
            }
        }
        Ok(out)
    }
}
