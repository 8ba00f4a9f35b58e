//! BTF for a vmlinux (or a dump's memory) from the same struct layouts as
//! [`super::dwarf::write_dwarf`], as pahole would encode them: INTs named
//! as gcc names base types, `kind_flag` structs for bit-fields, forward
//! declarations (FWD) for [`Layouts::declared`], anonymous structs/unions
//! inline, typedefs, pointers and arrays (their index type pahole's
//! `__ARRAY_SIZE_TYPE__`). Deterministic: the same layouts give the same
//! bytes.

use std::collections::HashMap;

use super::WriteError;
use super::layout::{Base, Layouts, StructDef, Ty};

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;

/// `BTF_INT_SIGNED`, `BTF_INT_BOOL` (at most one is set; pahole never
/// sets `BTF_INT_CHAR` for C's `char`).
const INT_SIGNED: u32 = 1;
const INT_BOOL: u32 = 4;

/// The BTF blob (header, type section, string section) of `l`.
pub fn write_btf(l: &Layouts) -> Result<Vec<u8>, WriteError> {
    let mut w = Writer {
        l,
        records: Vec::new(),
        strings: vec![0],
        string_offsets: HashMap::new(),
        types: HashMap::new(),
        structs: HashMap::new(),
        array_index: None,
    };
    for d in &l.declared {
        let name = w.string(d)?;
        let id = w.push(record(name, KIND_FWD, false, 0, 0));
        w.structs.insert(d, id);
    }
    // Ids first, so that pointers can name structs defined later.
    let mut defined = Vec::new();
    for s in &l.structs {
        if let Some(n) = s.name {
            let id = w.reserve();
            w.structs.insert(n, id);
            defined.push((id, s));
        }
    }
    for (id, s) in defined {
        w.fill_struct(id, s)?;
    }
    w.finish()
}

/// `struct btf_type`: name_off, info (vlen, kind, kind_flag), size/type.
fn record(name_off: u32, kind: u32, kind_flag: bool, vlen: u32, size_or_type: u32) -> Vec<u8> {
    let info = (u32::from(kind_flag) << 31) | (kind << 24) | vlen;
    [name_off, info, size_or_type]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

fn layout_error(what: String) -> WriteError {
    WriteError::Layout(what)
}

struct Writer<'l> {
    l: &'l Layouts,
    /// Type id `n` is `records[n - 1]`; `None` while reserved.
    records: Vec<Option<Vec<u8>>>,
    strings: Vec<u8>,
    string_offsets: HashMap<String, u32>,
    /// Types by [`Ty::key`] (anonymous ones are never shared).
    types: HashMap<String, u32>,
    structs: HashMap<&'static str, u32>,
    array_index: Option<u32>,
}

impl Writer<'_> {
    fn string(&mut self, s: &str) -> Result<u32, WriteError> {
        if let Some(&off) = self.string_offsets.get(s) {
            return Ok(off);
        }
        let off = u32::try_from(self.strings.len())
            .map_err(|_| layout_error("BTF string section over 4 GiB".into()))?;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        self.string_offsets.insert(s.to_string(), off);
        Ok(off)
    }

    fn reserve(&mut self) -> u32 {
        self.records.push(None);
        self.records.len() as u32
    }

    fn push(&mut self, bytes: Vec<u8>) -> u32 {
        self.records.push(Some(bytes));
        self.records.len() as u32
    }

    fn int(&mut self, name: &str, size: u32, encoding: u32) -> Result<u32, WriteError> {
        let name = self.string(name)?;
        let mut r = record(name, KIND_INT, false, 0, size);
        r.extend_from_slice(&((encoding << 24) | (size * 8)).to_le_bytes());
        Ok(self.push(r))
    }

    fn ty(&mut self, ty: &Ty) -> Result<u32, WriteError> {
        let key = ty.key();
        if let Some(&id) = self.types.get(&key).filter(|_| !key.is_empty()) {
            return Ok(id);
        }
        let id = match ty {
            Ty::Base(b) => {
                let encoding = match b {
                    Base::Bool => INT_BOOL,
                    _ if b.signed() => INT_SIGNED,
                    _ => 0,
                };
                self.int(b.name(), b.size() as u32, encoding)?
            }
            Ty::Typedef(n) => {
                let target = self
                    .l
                    .typedefs
                    .iter()
                    .find(|t| t.name == *n)
                    .ok_or_else(|| layout_error(format!("unknown typedef {n}")))?
                    .ty
                    .clone();
                let target = self.ty(&target)?;
                let name = self.string(n)?;
                self.push(record(name, KIND_TYPEDEF, false, 0, target))
            }
            Ty::Struct(n) => *self
                .structs
                .get(n)
                .ok_or_else(|| layout_error(format!("struct {n} not emitted")))?,
            Ty::Ptr(t) => {
                let target = self.ty(t)?;
                self.push(record(0, KIND_PTR, false, 0, target))
            }
            Ty::VoidPtr => self.push(record(0, KIND_PTR, false, 0, 0)),
            Ty::Array(t, n) => {
                let elem = self.ty(t)?;
                let index = match self.array_index {
                    Some(i) => i,
                    None => {
                        let i = self.int("__ARRAY_SIZE_TYPE__", 4, 0)?;
                        self.array_index = Some(i);
                        i
                    }
                };
                let n = u32::try_from(*n)
                    .map_err(|_| layout_error(format!("array of {n} elements")))?;
                let mut r = record(0, KIND_ARRAY, false, 0, 0);
                for v in [elem, index, n] {
                    r.extend_from_slice(&v.to_le_bytes());
                }
                self.push(r)
            }
            Ty::Bits(t, _, _) => return self.ty(t),
            Ty::Anon(d) => {
                let id = self.reserve();
                self.fill_struct(id, d)?;
                id
            }
        };
        if !key.is_empty() {
            self.types.insert(key, id);
        }
        Ok(id)
    }

    /// The STRUCT/UNION record of `d` at the reserved id `id`; `kind_flag`
    /// (bit-field size in each member offset's top 8 bits) when it has a
    /// bit-field, as pahole writes it.
    fn fill_struct(&mut self, id: u32, d: &StructDef) -> Result<(), WriteError> {
        let what = || d.name.unwrap_or("(anonymous)");
        let has_bits = d.members.iter().any(|m| matches!(m.ty, Ty::Bits(..)));
        let vlen = u32::try_from(d.members.len())
            .ok()
            .filter(|&v| v <= 0xffff)
            .ok_or_else(|| layout_error(format!("struct {} has too many members", what())))?;
        let size = u32::try_from(d.size)
            .map_err(|_| layout_error(format!("struct {} is too large", what())))?;
        let name = match d.name {
            Some(n) => self.string(n)?,
            None => 0,
        };
        let kind = if d.is_union { KIND_UNION } else { KIND_STRUCT };
        let mut r = record(name, kind, has_bits, vlen, size);
        for m in &d.members {
            let member_name = match &m.name {
                Some(n) => self.string(n)?,
                None => 0,
            };
            let ty = self.ty(&m.ty)?;
            let (bit_offset, bit_size) = match &m.ty {
                Ty::Bits(_, off, size) => (u64::from(*off), u32::from(*size)),
                _ => (0, 0),
            };
            let bits = m
                .offset
                .checked_mul(8)
                .and_then(|b| b.checked_add(bit_offset))
                .and_then(|b| u32::try_from(b).ok())
                .filter(|&b| !has_bits || b <= 0x00ff_ffff)
                .ok_or_else(|| {
                    layout_error(format!("struct {}: member offset {}", what(), m.offset))
                })?;
            let offset = if has_bits {
                (bit_size << 24) | bits
            } else {
                bits
            };
            for v in [member_name, ty, offset] {
                r.extend_from_slice(&v.to_le_bytes());
            }
        }
        if let Some(slot) = self.records.get_mut(id as usize - 1) {
            *slot = Some(r);
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<u8>, WriteError> {
        let mut types = Vec::new();
        for (i, r) in self.records.into_iter().enumerate() {
            let r = r.ok_or_else(|| layout_error(format!("BTF type {} never filled", i + 1)))?;
            types.extend_from_slice(&r);
        }
        let type_len = u32::try_from(types.len())
            .map_err(|_| layout_error("BTF type section over 4 GiB".into()))?;
        let str_len = u32::try_from(self.strings.len())
            .map_err(|_| layout_error("BTF string section over 4 GiB".into()))?;
        let mut out = Vec::with_capacity(24 + types.len() + self.strings.len());
        out.extend_from_slice(&0xeb9f_u16.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for v in [24, 0, type_len, type_len, str_len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&types);
        out.extend_from_slice(&self.strings);
        Ok(out)
    }
}
