//! The bytes of a dump file: memory-mapped when it is a regular file.

use std::path::{Path, PathBuf};

use super::DumpError;
pub(crate) use crate::mapped::Access;
use crate::mapped::{FileBytes, OpenError};

/// A dump file's bytes plus its path, for error messages.
pub struct DumpFile {
    path: PathBuf,
    bytes: FileBytes,
}

impl DumpFile {
    pub fn open(path: &Path) -> Result<DumpFile, DumpError> {
        let bytes = FileBytes::open(path).map_err(|e| match e {
            OpenError::IsDirectory => DumpError::IsDirectory {
                path: path.to_path_buf(),
            },
            OpenError::Io(source) => DumpError::Io {
                path: path.to_path_buf(),
                source,
            },
        })?;
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
        Ok(DumpFile {
            path: path.to_path_buf(),
            bytes,
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
