//! Struct layouts from DWARF (versions 2-5), read lazily with gimli over the
//! mapped (or decompressed) section bytes.
//!
//! Lookup: compile units are scanned in order, once each, looking only at
//! the top-level children of each unit DIE (struct definitions are
//! top-level in C); subtrees are skipped with `DW_AT_sibling` when the
//! compiler emitted it. Every complete (non-declaration) struct/union and
//! every typedef seen on the way is indexed by name (first occurrence wins),
//! so later lookups resume where the previous scan stopped and no unit is
//! scanned twice. A lookup stops after the unit holding the first complete
//! definition: on a real vmlinux `task_struct` and friends are in units 1-2.
//!
//! A found struct is resolved eagerly into a self-contained [`StructType`]:
//! every member with its offset and type (typedefs and qualifiers stripped),
//! and, for members whose type is a struct or union, that type's members,
//! recursively (shared through a per-DIE cache), so that dotted paths and
//! anonymous-member flattening need no further DWARF access.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use gimli::{
    Abbreviations, Attribute, AttributeValue, DebugAbbrev, DebugAbbrevOffset, DebugInfo,
    DebugInfoOffset, DebugInfoUnitHeadersIter, DebugLineStr, DebugStr, DebugStrOffsets,
    DebugStrOffsetsBase, DebuggingInformationEntry, DwarfFileType, EndianSlice, LittleEndian,
    UnitHeader, UnitOffset, constants as dw,
};

type R<'a> = EndianSlice<'a, LittleEndian>;

/// Hops allowed through typedef/const/volatile/array-element chains when
/// resolving one member's type: far above what C produces, low enough that a
/// reference cycle in corrupt DWARF ends quickly.
pub const MAX_TYPE_HOPS: u32 = 64;
/// Nesting depth of by-value struct/union members (a struct cannot contain
/// itself, so real DWARF never gets near this; corrupt DWARF might).
pub const MAX_NESTING: u32 = 32;

/// Why a type or member could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    #[error("struct {name} not found in DWARF of {}", .file.display())]
    NotFound { name: String, file: PathBuf },
    #[error("struct {ty} has no member {path}")]
    NoMember { ty: String, path: String },
    #[error(
        "struct {ty}: member {prefix} is {kind}, not a struct or union: cannot resolve {path} through it"
    )]
    NotAggregate {
        ty: String,
        path: String,
        prefix: String,
        kind: String,
    },
    #[error("{}: malformed DWARF at .debug_info offset {offset:#x}: {reason}", .file.display())]
    Malformed {
        file: PathBuf,
        /// Offset in `.debug_info` (of the unit or DIE being read).
        offset: u64,
        reason: String,
    },
}

/// A member's type, typedefs and const/volatile stripped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeDesc {
    Base {
        name: String,
        size: u64,
    },
    Pointer {
        size: u64,
    },
    Struct {
        name: Option<String>,
        size: u64,
    },
    Union {
        name: Option<String>,
        size: u64,
    },
    Enum {
        size: u64,
    },
    /// `count` is `None` for flexible arrays (`x[]`); multi-dimensional
    /// arrays are arrays of arrays: `elem_size` covers the inner dimensions.
    Array {
        elem_size: u64,
        count: Option<u64>,
    },
    Function,
    Other,
}

impl TypeDesc {
    /// Size in bytes; `None` for functions, unknown types and flexible arrays.
    pub fn size(&self) -> Option<u64> {
        match self {
            TypeDesc::Base { size, .. }
            | TypeDesc::Pointer { size }
            | TypeDesc::Struct { size, .. }
            | TypeDesc::Union { size, .. }
            | TypeDesc::Enum { size } => Some(*size),
            TypeDesc::Array { elem_size, count } => count.and_then(|c| c.checked_mul(*elem_size)),
            TypeDesc::Function | TypeDesc::Other => None,
        }
    }

    fn kind_name(&self) -> &'static str {
        match self {
            TypeDesc::Base { .. } => "a base type",
            TypeDesc::Pointer { .. } => "a pointer",
            TypeDesc::Struct { .. } => "a struct",
            TypeDesc::Union { .. } => "a union",
            TypeDesc::Enum { .. } => "an enum",
            TypeDesc::Array { .. } => "an array",
            TypeDesc::Function => "a function",
            TypeDesc::Other => "of an unsupported type",
        }
    }
}

/// Where a bit-field's bits are, relative to [`Member::offset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitField {
    /// Bit (0-7, least significant first, as x86-64 allocates bit-fields)
    /// of the byte at `Member::offset` holding the field's lowest bit.
    pub bit_offset: u8,
    pub bit_size: u64,
}

/// A member found by [`StructType::member`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Bytes from the start of the outer struct. For a bit-field: the byte
    /// holding its lowest bit (floor of the bit offset / 8).
    pub offset: u64,
    pub ty: TypeDesc,
    pub bit_field: Option<BitField>,
}

#[derive(Debug)]
struct MemberNode {
    name: Option<Box<str>>,
    offset: u64,
    bit_field: Option<BitField>,
    ty: TypeDesc,
    /// Members of the (stripped) type when it is a complete struct/union.
    nested: Option<Arc<[MemberNode]>>,
}

/// A struct or union layout, self-contained (no borrow of the file).
#[derive(Debug, Clone)]
pub struct StructType {
    /// The name looked up (a struct tag, or the typedef naming it).
    pub name: String,
    pub size: u64,
    pub is_union: bool,
    /// Offset of the definition's DIE in `.debug_info`.
    pub die_offset: u64,
    members: Arc<[MemberNode]>,
}

impl StructType {
    /// Member by dotted path (`"pgd"`, `"tasks.next"`). Members of anonymous
    /// structs/unions are found as if direct members (offsets added); each
    /// `.` walks into a named member whose type is a struct or union.
    pub fn member(&self, path: &str) -> Result<Member, TypeError> {
        let no_member = || TypeError::NoMember {
            ty: self.name.clone(),
            path: path.to_string(),
        };
        let mut members: &Arc<[MemberNode]> = &self.members;
        let mut base = 0u64;
        let mut found: Option<&MemberNode> = None;
        let mut consumed = 0usize;
        for segment in path.split('.') {
            if let Some(prev) = found {
                members = match &prev.nested {
                    Some(m) => m,
                    None => {
                        return Err(TypeError::NotAggregate {
                            ty: self.name.clone(),
                            path: path.to_string(),
                            prefix: path[..consumed.saturating_sub(1)].to_string(),
                            kind: prev.ty.kind_name().to_string(),
                        });
                    }
                };
            }
            if segment.is_empty() {
                return Err(no_member());
            }
            let (offset, node) = find_flattened(members, segment).ok_or_else(no_member)?;
            base = base.checked_add(offset).ok_or_else(no_member)?;
            found = Some(node);
            consumed += segment.len() + 1;
        }
        let node = found.ok_or_else(no_member)?;
        Ok(Member {
            offset: base,
            ty: node.ty.clone(),
            bit_field: node.bit_field,
        })
    }

    pub fn has_member(&self, path: &str) -> bool {
        self.member(path).is_ok()
    }

    /// Names of the members as seen through flattening (anonymous members'
    /// members listed in place), in declaration order.
    pub fn member_names(&self) -> Vec<String> {
        fn walk(members: &[MemberNode], out: &mut Vec<String>) {
            for m in members {
                match (&m.name, &m.nested) {
                    (Some(n), _) => out.push(n.to_string()),
                    (None, Some(nested)) => walk(nested, out),
                    (None, None) => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.members, &mut out);
        out
    }
}

/// A named member, directly or through anonymous struct/union members
/// (depth bounded by construction: nesting is limited to [`MAX_NESTING`]).
fn find_flattened<'m>(members: &'m [MemberNode], name: &str) -> Option<(u64, &'m MemberNode)> {
    for m in members {
        match (&m.name, &m.nested) {
            (Some(n), _) if &**n == name => return Some((m.offset, m)),
            (None, Some(nested)) => {
                if let Some((off, node)) = find_flattened(nested, name) {
                    return Some((m.offset.checked_add(off)?, node));
                }
            }
            _ => {}
        }
    }
    None
}

/// FxHash-style hasher for the name index: SipHash showed up in profiles of
/// full scans (millions of lookups of short names). Not DoS-resistant; a
/// crafted file can at worst slow its own lookups down.
#[derive(Default, Clone, Copy)]
struct FastHasher(u64);

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

/// A DIE: unit index plus offset within that unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DieRef {
    unit: usize,
    offset: UnitOffset<usize>,
}

/// What reading a unit's DIEs needs, cached per unit.
#[derive(Clone)]
struct UnitCtx<'a> {
    header: UnitHeader<R<'a>>,
    abbrevs: Rc<Abbreviations>,
    str_offsets_base: DebugStrOffsetsBase<usize>,
    /// Section offset of the unit header.
    start: usize,
}

struct ScanState<'a> {
    headers: Vec<UnitHeader<R<'a>>>,
    header_iter: DebugInfoUnitHeadersIter<R<'a>>,
    headers_done: bool,
    header_error: Option<TypeError>,
    next_unit: usize,
    tags: NameIndex,
    typedefs: NameIndex,
    /// The first unit whose entries could not be parsed (the scan skips it).
    unit_error: Option<TypeError>,
}

/// Lazy DWARF type lookups over one vmlinux; single-threaded, caching.
pub struct TypeInfo<'a> {
    file: &'a Path,
    debug_abbrev: DebugAbbrev<R<'a>>,
    debug_str: DebugStr<R<'a>>,
    debug_line_str: DebugLineStr<R<'a>>,
    debug_str_offsets: DebugStrOffsets<R<'a>>,
    scan: RefCell<ScanState<'a>>,
    units: RefCell<HashMap<usize, UnitCtx<'a>>>,
    abbrev_cache: RefCell<HashMap<usize, Rc<Abbreviations>>>,
    member_cache: RefCell<HashMap<usize, Arc<[MemberNode]>>>,
    structs: RefCell<HashMap<String, Result<StructType, TypeError>>>,
}

/// One DIE's attributes we care about, plus tag and children flag.
type Entry<'a> = DebuggingInformationEntry<R<'a>>;

impl<'a> TypeInfo<'a> {
    pub(crate) fn new(
        file: &'a Path,
        info: &'a [u8],
        abbrev: &'a [u8],
        str_: &'a [u8],
        line_str: &'a [u8],
        str_offsets: &'a [u8],
    ) -> TypeInfo<'a> {
        let header_iter = DebugInfo::new(info, LittleEndian).units();
        TypeInfo {
            file,
            debug_abbrev: DebugAbbrev::new(abbrev, LittleEndian),
            debug_str: DebugStr::new(str_, LittleEndian),
            debug_line_str: DebugLineStr::new(line_str, LittleEndian),
            debug_str_offsets: DebugStrOffsets::from(EndianSlice::new(str_offsets, LittleEndian)),
            scan: RefCell::new(ScanState {
                headers: Vec::new(),
                header_iter,
                headers_done: false,
                header_error: None,
                next_unit: 0,
                tags: NameIndex::default(),
                typedefs: NameIndex::default(),
                unit_error: None,
            }),
            units: RefCell::new(HashMap::new()),
            abbrev_cache: RefCell::new(HashMap::new()),
            member_cache: RefCell::new(HashMap::new()),
            structs: RefCell::new(HashMap::new()),
        }
    }

    /// Struct or union by tag name, or by a typedef name resolving to one:
    /// the first complete definition in unit order. Cached (errors too).
    pub fn struct_type(&self, name: &str) -> Result<StructType, TypeError> {
        if let Some(r) = self.structs.borrow().get(name) {
            return r.clone();
        }
        let result = self.lookup_struct(name);
        self.structs
            .borrow_mut()
            .insert(name.to_string(), result.clone());
        result
    }

    /// Scans units until every name is indexed (or the end), then resolves
    /// them into the cache. Errors are kept for [`TypeInfo::struct_type`].
    pub fn prefetch(&self, names: &[&str]) {
        loop {
            let all_seen = {
                let st = self.scan.borrow();
                names.iter().all(|n| {
                    st.tags.contains_key(n.as_bytes()) || st.typedefs.contains_key(n.as_bytes())
                })
            };
            if all_seen || !self.scan_next_unit() {
                break;
            }
        }
        for n in names {
            let _ = self.struct_type(n);
        }
    }

    /// Number of compile units scanned so far (for diagnostics and tests).
    pub fn units_scanned(&self) -> usize {
        self.scan.borrow().next_unit
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
            let (tag, typedef) = {
                let st = self.scan.borrow();
                (
                    st.tags.get(name.as_bytes()).copied(),
                    st.typedefs.get(name.as_bytes()).copied(),
                )
            };
            if let Some(die) = tag {
                return self.build_struct(name, die);
            }
            if let Some(td) = typedef {
                if let Some(found) = self.struct_through_typedef(name, td)? {
                    return Ok(found);
                }
            }
            if !self.scan_next_unit() {
                let st = self.scan.borrow();
                if let Some(e) = st.unit_error.clone().or_else(|| st.header_error.clone()) {
                    return Err(e);
                }
                return Err(TypeError::NotFound {
                    name: name.to_string(),
                    file: self.file.to_path_buf(),
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

    // ---- units -------------------------------------------------------------

    /// Unit header `i`, reading headers up to it. `None` past the last unit.
    fn header(&self, i: usize) -> Option<UnitHeader<R<'a>>> {
        let mut st = self.scan.borrow_mut();
        while st.headers.len() <= i && !st.headers_done {
            match st.header_iter.next() {
                Ok(Some(h)) => st.headers.push(h),
                Ok(None) => st.headers_done = true,
                Err(e) => {
                    st.headers_done = true;
                    let offset = st
                        .headers
                        .last()
                        .and_then(|h| {
                            h.debug_info_offset()
                                .map(|o| o.0 + h.length_including_self())
                        })
                        .unwrap_or(0);
                    st.header_error = Some(self.malformed(offset, format!("unit header: {e}")));
                }
            }
        }
        st.headers.get(i).copied()
    }

    /// The unit containing `.debug_info` offset `off`.
    fn unit_containing(&self, off: usize) -> Option<usize> {
        // Read headers until one ends past `off` (bounded by the section).
        let mut i = {
            let st = self.scan.borrow();
            st.headers.len().saturating_sub(1)
        };
        loop {
            let h = self.header(i)?;
            let start = h.debug_info_offset()?.0;
            let end = start.checked_add(h.length_including_self())?;
            if end > off {
                break;
            }
            i += 1;
        }
        let st = self.scan.borrow();
        let idx = st
            .headers
            .partition_point(|h| h.debug_info_offset().map_or(0, |o| o.0) <= off);
        idx.checked_sub(1)
    }

    fn unit_ctx(&self, i: usize) -> Result<UnitCtx<'a>, TypeError> {
        if let Some(ctx) = self.units.borrow().get(&i) {
            return Ok(ctx.clone());
        }
        let header = self
            .header(i)
            .ok_or_else(|| self.malformed(0, format!("no compile unit #{i}")))?;
        let start = header.debug_info_offset().map_or(0, |o| o.0);
        let abbrev_off = header.debug_abbrev_offset().0;
        let cached = self.abbrev_cache.borrow().get(&abbrev_off).cloned();
        let abbrevs = match cached {
            Some(a) => a,
            None => {
                let a = Rc::new(
                    self.debug_abbrev
                        .abbreviations(DebugAbbrevOffset(abbrev_off))
                        .map_err(|e| {
                            self.malformed(start, format!("abbreviations at {abbrev_off:#x}: {e}"))
                        })?,
                );
                self.abbrev_cache.borrow_mut().insert(abbrev_off, a.clone());
                a
            }
        };
        let mut ctx = UnitCtx {
            header,
            abbrevs,
            str_offsets_base: DebugStrOffsetsBase::default_for_encoding_and_file(
                header.encoding(),
                DwarfFileType::Main,
            ),
            start,
        };
        // DW_AT_str_offsets_base of the unit DIE, needed for DW_FORM_strx.
        let mut raw = header
            .entries_raw(&ctx.abbrevs, None)
            .map_err(|e| self.malformed(start, format!("unit entries: {e}")))?;
        let mut root = Entry::null();
        raw.read_entry(&mut root)
            .map_err(|e| self.malformed(start, format!("unit DIE: {e}")))?;
        if let Some(AttributeValue::DebugStrOffsetsBase(b)) =
            root.attr_value(dw::DW_AT_str_offsets_base)
        {
            ctx.str_offsets_base = b;
        }
        self.units.borrow_mut().insert(i, ctx.clone());
        Ok(ctx)
    }

    /// Scans the next unit's top-level DIEs into the index. Returns false
    /// when there is no next unit.
    fn scan_next_unit(&self) -> bool {
        let i = self.scan.borrow().next_unit;
        if self.header(i).is_none() {
            return false;
        }
        self.scan.borrow_mut().next_unit = i + 1;
        if let Err(e) = self.scan_unit(i) {
            let mut st = self.scan.borrow_mut();
            if st.unit_error.is_none() {
                st.unit_error = Some(e);
            }
        }
        true
    }

    fn scan_unit(&self, i: usize) -> Result<(), TypeError> {
        let ctx = self.unit_ctx(i)?;
        let err = |at: usize, e: gimli::Error| self.malformed(ctx.start + at, e);
        let mut raw = ctx
            .header
            .entries_raw(&ctx.abbrevs, None)
            .map_err(|e| err(0, e))?;
        let root_at = raw.next_offset().0;
        let Some(root) = raw.read_abbreviation().map_err(|e| err(root_at, e))? else {
            return Ok(());
        };
        raw.skip_attributes(root.attributes())
            .map_err(|e| err(root_at, e))?;
        if !root.has_children() {
            return Ok(());
        }
        // Depth of the next entry: 1 = a child of the unit DIE. Tracked here
        // (not by EntriesRaw) because a sibling jump restarts the reader.
        let mut depth: isize = 1;
        let mut found: Vec<(bool, &'a [u8], DieRef)> = Vec::new();
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
                if let Some(name) = name_attr.and_then(|a| self.attr_string(&ctx, &a)) {
                    let die = DieRef {
                        unit: i,
                        offset: at,
                    };
                    found.push((tag == dw::DW_TAG_typedef, name, die));
                }
            }
            if abbrev.has_children() {
                if let Some(sib) = sibling {
                    raw = ctx
                        .header
                        .entries_raw(&ctx.abbrevs, Some(sib))
                        .map_err(|e| err(sib.0, e))?;
                    depth = 1;
                }
            }
        }
        let mut st = self.scan.borrow_mut();
        for (is_typedef, name, die) in found {
            let index = if is_typedef {
                &mut st.typedefs
            } else {
                &mut st.tags
            };
            if !index.contains_key(name) {
                index.insert(name.into(), die);
            }
        }
        Ok(())
    }

    // ---- DIEs --------------------------------------------------------------

    fn attr_string(&self, ctx: &UnitCtx<'a>, attr: &Attribute<R<'a>>) -> Option<&'a [u8]> {
        let s = match attr.value() {
            AttributeValue::String(s) => s,
            AttributeValue::DebugStrRef(o) => self.debug_str.get_str(o).ok()?,
            AttributeValue::DebugLineStrRef(o) => self.debug_line_str.get_str(o).ok()?,
            AttributeValue::DebugStrOffsetsIndex(idx) => {
                let o = self
                    .debug_str_offsets
                    .get_str_offset(ctx.header.format(), ctx.str_offsets_base, idx)
                    .ok()?;
                self.debug_str.get_str(o).ok()?
            }
            _ => return None,
        };
        Some(s.slice())
    }

    fn attr_name(&self, ctx: &UnitCtx<'a>, e: &Entry<'a>) -> Option<String> {
        let a = e.attr(dw::DW_AT_name)?;
        self.attr_string(ctx, a)
            .map(|s| String::from_utf8_lossy(s).into_owned())
    }

    /// A DIE and, if asked, its direct children (with attributes).
    fn read_die(
        &self,
        die: DieRef,
        with_children: bool,
    ) -> Result<(UnitCtx<'a>, Entry<'a>, Vec<Entry<'a>>), TypeError> {
        let ctx = self.unit_ctx(die.unit)?;
        let at = |o: usize| ctx.start + o;
        let mut raw = ctx
            .header
            .entries_raw(&ctx.abbrevs, Some(die.offset))
            .map_err(|e| self.malformed(at(die.offset.0), format!("DIE reference: {e}")))?;
        let mut entry = Entry::null();
        let present = raw
            .read_entry(&mut entry)
            .map_err(|e| self.malformed(at(die.offset.0), e))?;
        if !present {
            return Err(self.malformed(at(die.offset.0), "reference to a null DIE"));
        }
        let mut children = Vec::new();
        if with_children && entry.has_children {
            let mut depth: isize = 1;
            while !raw.is_empty() {
                let off = raw.next_offset().0;
                let Some(abbrev) = raw
                    .read_abbreviation()
                    .map_err(|e| self.malformed(at(off), e))?
                else {
                    depth -= 1;
                    if depth <= 0 {
                        break;
                    }
                    continue;
                };
                let child_depth = depth;
                if abbrev.has_children() {
                    depth += 1;
                }
                if child_depth != 1 {
                    raw.skip_attributes(abbrev.attributes())
                        .map_err(|e| self.malformed(at(off), e))?;
                    continue;
                }
                let mut child = Entry::new(
                    abbrev.tag(),
                    abbrev.has_children(),
                    Vec::new(),
                    UnitOffset(off),
                );
                raw.read_attributes(abbrev.attributes(), &mut child.attrs)
                    .map_err(|e| self.malformed(at(off), e))?;
                children.push(child);
            }
        }
        Ok((ctx, entry, children))
    }

    /// The DIE a `DW_AT_type` (or similar) reference names.
    fn target(&self, from_unit: usize, value: AttributeValue<R<'a>>) -> Option<DieRef> {
        match value {
            AttributeValue::UnitRef(o) => Some(DieRef {
                unit: from_unit,
                offset: o,
            }),
            AttributeValue::DebugInfoRef(DebugInfoOffset(off)) => {
                let unit = self.unit_containing(off)?;
                let start = self.header(unit)?.debug_info_offset()?.0;
                Some(DieRef {
                    unit,
                    offset: UnitOffset(off - start),
                })
            }
            _ => None,
        }
    }

    fn section_offset(&self, die: DieRef) -> usize {
        self.header(die.unit)
            .and_then(|h| h.debug_info_offset())
            .map_or(0, |o| o.0)
            + die.offset.0
    }

    /// Resolves the type DIE `die` (typedefs, qualifiers stripped) to a
    /// [`TypeDesc`] and, for a complete struct/union, its DIE.
    fn resolve_die(
        &self,
        mut die: DieRef,
        hops: &mut u32,
    ) -> Result<(TypeDesc, Option<DieRef>), TypeError> {
        loop {
            if *hops == 0 {
                return Err(self.malformed(
                    self.section_offset(die),
                    format!("type chain longer than {MAX_TYPE_HOPS} hops (reference cycle?)"),
                ));
            }
            *hops -= 1;
            // Children (array subranges) are read by resolve_array only.
            let (ctx, entry, _) = self.read_die(die, false)?;
            let byte_size = entry
                .attr(dw::DW_AT_byte_size)
                .and_then(Attribute::udata_value);
            let next = entry
                .attr_value(dw::DW_AT_type)
                .and_then(|v| self.target(die.unit, v));
            let declaration = matches!(
                entry.attr_value(dw::DW_AT_declaration),
                Some(AttributeValue::Flag(true))
            );
            let desc = match entry.tag {
                dw::DW_TAG_typedef
                | dw::DW_TAG_const_type
                | dw::DW_TAG_volatile_type
                | dw::DW_TAG_restrict_type
                | dw::DW_TAG_atomic_type
                | dw::DW_TAG_immutable_type => match next {
                    Some(n) => {
                        die = n;
                        continue;
                    }
                    // `const void` and the like.
                    None => TypeDesc::Other,
                },
                dw::DW_TAG_pointer_type
                | dw::DW_TAG_reference_type
                | dw::DW_TAG_rvalue_reference_type => TypeDesc::Pointer {
                    size: byte_size.unwrap_or(u64::from(ctx.header.address_size())),
                },
                dw::DW_TAG_base_type => TypeDesc::Base {
                    name: self.attr_name(&ctx, &entry).unwrap_or_default(),
                    size: byte_size.unwrap_or(0),
                },
                dw::DW_TAG_structure_type | dw::DW_TAG_class_type | dw::DW_TAG_union_type => {
                    let name = self.attr_name(&ctx, &entry);
                    let size = byte_size.unwrap_or(0);
                    let complete = (!declaration).then_some(die);
                    let desc = if entry.tag == dw::DW_TAG_union_type {
                        TypeDesc::Union { name, size }
                    } else {
                        TypeDesc::Struct { name, size }
                    };
                    return Ok((desc, complete));
                }
                dw::DW_TAG_enumeration_type => {
                    // Without DW_AT_byte_size, the underlying type's size.
                    let size = match (byte_size, next) {
                        (Some(s), _) => s,
                        (None, Some(n)) => self.resolve_die(n, hops)?.0.size().unwrap_or(4),
                        (None, None) => 4,
                    };
                    TypeDesc::Enum { size }
                }
                dw::DW_TAG_array_type => self.resolve_array(die, next, hops)?,
                dw::DW_TAG_subroutine_type => TypeDesc::Function,
                _ => TypeDesc::Other,
            };
            return Ok((desc, None));
        }
    }

    fn resolve_array(
        &self,
        die: DieRef,
        elem: Option<DieRef>,
        hops: &mut u32,
    ) -> Result<TypeDesc, TypeError> {
        let (_, _, children) = self.read_die(die, true)?;
        let Some(elem) = elem else {
            return Ok(TypeDesc::Other);
        };
        let Some(inner_size) = self.resolve_die(elem, hops)?.0.size() else {
            return Ok(TypeDesc::Other);
        };
        // One subrange per dimension; `int a[2][3]` is one array DIE with two.
        let counts: Vec<Option<u64>> = children
            .iter()
            .filter(|c| c.tag == dw::DW_TAG_subrange_type || c.tag == dw::DW_TAG_enumeration_type)
            .map(subrange_count)
            .collect();
        let Some((first, rest)) = counts.split_first() else {
            return Ok(TypeDesc::Array {
                elem_size: inner_size,
                count: None,
            });
        };
        let mut elem_size = inner_size;
        for c in rest {
            match c.and_then(|c| elem_size.checked_mul(c)) {
                Some(s) => elem_size = s,
                None => return Ok(TypeDesc::Other),
            }
        }
        Ok(TypeDesc::Array {
            elem_size,
            count: *first,
        })
    }

    // ---- structs -----------------------------------------------------------

    fn build_struct(&self, name: &str, die: DieRef) -> Result<StructType, TypeError> {
        let (_, entry, _) = self.read_die(die, false)?;
        let size = entry
            .attr(dw::DW_AT_byte_size)
            .and_then(Attribute::udata_value)
            .ok_or_else(|| {
                self.malformed(
                    self.section_offset(die),
                    format!("struct {name} without DW_AT_byte_size"),
                )
            })?;
        let members = self.members(die, 0)?;
        Ok(StructType {
            name: name.to_string(),
            size,
            is_union: entry.tag == dw::DW_TAG_union_type,
            die_offset: self.section_offset(die) as u64,
            members,
        })
    }

    /// The members of the struct/union at `die`, nested aggregates resolved.
    fn members(&self, die: DieRef, nesting: u32) -> Result<Arc<[MemberNode]>, TypeError> {
        let key = self.section_offset(die);
        if let Some(m) = self.member_cache.borrow().get(&key) {
            return Ok(m.clone());
        }
        if nesting > MAX_NESTING {
            return Err(self.malformed(
                key,
                format!("struct members nested deeper than {MAX_NESTING} levels"),
            ));
        }
        let (ctx, _, children) = self.read_die(die, true)?;
        let mut out = Vec::with_capacity(children.len());
        for child in children.iter().filter(|c| c.tag == dw::DW_TAG_member) {
            let child_at = ctx.start + child.offset.0;
            let name = self.attr_name(&ctx, child).map(String::into_boxed_str);
            let mut hops = MAX_TYPE_HOPS;
            let (ty, aggregate) = match child
                .attr_value(dw::DW_AT_type)
                .and_then(|v| self.target(die.unit, v))
            {
                Some(t) => self.resolve_die(t, &mut hops)?,
                None => (TypeDesc::Other, None),
            };
            let (offset, bit_field) = member_location(child, &ty).ok_or_else(|| {
                self.malformed(child_at, "unsupported DW_AT_data_member_location")
            })?;
            let nested = match aggregate {
                Some(inner) => Some(self.members(inner, nesting + 1)?),
                None => None,
            };
            out.push(MemberNode {
                name,
                offset,
                bit_field,
                ty,
                nested,
            });
        }
        let members: Arc<[MemberNode]> = out.into();
        self.member_cache.borrow_mut().insert(key, members.clone());
        Ok(members)
    }
}

/// Elements of one array dimension: DW_AT_count, else upper - lower + 1
/// (lower defaults to 0, C's). `None` for flexible or variable-length arrays.
fn subrange_count(sub: &Entry<'_>) -> Option<u64> {
    if let Some(c) = sub.attr(dw::DW_AT_count) {
        return c.udata_value();
    }
    let upper = sub.attr(dw::DW_AT_upper_bound)?;
    let lower = sub
        .attr(dw::DW_AT_lower_bound)
        .and_then(Attribute::udata_value)
        .unwrap_or(0);
    // `x[0]` is encoded as upper bound -1: all ones in the form's width.
    let upper = match upper.raw_value() {
        AttributeValue::Data1(0xff) | AttributeValue::Data2(0xffff) => return Some(0),
        AttributeValue::Data4(0xffff_ffff) | AttributeValue::Data8(u64::MAX) => return Some(0),
        AttributeValue::Sdata(-1) => return Some(0),
        v => v.udata_value()?,
    };
    upper.checked_sub(lower)?.checked_add(1)
}

/// A member's byte offset and bit-field position, from
/// DW_AT_data_member_location (a constant, or the `DW_OP_plus_uconst N`
/// expression old compilers emit), DW_AT_data_bit_offset (DWARF 4+
/// bit-fields), or DW_AT_bit_offset (DWARF 2/3 bit-fields, counted from the
/// most significant bit of a DW_AT_byte_size storage unit).
fn member_location(m: &Entry<'_>, ty: &TypeDesc) -> Option<(u64, Option<BitField>)> {
    let bit_size = m.attr(dw::DW_AT_bit_size).and_then(Attribute::udata_value);
    if let Some(bits) = m
        .attr(dw::DW_AT_data_bit_offset)
        .and_then(Attribute::udata_value)
    {
        let field = bit_size.map(|bit_size| BitField {
            bit_offset: (bits % 8) as u8,
            bit_size,
        });
        return Some((bits / 8, field));
    }
    let byte_offset = match m.attr(dw::DW_AT_data_member_location) {
        None => 0, // union members, and DWARF 5 producers omitting zero
        Some(a) => match a.raw_value() {
            AttributeValue::SecOffset(v) => v as u64,
            AttributeValue::Exprloc(e) => location_expression(e.0.slice())?,
            AttributeValue::Block(b) => location_expression(b.slice())?,
            _ => a.udata_value()?,
        },
    };
    let Some(bit_size) = bit_size else {
        return Some((byte_offset, None));
    };
    let old_style = m.attr(dw::DW_AT_bit_offset).and_then(|a| a.udata_value());
    let Some(msb_offset) = old_style else {
        return Some((
            byte_offset,
            Some(BitField {
                bit_offset: 0,
                bit_size,
            }),
        ));
    };
    let storage = m
        .attr(dw::DW_AT_byte_size)
        .and_then(Attribute::udata_value)
        .or_else(|| ty.size())?;
    // Little-endian: the field's lowest bit sits this far above the
    // storage unit's lowest bit.
    let lsb = storage
        .checked_mul(8)?
        .checked_sub(msb_offset)?
        .checked_sub(bit_size)?;
    let bits = byte_offset.checked_mul(8)?.checked_add(lsb)?;
    Some((
        bits / 8,
        Some(BitField {
            bit_offset: (bits % 8) as u8,
            bit_size,
        }),
    ))
}

/// `DW_OP_plus_uconst N` or `DW_OP_constu N` (ULEB128 N), alone.
fn location_expression(expr: &[u8]) -> Option<u64> {
    let (&op, rest) = expr.split_first()?;
    if op != dw::DW_OP_plus_uconst.0 && op != dw::DW_OP_constu.0 {
        return None;
    }
    let mut value = 0u64;
    for (i, &b) in rest.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return (i + 1 == rest.len()).then_some(value);
        }
    }
    None
}
