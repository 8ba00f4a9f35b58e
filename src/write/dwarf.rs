//! DWARF for a vmlinux (gimli::write) from struct layouts: the first compile
//! unit declares `struct task_struct` only (DW_AT_declaration), a later one
//! holds every complete definition from [`Layouts`] (the kernel log's in a
//! unit of their own, as in a real vmlinux).

use std::collections::HashMap;

use gimli::write::{AttributeValue, Dwarf, EndianVec, LineProgram, Sections, Unit, UnitEntryId};
use gimli::{Encoding, Format, LittleEndian, constants};

use super::WriteError;
use super::layout::{Base, Layouts, StructDef, Ty};

/// The structs of the kernel log: their names (written in a compile unit of
/// their own, kernel/printk/printk.c).
pub const PRINTK_STRUCTS: &[&str] = &[
    "dev_printk_info",
    "prb_data_blk_lpos",
    "prb_desc",
    "printk_info",
    "prb_desc_ring",
    "prb_data_ring",
    "printk_ringbuffer",
    "printk_log",
];

/// The debug sections, by name (".debug_info", ...), non-empty only.
pub fn write_dwarf(l: &Layouts, version: u16) -> Result<Vec<(String, Vec<u8>)>, WriteError> {
    let encoding = Encoding {
        format: Format::Dwarf32,
        version,
        address_size: 8,
    };
    let mut dwarf = Dwarf::new();

    // CU 1: init/main.c — base types, a declaration of task_struct and a
    // pointer to it (as gcc emits for a file that only passes tasks around).
    {
        let mut cu = Cu::new(&mut dwarf, encoding, "init/main.c");
        let decl = cu
            .unit
            .add(cu.unit.root(), constants::DW_TAG_structure_type);
        cu.name(&mut dwarf, decl, "task_struct");
        cu.unit
            .get_mut(decl)
            .set(constants::DW_AT_declaration, AttributeValue::FlagPresent);
        cu.structs.insert("task_struct", decl);
        let p = cu.unit.add(cu.unit.root(), constants::DW_TAG_pointer_type);
        cu.unit
            .get_mut(p)
            .set(constants::DW_AT_byte_size, AttributeValue::Data1(8));
        cu.unit
            .get_mut(p)
            .set(constants::DW_AT_type, AttributeValue::UnitRef(decl));
        cu.ty(&mut dwarf, l, &Ty::Base(Base::Int))?;
        cu.ty(&mut dwarf, l, &Ty::Base(Base::ULong))?;
        dwarf.units.add(cu.unit);
    }
    // CU 2: kernel/fork.c — everything.
    {
        let mut cu = Cu::new(&mut dwarf, encoding, "kernel/fork.c");
        for d in &l.declared {
            let e = cu
                .unit
                .add(cu.unit.root(), constants::DW_TAG_structure_type);
            cu.name(&mut dwarf, e, d);
            cu.unit
                .get_mut(e)
                .set(constants::DW_AT_declaration, AttributeValue::FlagPresent);
            cu.structs.insert(d, e);
        }
        // Reserve every named struct first so that pointers can refer to
        // structs defined later in the unit.
        cu.define(&mut dwarf, l, |n| !PRINTK_STRUCTS.contains(&n))?;
        dwarf.units.add(cu.unit);
    }
    // CU 3: kernel/printk/printk.c — the kernel log's structs, when any.
    if l.structs
        .iter()
        .any(|s| s.name.is_some_and(|n| PRINTK_STRUCTS.contains(&n)))
    {
        let mut cu = Cu::new(&mut dwarf, encoding, "kernel/printk/printk.c");
        cu.define(&mut dwarf, l, |n| PRINTK_STRUCTS.contains(&n))?;
        dwarf.units.add(cu.unit);
    }

    let mut sections = Sections::new(EndianVec::new(LittleEndian));
    dwarf.write(&mut sections)?;
    let mut out = Vec::new();
    sections.for_each(|id, data| -> Result<(), WriteError> {
        if !data.slice().is_empty() {
            out.push((id.name().to_string(), data.slice().to_vec()));
        }
        Ok(())
    })?;
    Ok(out)
}

struct Cu {
    unit: Unit,
    types: HashMap<String, UnitEntryId>,
    structs: HashMap<&'static str, UnitEntryId>,
    anon_count: usize,
}

impl Cu {
    /// Defines the named structs `pick` selects. Every one is reserved
    /// first so that pointers can refer to structs defined later.
    fn define(
        &mut self,
        dwarf: &mut Dwarf,
        l: &Layouts,
        pick: impl Fn(&str) -> bool,
    ) -> Result<(), WriteError> {
        for s in &l.structs {
            if let Some(n) = s.name.filter(|n| pick(n)) {
                let e = self.unit.add(
                    self.unit.root(),
                    if s.is_union {
                        constants::DW_TAG_union_type
                    } else {
                        constants::DW_TAG_structure_type
                    },
                );
                self.structs.insert(n, e);
            }
        }
        for s in &l.structs {
            if let Some(n) = s.name.filter(|n| pick(n)) {
                let e = self.structs[n];
                self.fill_struct(dwarf, l, e, s)?;
            }
        }
        Ok(())
    }

    fn new(dwarf: &mut Dwarf, encoding: Encoding, file: &str) -> Cu {
        let mut unit = Unit::new(encoding, LineProgram::none());
        let root = unit.root();
        let producer = dwarf
            .strings
            .add("GNU C11 12.2.0 -mno-red-zone -mcmodel=kernel -O2 -gdwarf");
        let name = dwarf.strings.add(file);
        let dir = dwarf.strings.add("/build/linux");
        let e = unit.get_mut(root);
        e.set(
            constants::DW_AT_producer,
            AttributeValue::StringRef(producer),
        );
        e.set(
            constants::DW_AT_language,
            AttributeValue::Language(constants::DW_LANG_C11),
        );
        e.set(constants::DW_AT_name, AttributeValue::StringRef(name));
        e.set(constants::DW_AT_comp_dir, AttributeValue::StringRef(dir));
        Cu {
            unit,
            types: HashMap::new(),
            structs: HashMap::new(),
            anon_count: 0,
        }
    }

    /// Short names inline (DW_FORM_string), longer ones in .debug_str, as gcc does.
    fn name(&mut self, dwarf: &mut Dwarf, e: UnitEntryId, name: &str) {
        let v = if name.len() < 5 {
            AttributeValue::String(name.as_bytes().to_vec())
        } else {
            AttributeValue::StringRef(dwarf.strings.add(name))
        };
        self.unit.get_mut(e).set(constants::DW_AT_name, v);
    }

    fn ty(&mut self, dwarf: &mut Dwarf, l: &Layouts, ty: &Ty) -> Result<UnitEntryId, WriteError> {
        let key = ty.key();
        if !key.is_empty() {
            if let Some(&e) = self.types.get(&key) {
                return Ok(e);
            }
        }
        let root = self.unit.root();
        let e = match ty {
            Ty::Base(b) => {
                let e = self.unit.add(root, constants::DW_TAG_base_type);
                let enc = match b {
                    Base::Bool => constants::DW_ATE_boolean,
                    Base::Char => constants::DW_ATE_signed_char,
                    Base::UChar => constants::DW_ATE_unsigned_char,
                    _ if b.signed() => constants::DW_ATE_signed,
                    _ => constants::DW_ATE_unsigned,
                };
                self.unit.get_mut(e).set(
                    constants::DW_AT_byte_size,
                    AttributeValue::Data1(b.size() as u8),
                );
                self.unit
                    .get_mut(e)
                    .set(constants::DW_AT_encoding, AttributeValue::Encoding(enc));
                self.name(dwarf, e, b.name());
                e
            }
            Ty::Typedef(n) => {
                let td = l
                    .typedefs
                    .iter()
                    .find(|t| t.name == *n)
                    .ok_or_else(|| WriteError::Layout(format!("unknown typedef {n}")))?
                    .ty
                    .clone();
                let target = self.ty(dwarf, l, &td)?;
                let e = self.unit.add(root, constants::DW_TAG_typedef);
                self.name(dwarf, e, n);
                self.unit
                    .get_mut(e)
                    .set(constants::DW_AT_type, AttributeValue::UnitRef(target));
                e
            }
            Ty::Struct(n) => *self
                .structs
                .get(n)
                .ok_or_else(|| WriteError::Layout(format!("struct {n} not emitted")))?,
            Ty::Ptr(t) => {
                let target = self.ty(dwarf, l, t)?;
                let e = self.unit.add(root, constants::DW_TAG_pointer_type);
                self.unit
                    .get_mut(e)
                    .set(constants::DW_AT_byte_size, AttributeValue::Data1(8));
                self.unit
                    .get_mut(e)
                    .set(constants::DW_AT_type, AttributeValue::UnitRef(target));
                e
            }
            Ty::VoidPtr => {
                let e = self.unit.add(root, constants::DW_TAG_pointer_type);
                self.unit
                    .get_mut(e)
                    .set(constants::DW_AT_byte_size, AttributeValue::Data1(8));
                e
            }
            Ty::Array(t, n) => {
                let target = self.ty(dwarf, l, t)?;
                let idx = self.ty(dwarf, l, &Ty::Base(Base::ULong))?;
                let e = self.unit.add(root, constants::DW_TAG_array_type);
                self.unit
                    .get_mut(e)
                    .set(constants::DW_AT_type, AttributeValue::UnitRef(target));
                let sr = self.unit.add(e, constants::DW_TAG_subrange_type);
                self.unit
                    .get_mut(sr)
                    .set(constants::DW_AT_type, AttributeValue::UnitRef(idx));
                self.unit.get_mut(sr).set(
                    constants::DW_AT_upper_bound,
                    AttributeValue::Udata(n.saturating_sub(1)),
                );
                e
            }
            Ty::Bits(t, _, _) => return self.ty(dwarf, l, t),
            Ty::Anon(d) => {
                let e = self.unit.add(
                    root,
                    if d.is_union {
                        constants::DW_TAG_union_type
                    } else {
                        constants::DW_TAG_structure_type
                    },
                );
                self.anon_count += 1;
                self.fill_struct(dwarf, l, e, d)?;
                e
            }
        };
        if !key.is_empty() {
            self.types.insert(key, e);
        }
        Ok(e)
    }

    fn fill_struct(
        &mut self,
        dwarf: &mut Dwarf,
        l: &Layouts,
        e: UnitEntryId,
        d: &StructDef,
    ) -> Result<(), WriteError> {
        if let Some(n) = d.name {
            self.name(dwarf, e, n);
        }
        self.unit
            .get_mut(e)
            .set(constants::DW_AT_byte_size, AttributeValue::Udata(d.size));
        for m in &d.members {
            let t = self.ty(dwarf, l, &m.ty)?;
            let me = self.unit.add(e, constants::DW_TAG_member);
            if let Some(n) = &m.name {
                self.name(dwarf, me, n);
            }
            self.unit
                .get_mut(me)
                .set(constants::DW_AT_type, AttributeValue::UnitRef(t));
            if let Ty::Bits(storage, bit_offset, bit_size) = &m.ty {
                // gcc: DWARF 5 gives DW_AT_data_bit_offset from the start of
                // the struct; DWARF 4 the storage unit's byte offset and size
                // and DW_AT_bit_offset counted from its most significant bit.
                let bytes = l.size_align_of(storage)?.0;
                let v5 = self.unit.version() >= 5;
                let e = self.unit.get_mut(me);
                e.set(constants::DW_AT_bit_size, AttributeValue::Data1(*bit_size));
                if v5 {
                    e.set(
                        constants::DW_AT_data_bit_offset,
                        AttributeValue::Udata(m.offset * 8 + u64::from(*bit_offset)),
                    );
                } else {
                    e.set(constants::DW_AT_byte_size, AttributeValue::Udata(bytes));
                    e.set(
                        constants::DW_AT_bit_offset,
                        AttributeValue::Udata(
                            bytes * 8 - u64::from(*bit_offset) - u64::from(*bit_size),
                        ),
                    );
                    e.set(
                        constants::DW_AT_data_member_location,
                        AttributeValue::Udata(m.offset),
                    );
                }
            } else if !d.is_union {
                self.unit.get_mut(me).set(
                    constants::DW_AT_data_member_location,
                    AttributeValue::Udata(m.offset),
                );
            }
        }
        Ok(())
    }
}
