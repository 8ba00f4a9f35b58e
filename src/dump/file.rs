//! The bytes of a dump file: memory-mapped when it is a regular file.

use std::path::{Path, PathBuf};

use super::DumpError;
use super::kdump::ByteSource;
use super::pread::PreadFile;
pub(crate) use crate::mapped::Access;
use crate::mapped::{FileBytes, OpenError};

/// What [`DumpFile::open_any`] found.
pub(crate) enum Opened {
    Mapped(DumpFile),
    /// A regular file the kernel would not map, open for positioned
    /// reads, and the mapping's error.
    Unmapped {
        file: PreadFile,
        map_error: std::io::Error,
    },
}

/// A dump file's bytes plus its path, for error messages.
pub struct DumpFile {
    path: PathBuf,
    bytes: FileBytes,
}

impl DumpFile {
    pub fn open(path: &Path) -> Result<DumpFile, DumpError> {
        match DumpFile::open_any(path)? {
            Opened::Mapped(file) => Ok(file),
            Opened::Unmapped { map_error, .. } => Err(DumpError::Io {
                path: path.to_path_buf(),
                source: map_error,
            }),
        }
    }

    /// [`DumpFile::open`], or the open file when the kernel would not map
    /// it (the caller may read it by offset: [`super::open_unmapped`]).
    pub(crate) fn open_any(path: &Path) -> Result<Opened, DumpError> {
        let io = |source| DumpError::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes = match FileBytes::open(path) {
            Ok(bytes) => bytes,
            Err(OpenError::IsDirectory) => {
                return Err(DumpError::IsDirectory {
                    path: path.to_path_buf(),
                });
            }
            Err(OpenError::Io(source)) => return Err(io(source)),
            Err(OpenError::MapFailed(file, map_error)) => {
                let file = PreadFile::new(file, path).map_err(io)?;
                if ByteSource::is_empty(&file) {
                    return Err(DumpError::Empty {
                        path: path.to_path_buf(),
                    });
                }
                return Ok(Opened::Unmapped { file, map_error });
            }
        };
        if bytes.bytes().is_empty() {
            return Err(DumpError::Empty {
                path: path.to_path_buf(),
            });
        }
        // Every format starts with a few header pages and then reads
        // scattered pages; the default readahead (up to the device's
        // read_ahead_kb: 8 MB on the benchmark machine) on the first fault
        // would pull megabytes
        // that are never read. A flattened file, scanned whole, asks for
        // the default back.
        bytes.advise(Access::Random);
        Ok(Opened::Mapped(DumpFile {
            path: path.to_path_buf(),
            bytes,
        }))
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
            bytes: FileBytes::from_vec(bytes),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.bytes.bytes()
    }

    /// How the whole file will be read (a hint to the kernel, for a cold
    /// page cache; nothing for bytes in memory).
    pub(crate) fn advise(&self, access: Access) {
        self.bytes.advise(access);
    }

    /// [`DumpFile::advise`] for `len` bytes at file offset `offset`.
    pub(crate) fn advise_range(&self, access: Access, offset: u64, len: u64) {
        self.bytes.advise_range(access, offset, len);
    }

    pub(crate) fn len(&self) -> u64 {
        self.bytes().len() as u64
    }

    /// A malformed-input error at `offset` of this file.
    pub(crate) fn malformed(&self, offset: u64, reason: impl Into<String>) -> DumpError {
        DumpError::Malformed {
            path: self.path.clone(),
            offset,
            reason: reason.into(),
        }
    }
}
