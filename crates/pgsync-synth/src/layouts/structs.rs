//! The structs the page-table analysis reads: `struct page` (and
//! `ptdesc`), `mm_struct`, `signal_struct`, `task_struct`, `tlb_state`.

use super::*;

/// `struct mm_struct`: `pgd`, the counters and `owner` among fillers, most of it in an anonymous struct when the plan says so.
pub(super) fn gen_mm_struct(l: &mut Layouts, r: &mut Rng, plan: &Plan) -> Result<(), SynthError> {
    use Base::*;
    let ul = Ty::Base(ULong);
    let int = Ty::Base(Int);
    let task_p = Ty::ptr(Ty::Struct("task_struct"));
    let lh = Ty::Struct("list_head");
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
    f.extend(fillers(r, &pool, 4, 18));
    r.shuffle(&mut f);
    if plan.mm_pgd_in_anon_struct {
        // Like real kernels: nearly everything in one anonymous struct,
        // then cpu_bitmap.
        let st = l.make_struct(r, None, f, true, 0)?;
        f = vec![
            (None, Ty::Anon(Box::new(st))),
            (Some("cpu_bitmap".into()), Ty::arr(ul.clone(), 1)),
        ];
    }
    let tail = 8 * r.range(0, 6);
    let mm = l.make_struct(r, Some("mm_struct"), f, !plan.mm_pgd_in_anon_struct, tail)?;
    l.structs.push(mm);
    Ok(())
}
/// `struct signal_struct`: `nr_threads` and (unless the plan links threads by `thread_group` only) `thread_head`.
pub(super) fn gen_signal_struct(
    l: &mut Layouts,
    r: &mut Rng,
    plan: &Plan,
) -> Result<(), SynthError> {
    use Base::*;
    let ul = Ty::Base(ULong);
    let int = Ty::Base(Int);
    let uint = Ty::Base(UInt);
    let task_p = Ty::ptr(Ty::Struct("task_struct"));
    let lh = Ty::Struct("list_head");
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
    f.extend(fillers(r, &pool, 3, 14));
    r.shuffle(&mut f);
    let tail = 8 * r.range(0, 10);
    let s = l.make_struct(r, Some("signal_struct"), f, true, tail)?;
    l.structs.push(s);
    Ok(())
}
/// `struct task_struct`: what the reader needs among fillers, some of it inside anonymous structs or unions.
pub(super) fn gen_task_struct(l: &mut Layouts, r: &mut Rng, plan: &Plan) -> Result<(), SynthError> {
    use Base::*;
    let ul = Ty::Base(ULong);
    let int = Ty::Base(Int);
    let uint = Ty::Base(UInt);
    let task_p = Ty::ptr(Ty::Struct("task_struct"));
    let mm_p = Ty::ptr(Ty::Struct("mm_struct"));
    let lh = Ty::Struct("list_head");
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
    f.extend(fillers(r, &pool, 6, 28));
    r.shuffle(&mut f);
    // Some members inside anonymous structs (randomized_struct_fields_start
    // style), sometimes inside a union.
    if r.chance(1, 2) {
        f = wrap_anon(l, r, f, "mm")?;
    }
    if r.chance(1, 2) {
        f = wrap_anon(l, r, f, "pid")?;
    }
    let tail = 64 * r.range(0, 8);
    let t = l.make_struct(r, Some("task_struct"), f, true, tail)?;
    l.structs.push(t);
    Ok(())
}
/// `struct tlb_state`: `loaded_mm` among fillers.
pub(super) fn gen_tlb_state(l: &mut Layouts, r: &mut Rng) -> Result<(), SynthError> {
    use Base::*;
    let ul = Ty::Base(ULong);
    let mm_p = Ty::ptr(Ty::Struct("mm_struct"));
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
    f.extend(fillers(r, &pool, 2, 8));
    r.shuffle(&mut f);
    let tail = 8 * r.range(0, 4);
    let t = l.make_struct(r, Some("tlb_state"), f, true, tail)?;
    l.structs.push(t);
    Ok(())
}

/// struct page: `flags` first, then an anonymous union of anonymous structs
/// (page cache / page table / compound tail), then counters.
pub(super) fn gen_page(
    l: &Layouts,
    r: &mut Rng,
    owner: PgdOwner,
    mm_p: &Ty,
) -> Result<StructDef, SynthError> {
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
pub(super) fn gen_ptdesc(l: &Layouts, r: &mut Rng, mm_p: &Ty) -> Result<StructDef, SynthError> {
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
