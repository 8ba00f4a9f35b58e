//! One pass over the type section: the byte offset of every type id's
//! record, and the struct/union and typedef names (first id wins, as the
//! DWARF index keeps the first definition). Every record's trailing data is
//! checked to fit the section here, so later reads of a recorded type stay
//! in bounds.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::debuginfo::types::FastHasher;

/// `BTF_KIND_*` (include/uapi/linux/btf.h).
pub(super) mod kind {
    pub const INT: u8 = 1;
    pub const PTR: u8 = 2;
    pub const ARRAY: u8 = 3;
    pub const STRUCT: u8 = 4;
    pub const UNION: u8 = 5;
    pub const ENUM: u8 = 6;
    pub const FWD: u8 = 7;
    pub const TYPEDEF: u8 = 8;
    pub const VOLATILE: u8 = 9;
    pub const CONST: u8 = 10;
    pub const RESTRICT: u8 = 11;
    pub const FUNC: u8 = 12;
    pub const FUNC_PROTO: u8 = 13;
    pub const VAR: u8 = 14;
    pub const DATASEC: u8 = 15;
    pub const FLOAT: u8 = 16;
    pub const DECL_TAG: u8 = 17;
    pub const TYPE_TAG: u8 = 18;
    pub const ENUM64: u8 = 19;
}

/// `struct btf_type`: name_off, info, size/type.
pub(super) const RECORD_LEN: usize = 12;

/// Bytes after the 12-byte record, for a kind and its vlen; `None` for a
/// kind this reader does not know (its length cannot be known either).
fn trailing_len(k: u8, vlen: usize) -> Option<usize> {
    Some(match k {
        kind::INT | kind::VAR | kind::DECL_TAG => 4,
        kind::ARRAY => 12,
        kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => 12 * vlen,
        kind::ENUM | kind::FUNC_PROTO => 8 * vlen,
        kind::PTR
        | kind::FWD
        | kind::TYPEDEF
        | kind::VOLATILE
        | kind::CONST
        | kind::RESTRICT
        | kind::FUNC
        | kind::FLOAT
        | kind::TYPE_TAG => 0,
        _ => return None,
    })
}

/// One type record, decoded.
#[derive(Debug, Clone, Copy)]
pub(super) struct Record {
    /// Offset of the record in the blob.
    pub(super) at: usize,
    pub(super) name_off: u32,
    pub(super) kind: u8,
    pub(super) kind_flag: bool,
    pub(super) vlen: usize,
    /// `size` or `type`, by kind.
    pub(super) size_or_type: u32,
}

impl Record {
    /// Offset of the trailing data (members, array info, INT encoding).
    pub(super) fn extra(&self) -> usize {
        self.at + RECORD_LEN
    }
}

#[inline]
pub(super) fn record_at(bytes: &[u8], at: usize) -> Option<Record> {
    let b: &[u8; RECORD_LEN] = bytes
        .get(at..at.checked_add(RECORD_LEN)?)?
        .try_into()
        .ok()?;
    let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let info = word(4);
    Some(Record {
        at,
        name_off: word(0),
        kind: ((info >> 24) & 0x1f) as u8,
        kind_flag: info >> 31 == 1,
        vlen: (info & 0xffff) as usize,
        size_or_type: word(8),
    })
}

type NameIndex = HashMap<Box<[u8]>, u32, BuildHasherDefault<FastHasher>>;

/// What the pass learned; type id `n` (1-based; 0 is void) is at
/// `offsets[n - 1]`.
#[derive(Debug, Default)]
pub(super) struct TypeTable {
    offsets: Vec<usize>,
    /// Complete structs/unions by name.
    pub(super) tags: NameIndex,
    pub(super) typedefs: NameIndex,
    /// Why the pass stopped before the end of the section: (offset, reason).
    /// Types before that point are usable.
    pub(super) stopped: Option<(usize, String)>,
}

impl TypeTable {
    /// Walks the type section `types` of `bytes`, names from `strings`.
    /// Work and memory are bounded by the section's length (each record is
    /// at least 12 bytes).
    pub(super) fn build(
        bytes: &[u8],
        types: std::ops::Range<usize>,
        strings: std::ops::Range<usize>,
    ) -> TypeTable {
        // Sized from the section (not from any count it claims): a 6.1
        // kernel's 4 MB hold ~9,700 structs/unions and ~1,900 typedefs;
        // sizing up front saves the rehashes (a quarter of the pass).
        let mut t = TypeTable {
            offsets: Vec::with_capacity(types.len() / RECORD_LEN),
            tags: NameIndex::with_capacity_and_hasher(types.len() / 256, Default::default()),
            typedefs: NameIndex::with_capacity_and_hasher(types.len() / 1024, Default::default()),
            stopped: None,
        };
        let mut at = types.start;
        while at < types.end {
            let Some(r) = bytes
                .get(at..types.end)
                .filter(|rest| rest.len() >= RECORD_LEN)
                .and_then(|_| record_at(bytes, at))
            else {
                t.stopped = Some((at, "truncated type record".into()));
                break;
            };
            let Some(extra) = trailing_len(r.kind, r.vlen) else {
                t.stopped = Some((at, format!("unknown BTF kind {}", r.kind)));
                break;
            };
            let next = at + RECORD_LEN + extra;
            if next > types.end {
                t.stopped = Some((
                    at,
                    format!(
                        "kind {} with vlen {} needs {} bytes, the type section has {} left",
                        r.kind,
                        r.vlen,
                        RECORD_LEN + extra,
                        types.end - at
                    ),
                ));
                break;
            }
            let id = t.offsets.len() as u32 + 1;
            t.offsets.push(at);
            let index = match r.kind {
                kind::STRUCT | kind::UNION => Some(&mut t.tags),
                kind::TYPEDEF => Some(&mut t.typedefs),
                _ => None,
            };
            if let Some(index) = index
                && r.name_off != 0
                && let Some(name) = string(bytes, &strings, r.name_off)
                && !index.contains_key(name)
            {
                index.insert(name.into(), id);
            }
            at = next;
        }
        t
    }

    /// The number of type ids, void included.
    pub(super) fn id_count(&self) -> usize {
        self.offsets.len() + 1
    }

    /// Offset of type `id`'s record; `None` for void (0) and ids past the end.
    pub(super) fn offset(&self, id: u32) -> Option<usize> {
        self.offsets.get((id as usize).checked_sub(1)?).copied()
    }
}

/// The NUL-terminated string at `off` in the string section, without its
/// NUL; `None` past the end or without a terminator.
pub(super) fn string<'b>(
    bytes: &'b [u8],
    strings: &std::ops::Range<usize>,
    off: u32,
) -> Option<&'b [u8]> {
    let section = bytes.get(strings.clone())?;
    let tail = section.get(off as usize..)?;
    let end = tail.iter().position(|&b| b == 0)?;
    Some(&tail[..end])
}
