//! The kernel log's structs: the lockless ring buffer's (5.10+) and
//! `struct printk_log` (3.11-5.9), with the typedefs they use.

use super::*;

fn add_typedef(l: &mut Layouts, name: &'static str, ty: Ty) {
    if !l.typedefs.iter().any(|t| t.name == name) {
        l.typedefs.push(Typedef { name, ty });
    }
}

/// Typedefs the log structs use: `u8`, `u32`, `s64`, and `atomic_long_t`
/// -> `atomic64_t` -> `struct { s64 counter; }` as on x86-64.
fn printk_typedefs(l: &mut Layouts) {
    add_typedef(l, "u8", Ty::Base(Base::UChar));
    add_typedef(l, "u32", Ty::Base(Base::UInt));
    add_typedef(l, "s64", Ty::Base(Base::Long));
    let counter = StructDef {
        name: None,
        is_union: false,
        size: 8,
        members: vec![MemberDef {
            name: Some("counter".into()),
            offset: 0,
            ty: Ty::Typedef("s64"),
        }],
    };
    add_typedef(l, "atomic64_t", Ty::Anon(Box::new(counter)));
    add_typedef(l, "atomic_long_t", Ty::Typedef("atomic64_t"));
}

/// The lockless ring buffer's structs (kernel/printk/printk_ringbuffer.h,
/// 5.10+), members in random order with random holes, except that
/// `printk_info`'s `text_len`, `facility` and the `flags:5`/`level:3` byte
/// stay together as in every kernel (VMCOREINFO exports no offset for
/// facility and level: readers take them from text_len's).
pub(super) fn gen_prb(l: &mut Layouts, r: &mut Rng, plan: &Plan) -> Result<(), SynthError> {
    use Base::*;
    printk_typedefs(l);
    let ul = Ty::Base(ULong);
    let al = Ty::Typedef("atomic_long_t");
    l.structs.push(StructDef {
        name: Some("dev_printk_info"),
        is_union: false,
        size: 64,
        members: vec![
            MemberDef {
                name: Some("subsystem".into()),
                offset: 0,
                ty: Ty::arr(Ty::Base(Char), 16),
            },
            MemberDef {
                name: Some("device".into()),
                offset: 16,
                ty: Ty::arr(Ty::Base(Char), 48),
            },
        ],
    });
    let mut f = named(&[("begin", ul.clone()), ("next", ul.clone())]);
    r.shuffle(&mut f);
    let s = l.make_struct(r, Some("prb_data_blk_lpos"), f, false, 0)?;
    l.structs.push(s);
    let mut f = named(&[
        ("state_var", al.clone()),
        ("text_blk_lpos", Ty::Struct("prb_data_blk_lpos")),
    ]);
    r.shuffle(&mut f);
    let tail = 8 * r.range(0, 2);
    let s = l.make_struct(r, Some("prb_desc"), f, true, tail)?;
    l.structs.push(s);
    // printk_info: laid out by hand around the text_len group.
    {
        let mut items: Vec<&str> = vec!["seq", "ts_nsec", "text_len", "caller_id", "dev_info"];
        r.shuffle(&mut items);
        let mut members = Vec::new();
        let mut off = 0u64;
        for it in items {
            let (align, size) = match it {
                "seq" | "ts_nsec" => (8, 8),
                "text_len" => (2, 4),
                "caller_id" => (4, 4),
                _ => (1, 64),
            };
            off = align_up(off, align);
            if r.chance(1, 5) {
                off = align_up(off + 4 * r.range(1, 3), align);
            }
            match it {
                "seq" | "ts_nsec" => members.push(MemberDef {
                    name: Some(it.into()),
                    offset: off,
                    ty: Ty::Typedef("u64"),
                }),
                "caller_id" => members.push(MemberDef {
                    name: Some(it.into()),
                    offset: off,
                    ty: Ty::Typedef("u32"),
                }),
                "dev_info" => members.push(MemberDef {
                    name: Some(it.into()),
                    offset: off,
                    ty: Ty::Struct("dev_printk_info"),
                }),
                _ => {
                    let u8t = || Box::new(Ty::Typedef("u8"));
                    members.push(MemberDef {
                        name: Some("text_len".into()),
                        offset: off,
                        ty: Ty::Typedef("u16"),
                    });
                    members.push(MemberDef {
                        name: Some("facility".into()),
                        offset: off + 2,
                        ty: Ty::Typedef("u8"),
                    });
                    members.push(MemberDef {
                        name: Some("flags".into()),
                        offset: off + 3,
                        ty: Ty::Bits(u8t(), 0, 5),
                    });
                    members.push(MemberDef {
                        name: Some("level".into()),
                        offset: off + 3,
                        ty: Ty::Bits(u8t(), 5, 3),
                    });
                }
            }
            off += size;
        }
        l.structs.push(StructDef {
            name: Some("printk_info"),
            is_union: false,
            size: align_up(off, 8),
            members,
        });
    }
    let mut f = named(&[
        ("count_bits", Ty::Base(UInt)),
        ("descs", Ty::ptr(Ty::Struct("prb_desc"))),
        ("infos", Ty::ptr(Ty::Struct("printk_info"))),
        ("head_id", al.clone()),
        ("tail_id", al.clone()),
    ]);
    // 6.9+ ("printk: Add this_cpu_in_panic()" series): last_finalized_seq.
    if release_at_least(&plan.osrelease, 6, 9) {
        f.push((Some("last_finalized_seq".into()), al.clone()));
    }
    r.shuffle(&mut f);
    let s = l.make_struct(r, Some("prb_desc_ring"), f, true, 0)?;
    l.structs.push(s);
    let mut f = named(&[
        ("size_bits", Ty::Base(UInt)),
        ("data", Ty::ptr(Ty::Base(Char))),
        ("head_lpos", al.clone()),
        ("tail_lpos", al.clone()),
    ]);
    r.shuffle(&mut f);
    let s = l.make_struct(r, Some("prb_data_ring"), f, true, 0)?;
    l.structs.push(s);
    let mut f = named(&[
        ("desc_ring", Ty::Struct("prb_desc_ring")),
        ("text_data_ring", Ty::Struct("prb_data_ring")),
        ("fail", al),
    ]);
    r.shuffle(&mut f);
    let s = l.make_struct(r, Some("printk_ringbuffer"), f, true, 0)?;
    l.structs.push(s);
    Ok(())
}

/// `struct printk_log` of 3.11-5.9 with CONFIG_PRINTK_CALLER (5.1+),
/// `__packed __aligned(4)` on x86 (CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS):
/// 20 bytes, the kernel's own layout (records are written with it).
pub(super) fn gen_printk_log(l: &mut Layouts) {
    printk_typedefs(l);
    let m = |name: &str, offset: u64, ty: Ty| MemberDef {
        name: Some(name.into()),
        offset,
        ty,
    };
    let u8t = || Box::new(Ty::Typedef("u8"));
    l.structs.push(StructDef {
        name: Some("printk_log"),
        is_union: false,
        size: 20,
        members: vec![
            m("ts_nsec", 0, Ty::Typedef("u64")),
            m("len", 8, Ty::Typedef("u16")),
            m("text_len", 10, Ty::Typedef("u16")),
            m("dict_len", 12, Ty::Typedef("u16")),
            m("facility", 14, Ty::Typedef("u8")),
            m("flags", 15, Ty::Bits(u8t(), 0, 5)),
            m("level", 15, Ty::Bits(u8t(), 5, 3)),
            m("caller_id", 16, Ty::Typedef("u32")),
        ],
    });
}
