//! Where each physical address of an ELF core is: the PT_LOAD segments
//! resolved into one sorted, non-overlapping list of pieces, each backed by
//! file bytes or by zero fill.
//!
//! Overlap rule (docs/dump-formats.md states it for users):
//! - bytes a segment has in the file win over another segment's zero fill
//!   (`[p_filesz, p_memsz)`), whatever the segments' order;
//! - where several segments have file bytes for an address, the segment
//!   starting at the lowest physical address wins; equal starts, the one
//!   earlier in the program header table. The losing bytes are compared with
//!   the winning ones and a difference is a warning, since one of the two
//!   copies of that memory is wrong and the dump cannot say which. Not
//!   compared: a kexec kernel-text segment against a direct-map one
//!   ([`kexec_duplicate`]), which /proc/vmcore reads from the same physical
//!   memory, so they are identical by construction (comparing them would
//!   read the kernel image twice at every open).

use std::collections::BTreeMap;

use super::super::kdump::ByteSource;
use super::super::{PhysAddr, PhysRange, ReadError};

/// One PT_LOAD segment: `[paddr, paddr + memsz)`, the first `filesz` bytes
/// of which are in the file at `offset`; the tail reads as zeros.
#[derive(Debug, Clone, Copy)]
pub(super) struct LoadSegment {
    /// Position in the program header table (`PT_LOAD #index` in messages).
    pub index: usize,
    pub paddr: u64,
    /// `p_vaddr`: 0 in QEMU's and makedumpfile's physical dumps; the kernel
    /// text or direct-map address in the kernel's /proc/vmcore headers.
    pub vaddr: u64,
    pub memsz: u64,
    pub filesz: u64,
    pub offset: u64,
}

impl LoadSegment {
    /// PT_LOAD #`index`, as its program header says.
    pub(super) fn from_header(index: usize, ph: &goblin::elf::ProgramHeader) -> LoadSegment {
        LoadSegment {
            index,
            paddr: ph.p_paddr,
            vaddr: ph.p_vaddr,
            memsz: ph.p_memsz,
            filesz: ph.p_filesz,
            offset: ph.p_offset,
        }
    }
}

/// The kernel-text mapping (`__START_KERNEL_map`) up to the module area:
/// where the kernel's own PT_LOAD in /proc/vmcore's headers has `p_vaddr`.
const KERNEL_TEXT_MAP: std::ops::Range<u64> = 0xffff_ffff_8000_0000..0xffff_ffff_c000_0000;
/// Lowest direct-map base (`page_offset_base`): 0xff11000000000000 with
/// 5-level paging, 0xffff888000000000 with 4-level, higher with KASLR.
const DIRECT_MAP_MIN: u64 = 0xff00_0000_0000_0000;

/// True for a pair the kernel (or kexec-tools) wrote into /proc/vmcore's
/// headers as two views of the same physical memory: the kernel-text
/// segment (`p_vaddr` in [`KERNEL_TEXT_MAP`]) and a direct-map RAM segment
/// (`p_vaddr - p_paddr` a direct-map base). /proc/vmcore reads both from
/// physical memory, so their bytes cannot differ. QEMU and makedumpfile
/// dumps carry `p_vaddr` 0 and never match: their overlaps are compared.
pub(super) fn kexec_duplicate(a: &LoadSegment, b: &LoadSegment) -> bool {
    let text = |s: &LoadSegment| KERNEL_TEXT_MAP.contains(&s.vaddr);
    let direct = |s: &LoadSegment| {
        !text(s)
            && s.vaddr
                .checked_sub(s.paddr)
                .is_some_and(|base| base >= DIRECT_MAP_MIN)
    };
    (text(a) && direct(b)) || (text(b) && direct(a))
}

/// Where a piece's bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Backing {
    /// In the file, starting at this offset (which may lie past its end:
    /// a truncated dump).
    File { offset: u64 },
    /// Zero fill: the segment's memory beyond its file bytes.
    Zero,
}

/// `len` bytes of physical memory at `paddr`, from one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Piece {
    pub paddr: u64,
    pub len: u64,
    pub backing: Backing,
    /// The segment's index in the program header table.
    pub segment: usize,
}

/// The piece of `pieces` (sorted by `paddr`, non-overlapping) holding
/// `paddr`.
pub(super) fn piece_for(pieces: &[Piece], paddr: u64) -> Option<&Piece> {
    let idx = pieces.partition_point(|p| p.paddr <= paddr);
    let piece = pieces.get(idx.checked_sub(1)?)?;
    (paddr - piece.paddr < piece.len).then_some(piece)
}

/// Reads `buf` at `paddr` piece by piece: file-backed bytes through
/// `read_file(file offset, out)`, which says why a read failed (`None` when
/// the offset overflowed), zeros for `[filesz, memsz)`. Shared by ELF
/// vmcores and /proc/kcore, which differ only in how a failed read is told.
pub(super) fn read_pieces(
    pieces: &[Piece],
    paddr: u64,
    buf: &mut [u8],
    read_file: impl Fn(u64, Option<u64>, &mut [u8]) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut done = 0usize;
    while done < buf.len() {
        let cur = paddr.checked_add(done as u64).ok_or(ReadError::NotInDump {
            paddr: PhysAddr::new(u64::MAX),
        })?;
        let piece = piece_for(pieces, cur).ok_or(ReadError::NotInDump {
            paddr: PhysAddr::new(cur),
        })?;
        let in_piece = cur - piece.paddr;
        let n = ((piece.len - in_piece) as usize).min(buf.len() - done);
        let out = &mut buf[done..done + n];
        match piece.backing {
            // p_offset comes from the file: near u64::MAX the sum must not
            // wrap (a wrapped offset would read the wrong bytes, or panic
            // with overflow checks). Found by fuzz/elf_vmcore.
            Backing::File { offset } => read_file(cur, offset.checked_add(in_piece), out)?,
            // Bytes in [filesz, memsz) are not in the file: zeros by ELF rule.
            Backing::Zero => out.fill(0),
        }
        done += n;
    }
    Ok(())
}

impl Piece {
    fn end(&self) -> u64 {
        self.paddr + self.len
    }

    /// The part of this piece in `[lo, hi)` (which must lie inside it).
    fn slice(&self, lo: u64, hi: u64) -> Piece {
        let backing = match self.backing {
            Backing::File { offset } => Backing::File {
                // Saturating: an offset near u64::MAX reads as truncated.
                offset: offset.saturating_add(lo - self.paddr),
            },
            Backing::Zero => Backing::Zero,
        };
        Piece {
            paddr: lo,
            len: hi - lo,
            backing,
            segment: self.segment,
        }
    }
}

/// The resolved segments.
pub(super) struct Layout {
    /// Sorted by `paddr`, non-overlapping.
    pub pieces: Vec<Piece>,
    /// What the segments cover, one range per segment after trimming
    /// overlaps (sorted; the same ranges whatever wins inside an overlap).
    pub ranges: Vec<PhysRange>,
}

/// Bound on the overlapping file bytes compared: comparing is linear in
/// the overlap, and a crafted header can make every segment overlap every
/// other one.
const MAX_COMPARED: u64 = 64 << 20;
/// Bytes compared per read.
const COMPARE_CHUNK: usize = 64 << 10;
/// Overlap warnings listed one by one; the rest are counted.
const MAX_OVERLAP_WARNINGS: usize = 16;

/// What comparing one pair of segments' overlapping file bytes found.
#[derive(Debug, Default)]
struct Overlap {
    start: u64,
    end: u64,
    /// File bytes both segments have for the same addresses.
    bytes: u64,
    differing: u64,
    /// Bytes not compared (over [`MAX_COMPARED`], or past the end of the file).
    unchecked: u64,
}

/// Resolves `segments` by the overlap rule; each pair of segments whose
/// file bytes overlap and differ (or could not be compared) adds a warning.
pub(super) fn resolve(
    segments: &[LoadSegment],
    src: &dyn ByteSource,
    warnings: &mut Vec<String>,
) -> Layout {
    let mut order: Vec<&LoadSegment> = segments.iter().filter(|s| s.memsz > 0).collect();
    // Winner first; pieces inserted later displace earlier ones, so the
    // winner is inserted last.
    order.sort_by_key(|s| (s.paddr, s.index));
    let mut map: BTreeMap<u64, Piece> = BTreeMap::new();
    for s in order.iter().rev() {
        if s.memsz > s.filesz {
            insert(
                &mut map,
                Piece {
                    paddr: s.paddr + s.filesz,
                    len: s.memsz - s.filesz,
                    backing: Backing::Zero,
                    segment: s.index,
                },
            );
        }
    }
    let by_index: BTreeMap<usize, &LoadSegment> = segments.iter().map(|s| (s.index, s)).collect();
    let mut overlaps: BTreeMap<(usize, usize), Overlap> = BTreeMap::new();
    let mut budget = MAX_COMPARED;
    // Allocated once, at the first overlap: thousands of overlapping pieces
    // must not mean thousands of buffers.
    let mut scratch: Option<(Vec<u8>, Vec<u8>)> = None;
    for s in order.iter().rev() {
        if s.filesz == 0 {
            continue;
        }
        let new = Piece {
            paddr: s.paddr,
            len: s.filesz,
            backing: Backing::File { offset: s.offset },
            segment: s.index,
        };
        for lost in insert(&mut map, new) {
            let Backing::File { offset: lost_at } = lost.backing else {
                continue;
            };
            let won = new.slice(lost.paddr, lost.end());
            let Backing::File { offset: won_at } = won.backing else {
                continue;
            };
            if by_index
                .get(&lost.segment)
                .is_some_and(|l| kexec_duplicate(s, l))
            {
                continue;
            }
            let o = overlaps.entry((s.index, lost.segment)).or_insert(Overlap {
                start: lost.paddr,
                end: lost.end(),
                ..Overlap::default()
            });
            o.start = o.start.min(lost.paddr);
            o.end = o.end.max(lost.end());
            o.bytes += lost.len;
            let bufs =
                scratch.get_or_insert_with(|| (vec![0u8; COMPARE_CHUNK], vec![0u8; COMPARE_CHUNK]));
            let (differing, unchecked) =
                compare(src, (won_at, lost_at), lost.len, bufs, &mut budget);
            o.differing += differing;
            o.unchecked += unchecked;
        }
    }
    report_overlaps(src, &overlaps, segments, warnings);
    Layout {
        pieces: map.into_values().collect(),
        ranges: covered(&order),
    }
}

/// Inserts `new`, cutting what it overlaps; returns the displaced parts.
fn insert(map: &mut BTreeMap<u64, Piece>, new: Piece) -> Vec<Piece> {
    let end = new.end();
    // Pieces are disjoint and sorted: the ones overlapping `new` are the
    // last few starting before its end.
    let hit: Vec<Piece> = map
        .range(..end)
        .rev()
        .take_while(|(_, p)| p.end() > new.paddr)
        .map(|(_, p)| *p)
        .collect();
    let mut displaced = Vec::with_capacity(hit.len());
    for p in hit {
        map.remove(&p.paddr);
        if p.paddr < new.paddr {
            map.insert(p.paddr, p.slice(p.paddr, new.paddr));
        }
        if p.end() > end {
            map.insert(end, p.slice(end, p.end()));
        }
        displaced.push(p.slice(p.paddr.max(new.paddr), p.end().min(end)));
    }
    map.insert(new.paddr, new);
    displaced
}

/// Compares `len` file bytes at `a` and `b` through `bufs` (two buffers of
/// [`COMPARE_CHUNK`] bytes): (bytes that differ, bytes not compared),
/// spending `budget`.
fn compare(
    src: &dyn ByteSource,
    (a, b): (u64, u64),
    len: u64,
    bufs: &mut (Vec<u8>, Vec<u8>),
    budget: &mut u64,
) -> (u64, u64) {
    let (mut done, mut differing) = (0u64, 0u64);
    while done < len && *budget > 0 {
        let n = (len - done).min(COMPARE_CHUNK as u64).min(*budget) as usize;
        let (x, y) = (&mut bufs.0[..n], &mut bufs.1[..n]);
        let read = |at: u64, buf: &mut [u8]| {
            at.checked_add(done)
                .is_some_and(|off| src.read_at(off, buf).is_ok())
        };
        if !read(a, x) || !read(b, y) {
            break;
        }
        if x != y {
            differing += x.iter().zip(y.iter()).filter(|(p, q)| p != q).count() as u64;
        }
        *budget -= n as u64;
        done += n as u64;
    }
    (differing, len - done)
}

fn report_overlaps(
    src: &dyn ByteSource,
    overlaps: &BTreeMap<(usize, usize), Overlap>,
    segments: &[LoadSegment],
    warnings: &mut Vec<String>,
) {
    let why = |won: usize, lost: usize| {
        let paddr = |i: usize| segments.iter().find(|s| s.index == i).map(|s| s.paddr);
        if paddr(won) == paddr(lost) {
            "it comes first in the program header table"
        } else {
            "it starts at the lower physical address"
        }
    };
    let path = src.path().display();
    let mut listed = 0usize;
    let mut unlisted = 0usize;
    for (&(won, lost), o) in overlaps {
        if o.differing == 0 && o.unchecked == 0 {
            continue;
        }
        if listed == MAX_OVERLAP_WARNINGS {
            unlisted += 1;
            continue;
        }
        listed += 1;
        let compared = if o.unchecked == 0 {
            String::new()
        } else {
            format!(
                " ({:#x} bytes not compared: past the end of the file or over the {MAX_COMPARED:#x}-byte comparison bound)",
                o.unchecked
            )
        };
        warnings.push(format!(
            "{path}: PT_LOAD #{won} and PT_LOAD #{lost} both have file bytes for physical {:#x}..{:#x} ({:#x} bytes) and {} of them differ{compared}: reading PT_LOAD #{won}'s ({}); the other copy may be the right one",
            o.start,
            o.end,
            o.bytes,
            o.differing,
            why(won, lost)
        ));
    }
    if unlisted > 0 {
        warnings.push(format!(
            "{path}: {unlisted} more pairs of PT_LOAD segments have differing overlapping file bytes"
        ));
    }
}

/// The physical ranges the segments cover: sorted, one per segment, each
/// cut where an earlier one (by the winner order) already covers it.
fn covered(order: &[&LoadSegment]) -> Vec<PhysRange> {
    let mut out: Vec<PhysRange> = Vec::with_capacity(order.len());
    for s in order {
        let mut r = PhysRange {
            start: s.paddr,
            end: s.paddr + s.memsz,
        };
        if let Some(prev) = out.last() {
            if r.start < prev.end {
                if r.end <= prev.end {
                    continue;
                }
                r.start = prev.end;
            }
        }
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(paddr: u64, len: u64, offset: u64, segment: usize) -> Piece {
        Piece {
            paddr,
            len,
            backing: Backing::File { offset },
            segment,
        }
    }

    #[test]
    fn insert_cuts_and_returns_what_it_displaces() {
        let mut m = BTreeMap::new();
        assert!(insert(&mut m, file(0, 100, 1000, 0)).is_empty());
        let lost = insert(&mut m, file(10, 20, 5000, 1));
        assert_eq!(lost, vec![file(10, 20, 1010, 0)]);
        let lost = insert(&mut m, file(90, 20, 7000, 2));
        assert_eq!(lost, vec![file(90, 10, 1090, 0)]);
        let v: Vec<Piece> = m.into_values().collect();
        assert_eq!(
            v,
            vec![
                file(0, 10, 1000, 0),
                file(10, 20, 5000, 1),
                file(30, 60, 1030, 0),
                file(90, 20, 7000, 2)
            ]
        );
    }
}
