//! The vmlinux's ELF structure, read through `object`: the header, the
//! section table, notes and (de)compressed section bytes.
//!
//! `object` parses (header, extended section numbering, section headers,
//! symbols, notes, the compression header); this module adds what its
//! errors do not carry, the file offset and the section at fault, and keeps
//! plain offsets ([`Section`]) so that [`super::Vmlinux`] holds no structure
//! borrowing its memory map.

use std::io::Read;
use std::path::Path;

use object::LittleEndian;
use object::elf::{self, CompressionHeader64, FileHeader64, SectionHeader64, Sym64};
use object::read::elf::{FileHeader as _, NoteIterator, SectionHeader as _};

use super::DebugInfoError;

/// The one ELF flavour a vmlinux comes in: ELF64, little-endian.
type Header = FileHeader64<LittleEndian>;
const LE: LittleEndian = LittleEndian;

pub(crate) const SHT_SYMTAB: u32 = elf::SHT_SYMTAB.0;
pub(crate) const SHT_NOTE: u32 = elf::SHT_NOTE.0;
pub(crate) const SHT_NOBITS: u32 = elf::SHT_NOBITS.0;
pub(crate) const SHF_COMPRESSED: u64 = elf::SHF_COMPRESSED.0;
/// A decompressed debug section larger than this is refused: it bounds the
/// allocation a corrupt `ch_size` could request (the real 6.1 vmlinux's
/// largest section, `.debug_info`, is 163 MB).
pub(crate) const MAX_DECOMPRESSED: u64 = 4 << 30;
/// Deflate's largest expansion: each 258-byte match costs at least one bit
/// pair, so no stream decodes to more than ~1032 times its size.
const MAX_DEFLATE_RATIO: u64 = 1032;
/// Size of an ELF64 section header (`e_shentsize`).
const SHDR_SIZE: u64 = std::mem::size_of::<SectionHeader64<LittleEndian>>() as u64;

/// One section header, as read from the file.
#[derive(Debug, Clone)]
pub(crate) struct Section {
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub entsize: u64,
    pub addralign: u64,
    /// File offset of this section's header (for error messages).
    pub header_offset: u64,
}

fn malformed(path: &Path, offset: u64, reason: impl Into<String>) -> DebugInfoError {
    DebugInfoError::Malformed {
        path: path.to_path_buf(),
        offset,
        reason: reason.into(),
    }
}

/// Checks the ELF header (ELF64, little-endian, x86-64, ET_EXEC or ET_DYN)
/// and reads the section table with resolved names.
pub(crate) fn parse_sections(path: &Path, b: &[u8]) -> Result<Vec<Section>, DebugInfoError> {
    if b.len() < 4 || &b[..4] != b"\x7fELF" {
        return Err(DebugInfoError::NotElf {
            path: path.to_path_buf(),
        });
    }
    let header_size = std::mem::size_of::<Header>();
    if b.len() < header_size {
        return Err(malformed(
            path,
            b.len() as u64,
            "file ends inside the 64-byte ELF header (truncated)",
        ));
    }
    let unsupported = |offset: u64, reason: String| DebugInfoError::Unsupported {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    // The identification bytes are checked here, not by `object`, so that
    // the error says which byte is wrong.
    if b[4] != elf::ELFCLASS64.0 {
        return Err(unsupported(4, format!("ELF class {} (only ELF64)", b[4])));
    }
    if b[5] != elf::ELFDATA2LSB.0 {
        return Err(unsupported(
            5,
            format!("ELF data encoding {} (only little-endian)", b[5]),
        ));
    }
    let header = Header::parse(b)
        .map_err(|e| unsupported(6, format!("{e} (ELF version {}, only 1)", b[6])))?;
    let e_type = header.e_type(LE);
    if e_type != elf::ET_EXEC && e_type != elf::ET_DYN {
        return Err(unsupported(
            16,
            format!(
                "ELF type {} (a vmlinux is ET_EXEC; ET_DYN also accepted)",
                e_type.0
            ),
        ));
    }
    let machine = header.e_machine(LE);
    if machine != elf::EM_X86_64 {
        return Err(unsupported(
            18,
            format!("ELF machine {} (only x86-64, 62)", machine.0),
        ));
    }
    let shoff = header.e_shoff(LE);
    if shoff == 0 {
        return Ok(Vec::new());
    }
    let shentsize = header.e_shentsize(LE);
    if u64::from(shentsize) != SHDR_SIZE {
        return Err(malformed(
            path,
            58,
            format!("e_shentsize {shentsize}, expected {SHDR_SIZE}"),
        ));
    }
    let past_end = |what: String| {
        malformed(
            path,
            shoff,
            format!(
                "{what} lies past the end of the file ({} bytes): truncated?",
                b.len()
            ),
        )
    };
    // Extended numbering (a count in section 0) is handled by `object`.
    let shnum = header
        .shnum(LE, b)
        .map_err(|e| past_end(format!("section header 0 ({e})")))?;
    // Every header must be inside the file (this also bounds the table).
    let table_end = u64::from(shnum)
        .checked_mul(SHDR_SIZE)
        .and_then(|n| n.checked_add(shoff));
    if shnum > 0 && table_end.is_none_or(|end| end > b.len() as u64) {
        return Err(past_end(format!("section header {}", shnum - 1)));
    }
    let headers = header
        .section_headers(LE, b)
        .map_err(|e| past_end(format!("the section table ({e})")))?;
    let mut sections: Vec<Section> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| Section {
            name: String::new(),
            sh_type: h.sh_type(LE).0,
            flags: h.sh_flags(LE).0,
            offset: h.sh_offset(LE),
            size: h.sh_size(LE),
            link: h.sh_link(LE),
            entsize: h.sh_entsize(LE),
            addralign: h.sh_addralign(LE),
            header_offset: shoff + i as u64 * SHDR_SIZE,
        })
        .collect();
    // No (or an invalid) name table leaves every name empty.
    let names: &[u8] = match header.shstrndx(LE, b).ok().map(|i| i as usize) {
        Some(i) if i != 0 && i < sections.len() => section_bytes(path, b, &sections[i])?,
        _ => &[],
    };
    for (s, h) in sections.iter_mut().zip(headers) {
        if let Some(rest) = names.get(h.sh_name(LE) as usize..) {
            let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            s.name = String::from_utf8_lossy(&rest[..end]).into_owned();
        }
    }
    Ok(sections)
}

/// The raw bytes of a section in the file (empty for SHT_NOBITS).
pub(crate) fn section_bytes<'b>(
    path: &Path,
    b: &'b [u8],
    s: &Section,
) -> Result<&'b [u8], DebugInfoError> {
    if s.sh_type == SHT_NOBITS {
        return Ok(&[]);
    }
    let end = s
        .offset
        .checked_add(s.size)
        .filter(|&e| e <= b.len() as u64);
    match end {
        Some(end) => Ok(&b[s.offset as usize..end as usize]),
        None => Err(malformed(
            path,
            s.header_offset,
            format!(
                "section {} at {:#x}+{:#x} extends past the end of the file ({:#x} bytes): truncated?",
                s.name,
                s.offset,
                s.size,
                b.len()
            ),
        )),
    }
}

/// The records of a `.symtab` section's bytes (`Elf64_Sym`, 24 bytes each;
/// a trailing partial record is ignored).
pub(crate) fn symbols(bytes: &[u8]) -> &[Sym64<LittleEndian>] {
    let whole = bytes.len() - bytes.len() % std::mem::size_of::<Sym64<LittleEndian>>();
    object::pod::slice_from_all_bytes(&bytes[..whole]).unwrap_or(&[])
}

/// Decompresses a SHF_COMPRESSED section (Elf64_Chdr + zlib stream) or a
/// GNU-style `.zdebug_*` section ("ZLIB" + big-endian size + zlib stream).
pub(crate) fn decompress(
    path: &Path,
    s: &Section,
    raw: &[u8],
    gnu_zdebug: bool,
) -> Result<Vec<u8>, DebugInfoError> {
    let fail = |reason: String| DebugInfoError::Decompress {
        path: path.to_path_buf(),
        section: s.name.clone(),
        offset: s.offset,
        reason,
    };
    let (size, stream) = if gnu_zdebug {
        if raw.len() < 12 || &raw[..4] != b"ZLIB" {
            return Err(fail("no \"ZLIB\" header".into()));
        }
        let mut be = [0u8; 8];
        be.copy_from_slice(&raw[4..12]);
        (u64::from_be_bytes(be), &raw[12..])
    } else {
        let (chdr, stream) = object::pod::from_bytes::<CompressionHeader64<LittleEndian>>(raw)
            .map_err(|()| fail("truncated Elf64_Chdr".into()))?;
        match chdr.ch_type.get(LE) {
            elf::ELFCOMPRESS_ZLIB => {}
            elf::ELFCOMPRESS_ZSTD => {
                return Err(fail(
                    "zstd-compressed (ELFCOMPRESS_ZSTD) sections are not supported; \
                     decompress with `objcopy --decompress-debug-sections`"
                        .into(),
                ));
            }
            other => return Err(fail(format!("unknown compression type {}", other.0))),
        }
        (chdr.ch_size.get(LE), stream)
    };
    if size > MAX_DECOMPRESSED {
        return Err(fail(format!(
            "claims {size} decompressed bytes (limit {MAX_DECOMPRESSED})"
        )));
    }
    // Deflate cannot expand more than ~1032:1 (a 258-byte match per ~2
    // bits), so a header claiming more than that for its stream is corrupt;
    // without this check a few bytes of file could reserve 4 GiB up front.
    let max_from_stream = (stream.len() as u64)
        .saturating_mul(MAX_DEFLATE_RATIO)
        .saturating_add(1024);
    if size > max_from_stream {
        return Err(fail(format!(
            "claims {size} decompressed bytes from a {}-byte zlib stream (deflate expands at most {MAX_DEFLATE_RATIO}:1)",
            stream.len()
        )));
    }
    let mut out = Vec::with_capacity(size as usize);
    flate2::read::ZlibDecoder::new(stream)
        .take(size)
        .read_to_end(&mut out)
        .map_err(|e| fail(format!("zlib: {e}")))?;
    if out.len() as u64 != size {
        return Err(fail(format!(
            "decompressed to {} bytes, header says {size}",
            out.len()
        )));
    }
    Ok(out)
}

/// The NT_GNU_BUILD_ID descriptor in a note section's bytes (`align` is the
/// section's `sh_addralign`), if any.
pub(crate) fn find_build_id(notes: &[u8], align: u64) -> Option<&[u8]> {
    let mut iter = NoteIterator::<Header>::new(LE, align, notes).ok()?;
    // Each note advances the iterator by at least its 12-byte header, and
    // a malformed one ends the walk (an error, not a retry).
    while let Ok(Some(note)) = iter.next() {
        if note.n_type(LE) == elf::NT_GNU_BUILD_ID && note.name() == b"GNU" {
            return Some(note.desc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section() -> Section {
        Section {
            name: ".debug_info".into(),
            sh_type: 1,
            flags: SHF_COMPRESSED,
            offset: 0x40,
            size: 0,
            link: 0,
            entsize: 0,
            addralign: 1,
            header_offset: 0,
        }
    }

    #[test]
    fn compressed_size_is_checked_against_the_stream() {
        // An Elf64_Chdr claiming 3 GiB for a 10-byte stream: refused before
        // anything is allocated (deflate expands at most 1032:1).
        let mut raw = Vec::new();
        raw.extend_from_slice(&elf::ELFCOMPRESS_ZLIB.0.to_le_bytes());
        raw.extend_from_slice(&0u32.to_le_bytes());
        raw.extend_from_slice(&(3u64 << 30).to_le_bytes());
        raw.extend_from_slice(&1u64.to_le_bytes());
        raw.extend_from_slice(&[0x78, 0x9c, 3, 0, 0, 0, 0, 1, 0, 0]);
        let e = decompress(Path::new("v"), &section(), &raw, false).unwrap_err();
        assert!(e.to_string().contains("at most 1032:1"), "{e}");
        // The same for a GNU .zdebug header.
        let mut z = b"ZLIB".to_vec();
        z.extend_from_slice(&(1u64 << 31).to_be_bytes());
        z.extend_from_slice(&[0x78, 0x9c, 3, 0]);
        let e = decompress(Path::new("v"), &section(), &z, true).unwrap_err();
        assert!(e.to_string().contains("at most 1032:1"), "{e}");
    }
}
