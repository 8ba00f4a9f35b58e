//! The index of where definitions are: which compile units exist, and the
//! DIE of every complete struct/union and typedef seen so far, by name.
//!
//! The index lives in a [`TypeIndex`] owned by the `Vmlinux`, so it is built
//! at most once per file however many [`TypeInfo`] views are taken; results
//! (resolved member lists, structs by name, errors included) are kept there
//! too. It grows one unit at a time, and only as far as lookups need: on a
//! real vmlinux `task_struct` and friends are complete in units 1-2 of
//! thousands, and indexing every unit costs seconds.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use gimli::{Abbreviations, AttributeValue, UnitHeader, UnitOffset, constants as dw};

use super::model::{MemberNode, StructType, TypeError};
use super::{R, TypeInfo};
use crate::mapped::Access;

/// FxHash-style hasher for the name index: SipHash showed up in profiles of
/// full scans (millions of lookups of short names). Not DoS-resistant; a
/// crafted file can at worst slow its own lookups down.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type NameIndex = HashMap<Box<[u8]>, DieRef, BuildHasherDefault<FastHasher>>;

/// A DIE: unit index (in `.debug_info` order) plus offset within that unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DieRef {
    pub(super) unit: usize,
    pub(super) offset: UnitOffset<usize>,
}

/// A named definition found by the scan of one unit.
struct Definition<'a> {
    is_typedef: bool,
    name: &'a [u8],
    die: DieRef,
}

/// Why the scan of one unit stopped: a DWARF error at an offset in the
/// unit, or a unit that gimli could not read.
enum ScanFailure {
    At(usize, gimli::Error),
    Unit(Box<TypeError>),
}

/// Where a compile unit is in `.debug_info`: `start..end`, header included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct UnitSpan {
    pub(super) start: usize,
    pub(super) end: usize,
}

/// What has been learned from one file's DWARF so far. Nothing here borrows
/// the section bytes, so it can outlive the [`TypeInfo`] views that fill it.
#[derive(Default)]
pub(super) struct IndexState {
    /// Unit headers read so far, in section order (contiguous spans).
    pub(super) units: Vec<UnitSpan>,
    /// No unit after the last of `units` (end of section or a bad header).
    pub(super) headers_done: bool,
    /// Why the unit headers stopped early, if they did.
    pub(super) header_error: Option<TypeError>,
    /// Units `0..units_scanned` have their top-level DIEs in `tags`/`typedefs`.
    pub(super) units_scanned: usize,
    /// Complete structs/unions by tag name; first occurrence wins.
    tags: NameIndex,
    /// Typedefs by name; first occurrence wins.
    typedefs: NameIndex,
    /// The first unit whose entries could not be parsed (the scan skips it).
    pub(super) unit_error: Option<TypeError>,
    /// Abbreviation tables by `.debug_abbrev` offset (units may share one).
    pub(super) abbreviations: HashMap<u64, Arc<Abbreviations>>,
    /// Resolved members by the struct's `.debug_info` offset.
    pub(super) members: HashMap<usize, Arc<[MemberNode]>>,
    /// [`TypeInfo::struct_type`] answers, errors included, by name.
    pub(super) structs: HashMap<String, Result<StructType, TypeError>>,
}

impl IndexState {
    /// The indexed struct tag and typedef of that name, if seen yet.
    pub(super) fn lookup(&self, name: &str) -> (Option<DieRef>, Option<DieRef>) {
        (
            self.tags.get(name.as_bytes()).copied(),
            self.typedefs.get(name.as_bytes()).copied(),
        )
    }

    pub(super) fn is_indexed(&self, name: &str) -> bool {
        self.tags.contains_key(name.as_bytes()) || self.typedefs.contains_key(name.as_bytes())
    }
}

/// The type index of one file, filled lazily by its [`TypeInfo`] views and
/// kept for the file's lifetime. A mutex (not a `RefCell`) keeps the owning
/// `Vmlinux` `Sync`; every lock is held briefly and never across a call that
/// locks again.
#[derive(Default)]
pub struct TypeIndex {
    state: Mutex<IndexState>,
    /// Held for the whole of one unit's scan so that two threads never index
    /// units out of order (first occurrence must win).
    scan: Mutex<()>,
    /// DIEs decoded so far, by the scan and by resolution: lets tests show
    /// that an answer from the index decodes nothing.
    dies_decoded: AtomicU64,
}

impl TypeIndex {
    pub(super) fn state(&self) -> MutexGuard<'_, IndexState> {
        // A panic elsewhere cannot leave the state half-updated in a way that
        // matters: every update is a single insert or push.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn count_dies(&self, n: u64) {
        self.dies_decoded.fetch_add(n, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub(super) fn dies_decoded(&self) -> u64 {
        self.dies_decoded.load(Ordering::Relaxed)
    }
}

impl<'a> TypeInfo<'a> {
    /// Scans the next unit's top-level DIEs into the index. Returns false
    /// when there is no next unit.
    pub(super) fn scan_next_unit(&self) -> bool {
        let _one_scan_at_a_time = self
            .index
            .scan
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let i = self.index.state().units_scanned;
        if self.unit_span(i).is_none() {
            return false;
        }
        let scanned = self.scan_unit(i);
        let mut st = self.index.state();
        st.units_scanned = i + 1;
        match scanned {
            Ok(found) => {
                for Definition {
                    is_typedef,
                    name,
                    die,
                } in found
                {
                    let index = if is_typedef {
                        &mut st.typedefs
                    } else {
                        &mut st.tags
                    };
                    if !index.contains_key(name) {
                        index.insert(name.into(), die);
                    }
                }
            }
            Err(e) => {
                if st.unit_error.is_none() {
                    st.unit_error = Some(e);
                }
            }
        }
        true
    }

    /// The named complete structs/unions and typedefs among unit `i`'s
    /// top-level DIEs, in DIE order.
    fn scan_unit(&self, i: usize) -> Result<Vec<Definition<'a>>, TypeError> {
        // The raw header, not a gimli `Unit`: building one parses the unit's
        // line-program header, which made a full scan ~35% slower. A `Unit`
        // is built only for a unit whose names need it (`DW_FORM_strx*`).
        let (header, start) = self.unit_header(i)?;
        // The scan goes through the unit front to back, skipping subtrees:
        // with a cold page cache, one read-ahead of the unit instead of a
        // fault per page as the scan reaches it.
        let info = gimli::Section::reader(&self.dwarf.debug_info).slice();
        let end = start.saturating_add(header.length_including_self());
        if let Some(unit_bytes) = info.get(start..end) {
            self.file_bytes.advise_slice(Access::WillNeed, unit_bytes);
        }
        let abbreviations = self.abbreviations(&header, start)?;
        self.scan_entries(i, &header, &abbreviations)
            .map_err(|failure| match failure {
                ScanFailure::At(at, e) => self.malformed(start + at, e),
                ScanFailure::Unit(e) => *e,
            })
    }

    /// [`Self::scan_unit`]'s loop, with a small error type: a `TypeError`
    /// in every `?` of the hot loop made the whole scan ~15% slower.
    fn scan_entries(
        &self,
        i: usize,
        header: &UnitHeader<R<'a>>,
        abbreviations: &Abbreviations,
    ) -> Result<Vec<Definition<'a>>, ScanFailure> {
        let err = ScanFailure::At;
        let mut raw = header
            .entries_raw(abbreviations, None)
            .map_err(|e| err(0, e))?;
        let root_at = raw.next_offset().0;
        let Some(root) = raw.read_abbreviation().map_err(|e| err(root_at, e))? else {
            return Ok(Vec::new());
        };
        raw.skip_attributes(root.attributes())
            .map_err(|e| err(root_at, e))?;
        if !root.has_children() {
            return Ok(Vec::new());
        }
        // Depth of the next entry: 1 = a child of the unit DIE. Tracked here
        // (not by EntriesRaw) because a sibling jump restarts the reader.
        let mut depth: isize = 1;
        let mut decoded = 1u64;
        let mut found = Vec::new();
        // Each iteration consumes at least one byte of the unit: bounded.
        while !raw.is_empty() {
            let at = raw.next_offset();
            let Some(abbrev) = raw.read_abbreviation().map_err(|e| err(at.0, e))? else {
                depth -= 1;
                if depth <= 0 {
                    break;
                }
                continue;
            };
            decoded += 1;
            let entry_depth = depth;
            if abbrev.has_children() {
                depth += 1;
            }
            let tag = abbrev.tag();
            let interesting = matches!(
                tag,
                dw::DW_TAG_structure_type
                    | dw::DW_TAG_union_type
                    | dw::DW_TAG_class_type
                    | dw::DW_TAG_typedef
            );
            if entry_depth != 1 || (!interesting && !abbrev.has_children()) {
                raw.skip_attributes(abbrev.attributes())
                    .map_err(|e| err(at.0, e))?;
                continue;
            }
            // Only the three attributes the index needs are decoded; the
            // rest are skipped by form (this loop runs ~3.6M times on a
            // real vmlinux, so decoding everything would dominate).
            let mut name_attr = None;
            let mut declaration = false;
            let mut sibling = None;
            for spec in abbrev.attributes() {
                match spec.name() {
                    dw::DW_AT_name | dw::DW_AT_declaration | dw::DW_AT_sibling => {
                        let a = raw.read_attribute(*spec).map_err(|e| err(at.0, e))?;
                        match a.name() {
                            dw::DW_AT_name => name_attr = Some(a),
                            dw::DW_AT_declaration => {
                                declaration = a.value() == AttributeValue::Flag(true);
                            }
                            _ => {
                                if let AttributeValue::UnitRef(o) = a.value()
                                    && o.0 > at.0
                                {
                                    sibling = Some(o);
                                }
                            }
                        }
                    }
                    _ => raw
                        .skip_attributes(std::slice::from_ref(spec))
                        .map_err(|e| err(at.0, e))?,
                }
            }
            if interesting && !declaration {
                let name = match name_attr.map(|a| a.value()) {
                    Some(strx @ AttributeValue::DebugStrOffsetsIndex(_)) => {
                        let unit = self.unit(i).map_err(|e| ScanFailure::Unit(Box::new(e)))?;
                        self.dwarf.attr_string(&unit.unit, strx).ok()
                    }
                    Some(other) => self.dwarf.attr_line_string(other).ok(),
                    None => None,
                };
                if let Some(name) = name {
                    let die = DieRef {
                        unit: i,
                        offset: at,
                    };
                    found.push(Definition {
                        is_typedef: tag == dw::DW_TAG_typedef,
                        name: name.slice(),
                        die,
                    });
                }
            }
            if abbrev.has_children()
                && let Some(sib) = sibling
            {
                raw = header
                    .entries_raw(abbreviations, Some(sib))
                    .map_err(|e| err(sib.0, e))?;
                depth = 1;
            }
        }
        self.index.count_dies(decoded);
        Ok(found)
    }
}
