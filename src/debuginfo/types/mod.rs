//! Struct layouts from DWARF (versions 2-5), read lazily with gimli's
//! [`gimli::Dwarf`] and [`gimli::Unit`] over the mapped (or decompressed)
//! section bytes.
//!
//! - `index`: which units exist and where each named struct/union and
//!   typedef is defined. Compile units are scanned in order, once each per
//!   file, looking only at the top-level children of each unit DIE (struct
//!   definitions are top-level in C) with gimli's raw entry reader, decoding
//!   only the attributes the index needs; subtrees are skipped with
//!   `DW_AT_sibling` when the compiler emitted it. A lookup stops after the
//!   unit holding the first complete definition: on a real vmlinux
//!   `task_struct` and friends are in units 1-2.
//! - `units`: unit headers and gimli units (abbreviations, string forms).
//! - `resolve`: a found struct resolved eagerly into a self-contained
//!   [`StructType`] (typedefs, qualifiers, arrays, bit-fields, nested and
//!   anonymous members).
//! - `model`: the types callers see.
//!
//! The index and every answer live in a `TypeIndex` owned by the
//! `Vmlinux`: a [`TypeInfo`] is a cheap view (gimli's `Dwarf` over the
//! section bytes plus that index), so taking it again never rescans.

mod index;
mod model;
mod resolve;
mod units;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use gimli::{DebuggingInformationEntry, Dwarf, EndianSlice, LittleEndian, SectionId};

use crate::mapped::FileBytes;

use index::DieRef;
pub(crate) use index::FastHasher;
pub use index::TypeIndex;
pub use model::{
    BitField, MAX_MEMBER_PATHS, MAX_TYPE_HOPS, Member, StructType, TypeDesc, TypeError, TypeSource,
};
pub(crate) use model::{MAX_NESTING, MemberNode};
use units::UnitData;

type R<'a> = EndianSlice<'a, LittleEndian>;

/// One DIE's attributes, tag and children flag.
type Entry<'a> = DebuggingInformationEntry<R<'a>>;

/// DWARF type lookups over one vmlinux; single-threaded, answers cached in
/// the file's `TypeIndex` (shared by every view of the same `Vmlinux`).
pub struct TypeInfo<'a> {
    file: &'a Path,
    dwarf: Dwarf<R<'a>>,
    /// Length of `.debug_info` (where the unit headers end).
    info_len: usize,
    index: &'a TypeIndex,
    /// The file the sections are mapped from, for read-ahead hints.
    file_bytes: &'a FileBytes,
    /// Units read by this view (they borrow the section bytes, so they are
    /// per view; their abbreviation tables are shared through the index).
    units: RefCell<HashMap<usize, Rc<UnitData<'a>>>>,
}

impl<'a> TypeInfo<'a> {
    /// A view of the DWARF in `section` (empty for a section the file does
    /// not have), answering from and adding to `index`.
    pub(crate) fn new(
        file: &'a Path,
        index: &'a TypeIndex,
        file_bytes: &'a FileBytes,
        section: impl Fn(SectionId) -> &'a [u8],
    ) -> TypeInfo<'a> {
        let load = |id: SectionId| -> Result<R<'a>, std::convert::Infallible> {
            Ok(EndianSlice::new(section(id), LittleEndian))
        };
        let dwarf = match Dwarf::load(load) {
            Ok(d) => d,
            Err(never) => match never {},
        };
        TypeInfo {
            file,
            dwarf,
            info_len: section(SectionId::DebugInfo).len(),
            index,
            file_bytes,
            units: RefCell::new(HashMap::new()),
        }
    }

    /// Struct or union by tag name, or by a typedef name resolving to one:
    /// the first complete definition in unit order. Cached (errors too).
    pub fn struct_type(&self, name: &str) -> Result<StructType, TypeError> {
        if let Some(r) = self.index.state().structs.get(name) {
            return r.clone();
        }
        let result = self.lookup_struct(name);
        self.index
            .state()
            .structs
            .insert(name.to_string(), result.clone());
        result
    }

    /// Scans units until every name is indexed (or the end), then resolves
    /// them into the cache. Errors are kept for [`TypeInfo::struct_type`].
    pub fn prefetch(&self, names: &[&str]) {
        loop {
            let all_seen = {
                let st = self.index.state();
                names.iter().all(|n| st.is_indexed(n))
            };
            if all_seen || !self.scan_next_unit() {
                break;
            }
        }
        for n in names {
            let _ = self.struct_type(n);
        }
    }

    /// Number of compile units scanned so far for this file, by this view
    /// and every earlier one (for diagnostics and tests).
    pub fn units_scanned(&self) -> usize {
        self.index.state().units_scanned
    }

    /// DIEs decoded so far for this file (scan and resolution), for tests
    /// showing that a cached answer reads no DWARF.
    #[cfg(test)]
    pub(crate) fn dies_decoded(&self) -> u64 {
        self.index.dies_decoded()
    }

    fn malformed(&self, offset: usize, reason: impl std::fmt::Display) -> TypeError {
        TypeError::Malformed {
            file: self.file.to_path_buf(),
            offset: offset as u64,
            reason: reason.to_string(),
        }
    }

    fn lookup_struct(&self, name: &str) -> Result<StructType, TypeError> {
        // Bounded: each round either answers or scans one more unit.
        loop {
            let (tag, typedef) = self.index.state().lookup(name);
            if let Some(die) = tag {
                return self.build_struct(name, die);
            }
            if let Some(td) = typedef
                && let Some(found) = self.struct_through_typedef(name, td)?
            {
                return Ok(found);
            }
            if !self.scan_next_unit() {
                let st = self.index.state();
                if let Some(e) = st.unit_error.clone().or_else(|| st.header_error.clone()) {
                    return Err(e);
                }
                return Err(TypeError::NotFound {
                    name: name.to_string(),
                    file: self.file.to_path_buf(),
                    format: model::TypeSource::Dwarf,
                });
            }
        }
    }

    /// A typedef naming a struct/union: the complete definition it names,
    /// directly, or through the tag when the typedef's unit only declares it.
    fn struct_through_typedef(
        &self,
        name: &str,
        td: DieRef,
    ) -> Result<Option<StructType>, TypeError> {
        let mut hops = MAX_TYPE_HOPS;
        let resolved = self.resolve_die(td, &mut hops)?;
        match resolved {
            (_, Some(die)) => {
                let mut s = self.build_struct(name, die)?;
                s.name = name.to_string();
                Ok(Some(s))
            }
            (
                TypeDesc::Struct {
                    name: Some(tag), ..
                }
                | TypeDesc::Union {
                    name: Some(tag), ..
                },
                None,
            ) if tag != name => match self.struct_type(&tag) {
                Ok(mut s) => {
                    s.name = name.to_string();
                    Ok(Some(s))
                }
                Err(TypeError::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            },
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::debuginfo::Vmlinux;

    /// missing-4l: the one fixture the crate package ships, so these tests
    /// also pass from the packaged sources (scripts/package-check.sh).
    fn fixture_vmlinux() -> Vmlinux {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/missing-4l/vmlinux");
        Vmlinux::open(&path).expect("open the fixture vmlinux")
    }

    /// `Vmlinux::types()` called again (setup, then the printk fallback,
    /// then extract) answers from the file's index: no unit is scanned and
    /// no DIE decoded a second time.
    #[test]
    fn second_view_reads_no_dwarf() {
        let v = fixture_vmlinux();
        let first = v.types().expect("types");
        let task = first.struct_type("task_struct").expect("task_struct");
        let scanned = first.units_scanned();
        let decoded = first.dies_decoded();
        assert!(scanned >= 1);
        assert!(decoded > 0);
        drop(first);

        let second = v.types().expect("types again");
        assert_eq!(
            second.dies_decoded(),
            decoded,
            "the same index as the first view"
        );
        assert_eq!(second.units_scanned(), scanned);
        let again = second
            .struct_type("task_struct")
            .expect("task_struct again");
        assert_eq!(again.size, task.size);
        assert_eq!(again.die_offset, task.die_offset);
        assert_eq!(again.member_names(), task.member_names());
        second.prefetch(&["task_struct"]);
        assert_eq!(second.units_scanned(), scanned, "no unit rescanned");
        assert_eq!(second.dies_decoded(), decoded, "no DIE decoded again");
    }

    /// A name looked up for the first time in a later view continues the
    /// scan where the earlier view stopped; after a full scan (a name that
    /// does not exist), a later view scans nothing more.
    #[test]
    fn later_views_continue_the_same_index() {
        let v = fixture_vmlinux();
        let first = v.types().expect("types");
        assert!(first.struct_type("task_struct").is_ok());
        assert!(matches!(
            first.struct_type("no_such_struct"),
            Err(super::TypeError::NotFound { .. })
        ));
        let all_units = first.units_scanned();
        let decoded = first.dies_decoded();
        drop(first);

        let second = v.types().expect("types again");
        assert_eq!(
            second.dies_decoded(),
            decoded,
            "the same index as the first view"
        );
        assert!(matches!(
            second.struct_type("another_missing_struct"),
            Err(super::TypeError::NotFound { .. })
        ));
        assert_eq!(second.units_scanned(), all_units);
        assert_eq!(
            second.dies_decoded(),
            decoded,
            "a full scan is not repeated"
        );
    }
}
