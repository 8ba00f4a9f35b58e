//! Randomized struct layouts. One description per struct feeds both the
//! DWARF writer (`pgsync_dump::write::dwarf`) and the byte writer ([`super::kernel`]),
//! so the two cannot disagree. Layouts differ from a real kernel's and
//! between fixtures: member order, padding, holes, anonymous structs and
//! unions wrapping members, total sizes.

pub use pgsync_dump::write::dwarf::PRINTK_STRUCTS;
pub use pgsync_dump::write::layout::{Base, Layouts, MemberDef, StructDef, Ty, Typedef};

mod printk;
mod structs;

use printk::{gen_prb, gen_printk_log};
use structs::{
    gen_mm_struct, gen_page, gen_ptdesc, gen_signal_struct, gen_task_struct, gen_tlb_state,
};

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
    let mut r = Rng::new(plan.layout_seed ^ 0x1a70_0075);
    let mm_p = Ty::ptr(Ty::Struct("mm_struct"));
    let mut l = Layouts {
        typedefs: base_typedefs(),
        structs: vec![list_head()],
        declared: vec!["address_space", "file", "cred"],
    };
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
    gen_mm_struct(&mut l, &mut r, plan)?;
    gen_signal_struct(&mut l, &mut r, plan)?;
    gen_task_struct(&mut l, &mut r, plan)?;
    gen_tlb_state(&mut l, &mut r)?;
    // The kernel log's structs, from a generator of their own so that
    // adding them leaves every other layout as it was.
    match plan.log.as_ref().map(|g| g.format) {
        Some(LogFormat::Prb) => gen_prb(&mut l, &mut Rng::new(plan.layout_seed ^ 0x9e1_0b5), plan)?,
        Some(LogFormat::LogBuf) => gen_printk_log(&mut l),
        None => {}
    }
    Ok(l)
}

/// The typedefs every layout uses (pgd_t is a struct wrapping pgdval_t, as
/// on x86).
fn base_typedefs() -> Vec<Typedef> {
    use Base::*;
    let ul = Ty::Base(ULong);
    let int = Ty::Base(Int);
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
    vec![
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
    ]
}

/// `struct list_head`: fixed, as everywhere.
fn list_head() -> StructDef {
    let lh = Ty::Struct("list_head");
    StructDef {
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
    }
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
