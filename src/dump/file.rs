//! The bytes of a dump file: memory-mapped when it is a regular file.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::DumpError;

enum Backing {
    Mapped(Mmap),
    /// Non-regular inputs (pipes, character devices) cannot be mapped safely:
    /// they are read, bounded by [`MAX_READ_INPUT`].
    Owned(Vec<u8>),
}

/// Upper bound on a non-regular input read into memory.
pub const MAX_READ_INPUT: u64 = 4 << 30;

/// A dump file's bytes plus its path, for error messages.
pub struct DumpFile {
    path: PathBuf,
    backing: Backing,
}

impl DumpFile {
    pub fn open(path: &Path) -> Result<DumpFile, DumpError> {
        let io = |source| DumpError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.is_dir() {
            return Err(DumpError::IsDirectory {
                path: path.to_path_buf(),
            });
        }
        let file = File::open(path).map_err(io)?;
        let backing = if meta.is_file() {
            if meta.len() == 0 {
                return Err(DumpError::Empty {
                    path: path.to_path_buf(),
                });
            }
            // SAFETY: the mapping is read-only and private to this process,
            // of a regular file (pipes and devices are read below). Every
            // access goes through slices bounds-checked against the length
            // seen at map time, so no read exceeds the mapping. What the
            // mapping cannot guard against is another process changing the
            // file while we run: truncation makes reads past the new end
            // fault (SIGBUS: the process dies, no memory is misread), and
            // rewriting in place changes bytes under a `&[u8]`. Dumps are
            // written once and then only read, and we never map a file we
            // are writing; docs/robustness.md has more.
            #[allow(unsafe_code)]
            let map = unsafe { Mmap::map(&file) }.map_err(io)?;
            Backing::Mapped(map)
        } else {
            use std::io::Read;
            let mut buf = Vec::new();
            file.take(MAX_READ_INPUT)
                .read_to_end(&mut buf)
                .map_err(io)?;
            if buf.is_empty() {
                return Err(DumpError::Empty {
                    path: path.to_path_buf(),
                });
            }
            Backing::Owned(buf)
        };
        Ok(DumpFile {
            path: path.to_path_buf(),
            backing,
        })
    }

    /// A dump file's bytes already in memory (fuzz targets, tests, tools
    /// that received the dump over a pipe): the same reader as for a file,
    /// without a mapping. `path` only names the input in messages.
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<DumpFile, DumpError> {
        let path = path.into();
        if bytes.is_empty() {
            return Err(DumpError::Empty { path });
        }
        Ok(DumpFile {
            path,
            backing: Backing::Owned(bytes),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.backing {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }

    pub fn len(&self) -> u64 {
        self.bytes().len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    /// A malformed-input error at `offset` of this file.
    pub fn malformed(&self, offset: u64, reason: impl Into<String>) -> DumpError {
        DumpError::Malformed {
            path: self.path.clone(),
            offset,
            reason: reason.into(),
        }
    }
}
