//! Struct layouts as a vmlinux's DWARF describes them: the input of
//! [`super::dwarf::write_dwarf`]. `extract` describes the layouts the
//! analysis used; the fixture builder generates random ones.

use super::WriteError;

/// C base types, named as gcc names them in DWARF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Base {
    ULong,
    Long,
    UInt,
    Int,
    UShort,
    UChar,
    Char,
    Bool,
    ULongLong,
}

impl Base {
    pub fn name(self) -> &'static str {
        match self {
            Base::ULong => "long unsigned int",
            Base::Long => "long int",
            Base::UInt => "unsigned int",
            Base::Int => "int",
            Base::UShort => "short unsigned int",
            Base::UChar => "unsigned char",
            Base::Char => "char",
            Base::Bool => "_Bool",
            Base::ULongLong => "long long unsigned int",
        }
    }
    pub fn size(self) -> u64 {
        match self {
            Base::ULong | Base::Long | Base::ULongLong => 8,
            Base::UInt | Base::Int => 4,
            Base::UShort => 2,
            Base::UChar | Base::Char | Base::Bool => 1,
        }
    }
    pub fn signed(self) -> bool {
        matches!(self, Base::Long | Base::Int | Base::Char)
    }
    pub fn all() -> [Base; 9] {
        use Base::*;
        [ULong, Long, UInt, Int, UShort, UChar, Char, Bool, ULongLong]
    }
}

/// A C type as used by a member.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ty {
    Base(Base),
    /// A typedef from [`Layouts::typedefs`].
    Typedef(&'static str),
    /// A named struct (defined in [`Layouts::structs`] or declared only).
    Struct(&'static str),
    Ptr(Box<Ty>),
    VoidPtr,
    Array(Box<Ty>, u64),
    /// An anonymous struct or union, defined inline.
    Anon(Box<StructDef>),
    /// A bit-field of `bit_size` bits, `bit_offset` bits above the lowest
    /// bit of the storage unit (its type) at the member's byte offset, as
    /// x86-64 GCC allocates them (`u8 flags:5; u8 level:3;`).
    Bits(Box<Ty>, u8, u8),
}

impl Ty {
    /// A pointer to `t`.
    pub fn ptr(t: Ty) -> Ty {
        Ty::Ptr(Box::new(t))
    }
    /// An array of `n` `t`.
    pub fn arr(t: Ty, n: u64) -> Ty {
        Ty::Array(Box::new(t), n)
    }
    /// A stable key for caching DWARF type entries.
    pub fn key(&self) -> String {
        match self {
            Ty::Base(b) => b.name().to_string(),
            Ty::Typedef(n) => format!("typedef {n}"),
            Ty::Struct(n) => format!("struct {n}"),
            Ty::Ptr(t) => format!("{}*", t.key()),
            Ty::VoidPtr => "void*".into(),
            Ty::Array(t, n) => format!("{}[{n}]", t.key()),
            Ty::Anon(_) | Ty::Bits(..) => String::new(),
        }
    }
}

/// One member at an explicit offset. `name` None: an anonymous struct/union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDef {
    pub name: Option<String>,
    pub offset: u64,
    pub ty: Ty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructDef {
    /// None for anonymous structs/unions.
    pub name: Option<&'static str>,
    pub is_union: bool,
    pub size: u64,
    pub members: Vec<MemberDef>,
}

#[derive(Debug, Clone)]
pub struct Typedef {
    pub name: &'static str,
    pub ty: Ty,
}

/// Every type the synthetic vmlinux describes.
#[derive(Debug, Clone)]
pub struct Layouts {
    pub typedefs: Vec<Typedef>,
    /// Complete definitions, in emission order.
    pub structs: Vec<StructDef>,
    /// Structs only ever used through pointers (DW_AT_declaration).
    pub declared: Vec<&'static str>,
}

fn size_align(
    ty: &Ty,
    typedefs: &[Typedef],
    structs: &[StructDef],
) -> Result<(u64, u64), WriteError> {
    Ok(match ty {
        Ty::Base(b) => (b.size(), b.size()),
        Ty::Ptr(_) | Ty::VoidPtr => (8, 8),
        Ty::Typedef(n) => {
            let t = typedefs
                .iter()
                .find(|t| t.name == *n)
                .ok_or_else(|| WriteError::Layout(format!("unknown typedef {n}")))?;
            size_align(&t.ty, typedefs, structs)?
        }
        Ty::Struct(n) => {
            let s = structs.iter().find(|s| s.name == Some(*n)).ok_or_else(|| {
                WriteError::Layout(format!("struct {n} used by value before its definition"))
            })?;
            (s.size, 8)
        }
        Ty::Array(t, n) => {
            let (s, a) = size_align(t, typedefs, structs)?;
            (s * n, a)
        }
        Ty::Anon(d) => {
            let mut a = 1;
            for m in &d.members {
                a = a.max(size_align(&m.ty, typedefs, structs)?.1);
            }
            (d.size, a)
        }
        Ty::Bits(t, _, _) => size_align(t, typedefs, structs)?,
    })
}

impl Layouts {
    pub fn get(&self, name: &str) -> Result<&StructDef, WriteError> {
        self.structs
            .iter()
            .find(|s| s.name == Some(name))
            .ok_or_else(|| WriteError::Layout(format!("no struct {name}")))
    }

    pub fn has(&self, name: &str) -> bool {
        self.structs.iter().any(|s| s.name == Some(name))
    }

    pub fn size(&self, name: &str) -> Result<u64, WriteError> {
        Ok(self.get(name)?.size)
    }

    /// Offset of a member, looking through anonymous structs and unions as
    /// C does (`s.member` reaches members of anonymous members).
    pub fn off(&self, st: &str, member: &str) -> Result<u64, WriteError> {
        fn find(d: &StructDef, member: &str) -> Option<u64> {
            for m in &d.members {
                match (&m.name, &m.ty) {
                    (Some(n), _) if n == member => return Some(m.offset),
                    (None, Ty::Anon(inner)) => {
                        if let Some(o) = find(inner, member) {
                            return Some(m.offset + o);
                        }
                    }
                    _ => {}
                }
            }
            None
        }
        find(self.get(st)?, member)
            .ok_or_else(|| WriteError::Layout(format!("struct {st} has no member {member}")))
    }

    pub fn has_member(&self, st: &str, member: &str) -> bool {
        self.off(st, member).is_ok()
    }

    /// (size, alignment) of a type.
    pub fn size_align_of(&self, ty: &Ty) -> Result<(u64, u64), WriteError> {
        size_align(ty, &self.typedefs, &self.structs)
    }
}
