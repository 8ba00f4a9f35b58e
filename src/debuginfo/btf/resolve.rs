//! Resolution: from a struct/union type id to a self-contained
//! [`StructType`], each member's type followed through typedefs and
//! qualifiers (bounded by [`MAX_TYPE_HOPS`]), bit-fields decoded (both the
//! `kind_flag` encoding and the older INT-encoding one), and nested
//! struct/union members resolved recursively (bounded by [`MAX_NESTING`]),
//! shared through the per-id cache.

use std::borrow::Cow;
use std::sync::Arc;

use super::Btf;
use super::header::u32_at;
use super::index::{Record, kind, record_at, string};
use crate::debuginfo::types::{
    BitField, MAX_NESTING, MAX_TYPE_HOPS, MemberNode, StructType, TypeDesc, TypeError,
};

/// `struct btf_member`: name_off, type, offset.
const MEMBER_LEN: usize = 12;

impl Btf {
    /// Type `id`'s record; `from` is the offset of the record naming it.
    fn record(&self, id: u32, from: usize) -> Result<Record, TypeError> {
        let table = self.table();
        let at = table.offset(id).ok_or_else(|| {
            self.malformed(
                from,
                format!(
                    "type id {id} out of range (the BTF has {} types)",
                    table.id_count()
                ),
            )
        })?;
        record_at(&self.bytes, at).ok_or_else(|| self.malformed(at, "truncated type record"))
    }

    /// A u32 of a record's trailing data (in bounds: the index pass checked
    /// every recorded type's extent).
    fn extra_u32(&self, r: &Record, index: usize) -> Result<u32, TypeError> {
        let at = r.extra() + 4 * index;
        u32_at(&self.bytes, at).ok_or_else(|| self.malformed(at, "truncated type data"))
    }

    /// The name at `name_off`; `None` for 0 (anonymous).
    fn name(&self, name_off: u32, at: usize) -> Result<Option<Cow<'_, str>>, TypeError> {
        if name_off == 0 {
            return Ok(None);
        }
        let s = string(&self.bytes, &self.layout.strings, name_off).ok_or_else(|| {
            self.malformed(
                at,
                format!(
                    "name offset {name_off:#x} is past the end of the {}-byte string section (or unterminated)",
                    self.layout.strings.len()
                ),
            )
        })?;
        Ok(Some(String::from_utf8_lossy(s)))
    }

    /// Type `id` with typedefs and qualifiers stripped, as a [`TypeDesc`]
    /// and, for a complete struct/union, its id. `from`: the referrer's
    /// offset, for messages.
    pub(super) fn resolve(
        &self,
        mut id: u32,
        mut from: usize,
        hops: &mut u32,
    ) -> Result<(TypeDesc, Option<u32>), TypeError> {
        loop {
            if *hops == 0 {
                return Err(self.malformed(
                    from,
                    format!("type chain longer than {MAX_TYPE_HOPS} hops (reference cycle?)"),
                ));
            }
            *hops -= 1;
            if id == 0 {
                // void: `const void`, a member without a type.
                return Ok((TypeDesc::Other, None));
            }
            let r = self.record(id, from)?;
            let name = || -> Result<Option<String>, TypeError> {
                Ok(self.name(r.name_off, r.at)?.map(Cow::into_owned))
            };
            let size = u64::from(r.size_or_type);
            let desc = match r.kind {
                kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT | kind::TYPE_TAG => {
                    id = r.size_or_type;
                    from = r.at;
                    continue;
                }
                kind::PTR => TypeDesc::Pointer { size: 8 },
                kind::INT | kind::FLOAT => TypeDesc::Base {
                    name: name()?.unwrap_or_default(),
                    size,
                },
                kind::STRUCT => {
                    return Ok((
                        TypeDesc::Struct {
                            name: name()?,
                            size,
                        },
                        Some(id),
                    ));
                }
                kind::UNION => {
                    return Ok((
                        TypeDesc::Union {
                            name: name()?,
                            size,
                        },
                        Some(id),
                    ));
                }
                // A declaration: DWARF's DW_AT_declaration, without a size.
                kind::FWD if r.kind_flag => TypeDesc::Union {
                    name: name()?,
                    size: 0,
                },
                kind::FWD => TypeDesc::Struct {
                    name: name()?,
                    size: 0,
                },
                kind::ENUM | kind::ENUM64 => TypeDesc::Enum { size },
                kind::ARRAY => self.resolve_array(&r, hops)?,
                kind::FUNC_PROTO => TypeDesc::Function,
                _ => TypeDesc::Other,
            };
            return Ok((desc, None));
        }
    }

    /// `struct btf_array`: element type, index type, element count. A count
    /// of 0 is read as a flexible array (`x[]`, DWARF's count `None`): BTF
    /// cannot tell it from `x[0]`.
    fn resolve_array(&self, r: &Record, hops: &mut u32) -> Result<TypeDesc, TypeError> {
        let elem = self.extra_u32(r, 0)?;
        let nelems = self.extra_u32(r, 2)?;
        let Some(elem_size) = self.resolve(elem, r.at, hops)?.0.size() else {
            return Ok(TypeDesc::Other);
        };
        Ok(TypeDesc::Array {
            elem_size,
            count: (nelems != 0).then_some(u64::from(nelems)),
        })
    }

    pub(super) fn build_struct(&self, name: &str, id: u32) -> Result<StructType, TypeError> {
        let r = self.record(id, 0)?;
        let members = self.members(id, 0)?;
        Ok(StructType {
            name: name.to_string(),
            size: u64::from(r.size_or_type),
            is_union: r.kind == kind::UNION,
            die_offset: u64::from(id),
            members,
        })
    }

    /// A typedef naming a struct/union: the complete definition it names,
    /// directly, or by tag when it names a forward declaration. The tag is
    /// looked up among struct/union definitions only (not typedefs again),
    /// so typedefs naming each other's declarations cannot recurse.
    pub(super) fn struct_through_typedef(
        &self,
        name: &str,
        id: u32,
    ) -> Result<Option<StructType>, TypeError> {
        let mut hops = MAX_TYPE_HOPS;
        let complete = match self.resolve(id, 0, &mut hops)? {
            (_, Some(complete)) => complete,
            (
                TypeDesc::Struct {
                    name: Some(tag), ..
                }
                | TypeDesc::Union {
                    name: Some(tag), ..
                },
                None,
            ) => match self.table().tags.get(tag.as_bytes()) {
                Some(&complete) => complete,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        Ok(Some(self.build_struct(name, complete)?))
    }

    /// The members of struct/union `id`, nested aggregates resolved.
    fn members(&self, id: u32, nesting: u32) -> Result<Arc<[MemberNode]>, TypeError> {
        if let Some(m) = self.answers().members.get(&id) {
            return Ok(m.clone());
        }
        let r = self.record(id, 0)?;
        if nesting > MAX_NESTING {
            return Err(self.malformed(
                r.at,
                format!("struct members nested deeper than {MAX_NESTING} levels"),
            ));
        }
        if r.kind != kind::STRUCT && r.kind != kind::UNION {
            return Err(
                self.malformed(r.at, format!("type {id} (kind {}) is not a struct", r.kind))
            );
        }
        // vlen <= 0xffff, and the index pass checked the members fit.
        let mut out = Vec::with_capacity(r.vlen);
        for i in 0..r.vlen {
            let at = r.extra() + i * MEMBER_LEN;
            let field = |k: usize| {
                u32_at(&self.bytes, at + 4 * k)
                    .ok_or_else(|| self.malformed(at, "truncated struct member"))
            };
            let (name_off, ty, offset) = (field(0)?, field(1)?, field(2)?);
            let name = self
                .name(name_off, at)?
                .map(|n| n.into_owned().into_boxed_str());
            let mut hops = MAX_TYPE_HOPS;
            let (desc, aggregate) = self.resolve(ty, at, &mut hops)?;
            let (bits, bit_size) = if r.kind_flag {
                (u64::from(offset & 0x00ff_ffff), u64::from(offset >> 24))
            } else {
                self.int_bit_field(ty, at, u64::from(offset))?
            };
            let nested = match aggregate {
                Some(inner) => Some(self.members(inner, nesting + 1)?),
                None => None,
            };
            out.push(MemberNode {
                name,
                offset: bits / 8,
                bit_field: (bit_size != 0).then_some(BitField {
                    bit_offset: (bits % 8) as u8,
                    bit_size,
                }),
                ty: desc,
                nested,
            });
        }
        let members: Arc<[MemberNode]> = out.into();
        self.answers().members.insert(id, members.clone());
        Ok(members)
    }

    /// Without `kind_flag`, a bit-field's width (and an extra bit offset)
    /// are in its INT type's encoding: `BTF_INT_OFFSET` (bits 16-23) and
    /// `BTF_INT_BITS` (bits 0-7), a bit-field when narrower than the INT.
    /// Returns (bit offset, bit-field size or 0).
    fn int_bit_field(&self, mut ty: u32, at: usize, bits: u64) -> Result<(u64, u64), TypeError> {
        for _ in 0..MAX_TYPE_HOPS {
            if ty == 0 {
                break;
            }
            let r = self.record(ty, at)?;
            match r.kind {
                kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT | kind::TYPE_TAG => {
                    ty = r.size_or_type;
                }
                kind::INT => {
                    let encoding = self.extra_u32(&r, 0)?;
                    let nr_bits = u64::from(encoding & 0xff);
                    let int_offset = u64::from((encoding >> 16) & 0xff);
                    let full = nr_bits == u64::from(r.size_or_type) * 8 && int_offset == 0;
                    return Ok(if full {
                        (bits, 0)
                    } else {
                        (bits + int_offset, nr_bits)
                    });
                }
                _ => break,
            }
        }
        Ok((bits, 0))
    }
}
