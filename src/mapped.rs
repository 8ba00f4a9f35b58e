//! The bytes of an input file (a dump or a vmlinux): memory-mapped when it is
//! a regular file, read into memory when it is a pipe or a device.
//!
//! The lowest layer: [`crate::dump`] and [`crate::debuginfo`] both open their
//! files here, so the crate's one `unsafe` block (the mapping) and its safety
//! argument live in one place. The access hints ([`FileBytes::advise`],
//! [`FileBytes::advise_range`]) tell the kernel how each part of a map is
//! read: with a cold page cache, the default readahead around every fault
//! pulls tens of megabytes into memory for a few hundred pages used
//! (docs/benchmarks.md, "Cold page cache").

use std::fs::File;
use std::io::Read;
use std::path::Path;

use memmap2::{Advice, Mmap};

/// Upper bound on a non-regular input (a pipe, a device) read into memory.
pub(crate) const MAX_READ_INPUT: u64 = 4 << 30;

/// Why an input file could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The path names a directory.
    IsDirectory,
    Io(std::io::Error),
    /// A regular file the kernel would not map (`mmap` failed): the open
    /// file, for callers that can read it by offset instead (a
    /// /proc/vmcore whose kernel lacks `mmap_vmcore`), and why.
    MapFailed(File, std::io::Error),
}

/// How a range of a map will be read next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Scattered reads: fault in only the page touched (no readahead).
    Random,
    /// The kernel's default: read ahead around each fault (for a scan
    /// through the whole file).
    Normal,
    /// About to be read: start reading it in now, asynchronously.
    WillNeed,
}

enum Backing {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

/// An input file's bytes. Reads go through [`FileBytes::bytes`], a slice
/// bounds-checked like any other.
pub(crate) struct FileBytes {
    backing: Backing,
}

impl FileBytes {
    /// Maps `path` if it is a regular file, otherwise reads it (bounded by
    /// [`MAX_READ_INPUT`]). An empty file gives empty bytes.
    pub(crate) fn open(path: &Path) -> Result<FileBytes, OpenError> {
        let meta = std::fs::metadata(path).map_err(OpenError::Io)?;
        if meta.is_dir() {
            return Err(OpenError::IsDirectory);
        }
        let file = File::open(path).map_err(OpenError::Io)?;
        if !meta.is_file() {
            // A pipe or device (`--vmlinux <(zcat vmlinux.gz)`) cannot be
            // mapped soundly: its bytes are read once, bounded.
            let mut buf = Vec::new();
            file.take(MAX_READ_INPUT)
                .read_to_end(&mut buf)
                .map_err(OpenError::Io)?;
            return Ok(FileBytes::from_vec(buf));
        }
        // SAFETY: the mapping is read-only and private to this process, of
        // a regular file (pipes and devices are read above). Every access
        // goes through slices bounds-checked against the length seen at map
        // time, so no read exceeds the mapping. What the mapping cannot
        // guard against is another process changing the file while we run:
        // truncation makes reads past the new end fault (SIGBUS: the process
        // dies, no memory is misread), and rewriting in place changes bytes
        // under a `&[u8]`. Dumps and vmlinux files are written once and then
        // only read, and we never map a file we are writing;
        // docs/robustness.md has more.
        #[allow(unsafe_code)]
        let map = match unsafe { Mmap::map(&file) } {
            Ok(map) => map,
            Err(e) => return Err(OpenError::MapFailed(file, e)),
        };
        Ok(FileBytes {
            backing: Backing::Mapped(map),
        })
    }

    /// Bytes already in memory (fuzz targets, tests, inputs from a pipe).
    pub(crate) fn from_vec(bytes: Vec<u8>) -> FileBytes {
        FileBytes {
            backing: Backing::Owned(bytes),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        match &self.backing {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }

    /// Tells the kernel how the whole map will be read. A hint only: bytes
    /// in memory need none, and a refused hint changes nothing but speed.
    pub(crate) fn advise(&self, access: Access) {
        if let Backing::Mapped(m) = &self.backing {
            let _ = m.advise(advice(access));
        }
    }

    /// [`FileBytes::advise`] for `len` bytes at `offset` (clipped to the
    /// map; nothing when the range is empty or outside it).
    pub(crate) fn advise_range(&self, access: Access, offset: u64, len: u64) {
        let Backing::Mapped(m) = &self.backing else {
            return;
        };
        let map_len = m.len() as u64;
        if offset >= map_len || len == 0 {
            return;
        }
        let len = len.min(map_len - offset);
        let _ = m.advise_range(advice(access), offset as usize, len as usize);
    }

    /// [`FileBytes::advise_range`] for `part`, a slice of [`FileBytes::bytes`]
    /// (found by its address); nothing for a slice from elsewhere, such as a
    /// decompressed section.
    pub(crate) fn advise_slice(&self, access: Access, part: &[u8]) {
        let base = self.bytes().as_ptr() as usize;
        let Some(offset) = (part.as_ptr() as usize).checked_sub(base) else {
            return;
        };
        if offset.saturating_add(part.len()) <= self.bytes().len() {
            self.advise_range(access, offset as u64, part.len() as u64);
        }
    }
}

fn advice(access: Access) -> Advice {
    match access {
        Access::Random => Advice::Random,
        Access::Normal => Advice::Normal,
        Access::WillNeed => Advice::WillNeed,
    }
}
