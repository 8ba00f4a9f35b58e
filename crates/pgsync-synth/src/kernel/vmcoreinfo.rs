//! The VMCOREINFO note's text: what makedumpfile and crash read first.

use super::super::SynthError;
use super::super::memory::GIB;
use super::super::plan::Plan;
use super::Machine;

pub(super) fn vmcoreinfo(plan: &Plan, m: &Machine) -> Result<String, SynthError> {
    use std::fmt::Write;
    let l = &m.layouts;
    let rt = |name: &str| m.sym(name).map(|s| s.link.wrapping_add(plan.kaslr_offset));
    let stext = rt("_stext").ok_or_else(|| SynthError::Plan("no _stext".into()))?;
    let mut s = String::new();
    let bid: String = m.build_id.iter().map(|b| format!("{b:02x}")).collect();
    let _ = writeln!(s, "OSRELEASE={}", plan.osrelease);
    let _ = writeln!(s, "BUILD-ID={bid}");
    let _ = writeln!(s, "PAGESIZE=4096");
    let _ = writeln!(s, "SYMBOL(swapper_pg_dir)={:x}", m.init_pgd_va);
    let _ = writeln!(s, "SYMBOL(_stext)={stext:x}");
    let _ = writeln!(s, "SIZE(page)={}", l.size("page")?);
    let _ = writeln!(s, "SIZE(list_head)=16");
    let _ = writeln!(s, "OFFSET(page.flags)={}", l.off("page", "flags")?);
    let _ = writeln!(s, "OFFSET(page._refcount)={}", l.off("page", "_refcount")?);
    let _ = writeln!(s, "OFFSET(page.mapping)={}", l.off("page", "mapping")?);
    let _ = writeln!(s, "OFFSET(page.lru)={}", l.off("page", "lru")?);
    let _ = writeln!(s, "OFFSET(list_head.next)=0");
    let _ = writeln!(s, "OFFSET(list_head.prev)=8");
    let _ = writeln!(s, "NUMBER(phys_base)={}", plan.phys_base as i64);
    let _ = writeln!(s, "SYMBOL(init_top_pgt)={:x}", m.init_pgd_va);
    if plan.l5_in_vmcoreinfo {
        let _ = writeln!(
            s,
            "NUMBER(pgtable_l5_enabled)={}",
            u8::from(plan.levels == 5)
        );
    }
    let _ = writeln!(s, "KERNELOFFSET={:x}", plan.kaslr_offset);
    let _ = writeln!(s, "NUMBER(KERNEL_IMAGE_SIZE)={}", GIB);
    let _ = writeln!(s, "NUMBER(sme_mask)=0");
    for (name, va) in &m.dump_debuginfo.vmcoreinfo_symbols {
        let _ = writeln!(s, "SYMBOL({name})={va:x}");
    }
    if let Some(log) = &m.log {
        for line in &log.vmcoreinfo {
            let _ = writeln!(s, "{line}");
        }
    }
    let _ = writeln!(s, "CRASHTIME={}", 1_700_000_000 + plan.seed % 10_000_000);
    Ok(s)
}
