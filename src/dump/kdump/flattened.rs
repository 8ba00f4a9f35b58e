//! makedumpfile's flattened format (`makedumpfile -F`, QEMU 7.2's
//! kdump output): a 4096-byte header (`"makedumpfile"` padded to 16 bytes,
//! big-endian i64 type = 1 and version = 1), then records of big-endian
//! `{i64 offset; i64 size}` followed by `size` bytes that belong at
//! `offset` of the kdump-compressed file they describe, ending with
//! `offset = size = -1`. `makedumpfile -R` replays the records into a file;
//! here they are indexed on open and read in place, without a copy.
//!
//! Records may overlap (makedumpfile rewrites its header at the end): the
//! later record wins, as it does for `-R`. Bytes no record wrote read as
//! zeros (a hole in the file `-R` would write).

use std::collections::BTreeMap;
use std::path::Path;

use super::super::{DumpError, DumpFile};
use super::source::{ByteSource, OutOfRange, be_i64};

pub const FLAT_SIGNATURE: &[u8; 12] = b"makedumpfile";
pub const FLAT_HEADER_SIZE: u64 = 4096;
/// The header's type and version fields (big-endian i64 at 16 and 24).
pub const TYPE_FLAT_HEADER: i64 = 1;
pub const VERSION_FLAT_HEADER: i64 = 1;
const RECORD_HEADER_SIZE: u64 = 16;

/// One piece of the logical file: `len` bytes at logical `start`, found at
/// `file_offset` in the flattened file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Piece {
    start: u64,
    len: u64,
    file_offset: u64,
}

/// The kdump-compressed file a flattened stream describes.
pub struct FlattenedSource {
    file: DumpFile,
    /// Sorted by `start`, non-overlapping.
    pieces: Vec<Piece>,
    logical_len: u64,
    /// Sum of the pieces' lengths: what the file really holds.
    stored_len: u64,
    pub records: usize,
}

impl FlattenedSource {
    /// Indexes the records. `warnings` receives non-fatal problems (a stream
    /// cut short before its end marker).
    pub fn open(file: DumpFile, warnings: &mut Vec<String>) -> Result<FlattenedSource, DumpError> {
        let bytes = file.bytes();
        if (bytes.len() as u64) < FLAT_HEADER_SIZE {
            return Err(file.malformed(
                0,
                format!(
                    "flattened makedumpfile header needs {FLAT_HEADER_SIZE} bytes, the file has {}: truncated",
                    bytes.len()
                ),
            ));
        }
        if !bytes.starts_with(FLAT_SIGNATURE) || bytes[12..16].iter().any(|&b| b != 0) {
            return Err(file.malformed(0, "not a flattened makedumpfile stream: bad signature"));
        }
        let ty = be_i64(bytes, 16);
        if ty != TYPE_FLAT_HEADER {
            return Err(file.malformed(
                16,
                format!("flattened header type {ty} is not {TYPE_FLAT_HEADER}"),
            ));
        }
        let version = be_i64(bytes, 24);
        if version != VERSION_FLAT_HEADER {
            return Err(file.malformed(
                24,
                format!("flattened header version {version} is not supported (only {VERSION_FLAT_HEADER})"),
            ));
        }

        // Logical start -> (end, file offset); later records overwrite.
        let mut map: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        let file_len = bytes.len() as u64;
        let mut pos = FLAT_HEADER_SIZE;
        let mut records = 0usize;
        let mut ended = false;
        let progress = super::super::progress::step("indexing the flattened dump", file_len);
        // Each record consumes at least its 16-byte header: bounded.
        while pos + RECORD_HEADER_SIZE <= file_len {
            if records % 4096 == 0 {
                progress.set(pos);
            }
            let p = pos as usize;
            let offset = be_i64(bytes, p);
            let size = be_i64(bytes, p + 8);
            if offset == -1 && size == -1 {
                ended = true;
                pos += RECORD_HEADER_SIZE;
                break;
            }
            if offset < 0 || size < 0 {
                return Err(file.malformed(
                    pos,
                    format!("flattened record #{records} has offset {offset} and size {size}"),
                ));
            }
            let (offset, size) = (offset as u64, size as u64);
            let data = pos + RECORD_HEADER_SIZE;
            if size > file_len - data {
                warnings.push(format!(
                    "{}: flattened record #{records} at file offset {pos:#x} needs {size:#x} bytes but the file ends at {file_len:#x}: the stream is truncated; later data is missing",
                    file.path().display()
                ));
                // Keep what is there: a best-effort view of a cut stream.
                let have = file_len - data;
                if have > 0 {
                    insert(&mut map, offset, have, data);
                }
                pos = file_len;
                records += 1;
                break;
            }
            if offset.checked_add(size).is_none() {
                return Err(file.malformed(
                    pos,
                    format!(
                        "flattened record #{records}: offset {offset:#x} + size {size:#x} overflows"
                    ),
                ));
            }
            if size > 0 {
                insert(&mut map, offset, size, data);
            }
            records += 1;
            pos = data + size;
        }
        if !ended {
            warnings.push(format!(
                "{}: flattened stream has no end marker (offset = size = -1) after {records} records: it was cut short; reading what it holds",
                file.path().display()
            ));
        } else if pos < file_len {
            warnings.push(format!(
                "{}: {} bytes after the flattened stream's end marker at {:#x} ignored",
                file.path().display(),
                file_len - pos,
                pos - RECORD_HEADER_SIZE
            ));
        }
        let pieces: Vec<Piece> = map
            .into_iter()
            .map(|(start, (end, file_offset))| Piece {
                start,
                len: end - start,
                file_offset,
            })
            .collect();
        let logical_len = pieces.last().map_or(0, |p| p.start + p.len);
        let stored_len = pieces.iter().map(|p| p.len).sum();
        Ok(FlattenedSource {
            file,
            pieces,
            logical_len,
            stored_len,
            records,
        })
    }

    pub fn file(&self) -> &DumpFile {
        &self.file
    }

    pub fn pieces(&self) -> usize {
        self.pieces.len()
    }
}

/// Inserts `[start, start + len)` backed by `file_offset`, trimming what it
/// overlaps.
fn insert(map: &mut BTreeMap<u64, (u64, u64)>, start: u64, len: u64, file_offset: u64) {
    let end = start + len;
    let mut hit = Vec::new();
    for (&s, &(e, f)) in map.range(..end).rev() {
        if e <= start {
            break;
        }
        hit.push((s, e, f));
    }
    for (s, e, f) in hit {
        map.remove(&s);
        if s < start {
            map.insert(s, (start, f));
        }
        if e > end {
            map.insert(end, (e, f + (end - s)));
        }
    }
    map.insert(start, (end, file_offset));
}

impl ByteSource for FlattenedSource {
    fn len(&self) -> u64 {
        self.logical_len
    }

    fn stored_len(&self) -> u64 {
        self.stored_len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), OutOfRange> {
        let oor = OutOfRange {
            offset,
            len: buf.len() as u64,
            file_len: self.logical_len,
        };
        if !self.contains(offset, buf.len() as u64) {
            return Err(oor);
        }
        let bytes = self.file.bytes();
        let mut idx = self
            .pieces
            .partition_point(|p| p.start <= offset)
            .saturating_sub(1);
        let mut done = 0usize;
        // Each step fills a hole or copies from one piece and moves on.
        while done < buf.len() {
            let cur = offset + done as u64;
            let want = buf.len() - done;
            let piece = self.pieces.get(idx);
            match piece {
                Some(p) if p.start <= cur && cur < p.start + p.len => {
                    let n = ((p.start + p.len - cur) as usize).min(want);
                    let from = (p.file_offset + (cur - p.start)) as usize;
                    let src = bytes.get(from..from + n).ok_or(oor)?;
                    buf[done..done + n].copy_from_slice(src);
                    done += n;
                    idx += 1;
                }
                Some(p) if p.start + p.len <= cur => idx += 1,
                _ => {
                    // A hole up to the next piece (or the end).
                    let next = piece.map_or(u64::MAX, |p| p.start);
                    let n = (next.saturating_sub(cur)).min(want as u64) as usize;
                    buf[done..done + n].fill(0);
                    done += n;
                }
            }
        }
        Ok(())
    }

    fn path(&self) -> &Path {
        self.file.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_records_win() {
        let mut m = BTreeMap::new();
        insert(&mut m, 0, 100, 1000);
        insert(&mut m, 10, 20, 5000);
        insert(&mut m, 90, 20, 7000);
        let v: Vec<_> = m.into_iter().collect();
        assert_eq!(
            v,
            vec![
                (0, (10, 1000)),
                (10, (30, 5000)),
                (30, (90, 1030)),
                (90, (110, 7000))
            ]
        );
    }
}
