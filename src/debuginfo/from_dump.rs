//! Debug information from the dump itself, for when no DWARF vmlinux is at
//! hand: symbols from the kallsyms tables VMCOREINFO points at (Linux 6.0+)
//! or from a System.map, types from the BTF the kernel keeps in memory
//! between `__start_BTF` and `__stop_BTF` (CONFIG_DEBUG_INFO_BTF) or from a
//! BTF file. Both tables sit in the kernel image, so they are read through
//! the kernel-text map (`__pa_symbol`: no page table needed).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::btf::{Btf, BtfError};
use super::kallsyms::{Kallsyms, KallsymsError, KallsymsLocation};
use super::source::PartOrigin;
use super::system_map::{SystemMap, SystemMapError};
use super::{SearchRoots, SymbolMap};
use crate::arch::x86_64::{KernelTranslator, PagingMode, PhysAddr, VirtAddr};
use crate::dump::{CrashDump, PhysicalMemory, ReadError};

/// The most BTF read from a dump (a 7.3 kernel's is ~6 MB).
pub const MAX_DUMP_BTF_BYTES: u64 = 64 << 20;
/// The BTF header: magic, version, flags, hdr_len, then four u32
/// offsets/lengths (include/uapi/linux/btf.h).
const BTF_HEADER_BYTES: usize = 24;

/// Why the dump's own debug information could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DumpDebugInfoError {
    #[error("the dump has no VMCOREINFO note: its kallsyms and BTF cannot be located")]
    NoVmcoreinfo,
    #[error(
        "no kernel symbols: VMCOREINFO has no kallsyms tables (they are there from Linux 6.0) and no System.map was found (pass --system-map FILE; tried {})",
        fmt_paths(.tried)
    )]
    NoSymbols { tried: Vec<PathBuf> },
    #[error("kallsyms in the dump")]
    Kallsyms(#[source] KallsymsError),
    #[error(transparent)]
    SystemMap(#[from] SystemMapError),
    #[error(
        "no BTF: the kernel has no __start_BTF symbol (built without CONFIG_DEBUG_INFO_BTF?); pass --btf FILE (e.g. a copy of the machine's /sys/kernel/btf/vmlinux)"
    )]
    NoBtfSymbol,
    #[error("the BTF at {va:#x} cannot be read from the dump")]
    BtfRead {
        va: u64,
        #[source]
        source: ReadError,
    },
    #[error("the BTF at {va:#x} is outside the kernel image map")]
    BtfOutsideImage { va: u64 },
    #[error("the BTF at {va:#x} is not BTF: {reason}")]
    BtfHeader { va: u64, reason: String },
    #[error(transparent)]
    Btf(#[from] BtfError),
    #[error("{path}")]
    BtfFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn fmt_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "nothing".into();
    }
    let v: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    v.join(", ")
}

/// What to use besides the dump: explicit files, and where `/boot` is.
#[derive(Debug, Clone, Default)]
pub struct DumpSourceOptions {
    /// `--system-map FILE`: used instead of the dump's kallsyms.
    pub system_map: Option<PathBuf>,
    /// `--btf FILE`: used instead of the dump's BTF.
    pub btf: Option<PathBuf>,
    /// Where `/boot/System.map-<release>` is looked for.
    pub roots: SearchRoots,
    /// Symbols the caller will ask for: found in the same pass over the
    /// symbol table as the BTF's bounds, so that asking again costs no
    /// second pass (a kallsyms pass decodes ~200k names).
    pub symbols_hint: Vec<&'static str>,
}

/// The BTF's bounds, looked up with the caller's hint.
const BTF_SYMBOLS: [&str; 2] = ["__start_BTF", "__stop_BTF"];

enum SymbolTable {
    Kallsyms(Box<Kallsyms>),
    SystemMap(SystemMap),
}

impl SymbolTable {
    /// Link-time addresses: KERNELOFFSET (`kaslr`) taken off kallsyms'
    /// runtime addresses, absolute values kept.
    fn find(&self, names: &[&str], kaslr: u64) -> SymbolMap {
        match self {
            SymbolTable::Kallsyms(k) => k.find(names).to_link_time_map(kaslr),
            SymbolTable::SystemMap(m) => m.find(names).to_link_time_map(0),
        }
    }
}

/// Symbols and types read from the dump (or the files standing in for
/// them), owned.
pub struct DumpDebugInfo {
    symbols: SymbolTable,
    /// KERNELOFFSET: kallsyms gives runtime addresses, callers want link
    /// addresses.
    kaslr: u64,
    /// The names of the load-time pass and what it found (link-time).
    hinted: (Vec<&'static str>, SymbolMap),
    btf: Btf,
    symbols_origin: PartOrigin,
    types_origin: PartOrigin,
    build_id: Option<String>,
    /// Page frames of the dump the tables were read from (extract keeps
    /// them, so the reproduction carries its own debug information).
    pages: BTreeSet<u64>,
}

impl std::fmt::Debug for DumpDebugInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DumpDebugInfo")
            .field("symbols", &self.symbols_origin)
            .field("types", &self.types_origin)
            .finish()
    }
}

/// Kernel-image reads through the text map, recording the frames read.
struct ImageReader<'m> {
    mem: &'m dyn PhysicalMemory,
    xlate: KernelTranslator,
    pages: BTreeSet<u64>,
}

#[derive(Debug, thiserror::Error)]
enum ImageReadError {
    #[error("{0:#x} is outside the kernel image map")]
    OutsideImage(u64),
    #[error(transparent)]
    Read(#[from] ReadError),
}

impl ImageReader<'_> {
    fn read(&mut self, va: VirtAddr, buf: &mut [u8]) -> Result<(), ImageReadError> {
        let pa = self
            .xlate
            .text_pa(va)
            .ok_or(ImageReadError::OutsideImage(va.get()))?;
        // The tables are megabytes of contiguous pages (the BTF, the
        // kallsyms names in 256 KiB chunks): with a cold page cache, one
        // read-ahead request instead of a fault per 4 KiB page.
        if buf.len() > 16 * 4096 {
            self.mem.will_need(pa, buf.len() as u64);
        }
        self.mem.read(pa, buf)?;
        let first = pa.get() >> 12;
        let last = pa.get().saturating_add(buf.len().max(1) as u64 - 1) >> 12;
        self.pages.extend(first..=last);
        Ok(())
    }
}

impl DumpDebugInfo {
    /// Reads the symbols and the BTF of `dump`'s kernel through `mem` (the
    /// dump's memory, or an adapter over it).
    pub fn load(
        dump: &CrashDump,
        mem: &dyn PhysicalMemory,
        opts: &DumpSourceOptions,
    ) -> Result<DumpDebugInfo, DumpDebugInfoError> {
        let info = dump
            .vmcoreinfo
            .as_ref()
            .ok_or(DumpDebugInfoError::NoVmcoreinfo)?;
        let kaslr = info.kerneloffset.unwrap_or(0);
        let phys_base = info.number("phys_base").map_or(0, |v| v as u64);
        let mut reader = ImageReader {
            mem,
            xlate: KernelTranslator {
                mode: PagingMode::FourLevel,
                phys_base,
                sme_mask: 0,
                root_pa: PhysAddr::new(0),
                direct_map: None,
            },
            pages: BTreeSet::new(),
        };
        let (symbols, symbols_origin) = load_symbols(dump, &mut reader, opts)?;
        let mut names = opts.symbols_hint.clone();
        names.extend(BTF_SYMBOLS);
        names.sort_unstable();
        names.dedup();
        let found = symbols.find(&names, kaslr);
        let (btf, types_origin) = match &opts.btf {
            Some(path) => load_btf_file(path)?,
            None => load_dump_btf(&found, kaslr, &mut reader)?,
        };
        Ok(DumpDebugInfo {
            symbols,
            kaslr,
            hinted: (names, found),
            btf,
            symbols_origin,
            types_origin,
            build_id: info.build_id.clone(),
            pages: reader.pages,
        })
    }

    /// The named symbols at link-time addresses (KERNELOFFSET taken off
    /// kallsyms' runtime addresses; absolute values kept); sizes are 0.
    pub fn find_symbols(&self, names: &[&str]) -> SymbolMap {
        let (hinted, found) = &self.hinted;
        if names.iter().all(|n| hinted.binary_search(n).is_ok()) {
            return found.subset(names);
        }
        self.symbols.find(names, self.kaslr)
    }

    /// The types.
    pub fn btf(&self) -> &Btf {
        &self.btf
    }

    /// Where the symbols came from.
    pub fn symbols_origin(&self) -> &PartOrigin {
        &self.symbols_origin
    }

    /// Where the types came from.
    pub fn types_origin(&self) -> &PartOrigin {
        &self.types_origin
    }

    /// VMCOREINFO's BUILD-ID.
    pub fn build_id(&self) -> Option<&str> {
        self.build_id.as_deref()
    }

    /// Page frame numbers of the dump the tables were read from.
    pub fn pages_read(&self) -> impl Iterator<Item = u64> + '_ {
        self.pages.iter().copied()
    }
}

/// The BTF between `__start_BTF` and `__stop_BTF`: the header first, then
/// exactly the length it claims, within those bounds.
fn load_dump_btf(
    map: &SymbolMap,
    kaslr: u64,
    reader: &mut ImageReader<'_>,
) -> Result<(Btf, PartOrigin), DumpDebugInfoError> {
    let start = map
        .get("__start_BTF")
        .ok_or(DumpDebugInfoError::NoBtfSymbol)?
        .address
        .wrapping_add(kaslr);
    let stop = map.get("__stop_BTF").map(|s| s.address.wrapping_add(kaslr));
    let read = |reader: &mut ImageReader<'_>, buf: &mut [u8]| {
        reader.read(VirtAddr::new(start), buf).map_err(|e| match e {
            ImageReadError::OutsideImage(va) => DumpDebugInfoError::BtfOutsideImage { va },
            ImageReadError::Read(source) => DumpDebugInfoError::BtfRead { va: start, source },
        })
    };
    let mut header = [0u8; BTF_HEADER_BYTES];
    read(reader, &mut header)?;
    let len = btf_blob_len(&header)
        .map_err(|reason| DumpDebugInfoError::BtfHeader { va: start, reason })?;
    if let Some(stop) = stop
        && stop.wrapping_sub(start) < len
    {
        return Err(DumpDebugInfoError::BtfHeader {
            va: start,
            reason: format!(
                "its header claims {len} bytes, more than the {} between __start_BTF and __stop_BTF",
                stop.wrapping_sub(start)
            ),
        });
    }
    let mut bytes = vec![0u8; len as usize];
    read(reader, &mut bytes)?;
    let btf = Btf::parse(bytes, format!("the dump's BTF at {start:#x}"))?;
    let origin = PartOrigin {
        address: Some(start),
        bytes: Some(len),
        count: Some(btf.type_count() as u64),
        ..PartOrigin::named("dump-btf")
    };
    Ok((btf, origin))
}

/// Symbols: `--system-map`, else VMCOREINFO's kallsyms, else
/// `/boot/System.map-<release>`. A System.map must agree with VMCOREINFO.
fn load_symbols(
    dump: &CrashDump,
    reader: &mut ImageReader<'_>,
    opts: &DumpSourceOptions,
) -> Result<(SymbolTable, PartOrigin), DumpDebugInfoError> {
    let info = dump
        .vmcoreinfo
        .as_ref()
        .ok_or(DumpDebugInfoError::NoVmcoreinfo)?;
    let from_map = |path: &Path| -> Result<(SymbolTable, PartOrigin), DumpDebugInfoError> {
        let map = SystemMap::open(path)?;
        map.check_against(info)?;
        let origin = PartOrigin {
            path: Some(path.to_path_buf()),
            count: Some(map.len() as u64),
            ..PartOrigin::named("system-map")
        };
        Ok((SymbolTable::SystemMap(map), origin))
    };
    if let Some(path) = &opts.system_map {
        return from_map(path);
    }
    if let Some(loc) = KallsymsLocation::from_vmcoreinfo(info) {
        let mut read = |va: VirtAddr, buf: &mut [u8]| reader.read(va, buf);
        let k = Kallsyms::read(&loc, &mut read).map_err(DumpDebugInfoError::Kallsyms)?;
        let origin = PartOrigin {
            address: Some(loc.names.get()),
            count: Some(k.num_syms() as u64),
            ..PartOrigin::named("vmcoreinfo-kallsyms")
        };
        return Ok((SymbolTable::Kallsyms(Box::new(k)), origin));
    }
    let tried = system_map_candidates(dump, &opts.roots);
    if let Some(path) = tried.iter().find(|p| p.is_file()) {
        return from_map(path);
    }
    Err(DumpDebugInfoError::NoSymbols { tried })
}

/// `System.map` and `System.map-<release>` next to the dump, then
/// `/boot/System.map-<release>` (where distributions install it).
fn system_map_candidates(dump: &CrashDump, roots: &SearchRoots) -> Vec<PathBuf> {
    let dir = match dump.path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut out = vec![dir.join("System.map")];
    let release = dump
        .vmcoreinfo
        .as_ref()
        .and_then(|i| i.osrelease.as_deref())
        .map(str::trim)
        .filter(|r| super::finder::safe_component(r));
    if let Some(rel) = release {
        out.push(dir.join(format!("System.map-{rel}")));
        out.push(roots.root.join(format!("boot/System.map-{rel}")));
    }
    out
}

fn load_btf_file(path: &Path) -> Result<(Btf, PartOrigin), DumpDebugInfoError> {
    use std::io::Read as _;
    let io = |source| DumpDebugInfoError::BtfFile {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_DUMP_BTF_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_DUMP_BTF_BYTES {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the {MAX_DUMP_BTF_BYTES}-byte bound on BTF"),
        )));
    }
    let len = bytes.len() as u64;
    let btf = Btf::parse(bytes, path)?;
    let origin = PartOrigin {
        path: Some(path.to_path_buf()),
        bytes: Some(len),
        count: Some(btf.type_count() as u64),
        ..PartOrigin::named("btf-file")
    };
    Ok((btf, origin))
}

/// The length a BTF header claims for the whole blob (header, types,
/// strings), bounded by [`MAX_DUMP_BTF_BYTES`].
fn btf_blob_len(h: &[u8; BTF_HEADER_BYTES]) -> Result<u64, String> {
    let u32_at =
        |at: usize| u64::from(u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]));
    let magic = u16::from_le_bytes([h[0], h[1]]);
    if magic != super::btf::BTF_MAGIC {
        return Err(format!(
            "magic {magic:#06x}, not {:#06x}",
            super::btf::BTF_MAGIC
        ));
    }
    let hdr_len = u32_at(4);
    let end = (u32_at(8) + u32_at(12)).max(u32_at(16) + u32_at(20));
    let len = hdr_len + end;
    if len > MAX_DUMP_BTF_BYTES {
        return Err(format!(
            "its header claims {len} bytes, more than the {MAX_DUMP_BTF_BYTES}-byte bound"
        ));
    }
    Ok(len)
}
