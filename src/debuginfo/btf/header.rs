//! The BTF header (include/uapi/linux/btf.h, `struct btf_header`): magic,
//! version, and where the type and string sections are, each checked to lie
//! inside the blob before anything else is read.

use std::ops::Range;
use std::path::PathBuf;

/// `BTF_MAGIC`, as it reads on a little-endian machine.
pub const BTF_MAGIC: u16 = 0xeb9f;
/// The only BTF version there is.
const BTF_VERSION: u8 = 1;
/// `sizeof(struct btf_header)`: magic, version, flags, hdr_len and four
/// u32 offsets/lengths. A longer `hdr_len` (a future header) is accepted,
/// its extra fields ignored.
pub(super) const HEADER_LEN: usize = 24;

/// Why bytes are not a usable BTF blob. `origin` names where they came from
/// (a file, or the dump's memory); offsets count from the blob's first byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BtfError {
    #[error("{}: {len} bytes, too short for the {HEADER_LEN}-byte BTF header", .origin.display())]
    TooShort { origin: PathBuf, len: usize },
    #[error(
        "{}: not BTF: magic {found:#06x} at offset 0x0 (expected {BTF_MAGIC:#06x}, little-endian)",
        .origin.display()
    )]
    BadMagic { origin: PathBuf, found: u16 },
    #[error("{}: unsupported BTF version {version} at offset 0x2 (expected {BTF_VERSION})", .origin.display())]
    UnsupportedVersion { origin: PathBuf, version: u8 },
    #[error("{}: malformed BTF header at offset {offset:#x}: {reason}", .origin.display())]
    Header {
        origin: PathBuf,
        offset: u64,
        reason: String,
    },
}

/// Where the sections are, as byte ranges of the blob (both in bounds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Layout {
    pub(super) types: Range<usize>,
    pub(super) strings: Range<usize>,
}

pub(super) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Checks the header and the two sections' bounds.
pub(super) fn parse(bytes: &[u8], origin: &std::path::Path) -> Result<Layout, BtfError> {
    let origin = || origin.to_path_buf();
    if bytes.len() < HEADER_LEN {
        return Err(BtfError::TooShort {
            origin: origin(),
            len: bytes.len(),
        });
    }
    let magic = u16::from_le_bytes([bytes[0], bytes[1]]);
    if magic != BTF_MAGIC {
        return Err(BtfError::BadMagic {
            origin: origin(),
            found: magic,
        });
    }
    if bytes[2] != BTF_VERSION {
        return Err(BtfError::UnsupportedVersion {
            origin: origin(),
            version: bytes[2],
        });
    }
    let field = |at: usize| u32_at(bytes, at).map_or(0, |v| v as usize);
    let header = |offset: u64, reason: String| BtfError::Header {
        origin: origin(),
        offset,
        reason,
    };
    let hdr_len = field(4);
    if hdr_len < HEADER_LEN || hdr_len > bytes.len() {
        return Err(header(
            4,
            format!(
                "hdr_len {hdr_len} is not between {HEADER_LEN} and the blob's {} bytes",
                bytes.len()
            ),
        ));
    }
    let section = |name: &str, field_at: usize| -> Result<Range<usize>, BtfError> {
        let (off, len) = (field(field_at), field(field_at + 4));
        let range = hdr_len
            .checked_add(off)
            .and_then(|start| Some(start..start.checked_add(len)?))
            .filter(|r| r.end <= bytes.len());
        range.ok_or_else(|| {
            header(
                field_at as u64,
                format!(
                    "{name} section at {off:#x}+{len:#x} after the {hdr_len}-byte header ends past the blob's {} bytes",
                    bytes.len()
                ),
            )
        })
    };
    Ok(Layout {
        types: section("type", 8)?,
        strings: section("string", 16)?,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn header(hdr_len: u32, type_off: u32, type_len: u32, str_off: u32, str_len: u32) -> Vec<u8> {
        let mut b = vec![0x9f, 0xeb, 1, 0];
        for v in [hdr_len, type_off, type_len, str_off, str_len] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b
    }

    #[test]
    fn sections_are_placed_after_the_header() {
        let mut b = header(24, 0, 12, 12, 4);
        b.resize(24 + 16, 0);
        let l = parse(&b, Path::new("t")).expect("valid");
        assert_eq!(l.types, 24..36);
        assert_eq!(l.strings, 36..40);
    }

    #[test]
    fn bad_headers_name_the_offset() {
        let o = Path::new("blob");
        assert_eq!(
            parse(&[0x9f, 0xeb, 1], o).unwrap_err().to_string(),
            "blob: 3 bytes, too short for the 24-byte BTF header"
        );
        let mut be = header(24, 0, 0, 0, 0);
        be.swap(0, 1);
        assert_eq!(
            parse(&be, o).unwrap_err().to_string(),
            "blob: not BTF: magic 0x9feb at offset 0x0 (expected 0xeb9f, little-endian)"
        );
        let mut v2 = header(24, 0, 0, 0, 0);
        v2[2] = 2;
        assert_eq!(
            parse(&v2, o).unwrap_err().to_string(),
            "blob: unsupported BTF version 2 at offset 0x2 (expected 1)"
        );
        assert_eq!(
            parse(&header(25, 0, 0, 0, 0), o).unwrap_err().to_string(),
            "blob: malformed BTF header at offset 0x4: hdr_len 25 is not between 24 and the blob's 24 bytes"
        );
        assert_eq!(
            parse(&header(16, 0, 0, 0, 0), o).unwrap_err().to_string(),
            "blob: malformed BTF header at offset 0x4: hdr_len 16 is not between 24 and the blob's 24 bytes"
        );
        // A type section claiming more than the blob holds; and lengths
        // whose sum overflows.
        assert_eq!(
            parse(&header(24, 0, 4_000_000, 0, 0), o)
                .unwrap_err()
                .to_string(),
            "blob: malformed BTF header at offset 0x8: type section at 0x0+0x3d0900 after the 24-byte header ends past the blob's 24 bytes"
        );
        assert_eq!(
            parse(&header(24, 0, 0, u32::MAX, u32::MAX), o)
                .unwrap_err()
                .to_string(),
            "blob: malformed BTF header at offset 0x10: string section at 0xffffffff+0xffffffff after the 24-byte header ends past the blob's 24 bytes"
        );
    }
}
