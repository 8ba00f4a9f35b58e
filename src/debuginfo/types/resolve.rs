//! Resolution: from a struct's DIE to a self-contained [`StructType`], each
//! member's type followed through typedefs and qualifiers, array dimensions
//! multiplied out, bit-field positions computed (DWARF 2/3 and 4+ styles),
//! and the members of by-value struct/union members (named or anonymous)
//! resolved recursively, shared through the index's per-DIE cache.

use std::rc::Rc;
use std::sync::Arc;

use gimli::{Attribute, AttributeValue, DebugInfoOffset, UnitOffset, constants as dw};

use super::index::DieRef;
use super::model::{
    BitField, MAX_NESTING, MAX_TYPE_HOPS, MemberNode, StructType, TypeDesc, TypeError,
};
use super::units::UnitData;
use super::{Entry, R, TypeInfo};

impl<'a> TypeInfo<'a> {
    /// The DIE's `DW_AT_name`, through gimli's string forms (inline, strp,
    /// line_strp, strx with the unit's string-offsets base).
    fn attr_name(&self, unit: &UnitData<'a>, e: &Entry<'a>) -> Option<String> {
        let value = e.attr_value(dw::DW_AT_name)?;
        let name = self.dwarf.attr_string(&unit.unit, value).ok()?;
        Some(String::from_utf8_lossy(name.slice()).into_owned())
    }

    /// A DIE and, if asked, its direct children (with attributes).
    fn read_die(
        &self,
        die: DieRef,
        with_children: bool,
    ) -> Result<(Rc<UnitData<'a>>, Entry<'a>, Vec<Entry<'a>>), TypeError> {
        let unit = self.unit(die.unit)?;
        let at = |o: usize| unit.start + o;
        let mut raw = unit
            .unit
            .entries_raw(Some(die.offset))
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
        self.index.count_dies(1 + children.len() as u64);
        Ok((unit, entry, children))
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
                let start = self.unit_span(unit)?.start;
                Some(DieRef {
                    unit,
                    offset: UnitOffset(off - start),
                })
            }
            _ => None,
        }
    }

    /// The DIE's offset in `.debug_info` (for messages and cache keys).
    fn section_offset(&self, die: DieRef) -> usize {
        self.unit_span(die.unit).map_or(0, |s| s.start) + die.offset.0
    }

    /// Resolves the type DIE `die` (typedefs, qualifiers stripped) to a
    /// [`TypeDesc`] and, for a complete struct/union, its DIE.
    pub(super) fn resolve_die(
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
            let (unit, entry, _) = self.read_die(die, false)?;
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
                    size: byte_size.unwrap_or(u64::from(unit.unit.header.address_size())),
                },
                dw::DW_TAG_base_type => TypeDesc::Base {
                    name: self.attr_name(&unit, &entry).unwrap_or_default(),
                    size: byte_size.unwrap_or(0),
                },
                dw::DW_TAG_structure_type | dw::DW_TAG_class_type | dw::DW_TAG_union_type => {
                    let name = self.attr_name(&unit, &entry);
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

    pub(super) fn build_struct(&self, name: &str, die: DieRef) -> Result<StructType, TypeError> {
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
        if let Some(m) = self.index.state().members.get(&key) {
            return Ok(m.clone());
        }
        if nesting > MAX_NESTING {
            return Err(self.malformed(
                key,
                format!("struct members nested deeper than {MAX_NESTING} levels"),
            ));
        }
        let (unit, _, children) = self.read_die(die, true)?;
        let mut out = Vec::with_capacity(children.len());
        for child in children.iter().filter(|c| c.tag == dw::DW_TAG_member) {
            let child_at = unit.start + child.offset.0;
            let name = self.attr_name(&unit, child).map(String::into_boxed_str);
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
        self.index.state().members.insert(key, members.clone());
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
