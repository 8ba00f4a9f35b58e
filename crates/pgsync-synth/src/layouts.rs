//! Randomized struct layouts. One description per struct feeds both the
//! DWARF writer (`pgsync_dump::write::dwarf`) and the byte writer ([`super::kernel`]),
//! so the two cannot disagree. Layouts differ from a real kernel's and
//! between fixtures: member order, padding, holes, anonymous structs and
//! unions wrapping members, total sizes.

pub use pgsync_dump::write::dwarf::PRINTK_STRUCTS;
pub use pgsync_dump::write::layout::{Base, Layouts, MemberDef, StructDef, Ty, Typedef};

use super::SynthError;
use super::plan::{LogFormat, PgdOwner, Plan, ThreadLists};
use super::rng::Rng;

/// Randomized layout of structs and unions over [`Layouts`] (the types are
/// pgsync-dump's `write::layout`, shared with `extract`).
trait LayoutGen {
    fn lay(
        &self,
        r: &mut Rng,
        fields: Vec<(Option<String>, Ty)>,
        holes: bool,
    ) -> Result<(Vec<MemberDef>, u64, u64), SynthError>;
    fn make_struct(
        &self,
        r: &mut Rng,
        name: Option<&'static str>,
        fields: Vec<(Option<String>, Ty)>,
        holes: bool,
        tail: u64,
    ) -> Result<StructDef, SynthError>;
    fn make_union(
        &self,
        name: Option<&'static str>,
        fields: Vec<(Option<String>, Ty)>,
    ) -> Result<StructDef, SynthError>;
}

fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

impl LayoutGen for Layouts {
    /// Lays out `fields` in order with natural alignment, sometimes leaving
    /// holes, and returns the members and the end offset.
    fn lay(
        &self,
        r: &mut Rng,
        fields: Vec<(Option<String>, Ty)>,
        holes: bool,
    ) -> Result<(Vec<MemberDef>, u64, u64), SynthError> {
        let mut off = 0u64;
        let mut max_align = 1u64;
        let mut members = Vec::new();
        for (name, ty) in fields {
            let (size, align) = self.size_align_of(&ty)?;
            max_align = max_align.max(align);
            off = align_up(off, align);
            if holes && r.chance(1, 6) {
                off += 8 * r.range(1, 4);
                off = align_up(off, align);
            }
            members.push(MemberDef {
                name,
                offset: off,
                ty,
            });
            off += size;
        }
        Ok((members, off, max_align))
    }

    fn make_struct(
        &self,
        r: &mut Rng,
        name: Option<&'static str>,
        fields: Vec<(Option<String>, Ty)>,
        holes: bool,
        tail: u64,
    ) -> Result<StructDef, SynthError> {
        let (members, end, align) = self.lay(r, fields, holes)?;
        let size = align_up(end, align.max(if name.is_some() { 8 } else { 1 })) + tail;
        Ok(StructDef {
            name,
            is_union: false,
            size,
            members,
        })
    }

    fn make_union(
        &self,
        name: Option<&'static str>,
        fields: Vec<(Option<String>, Ty)>,
    ) -> Result<StructDef, SynthError> {
        let mut size = 0;
        let mut align = 1;
        let mut members = Vec::new();
        for (n, ty) in fields {
            let (s, a) = self.size_align_of(&ty)?;
            size = size.max(s);
            align = align.max(a);
            members.push(MemberDef {
                name: n,
                offset: 0,
                ty,
            });
        }
        Ok(StructDef {
            name,
            is_union: true,
            size: align_up(size, align),
            members,
        })
    }
}

fn named(fields: &[(&str, Ty)]) -> Vec<(Option<String>, Ty)> {
    fields
        .iter()
        .map(|(n, t)| (Some((*n).to_string()), t.clone()))
        .collect()
}

/// Picks `k` fillers from a pool, keeping names unique.
fn fillers(r: &mut Rng, pool: &[(&str, Ty)], lo: u64, hi: u64) -> Vec<(Option<String>, Ty)> {
    let mut idx: Vec<usize> = (0..pool.len()).collect();
    r.shuffle(&mut idx);
    let k = r.range(lo, hi.min(pool.len() as u64 + 1)) as usize;
    idx.into_iter()
        .take(k)
        .map(|i| (Some(pool[i].0.to_string()), pool[i].1.clone()))
        .collect()
}

/// Wraps a random contiguous run of `fields` that contains the field named
/// `must` in an anonymous struct (sometimes nested in an anonymous union
/// with a sibling), as real kernels do.
fn wrap_anon(
    l: &Layouts,
    r: &mut Rng,
    mut fields: Vec<(Option<String>, Ty)>,
    must: &str,
) -> Result<Vec<(Option<String>, Ty)>, SynthError> {
    let Some(pos) = fields.iter().position(|(n, _)| n.as_deref() == Some(must)) else {
        return Ok(fields);
    };
    let start = pos.saturating_sub(r.range(0, 4) as usize);
    let end = (pos + 1 + r.range(0, 4) as usize).min(fields.len());
    let inner: Vec<_> = fields.drain(start..end).collect();
    let st = l.make_struct(r, None, inner, false, 0)?;
    let wrapped = if r.chance(1, 3) {
        // union { struct { ...must... }; unsigned long __alt[k]; }
        let words = st.size.div_ceil(8).max(1);
        let u = l.make_union(
            None,
            vec![
                (None, Ty::Anon(Box::new(st))),
                (
                    Some(format!("__{must}_alt")),
                    Ty::arr(Ty::Base(Base::ULong), words),
                ),
            ],
        )?;
        Ty::Anon(Box::new(u))
    } else {
        Ty::Anon(Box::new(st))
    };
    fields.insert(start, (None, wrapped));
    Ok(fields)
}

/// Builds every layout for a plan from `plan.layout_seed`.
pub fn generate(plan: &Plan) -> Result<Layouts, SynthError> {
    use Base::*;
    let mut r = Rng::new(plan.layout_seed ^ 0x1a70_0075);
    let ul = Ty::Base(ULong);
    let int = Ty::Base(Int);
    let uint = Ty::Base(UInt);
    let task_p = Ty::ptr(Ty::Struct("task_struct"));
    let mm_p = Ty::ptr(Ty::Struct("mm_struct"));
    let lh = Ty::Struct("list_head");

    let mut l = Layouts {
        typedefs: vec![],
        structs: vec![],
        declared: vec!["address_space", "file", "cred"],
    };
    // Typedefs (pgd_t is a struct wrapping pgdval_t, as on x86).
    let pgd_t = StructDef {
        name: None,
        is_union: false,
        size: 8,
        members: vec![MemberDef {
            name: Some("pgd".into()),
            offset: 0,
            ty: Ty::Typedef("pgdval_t"),
        }],
    };
    let atomic_t = StructDef {
        name: None,
        is_union: false,
        size: 4,
        members: vec![MemberDef {
            name: Some("counter".into()),
            offset: 0,
            ty: int.clone(),
        }],
    };
    l.typedefs = vec![
        Typedef {
            name: "pid_t",
            ty: Ty::Typedef("__kernel_pid_t"),
        },
        Typedef {
            name: "__kernel_pid_t",
            ty: int.clone(),
        },
        Typedef {
            name: "pgdval_t",
            ty: ul.clone(),
        },
        Typedef {
            name: "pgd_t",
            ty: Ty::Anon(Box::new(pgd_t)),
        },
        Typedef {
            name: "pgoff_t",
            ty: ul.clone(),
        },
        Typedef {
            name: "atomic_t",
            ty: Ty::Anon(Box::new(atomic_t)),
        },
        Typedef {
            name: "pgtable_t",
            ty: Ty::ptr(Ty::Struct("page")),
        },
        Typedef {
            name: "u16",
            ty: Ty::Base(UShort),
        },
        Typedef {
            name: "u64",
            ty: Ty::Base(ULongLong),
        },
        Typedef {
            name: "bool",
            ty: Ty::Base(Bool),
        },
    ];

    // struct list_head: fixed, as everywhere.
    l.structs.push(StructDef {
        name: Some("list_head"),
        is_union: false,
        size: 16,
        members: vec![
            MemberDef {
                name: Some("next".into()),
                offset: 0,
                ty: Ty::ptr(lh.clone()),
            },
            MemberDef {
                name: Some("prev".into()),
                offset: 8,
                ty: Ty::ptr(lh.clone()),
            },
        ],
    });

    // struct page (+ ptdesc).
    let page_ty = gen_page(&l, &mut r, plan.pgd_owner, &mm_p)?;
    let ptdesc = if plan.pgd_owner == PgdOwner::Ptdesc {
        l.structs.push(page_ty.clone());
        let pd = gen_ptdesc(&l, &mut r, &mm_p)?;
        l.structs.pop();
        Some(pd)
    } else {
        None
    };
    l.structs.push(page_ty);
    if let Some(pd) = ptdesc {
        l.structs.push(pd);
    }

    // struct mm_struct.
    {
        let mut f = named(&[
            ("pgd", Ty::ptr(Ty::Typedef("pgd_t"))),
            ("mm_users", Ty::Typedef("atomic_t")),
            ("mm_count", Ty::Typedef("atomic_t")),
            ("map_count", int.clone()),
            ("total_vm", ul.clone()),
        ]);
        let pool = [
            ("mmap_base", ul.clone()),
            ("task_size", ul.clone()),
            ("pgtables_bytes", ul.clone()),
            ("hiwater_rss", ul.clone()),
            ("locked_vm", ul.clone()),
            ("data_vm", ul.clone()),
            ("exec_vm", ul.clone()),
            ("stack_vm", ul.clone()),
            ("start_code", ul.clone()),
            ("end_code", ul.clone()),
            ("start_brk", ul.clone()),
            ("brk", ul.clone()),
            ("start_stack", ul.clone()),
            ("saved_auxv", Ty::arr(ul.clone(), r.range(20, 50))),
            ("flags", ul.clone()),
            ("context", Ty::arr(ul.clone(), r.range(4, 12))),
            ("mmlist", lh.clone()),
            ("owner", task_p.clone()),
            ("def_flags", ul.clone()),
            ("mm_mt", Ty::arr(ul.clone(), r.range(2, 8))),
            ("exe_file", Ty::ptr(Ty::Struct("file"))),
        ];
        f.extend(fillers(&mut r, &pool, 4, 18));
        r.shuffle(&mut f);
        if plan.mm_pgd_in_anon_struct {
            // Like real kernels: nearly everything in one anonymous struct,
            // then cpu_bitmap.
            let st = l.make_struct(&mut r, None, f, true, 0)?;
            f = vec![
                (None, Ty::Anon(Box::new(st))),
                (Some("cpu_bitmap".into()), Ty::arr(ul.clone(), 1)),
            ];
        }
        let tail = 8 * r.range(0, 6);
        let mm = l.make_struct(
            &mut r,
            Some("mm_struct"),
            f,
            !plan.mm_pgd_in_anon_struct,
            tail,
        )?;
        l.structs.push(mm);
    }

    // struct signal_struct.
    {
        let mut f = named(&[("nr_threads", int.clone())]);
        if plan.thread_link != ThreadLists::ThreadGroup {
            f.push((Some("thread_head".into()), lh.clone()));
        }
        let pool = [
            ("sigcnt", Ty::Typedef("atomic_t")),
            ("live", Ty::Typedef("atomic_t")),
            ("quick_threads", int.clone()),
            ("wait_chldexit", Ty::arr(ul.clone(), 3)),
            ("curr_target", task_p.clone()),
            ("shared_pending", Ty::arr(ul.clone(), 3)),
            ("group_exit_code", int.clone()),
            ("notify_count", int.clone()),
            ("group_stop_count", uint.clone()),
            ("flags", uint.clone()),
            ("leader", int.clone()),
            ("utime", Ty::Typedef("u64")),
            ("stime", Ty::Typedef("u64")),
            ("rlim", Ty::arr(ul.clone(), 2 * r.range(8, 17))),
        ];
        f.extend(fillers(&mut r, &pool, 3, 14));
        r.shuffle(&mut f);
        let tail = 8 * r.range(0, 10);
        let s = l.make_struct(&mut r, Some("signal_struct"), f, true, tail)?;
        l.structs.push(s);
    }

    // struct task_struct.
    {
        let mut f = named(&[
            ("tasks", lh.clone()),
            ("pid", Ty::Typedef("pid_t")),
            ("tgid", Ty::Typedef("pid_t")),
            ("comm", Ty::arr(Ty::Base(Char), 16)),
            ("mm", mm_p.clone()),
            ("active_mm", mm_p.clone()),
            ("flags", uint.clone()),
            ("signal", Ty::ptr(Ty::Struct("signal_struct"))),
            ("group_leader", task_p.clone()),
        ]);
        if plan.thread_link != ThreadLists::ThreadGroup {
            f.push((Some("thread_node".into()), lh.clone()));
        }
        if plan.thread_link != ThreadLists::SignalThreadHead {
            f.push((Some("thread_group".into()), lh.clone()));
        }
        let pool = [
            ("__state", uint.clone()),
            ("stack", Ty::VoidPtr),
            ("usage", Ty::Typedef("atomic_t")),
            ("ptrace", uint.clone()),
            ("on_cpu", int.clone()),
            ("prio", int.clone()),
            ("static_prio", int.clone()),
            ("normal_prio", int.clone()),
            ("rt_priority", uint.clone()),
            ("policy", uint.clone()),
            ("nr_cpus_allowed", int.clone()),
            ("exit_state", int.clone()),
            ("exit_code", int.clone()),
            ("exit_signal", int.clone()),
            ("utime", Ty::Typedef("u64")),
            ("stime", Ty::Typedef("u64")),
            ("start_time", Ty::Typedef("u64")),
            ("real_parent", task_p.clone()),
            ("parent", task_p.clone()),
            ("children", lh.clone()),
            ("sibling", lh.clone()),
            ("nvcsw", ul.clone()),
            ("nivcsw", ul.clone()),
            ("cred", Ty::ptr(Ty::Struct("cred"))),
            ("stack_canary", ul.clone()),
            ("se", Ty::arr(ul.clone(), r.range(20, 60))),
            ("thread", Ty::arr(ul.clone(), r.range(8, 40))),
        ];
        f.extend(fillers(&mut r, &pool, 6, 28));
        r.shuffle(&mut f);
        // Some members inside anonymous structs (randomized_struct_fields_start
        // style), sometimes inside a union.
        if r.chance(1, 2) {
            f = wrap_anon(&l, &mut r, f, "mm")?;
        }
        if r.chance(1, 2) {
            f = wrap_anon(&l, &mut r, f, "pid")?;
        }
        let tail = 64 * r.range(0, 8);
        let t = l.make_struct(&mut r, Some("task_struct"), f, true, tail)?;
        l.structs.push(t);
    }

    // struct tlb_state.
    {
        let mut f = named(&[("loaded_mm", mm_p.clone())]);
        let pool = [
            ("last_user_mm_spec", ul.clone()),
            ("loaded_mm_asid", Ty::Typedef("u16")),
            ("next_asid", Ty::Typedef("u16")),
            ("invalidate_other", Ty::Typedef("bool")),
            ("user_pcid_flush_mask", Ty::Base(UShort)),
            ("cr4", ul.clone()),
            ("ctxs", Ty::arr(ul.clone(), 12)),
        ];
        f.extend(fillers(&mut r, &pool, 2, 8));
        r.shuffle(&mut f);
        let tail = 8 * r.range(0, 4);
        let t = l.make_struct(&mut r, Some("tlb_state"), f, true, tail)?;
        l.structs.push(t);
    }
    // The kernel log's structs, from a generator of their own so that
    // adding them leaves every other layout as it was.
    match plan.log.as_ref().map(|g| g.format) {
        Some(LogFormat::Prb) => gen_prb(&mut l, &mut Rng::new(plan.layout_seed ^ 0x9e1_0b5), plan)?,
        Some(LogFormat::LogBuf) => gen_printk_log(&mut l),
        None => {}
    }
    Ok(l)
}

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
fn gen_prb(l: &mut Layouts, r: &mut Rng, plan: &Plan) -> Result<(), SynthError> {
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
fn gen_printk_log(l: &mut Layouts) {
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

/// `major.minor` of an OSRELEASE string is at least `(maj, min)`.
pub fn release_at_least(release: &str, maj: u32, min: u32) -> bool {
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let a = it.next().unwrap_or(0);
    let b = it.next().unwrap_or(0);
    (a, b) >= (maj, min)
}

/// struct page: `flags` first, then an anonymous union of anonymous structs
/// (page cache / page table / compound tail), then counters.
fn gen_page(l: &Layouts, r: &mut Rng, owner: PgdOwner, mm_p: &Ty) -> Result<StructDef, SynthError> {
    use Base::*;
    let ul = Ty::Base(ULong);
    // Page-cache struct: lru, mapping, index, private in random order.
    let mut a = named(&[
        ("lru", Ty::Struct("list_head")),
        ("mapping", Ty::ptr(Ty::Struct("address_space"))),
        ("index", Ty::Typedef("pgoff_t")),
        ("private", ul.clone()),
    ]);
    r.shuffle(&mut a);
    let a = l.make_struct(r, None, a, false, 0)?;
    let lru = a
        .members
        .iter()
        .find(|m| m.name.as_deref() == Some("lru"))
        .map_or(0, |m| m.offset);
    let index = a
        .members
        .iter()
        .find(|m| m.name.as_deref() == Some("index"))
        .map_or(0, |m| m.offset);
    let mut union_members: Vec<(Option<String>, Ty)> = vec![(None, Ty::Anon(Box::new(a.clone())))];
    if owner == PgdOwner::PagePtMm {
        // pt_mm at an 8-byte slot that is neither lru nor index, so that a
        // reader using the wrong member reads the wrong bytes.
        let cands: Vec<u64> = (0..a.size / 8)
            .map(|i| i * 8)
            .filter(|&o| (o + 8 <= lru || o >= lru + 16) && o != index)
            .collect();
        let pt_mm = *r.pick(&cands);
        let mut b: Vec<(Option<String>, Ty)> = Vec::new();
        let pad_names = [
            "_pt_pad_1",
            "pmd_huge_pte",
            "_pt_pad_2",
            "_pt_pad_3",
            "_pt_pad_4",
            "_pt_pad_5",
        ];
        for name in pad_names.iter().take((pt_mm / 8) as usize) {
            let ty = if *name == "pmd_huge_pte" {
                Ty::Typedef("pgtable_t")
            } else {
                ul.clone()
            };
            b.push((Some(name.to_string()), ty));
        }
        let u = l.make_union(
            None,
            vec![
                (Some("pt_mm".into()), mm_p.clone()),
                (Some("pt_frag_refcount".into()), Ty::Typedef("atomic_t")),
            ],
        )?;
        b.push((None, Ty::Anon(Box::new(u))));
        b.push((Some("ptl".into()), Ty::Base(UInt)));
        union_members.push((
            None,
            Ty::Anon(Box::new(l.make_struct(r, None, b, false, 0)?)),
        ));
    }
    let c = named(&[
        ("compound_head", ul.clone()),
        ("compound_dtor", Ty::Base(UChar)),
        ("compound_order", Ty::Base(UChar)),
    ]);
    union_members.push((
        None,
        Ty::Anon(Box::new(l.make_struct(r, None, c, false, 0)?)),
    ));
    let u = l.make_union(None, union_members)?;
    let mapcount = l.make_union(
        None,
        vec![
            (Some("_mapcount".into()), Ty::Typedef("atomic_t")),
            (Some("page_type".into()), Ty::Base(UInt)),
        ],
    )?;
    let mut tail: Vec<(Option<String>, Ty)> = vec![
        (None, Ty::Anon(Box::new(mapcount))),
        (Some("_refcount".into()), Ty::Typedef("atomic_t")),
    ];
    r.shuffle(&mut tail);
    if r.chance(1, 2) {
        tail.push((Some("memcg_data".into()), ul.clone()));
    }
    if r.chance(1, 3) {
        tail.push((Some("virtual".into()), Ty::VoidPtr));
    }
    let mut f: Vec<(Option<String>, Ty)> =
        vec![(Some("flags".into()), ul), (None, Ty::Anon(Box::new(u)))];
    f.extend(tail);
    let tail = 8 * r.range(0, 3);
    l.make_struct(r, Some("page"), f, false, tail)
}

/// struct ptdesc overlaying struct page (6.5+): pt_list at lru's offset,
/// pt_mm at index's offset, same size.
fn gen_ptdesc(l: &Layouts, r: &mut Rng, mm_p: &Ty) -> Result<StructDef, SynthError> {
    use Base::*;
    let ul = Ty::Base(ULong);
    let page = l.get("page")?;
    let lru = l.off("page", "lru")?;
    let index = l.off("page", "index")?;
    let mapping = l.off("page", "mapping")?;
    let refcount = l.off("page", "_refcount")?;
    let rcu = StructDef {
        name: None,
        is_union: false,
        size: 16,
        members: vec![
            MemberDef {
                name: Some("next".into()),
                offset: 0,
                ty: Ty::VoidPtr,
            },
            MemberDef {
                name: Some("func".into()),
                offset: 8,
                ty: Ty::VoidPtr,
            },
        ],
    };
    let pads = l.make_struct(
        r,
        None,
        named(&[
            ("_pt_pad_1", ul.clone()),
            ("pmd_huge_pte", Ty::Typedef("pgtable_t")),
        ]),
        false,
        0,
    )?;
    let u1 = l.make_union(
        None,
        vec![
            (Some("pt_rcu_head".into()), Ty::Anon(Box::new(rcu))),
            (Some("pt_list".into()), Ty::Struct("list_head")),
            (None, Ty::Anon(Box::new(pads))),
        ],
    )?;
    let u2 = l.make_union(
        None,
        vec![
            (Some("pt_index".into()), Ty::Typedef("pgoff_t")),
            (Some("pt_mm".into()), mm_p.clone()),
            (Some("pt_frag_refcount".into()), Ty::Typedef("atomic_t")),
        ],
    )?;
    let mut placed: Vec<MemberDef> = vec![
        MemberDef {
            name: Some("__page_flags".into()),
            offset: l.off("page", "flags")?,
            ty: ul.clone(),
        },
        MemberDef {
            name: None,
            offset: lru,
            ty: Ty::Anon(Box::new(u1)),
        },
        MemberDef {
            name: Some("__page_mapping".into()),
            offset: mapping,
            ty: ul.clone(),
        },
        MemberDef {
            name: None,
            offset: index,
            ty: Ty::Anon(Box::new(u2)),
        },
        MemberDef {
            name: Some("__page_refcount".into()),
            offset: refcount,
            ty: Ty::Typedef("atomic_t"),
        },
    ];
    placed.sort_by_key(|m| m.offset);
    // Fill 8-byte holes with named pads.
    let mut out = Vec::new();
    let mut cur = 0u64;
    let mut n = 0;
    for m in placed {
        while cur + 8 <= m.offset {
            n += 1;
            out.push(MemberDef {
                name: Some(format!("__ptdesc_pad_{n}")),
                offset: cur,
                ty: ul.clone(),
            });
            cur += 8;
        }
        let (s, _) = l.size_align_of(&m.ty)?;
        cur = m.offset + s;
        out.push(m);
    }
    let _ = UChar;
    Ok(StructDef {
        name: Some("ptdesc"),
        is_union: false,
        size: page.size,
        members: out,
    })
}
