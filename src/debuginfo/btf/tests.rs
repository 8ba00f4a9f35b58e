//! Hand-written BTF: what `write::btf` never produces (the older bit-field
//! encoding, FWD through typedefs, ENUM64, FLOAT, FUNC_PROTO, TYPE_TAG,
//! flexible and multi-dimensional arrays) and corrupt input (cycles, huge
//! vlen, string offsets past the end, ids out of range, unknown kinds,
//! sections past the buffer).

use super::Btf;
use super::index::kind;
use crate::debuginfo::{BitField, Member, TypeDesc, TypeError, TypeSource};

/// Type records and strings; ids are given out in `add` order from 1.
struct Builder {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            types: Vec::new(),
            strings: vec![0],
            next_id: 1,
        }
    }

    fn name(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    /// A record with raw trailing words; returns its id.
    fn raw(
        &mut self,
        name_off: u32,
        k: u8,
        flag: bool,
        vlen: u32,
        size: u32,
        extra: &[u32],
    ) -> u32 {
        let info = (u32::from(flag) << 31) | (u32::from(k) << 24) | vlen;
        for v in [name_off, info, size].iter().chain(extra) {
            self.types.extend_from_slice(&v.to_le_bytes());
        }
        self.next_id += 1;
        self.next_id - 1
    }

    fn add(&mut self, name: &str, k: u8, flag: bool, vlen: u32, size: u32, extra: &[u32]) -> u32 {
        let n = self.name(name);
        self.raw(n, k, flag, vlen, size, extra)
    }

    fn int(&mut self, name: &str, size: u32) -> u32 {
        self.add(name, kind::INT, false, 0, size, &[size * 8])
    }

    /// A struct (or union) with (name, type, offset word) members.
    fn aggregate(
        &mut self,
        name: &str,
        k: u8,
        flag: bool,
        size: u32,
        members: &[(&str, u32, u32)],
    ) -> u32 {
        let mut extra = Vec::new();
        for (n, ty, off) in members {
            extra.extend([self.name(n), *ty, *off]);
        }
        self.add(name, k, flag, members.len() as u32, size, &extra)
    }

    fn bytes(&self) -> Vec<u8> {
        let mut b = vec![0x9f, 0xeb, 1, 0];
        let (tl, sl) = (self.types.len() as u32, self.strings.len() as u32);
        for v in [24, 0, tl, tl, sl] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&self.types);
        b.extend_from_slice(&self.strings);
        b
    }

    fn btf(&self) -> Btf {
        Btf::parse(self.bytes(), "test.btf").expect("valid header")
    }
}

fn member(offset: u64, ty: TypeDesc, bit_field: Option<BitField>) -> Member {
    Member {
        offset,
        ty,
        bit_field,
    }
}

fn int(size: u64) -> TypeDesc {
    TypeDesc::Base {
        name: format!("int{size}"),
        size,
    }
}

#[test]
fn kinds_map_to_the_dwarf_type_descriptions() {
    let mut b = Builder::new();
    let i4 = b.int("int4", 4); // 1
    let arr_inner = b.add("", kind::ARRAY, false, 0, 0, &[i4, i4, 3]); // 2: int[3]
    let arr2 = b.add("", kind::ARRAY, false, 0, 0, &[arr_inner, i4, 2]); // 3: int[2][3]
    let flex = b.add("", kind::ARRAY, false, 0, 0, &[i4, i4, 0]); // 4: int[]
    let e64 = b.add("big", kind::ENUM64, false, 1, 8, &[0, 1, 0]); // 5
    let f = b.add("double", kind::FLOAT, false, 0, 8, &[]); // 6
    let proto = b.add("", kind::FUNC_PROTO, false, 1, i4, &[0, i4]); // 7
    let tag = b.add("user", kind::TYPE_TAG, false, 0, i4, &[]); // 8
    let cvoid = b.add("", kind::CONST, false, 0, 0, &[]); // 9: const void
    let var = b.add("v", kind::VAR, false, 0, i4, &[0]); // 10
    let ptr = b.add("", kind::PTR, false, 0, proto, &[]); // 11
    b.aggregate(
        "s",
        kind::STRUCT,
        false,
        64,
        &[
            ("a", arr2, 0),
            ("flex", flex, 24 * 8),
            ("e", e64, 32 * 8),
            ("d", f, 40 * 8),
            ("fn", proto, 0),
            ("tagged", tag, 48 * 8),
            ("cv", cvoid, 0),
            ("var", var, 0),
            ("fp", ptr, 56 * 8),
        ],
    );
    let btf = b.btf();
    let s = btf.struct_type("s").expect("s");
    assert_eq!((s.size, s.is_union, s.die_offset), (64, false, 12));
    let ty = |p: &str| s.member(p).expect(p);
    assert_eq!(
        ty("a"),
        member(
            0,
            TypeDesc::Array {
                elem_size: 12,
                count: Some(2)
            },
            None
        )
    );
    assert_eq!(
        ty("flex"),
        member(
            24,
            TypeDesc::Array {
                elem_size: 4,
                count: None
            },
            None
        )
    );
    assert_eq!(ty("e"), member(32, TypeDesc::Enum { size: 8 }, None));
    assert_eq!(
        ty("d"),
        member(
            40,
            TypeDesc::Base {
                name: "double".into(),
                size: 8
            },
            None
        )
    );
    assert_eq!(ty("fn").ty, TypeDesc::Function);
    assert_eq!(ty("tagged"), member(48, int(4), None));
    assert_eq!(ty("cv").ty, TypeDesc::Other);
    assert_eq!(ty("var").ty, TypeDesc::Other);
    assert_eq!(ty("fp"), member(56, TypeDesc::Pointer { size: 8 }, None));
    assert_eq!(btf.type_count(), 13);
}

#[test]
fn bit_fields_in_both_encodings() {
    let mut b = Builder::new();
    let u8_ = b.int("int1", 1); // 1
    // Older encoding: an INT of 3 bits at INT offset 2, no kind_flag.
    let bits3 = b.add("int1", kind::INT, false, 0, 1, &[(2 << 16) | 3]); // 2
    let td = b.add("u3", kind::TYPEDEF, false, 0, bits3, &[]); // 3
    b.aggregate(
        "old",
        kind::STRUCT,
        false,
        8,
        &[("x", u8_, 0), ("f", td, 8 + 4)],
    );
    // kind_flag: bit-field size in the offset word's top 8 bits.
    b.aggregate(
        "new",
        kind::STRUCT,
        true,
        8,
        &[
            ("x", u8_, 0),
            ("facility", u8_, (5 << 24) | 8),
            ("level", u8_, (3 << 24) | 13),
        ],
    );
    let btf = b.btf();
    let old = btf.struct_type("old").expect("old");
    assert_eq!(old.member("x").expect("x"), member(0, int(1), None));
    assert_eq!(
        old.member("f").expect("f"),
        // Bit 12 of the struct, 2 more in the INT: bits 14-16.
        member(
            1,
            TypeDesc::Base {
                name: "int1".into(),
                size: 1
            },
            Some(BitField {
                bit_offset: 6,
                bit_size: 3
            })
        )
    );
    let new = btf.struct_type("new").expect("new");
    assert_eq!(new.member("x").expect("x"), member(0, int(1), None));
    assert_eq!(
        new.member("facility").expect("facility"),
        member(
            1,
            int(1),
            Some(BitField {
                bit_offset: 0,
                bit_size: 5
            })
        )
    );
    assert_eq!(
        new.member("level").expect("level"),
        member(
            1,
            int(1),
            Some(BitField {
                bit_offset: 5,
                bit_size: 3
            })
        )
    );
}

/// A typedef naming a forward declaration finds the definition by tag, as
/// the DWARF reader does through a declaration DIE; anonymous members are
/// flattened; a FWD member has size 0 and no members.
#[test]
fn typedefs_forward_declarations_and_anonymous_members() {
    let mut b = Builder::new();
    let i8_ = b.int("int8", 8); // 1
    let fwd = b.add("task_struct", kind::FWD, false, 0, 0, &[]); // 2
    b.add("task_t", kind::TYPEDEF, false, 0, fwd, &[]); // 3
    let fwd_union = b.add("u", kind::FWD, true, 0, 0, &[]); // 4
    let anon = b.aggregate(
        "",
        kind::UNION,
        false,
        8,
        &[("pid", i8_, 0), ("alt", i8_, 0)],
    ); // 5
    b.aggregate(
        "task_struct",
        kind::STRUCT,
        false,
        24,
        &[("", anon, 64), ("decl", fwd_union, 128)],
    ); // 6
    let btf = b.btf();
    let t = btf.struct_type("task_t").expect("through the typedef");
    assert_eq!((t.name.as_str(), t.size, t.die_offset), ("task_t", 24, 6));
    assert_eq!(t.member("pid").expect("pid"), member(8, int(8), None));
    assert_eq!(t.member_names(), ["pid", "alt", "decl"]);
    assert_eq!(t.member_paths(), ["pid", "alt", "decl"]);
    assert_eq!(
        t.member("decl").expect("decl"),
        member(
            16,
            TypeDesc::Union {
                name: Some("u".into()),
                size: 0
            },
            None
        )
    );
    assert!(matches!(
        t.member("decl.x"),
        Err(TypeError::NotAggregate { .. })
    ));
    assert!(t.same_layout(&{
        let mut s = btf.struct_type("task_struct").expect("tag");
        s.name = "task_t".into();
        s
    }));
    // Cached: the same answer again, and a prefetched miss stays a miss.
    btf.prefetch(&["task_t", "nothing"]);
    assert!(btf.struct_type("task_t").expect("again").same_layout(&t));
    assert_eq!(
        btf.struct_type("nothing").unwrap_err(),
        TypeError::NotFound {
            name: "nothing".into(),
            file: "test.btf".into(),
            format: TypeSource::Btf,
        }
    );
}

fn malformed(e: TypeError) -> (u64, String) {
    match e {
        TypeError::MalformedBtf { offset, reason, .. } => (offset, reason),
        other => panic!("expected MalformedBtf, got {other:?}"),
    }
}

#[test]
fn type_id_cycles_end_in_an_error() {
    let mut b = Builder::new();
    // typedef a -> typedef b -> typedef a.
    b.add("a", kind::TYPEDEF, false, 0, 2, &[]); // 1
    b.add("b", kind::CONST, false, 0, 1, &[]); // 2
    b.aggregate("loop", kind::STRUCT, false, 8, &[("x", 1, 0)]); // 3
    // A struct containing itself by value, and an array of itself.
    b.aggregate("self", kind::STRUCT, false, 8, &[("me", 4, 0)]); // 4
    b.add("", kind::ARRAY, false, 0, 0, &[5, 5, 2]); // 5: an array of itself
    b.aggregate("arr", kind::STRUCT, false, 8, &[("a", 5, 0)]); // 6
    let btf = b.btf();
    let (_, reason) = malformed(btf.struct_type("loop").unwrap_err());
    assert_eq!(reason, "type chain longer than 64 hops (reference cycle?)");
    let (at, reason) = malformed(btf.struct_type("self").unwrap_err());
    assert_eq!(reason, "struct members nested deeper than 32 levels");
    assert_eq!(at, 24 + 2 * 12 + 24, "the record of struct self");
    let (_, reason) = malformed(btf.struct_type("arr").unwrap_err());
    assert_eq!(reason, "type chain longer than 64 hops (reference cycle?)");
    // And the error is an answer like any other: cached, the same.
    assert_eq!(
        btf.struct_type("self").unwrap_err().to_string(),
        format!(
            "test.btf: malformed BTF at offset {:#x}: struct members nested deeper than 32 levels",
            24 + 2 * 12 + 24
        )
    );
}

#[test]
fn huge_vlen_stops_the_pass_at_that_record() {
    let mut b = Builder::new();
    let i = b.int("int4", 4); // 1
    b.aggregate("before", kind::STRUCT, false, 4, &[("x", i, 0)]); // 2
    let at = 24 + b.types.len();
    // vlen 0xffff claims 786 KB of members; 12 bytes follow.
    b.add("huge", kind::STRUCT, false, 0xffff, 4, &[0, i, 0]);
    let btf = b.btf();
    assert_eq!(btf.type_count(), 3, "void and the two types before it");
    assert_eq!(btf.struct_type("before").expect("before").size, 4);
    let (offset, reason) = malformed(btf.struct_type("huge").unwrap_err());
    assert_eq!(offset as usize, at);
    assert_eq!(
        reason,
        "kind 4 with vlen 65535 needs 786432 bytes, the type section has 24 left"
    );
}

#[test]
fn unknown_kinds_and_truncated_records_stop_the_pass() {
    let mut b = Builder::new();
    b.int("int4", 4);
    let at = 24 + b.types.len();
    b.add("future", 25, false, 0, 0, &[]);
    b.aggregate("after", kind::STRUCT, false, 4, &[("x", 1, 0)]);
    let btf = b.btf();
    let (offset, reason) = malformed(btf.struct_type("after").unwrap_err());
    assert_eq!(
        (offset as usize, reason.as_str()),
        (at, "unknown BTF kind 25")
    );

    let mut b = Builder::new();
    b.int("int4", 4);
    b.types.extend_from_slice(&[1, 2, 3, 4, 5]);
    let btf = b.btf();
    let (offset, reason) = malformed(btf.struct_type("x").unwrap_err());
    assert_eq!(
        (offset, reason.as_str()),
        (24 + 16, "truncated type record")
    );
}

#[test]
fn string_offsets_past_the_end_and_ids_out_of_range() {
    let mut b = Builder::new();
    let i = b.int("int4", 4); // 1
    let rec = 24 + b.types.len();
    b.raw(b.strings.len() as u32 + 7, kind::STRUCT, false, 0, 4, &[]); // 2: name past the end
    let s3 = 24 + b.types.len();
    b.aggregate("badname", kind::STRUCT, false, 4, &[]); // 3
    // Patch a member whose name is past the end.
    let name_past = 0xdead_beef;
    b.add("m", kind::STRUCT, false, 1, 4, &[name_past, i, 0]); // 4
    let s5 = 24 + b.types.len();
    b.aggregate("outofrange", kind::STRUCT, false, 4, &[("x", 999, 0)]); // 5
    let btf = b.btf();
    assert!(rec < s3);
    assert!(matches!(btf.struct_type("badname"), Ok(s) if s.size == 4));
    let (offset, reason) = malformed(btf.struct_type("m").unwrap_err());
    assert_eq!(offset as usize, s5 - 12, "the member's record");
    assert!(
        reason.starts_with("name offset 0xdeadbeef is past the end"),
        "{reason}"
    );
    let (offset, reason) = malformed(btf.struct_type("outofrange").unwrap_err());
    assert_eq!(offset as usize, s5 + 12, "the member naming the id");
    assert_eq!(reason, "type id 999 out of range (the BTF has 6 types)");
}

#[test]
fn sections_past_the_buffer_are_refused_at_parse() {
    let mut b = Builder::new();
    b.int("int4", 4);
    let mut bytes = b.bytes();
    bytes.truncate(bytes.len() - 1);
    let e = Btf::parse(bytes, "vmcore BTF at 0xffffffff82a00000").unwrap_err();
    assert_eq!(
        e.to_string(),
        "vmcore BTF at 0xffffffff82a00000: malformed BTF header at offset 0x10: string section at 0x10+0x6 after the 24-byte header ends past the blob's 45 bytes"
    );
}

/// Typedefs naming each other's forward declarations (no definition):
/// not found, without recursing.
#[test]
fn typedefs_through_each_others_declarations_end() {
    let mut b = Builder::new();
    b.add("a", kind::FWD, false, 0, 0, &[]); // 1
    b.add("b", kind::FWD, false, 0, 0, &[]); // 2
    b.add("a", kind::TYPEDEF, false, 0, 2, &[]); // 3: typedef struct b a
    b.add("b", kind::TYPEDEF, false, 0, 1, &[]); // 4: typedef struct a b
    let btf = b.btf();
    for n in ["a", "b"] {
        assert!(matches!(
            btf.struct_type(n),
            Err(TypeError::NotFound { .. })
        ));
    }
}

#[test]
fn btf_is_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<Btf>();
}
