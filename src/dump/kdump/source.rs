//! Where the bytes of a kdump-compressed file come from: the memory-mapped
//! file itself, or the index of a flattened stream that describes it.

use std::path::Path;

use super::super::DumpFile;
use crate::mapped::Access;

/// A read past the end of the (logical) file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange {
    pub offset: u64,
    pub len: u64,
    pub file_len: u64,
}

/// Random access to the bytes of one kdump-compressed file.
pub trait ByteSource: Send + Sync {
    /// Length of the (logical) file in bytes.
    fn len(&self) -> u64;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the input really stores, at most [`ByteSource::len`]: for a
    /// flattened stream, the data its records carry (the gaps between them
    /// read as zeros but take no space in the file). Sizes taken from
    /// headers are checked against this, so that a small file cannot make
    /// the reader scan or allocate for terabytes of holes.
    fn stored_len(&self) -> u64 {
        self.len()
    }

    /// Reads exactly `buf.len()` bytes at `offset`, or fails without
    /// touching anything past the end of the file.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), OutOfRange>;

    /// The file on disk, for messages.
    fn path(&self) -> &Path;

    /// All the bytes at once when the source is one contiguous buffer (a
    /// mapped file), so that callers can parse in place instead of copying;
    /// `None` for a flattened stream, whose logical file exists nowhere.
    fn as_bytes(&self) -> Option<&[u8]> {
        None
    }

    /// True when `[offset, offset + len)` lies inside the file.
    fn contains(&self, offset: u64, len: u64) -> bool {
        offset.checked_add(len).is_some_and(|end| end <= self.len())
    }

    /// A hint that `len` bytes at `offset` will be read soon (a cold page
    /// cache reads them in one request instead of fault by fault); nothing
    /// where the source has no file pages of its own.
    fn will_need(&self, _offset: u64, _len: u64) {}
}

impl ByteSource for DumpFile {
    fn len(&self) -> u64 {
        DumpFile::len(self)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), OutOfRange> {
        let bytes = self.bytes();
        let src = usize::try_from(offset)
            .ok()
            .and_then(|o| bytes.get(o..o.checked_add(buf.len())?));
        match src {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(OutOfRange {
                offset,
                len: buf.len() as u64,
                file_len: DumpFile::len(self),
            }),
        }
    }

    fn path(&self) -> &Path {
        DumpFile::path(self)
    }

    fn will_need(&self, offset: u64, len: u64) {
        self.advise_range(Access::WillNeed, offset, len);
    }

    fn as_bytes(&self) -> Option<&[u8]> {
        Some(self.bytes())
    }
}

/// Little-endian field readers over a header buffer (always in bounds: the
/// caller sized the buffer for the structure).
pub(crate) fn le_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

pub(crate) fn le_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

pub(crate) fn be_i64(b: &[u8], off: usize) -> i64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        a.copy_from_slice(s);
    }
    i64::from_be_bytes(a)
}
