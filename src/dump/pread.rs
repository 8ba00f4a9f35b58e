//! A dump file read by offset (`pread`) instead of through a mapping: for
//! the one case where the kernel refuses to map a regular file that is a
//! dump, a `/proc/vmcore` whose kernel has no `mmap_vmcore`. Nothing is
//! copied into memory beyond what each read asks for, and the file is never
//! written. Only ELF dumps are read this way (a /proc/vmcore is always ELF;
//! the other formats parse their headers in place in a mapped file).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::kdump::source::{ByteSource, OutOfRange};

/// An open file whose length was taken at open time.
pub(crate) struct PreadFile {
    file: File,
    len: u64,
    path: PathBuf,
}

impl PreadFile {
    pub(crate) fn new(file: File, path: &Path) -> std::io::Result<PreadFile> {
        let len = file.metadata()?.len();
        Ok(PreadFile {
            file,
            len,
            path: path.to_path_buf(),
        })
    }
}

impl ByteSource for PreadFile {
    fn len(&self) -> u64 {
        self.len
    }

    /// A read the file cannot satisfy (past the length seen at open, or an
    /// I/O error such as /proc/vmcore's EIO on memory it cannot read) is
    /// out of range: the page reads as truncated, like a short file's.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), OutOfRange> {
        let err = OutOfRange {
            offset,
            len: buf.len() as u64,
            file_len: self.len,
        };
        let in_file = offset
            .checked_add(buf.len() as u64)
            .is_some_and(|end| end <= self.len);
        if !in_file {
            return Err(err);
        }
        self.file.read_exact_at(buf, offset).map_err(|_| err)
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inside_the_file_and_refuses_past_its_end() {
        let path = std::env::temp_dir().join(format!("pgsync-pread-{}", std::process::id()));
        std::fs::write(&path, (0u8..=255).collect::<Vec<u8>>()).unwrap();
        let f = PreadFile::new(File::open(&path).unwrap(), &path).unwrap();
        assert_eq!(f.len(), 256);
        let mut buf = [0u8; 4];
        f.read_at(252, &mut buf).unwrap();
        assert_eq!(buf, [252, 253, 254, 255]);
        let e = f.read_at(253, &mut buf).unwrap_err();
        assert_eq!((e.offset, e.len, e.file_len), (253, 4, 256));
        assert!(f.read_at(u64::MAX - 1, &mut buf).is_err());
        assert!(f.as_bytes().is_none());
        let _ = std::fs::remove_file(&path);
    }

    /// An ELF dump the kernel would not map reads like the mapped file,
    /// with a warning saying how it was read; another format gives the
    /// mapping's error.
    #[cfg(feature = "write")]
    #[test]
    fn an_unmapped_elf_dump_reads_like_the_mapped_one() {
        use crate::dump::{self, PhysAddr};
        use crate::write::elf::{CoreLayout, CoreSegment, write_core_segments};
        let data: Vec<u8> = (0..0x3000u32).map(|i| (i * 7) as u8).collect();
        let segments = [CoreSegment {
            paddr: 0x10000,
            vaddr: 0,
            data: &data,
            memsz: 0x4000,
        }];
        let core = write_core_segments(&[], &segments, &CoreLayout::default()).unwrap();
        let path = std::env::temp_dir().join(format!("pgsync-pread-elf-{}", std::process::id()));
        std::fs::write(&path, &core).unwrap();
        let refused = || std::io::Error::other("mmap refused");
        let file = PreadFile::new(File::open(&path).unwrap(), &path).unwrap();
        let unmapped = dump::open_unmapped(file, refused()).unwrap();
        let mapped = dump::open(std::slice::from_ref(&path)).unwrap();
        assert_eq!(
            unmapped.warnings,
            vec![format!(
                "{}: cannot be memory-mapped (mmap refused): read by offset instead",
                path.display()
            )]
        );
        assert!(mapped.warnings.is_empty());
        for (at, len) in [
            (0x10000u64, 0x3000usize),
            (0x12ff0, 0x20),
            (0x13000, 0x1000),
        ] {
            let (mut a, mut b) = (vec![0u8; len], vec![1u8; len]);
            unmapped.memory().read(PhysAddr::new(at), &mut a).unwrap();
            mapped.memory().read(PhysAddr::new(at), &mut b).unwrap();
            assert_eq!(a, b, "at {at:#x}");
        }
        std::fs::write(&path, b"KDUMP   and more").unwrap();
        let file = PreadFile::new(File::open(&path).unwrap(), &path).unwrap();
        let err = dump::open_unmapped(file, refused()).err().unwrap();
        // The path is the error's message, the I/O error its source.
        assert_eq!(err.to_string(), path.display().to_string());
        assert_eq!(
            crate::ErrorChain(&err).to_string(),
            format!("{}: mmap refused", path.display())
        );
        let _ = std::fs::remove_file(&path);
    }
}
