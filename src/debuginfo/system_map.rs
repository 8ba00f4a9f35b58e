//! Kernel symbols from a System.map (`nm -n vmlinux` output kept by the
//! kernel's image package as `/boot/System.map-<release>`): one
//! `ADDRESS TYPE NAME` line per symbol, link-time addresses.
//!
//! Where the dump carries no kallsyms tables in VMCOREINFO (kernels before
//! 6.0) this is the symbol source without a vmlinux. A System.map says
//! nothing of the build it came from, so [`SystemMap::check_against`]
//! compares it with the symbols VMCOREINFO holds at runtime (`_stext`,
//! `init_top_pgt`, `swapper_pg_dir`: every x86-64 kernel from 5.x exports
//! them) after KERNELOFFSET, and refuses a map of another build.
//!
//! Bounds: the file at most [`MAX_FILE_BYTES`], a line at most
//! [`MAX_LINE_BYTES`]; malformed lines are counted and skipped, and a file
//! with no usable line is an error. Symbol sizes are not in a System.map.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::named_symbols::{Collector, NamedSymbol, NamedSymbols};
use crate::dump::VmcoreInfo;

/// Bound on the file (a Debian 6.1 System.map is 5 MB).
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// Bound on one line: 16 hex digits, the type, a name of at most the
/// kernel's KSYM_NAME_LEN (512), separators.
pub const MAX_LINE_BYTES: usize = 1024;

/// The VMCOREINFO symbols a System.map is checked against, in this order.
pub const CHECK_SYMBOLS: [&str; 3] = ["_stext", "init_top_pgt", "swapper_pg_dir"];

/// Why a System.map could not be read or does not fit the dump.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SystemMapError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: larger than the {max}-byte bound on a System.map")]
    TooLarge { path: PathBuf, max: u64 },
    #[error("{path}: no usable \"ADDRESS TYPE NAME\" line ({bad_lines} malformed of {lines}{})", fmt_first_bad(.first_bad))]
    NoSymbols {
        path: PathBuf,
        lines: usize,
        bad_lines: usize,
        first_bad: Option<String>,
    },
    #[error(
        "{path} cannot be checked against this dump: it has none of {} that VMCOREINFO also has", CHECK_SYMBOLS.join(", ")
    )]
    NoCommonSymbol { path: PathBuf },
    #[error(
        "{path} does not belong to this dump: {symbol} is {link:#x} in it, + KERNELOFFSET {kerneloffset:#x} = {}, but VMCOREINFO's SYMBOL({symbol}) is {runtime:#x} (a System.map of another release or build)", fmt_sum(*.link, *.kerneloffset)
    )]
    Mismatch {
        path: PathBuf,
        symbol: &'static str,
        link: u64,
        kerneloffset: u64,
        runtime: u64,
    },
}

fn fmt_first_bad(first: &Option<String>) -> String {
    first
        .as_ref()
        .map(|l| format!("; first: {l:?}"))
        .unwrap_or_default()
}

fn fmt_sum(link: u64, offset: u64) -> String {
    format!("{:#x}", link.wrapping_add(offset))
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    name_start: u32,
    name_len: u16,
    type_letter: u8,
    address: u64,
}

/// A parsed System.map.
#[derive(Debug, Clone)]
pub struct SystemMap {
    path: PathBuf,
    text: Vec<u8>,
    entries: Vec<Entry>,
    bad_lines: usize,
}

/// What [`SystemMap::check_against`] established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapCheck {
    /// KERNELOFFSET (0 when VMCOREINFO has none): what to add to the map's
    /// relocated addresses.
    pub kaslr: u64,
    /// The symbols that agreed.
    pub agreed: Vec<&'static str>,
}

impl SystemMap {
    /// Reads and parses the file, refusing one over [`MAX_FILE_BYTES`].
    pub fn open(path: &Path) -> Result<SystemMap, SystemMapError> {
        let io = |source| SystemMapError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(SystemMapError::TooLarge {
                path: path.to_path_buf(),
                max: MAX_FILE_BYTES,
            });
        }
        Self::parse(path, bytes)
    }

    /// Parses a System.map already in memory; `path` names it in messages.
    pub fn parse(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<SystemMap, SystemMapError> {
        let path = path.into();
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(SystemMapError::TooLarge {
                path,
                max: MAX_FILE_BYTES,
            });
        }
        let mut entries = Vec::new();
        let (mut lines, mut bad_lines, mut first_bad) = (0usize, 0usize, None);
        let mut start = 0usize;
        while start < bytes.len() {
            let end = bytes[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |p| start + p);
            let line = &bytes[start..end];
            let line_start = start;
            start = end + 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            lines += 1;
            match parse_line(line, line_start) {
                Some(e) => entries.push(e),
                None => {
                    bad_lines += 1;
                    if first_bad.is_none() {
                        let cut = &line[..line.len().min(80)];
                        first_bad = Some(String::from_utf8_lossy(cut).into_owned());
                    }
                }
            }
        }
        if entries.is_empty() {
            return Err(SystemMapError::NoSymbols {
                path,
                lines,
                bad_lines,
                first_bad,
            });
        }
        Ok(SystemMap {
            path,
            text: bytes,
            entries,
            bad_lines,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Usable symbols.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Lines skipped as malformed.
    pub fn bad_lines(&self) -> usize {
        self.bad_lines
    }

    /// Calls `f(name, symbol)` for every symbol in file order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], NamedSymbol)) {
        for e in &self.entries {
            let start = e.name_start as usize;
            let name = &self.text[start..start + usize::from(e.name_len)];
            f(
                name,
                NamedSymbol {
                    address: e.address,
                    type_letter: e.type_letter,
                    // `A` symbols and 0-based per-CPU ones (up to 6.14,
                    // linked below the kernel half) take no KASLR.
                    absolute: e.type_letter.eq_ignore_ascii_case(&b'a') || e.address >> 63 == 0,
                },
            );
        }
    }

    /// One pass collecting exactly the requested names, with link-time
    /// addresses (a global symbol wins over file-local ones of the same name,
    /// then the first in the file).
    pub fn find(&self, names: &[&str]) -> NamedSymbols {
        let mut collector = Collector::new(names);
        self.for_each(|name, sym| collector.offer(name, sym));
        collector.finish()
    }

    /// Checks the map against the dump: for each of [`CHECK_SYMBOLS`] that
    /// both have, the map's address + KERNELOFFSET must be VMCOREINFO's.
    /// Refuses the map on the first disagreement, or when no symbol can be
    /// compared.
    pub fn check_against(&self, info: &VmcoreInfo) -> Result<MapCheck, SystemMapError> {
        let kaslr = info.kerneloffset.unwrap_or(0);
        let found = self.find(&CHECK_SYMBOLS);
        let mut agreed = Vec::new();
        for symbol in CHECK_SYMBOLS {
            let (Some(link), Some(runtime)) = (found.get(symbol), info.symbol(symbol)) else {
                continue;
            };
            if link.address.wrapping_add(kaslr) != runtime {
                return Err(SystemMapError::Mismatch {
                    path: self.path.clone(),
                    symbol,
                    link: link.address,
                    kerneloffset: kaslr,
                    runtime,
                });
            }
            agreed.push(symbol);
        }
        if agreed.is_empty() {
            return Err(SystemMapError::NoCommonSymbol {
                path: self.path.clone(),
            });
        }
        Ok(MapCheck { kaslr, agreed })
    }
}

/// `ADDRESS TYPE NAME`: 1 to 16 hex digits, one type character, a name of
/// printable non-blank bytes; nothing after.
fn parse_line(line: &[u8], line_start: usize) -> Option<Entry> {
    if line.len() > MAX_LINE_BYTES {
        return None;
    }
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // Field ranges within the line; a fourth field makes the line bad.
    let mut fields = [(0usize, 0usize); 3];
    let (mut count, mut i) = (0usize, 0usize);
    while i < line.len() {
        if line[i] == b' ' || line[i] == b'\t' {
            i += 1;
            continue;
        }
        let start = i;
        while i < line.len() && line[i] != b' ' && line[i] != b'\t' {
            i += 1;
        }
        *fields.get_mut(count)? = (start, i);
        count += 1;
    }
    if count != 3 {
        return None;
    }
    let field = |n: usize| &line[fields[n].0..fields[n].1];
    let (addr, kind, name) = (field(0), field(1), field(2));
    if addr.len() > 16 || kind.len() != 1 {
        return None;
    }
    let address = u64::from_str_radix(std::str::from_utf8(addr).ok()?, 16).ok()?;
    let type_letter = kind[0];
    if !type_letter.is_ascii_alphabetic() && type_letter != b'?' && type_letter != b'-' {
        return None;
    }
    if !name.iter().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    Some(Entry {
        name_start: u32::try_from(line_start + fields[2].0).ok()?,
        // A line is at most MAX_LINE_BYTES, so the name fits.
        name_len: u16::try_from(name.len()).ok()?,
        type_letter,
        address,
    })
}
