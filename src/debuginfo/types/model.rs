//! The layouts callers see: [`StructType`], [`Member`], [`TypeDesc`],
//! [`BitField`], [`TypeError`], and member lookup by dotted path through
//! anonymous structs/unions. Nothing here reads DWARF: a [`StructType`] is
//! self-contained once [`super::resolve`] has built it.

use std::path::PathBuf;
use std::sync::Arc;

/// Hops allowed through typedef/const/volatile/array-element chains when
/// resolving one member's type: far above what C produces, low enough that a
/// reference cycle in corrupt DWARF ends quickly.
pub const MAX_TYPE_HOPS: u32 = 64;
/// Nesting depth of by-value struct/union members (a struct cannot contain
/// itself, so real DWARF never gets near this; corrupt DWARF might).
pub(crate) const MAX_NESTING: u32 = 32;
/// Most paths [`StructType::member_paths`] lists (a real `task_struct` has
/// about 1,500).
pub const MAX_MEMBER_PATHS: usize = 10_000;

/// Why a type or member could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TypeError {
    /// `file` is the vmlinux (DWARF) or whatever the BTF came from (its
    /// `origin`, see [`crate::debuginfo::btf::Btf::parse`]).
    #[error("struct {name} not found in {format} of {}", .file.display())]
    NotFound {
        name: String,
        file: PathBuf,
        format: TypeSource,
    },
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
    #[error("{}: malformed BTF at offset {offset:#x}: {reason}", .origin.display())]
    MalformedBtf {
        origin: PathBuf,
        /// Offset from the start of the BTF blob (its header).
        offset: u64,
        reason: String,
    },
}

/// Which debug-info format answered (or failed to answer) a type query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TypeSource {
    Dwarf,
    Btf,
}

impl std::fmt::Display for TypeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TypeSource::Dwarf => "DWARF",
            TypeSource::Btf => "BTF",
        })
    }
}

/// A member's type, typedefs and const/volatile stripped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

/// One member as resolved from DWARF or BTF, with the members of its type
/// when that is a complete struct/union (shared between the structs using it).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MemberNode {
    pub(crate) name: Option<Box<str>>,
    pub(crate) offset: u64,
    pub(crate) bit_field: Option<BitField>,
    pub(crate) ty: TypeDesc,
    /// Members of the (stripped) type when it is a complete struct/union.
    pub(crate) nested: Option<Arc<[MemberNode]>>,
}

/// A struct or union layout, self-contained (no borrow of the file).
#[derive(Debug, Clone)]
pub struct StructType {
    /// The name looked up (a struct tag, or the typedef naming it).
    pub name: String,
    pub size: u64,
    pub is_union: bool,
    /// Where the definition is: from DWARF, the offset of its DIE in
    /// `.debug_info`; from BTF, its type id (BTF has no DIEs).
    pub die_offset: u64,
    pub(crate) members: Arc<[MemberNode]>,
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

    /// Every member path [`StructType::member`] answers, in declaration
    /// order: named members (anonymous members' members in place) and,
    /// below a named struct/union member, its members' paths after a `.`.
    /// At most [`MAX_MEMBER_PATHS`]: corrupt input sharing one nested struct
    /// at every level could otherwise describe billions of paths.
    pub fn member_paths(&self) -> Vec<String> {
        fn walk(members: &[MemberNode], prefix: &str, out: &mut Vec<String>) {
            for m in members {
                if out.len() >= MAX_MEMBER_PATHS {
                    return;
                }
                match (&m.name, &m.nested) {
                    (Some(n), nested) => {
                        let path = format!("{prefix}{n}");
                        out.push(path.clone());
                        if let Some(inner) = nested {
                            walk(inner, &format!("{path}."), out);
                        }
                    }
                    (None, Some(inner)) => walk(inner, prefix, out),
                    (None, None) => {}
                }
            }
        }
        // Depth is bounded: nesting was limited to MAX_NESTING when built.
        let mut out = Vec::new();
        walk(&self.members, "", &mut out);
        out
    }

    /// The same layout as `other`: name, size, kind and every member
    /// (names, offsets, types, bit-fields, nested members), ignoring where
    /// each definition was found ([`StructType::die_offset`]).
    pub fn same_layout(&self, other: &StructType) -> bool {
        self.name == other.name
            && self.size == other.size
            && self.is_union == other.is_union
            && self.members == other.members
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
