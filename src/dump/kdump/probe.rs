//! Which split dump a kdump-compressed file (plain or flattened) is a part
//! of, from its first bytes only: the header and sub-header, never the
//! bitmaps or pages. Used to group the parts of split dumps found among many
//! files before any of them is opened.

use std::fs::File;
use std::os::unix::fs::FileExt as _;

use super::flattened::{FLAT_HEADER_SIZE, FLAT_SIGNATURE};
use super::header::{DiskDumpHeader, HEADER_SIZE, SUB_HEADER_SIZE, SubHeader};
use super::open::max_mapnr;
use super::source::be_i64;

/// Flattened record headers looked at to find the header and sub-header
/// (makedumpfile writes them first): a bound on what a probe reads.
const MAX_FLAT_RECORDS: usize = 64;
/// Block sizes a probe believes (makedumpfile writes the page size).
const MAX_BLOCK_SIZE: u64 = 1 << 20;

/// What every part of one split dump shares: the machine (utsname), the
/// block size and the page frames the bitmaps describe. Parts agreeing on
/// these are read together by [`super::open_split`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SplitIdentity {
    pub utsname: Vec<u8>,
    pub block_size: i32,
    pub max_mapnr: u64,
    pub bitmap_blocks: u32,
}

/// One part of a split dump (`makedumpfile --split`), as its headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitPart {
    pub identity: SplitIdentity,
    /// When the part was written (`tv_sec`, `tv_usec`): parts of one
    /// makedumpfile run share it, parts written by separate runs may not.
    pub timestamp: (i64, i64),
    pub start_pfn: u64,
    pub end_pfn: u64,
}

impl SplitPart {
    /// The part's page frames, as `start..end` in hex.
    pub fn pfn_range(&self) -> String {
        format!("{:#x}..{:#x}", self.start_pfn, self.end_pfn)
    }
}

/// Reads up to `buf.len()` bytes at `offset`; how many were read.
pub(crate) fn read_up_to(file: &File, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The split part a kdump-compressed file is, or `None` when it is a whole
/// dump or its headers cannot be read (opening it will say why).
pub(crate) fn split_part(file: &File) -> std::io::Result<Option<SplitPart>> {
    let mut magic = [0u8; 12];
    let n = read_up_to(file, 0, &mut magic)?;
    let flat = n == magic.len() && &magic == FLAT_SIGNATURE;
    let read_logical = |offset: u64, buf: &mut [u8]| -> std::io::Result<bool> {
        if flat {
            read_flattened(file, offset, buf)
        } else {
            Ok(read_up_to(file, offset, buf)? == buf.len())
        }
    };
    let mut hb = [0u8; HEADER_SIZE];
    if !read_logical(0, &mut hb)? {
        return Ok(None);
    }
    let header = DiskDumpHeader::parse(&hb);
    let bs = u64::try_from(header.block_size).unwrap_or(0);
    if header.header_version < 2 || header.sub_hdr_size <= 0 || bs == 0 || bs > MAX_BLOCK_SIZE {
        return Ok(None);
    }
    // Older versions define fewer sub-header bytes; parse() reads only
    // theirs, so a short read past the file's end is zero-filled.
    let mut sb = [0u8; SUB_HEADER_SIZE];
    if flat {
        if !read_flattened(file, bs, &mut sb)? {
            return Ok(None);
        }
    } else if read_up_to(file, bs, &mut sb)? < 32 {
        return Ok(None);
    }
    let sub = SubHeader::parse(&sb, header.header_version);
    if sub.split == 0 {
        return Ok(None);
    }
    let (start_pfn, end_pfn) = if header.header_version >= 6 {
        (sub.start_pfn_64, sub.end_pfn_64)
    } else {
        (sub.start_pfn, sub.end_pfn)
    };
    Ok(Some(SplitPart {
        identity: SplitIdentity {
            utsname: header.utsname.concat(),
            block_size: header.block_size,
            max_mapnr: max_mapnr(&header, &sub),
            bitmap_blocks: header.bitmap_blocks,
        },
        timestamp: (header.timestamp_sec, header.timestamp_usec),
        start_pfn,
        end_pfn,
    }))
}

/// Fills `buf` with the logical bytes at `offset` of the file a flattened
/// stream describes, from its first [`MAX_FLAT_RECORDS`] records (later
/// ones win, as in the stream). False when they do not cover all of it.
fn read_flattened(file: &File, offset: u64, buf: &mut [u8]) -> std::io::Result<bool> {
    let want_end = offset + buf.len() as u64;
    let mut covered = vec![false; buf.len()];
    let file_len = file.metadata()?.len();
    let mut pos = FLAT_HEADER_SIZE;
    for _ in 0..MAX_FLAT_RECORDS {
        // A record claiming more than the file holds ends the search.
        if pos.checked_add(16).is_none_or(|end| end > file_len) {
            break;
        }
        let mut rh = [0u8; 16];
        if read_up_to(file, pos, &mut rh)? < rh.len() {
            break;
        }
        let (start, size) = (be_i64(&rh, 0), be_i64(&rh, 8));
        let (Ok(start), Ok(size)) = (u64::try_from(start), u64::try_from(size)) else {
            break; // the end marker (-1, -1) or a broken record
        };
        let data = pos + 16;
        let end = start.saturating_add(size);
        let (lo, hi) = (start.max(offset), end.min(want_end));
        if lo < hi {
            let at = (lo - offset) as usize;
            let len = (hi - lo) as usize;
            let from = data.saturating_add(lo - start);
            if from < file_len {
                let got = read_up_to(file, from, &mut buf[at..at + len])?;
                covered[at..at + got].iter_mut().for_each(|c| *c = true);
            }
        }
        let Some(next) = data.checked_add(size) else {
            break;
        };
        pos = next;
    }
    Ok(covered.iter().all(|&c| c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flattened stream whose records are `(offset, size, data)`.
    fn stream(records: &[(i64, i64, &[u8])]) -> File {
        let mut b = vec![0u8; FLAT_HEADER_SIZE as usize];
        b[..12].copy_from_slice(FLAT_SIGNATURE);
        b[16..24].copy_from_slice(&1i64.to_be_bytes());
        b[24..32].copy_from_slice(&1i64.to_be_bytes());
        for (offset, size, data) in records {
            b.extend(offset.to_be_bytes());
            b.extend(size.to_be_bytes());
            b.extend(*data);
        }
        let path = std::env::temp_dir().join(format!(
            "pgsync-probe-{}-{}",
            std::process::id(),
            records.len()
        ));
        std::fs::write(&path, b).unwrap();
        let f = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    #[test]
    fn records_that_claim_more_than_the_file_end_the_probe() {
        let huge = stream(&[(0, i64::MAX, b"KDUMP   "), (0, 8, b"KDUMP   ")]);
        assert_eq!(split_part(&huge).unwrap(), None);
        let negative = stream(&[(-5, 8, b"KDUMP   ")]);
        assert_eq!(split_part(&negative).unwrap(), None);
        let past = stream(&[(i64::MAX - 2, 8, b"KDUMP   ")]);
        assert_eq!(split_part(&past).unwrap(), None);
    }
}
