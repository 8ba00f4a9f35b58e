//! What a kdump file's sub-header gives besides the page layout: the ELF
//! notes and VMCOREINFO it points to, or nothing when the file has none.

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::note::NoteDataIterator;

use super::super::DumpError;
use super::super::notes::{DumpNotes, RawNote};
use super::header::{DiskDumpHeader, SubHeader, off};
use super::source::ByteSource;

/// Bound on the ELF notes read from the sub-header (a real dump holds a few
/// hundred bytes per CPU; 8192 CPUs fit many times over).
const MAX_NOTES: u64 = 64 << 20;
/// Bound on a separately stored VMCOREINFO text.
const MAX_VMCOREINFO: u64 = 1 << 20;

/// The sub-header of a file whose header says it has none (`sub_hdr_size`
/// 0, which libkdumpfile's test generator writes): all fields zero, so no
/// VMCOREINFO, notes, phys_base or split range, and the bitmaps start at
/// block 1. Refused when the page count would be in the missing sub-header
/// (the header's 32-bit `max_mapnr` is 0 but there are bitmaps).
pub(super) fn no_sub_header(
    header: &DiskDumpHeader,
    path: &std::path::Path,
    notes: &mut DumpNotes,
) -> Result<SubHeader, DumpError> {
    if header.max_mapnr == 0 && header.bitmap_blocks != 0 {
        return Err(DumpError::Malformed {
            path: path.to_path_buf(),
            offset: off::SUB_HDR_SIZE,
            reason: format!(
                "sub_hdr_size 0 (no sub-header) but the header's max_mapnr is 0 with {} bitmap blocks: the page count would be in the missing sub-header",
                header.bitmap_blocks
            ),
        });
    }
    notes.warnings.push(format!(
        "{}: the file has no sub-header (sub_hdr_size 0): no VMCOREINFO, CPU notes or phys_base from it",
        path.display()
    ));
    Ok(SubHeader::default())
}

pub(super) fn read_sub_header_notes(
    src: &dyn ByteSource,
    sub: &SubHeader,
    version: i32,
    notes: &mut DumpNotes,
) {
    let path = src.path().display().to_string();
    let mut read = |what: &str, offset: i64, size: u64, max: u64| -> Option<Vec<u8>> {
        if size == 0 {
            return None;
        }
        if offset < 0 || !src.contains(offset as u64, size) || size > src.stored_len() {
            notes.warnings.push(format!(
                "{path}: {what} ({size:#x} bytes at file offset {offset:#x}) lies outside the file: not read"
            ));
            return None;
        }
        if size > max {
            notes
                .warnings
                .push(format!("{path}: {what} at file offset {offset:#x} is {size:#x} bytes, over the {max:#x}-byte limit: not read"));
            return None;
        }
        let mut v = vec![0u8; size as usize];
        src.read_at(offset as u64, &mut v).ok()?;
        Some(v)
    };
    let note_bytes = if version >= 4 {
        read("ELF note area", sub.offset_note, sub.size_note, MAX_NOTES)
    } else {
        None
    };
    let vmcoreinfo = if version >= 3 {
        read(
            "VMCOREINFO",
            sub.offset_vmcoreinfo,
            sub.size_vmcoreinfo,
            MAX_VMCOREINFO,
        )
    } else {
        None
    };
    if let Some(bytes) = &note_bytes {
        let iter = NoteDataIterator {
            data: bytes,
            offset: 0,
            size: bytes.len(),
            ctx: (4, Ctx::new(Container::Big, Endian::Little)),
        };
        for (n, note) in iter.enumerate() {
            match note {
                Ok(note) => notes.add(RawNote {
                    name: note.name,
                    n_type: note.n_type,
                    desc: note.desc,
                }),
                Err(e) => {
                    notes.warnings.push(format!(
                        "{path}: note #{n} in the note area at file offset {:#x} is malformed ({e}); later notes skipped",
                        sub.offset_note
                    ));
                    break;
                }
            }
        }
    }
    if notes.vmcoreinfo.is_none() {
        if let Some(text) = &vmcoreinfo {
            notes.add(RawNote {
                name: "VMCOREINFO",
                n_type: 0,
                desc: text,
            });
        }
    }
}
