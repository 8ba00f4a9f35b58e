//! Just enough ELF64 little-endian parsing for a vmlinux: the header, the
//! section table, notes and (de)compressed section bytes.
//!
//! Parsed by hand rather than through `object` so that every error can name
//! the exact file offset, and so that [`super::Vmlinux`] can keep plain
//! offsets into its memory map instead of a structure borrowing it.

use std::io::Read;
use std::path::Path;

use super::DebugInfoError;

pub const SHT_SYMTAB: u32 = 2;
pub const SHT_NOTE: u32 = 7;
pub const SHT_NOBITS: u32 = 8;
pub const SHF_COMPRESSED: u64 = 0x800;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;
const ELFCOMPRESS_ZLIB: u32 = 1;
const ELFCOMPRESS_ZSTD: u32 = 2;
const NT_GNU_BUILD_ID: u32 = 3;
/// A decompressed debug section larger than this is refused: it bounds the
/// allocation a corrupt `ch_size` could request (the real 6.1 vmlinux's
/// largest section, `.debug_info`, is 163 MB).
pub const MAX_DECOMPRESSED: u64 = 4 << 30;
/// Deflate's largest expansion: each 258-byte match costs at least one bit
/// pair, so no stream decodes to more than ~1032 times its size.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// One section header, as read from the file.
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub entsize: u64,
    /// File offset of this section's header (for error messages).
    pub header_offset: u64,
}

pub fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at.checked_add(2)?)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
}
pub fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}
pub fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
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
pub fn parse_sections(path: &Path, b: &[u8]) -> Result<Vec<Section>, DebugInfoError> {
    if b.len() < 4 || &b[..4] != b"\x7fELF" {
        return Err(DebugInfoError::NotElf {
            path: path.to_path_buf(),
        });
    }
    if b.len() < 64 {
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
    if b[4] != 2 {
        return Err(unsupported(4, format!("ELF class {} (only ELF64)", b[4])));
    }
    if b[5] != 1 {
        return Err(unsupported(
            5,
            format!("ELF data encoding {} (only little-endian)", b[5]),
        ));
    }
    let e_type = le_u16(b, 16).unwrap_or(0);
    if e_type != ET_EXEC && e_type != ET_DYN {
        return Err(unsupported(
            16,
            format!("ELF type {e_type} (a vmlinux is ET_EXEC; ET_DYN also accepted)"),
        ));
    }
    let machine = le_u16(b, 18).unwrap_or(0);
    if machine != EM_X86_64 {
        return Err(unsupported(
            18,
            format!("ELF machine {machine} (only x86-64, 62)"),
        ));
    }
    let shoff = le_u64(b, 40).unwrap_or(0);
    let shentsize = le_u16(b, 58).unwrap_or(0);
    let mut shnum = u64::from(le_u16(b, 60).unwrap_or(0));
    let mut shstrndx = u32::from(le_u16(b, 62).unwrap_or(0));
    if shoff == 0 {
        return Ok(Vec::new());
    }
    if shentsize != 64 {
        return Err(malformed(
            path,
            58,
            format!("e_shentsize {shentsize}, expected 64"),
        ));
    }
    let header_at = |i: u64| -> Result<usize, DebugInfoError> {
        let off = i
            .checked_mul(64)
            .and_then(|x| x.checked_add(shoff))
            .filter(|&o| o.checked_add(64).is_some_and(|end| end <= b.len() as u64))
            .ok_or_else(|| {
                malformed(
                    path,
                    shoff,
                    format!(
                        "section header {i} lies past the end of the file ({} bytes): truncated?",
                        b.len()
                    ),
                )
            })?;
        Ok(off as usize)
    };
    // Extended numbering: counts that do not fit the header live in section 0.
    if shnum == 0 || shstrndx == 0xffff {
        let h0 = header_at(0)?;
        if shnum == 0 {
            shnum = le_u64(b, h0 + 32).unwrap_or(0);
        }
        if shstrndx == 0xffff {
            shstrndx = le_u32(b, h0 + 40).unwrap_or(0);
        }
    }
    // Every header must be inside the file, which also bounds the loop.
    if shnum > 0 {
        header_at(shnum - 1)?;
    }
    let mut sections = Vec::with_capacity(shnum as usize);
    let mut name_offsets = Vec::with_capacity(shnum as usize);
    for i in 0..shnum {
        let h = header_at(i)?;
        name_offsets.push(le_u32(b, h).unwrap_or(0));
        sections.push(Section {
            name: String::new(),
            sh_type: le_u32(b, h + 4).unwrap_or(0),
            flags: le_u64(b, h + 8).unwrap_or(0),
            offset: le_u64(b, h + 24).unwrap_or(0),
            size: le_u64(b, h + 32).unwrap_or(0),
            link: le_u32(b, h + 40).unwrap_or(0),
            entsize: le_u64(b, h + 56).unwrap_or(0),
            header_offset: h as u64,
        });
    }
    let names: &[u8] = match sections.get(shstrndx as usize) {
        Some(s) if shstrndx != 0 => section_bytes(path, b, s)?,
        _ => &[],
    };
    for (s, &n) in sections.iter_mut().zip(&name_offsets) {
        if let Some(rest) = names.get(n as usize..) {
            let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            s.name = String::from_utf8_lossy(&rest[..end]).into_owned();
        }
    }
    Ok(sections)
}

/// The raw bytes of a section in the file (empty for SHT_NOBITS).
pub fn section_bytes<'b>(
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

/// Decompresses a SHF_COMPRESSED section (Elf64_Chdr + zlib stream) or a
/// GNU-style `.zdebug_*` section ("ZLIB" + big-endian size + zlib stream).
pub fn decompress(
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
        let ch_type = le_u32(raw, 0).ok_or_else(|| fail("truncated Elf64_Chdr".into()))?;
        let ch_size = le_u64(raw, 8).ok_or_else(|| fail("truncated Elf64_Chdr".into()))?;
        match ch_type {
            ELFCOMPRESS_ZLIB => {}
            ELFCOMPRESS_ZSTD => {
                return Err(fail(
                    "zstd-compressed (ELFCOMPRESS_ZSTD) sections are not supported; \
                     decompress with `objcopy --decompress-debug-sections`"
                        .into(),
                ));
            }
            other => return Err(fail(format!("unknown compression type {other}"))),
        }
        (ch_size, raw.get(24..).unwrap_or(&[]))
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

/// The NT_GNU_BUILD_ID descriptor in a note section's bytes, if any.
pub fn find_build_id(notes: &[u8]) -> Option<&[u8]> {
    let mut at = 0usize;
    // Each note takes at least 12 bytes, which bounds the loop.
    while at + 12 <= notes.len() {
        let namesz = le_u32(notes, at)? as usize;
        let descsz = le_u32(notes, at + 4)? as usize;
        let ntype = le_u32(notes, at + 8)?;
        let name_at = at + 12;
        let desc_at = name_at.checked_add(namesz.checked_add(3)? & !3)?;
        let next = desc_at.checked_add(descsz.checked_add(3)? & !3)?;
        let name = notes.get(name_at..name_at.checked_add(namesz)?)?;
        let desc = notes.get(desc_at..desc_at.checked_add(descsz)?)?;
        if ntype == NT_GNU_BUILD_ID && name == b"GNU\0" {
            return Some(desc);
        }
        at = next;
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
            header_offset: 0,
        }
    }

    #[test]
    fn compressed_size_is_checked_against_the_stream() {
        // An Elf64_Chdr claiming 3 GiB for a 10-byte stream: refused before
        // anything is allocated (deflate expands at most 1032:1).
        let mut raw = Vec::new();
        raw.extend_from_slice(&ELFCOMPRESS_ZLIB.to_le_bytes());
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
