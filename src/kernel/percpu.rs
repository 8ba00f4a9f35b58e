//! Per-CPU state: each CPU's lazily loaded mm (`cpu_tlbstate.loaded_mm`,
//! arch/x86/include/asm/tlbflush.h), its current task, and the CR3 the dump
//! recorded. CPUs are counted by `nr_cpu_ids`, never NR_CPUS.

use super::{Kernel, ProblemScope, ReadProblem};
use crate::ErrorChain;

/// Hard cap on CPUs considered, whatever a corrupted `nr_cpu_ids` says
/// (NR_CPUS is 8192 on Debian).
pub(crate) const MAX_CPUS: u64 = 8192;

/// CR3 bits that are never the page-table address: the PCID (0..11,
/// arch/x86/include/asm/tlbflush.h `build_cr3`). Bit 12 selects the PTI user
/// copy only when PTI is on (the pgd is then an 8 KiB pair); without PTI a pgd
/// may sit at an odd page, so [`user_copy_of`] resolves it against known tables.
const CR3_PCID: u64 = 0xfff;

/// PTI's user copy is the page after the kernel copy (`kernel_to_user_pgdp`,
/// arch/x86/include/asm/pgtable.h).
pub(crate) const PTI_USER_COPY_BIT: u64 = 0x1000;

/// The kernel copy a CR3 value points into: `pa` itself when it is a known
/// table, else `pa` without the PTI bit when that is one.
pub(crate) fn resolve_cr3(pa: u64, is_known: impl Fn(u64) -> bool) -> u64 {
    if !is_known(pa) && pa & PTI_USER_COPY_BIT != 0 && is_known(pa & !PTI_USER_COPY_BIT) {
        pa & !PTI_USER_COPY_BIT
    } else {
        pa
    }
}

/// What is known about one CPU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuState {
    pub cpu: u32,
    /// Base of this CPU's per-CPU area (`__per_cpu_offset[cpu]`).
    pub per_cpu_offset: Option<u64>,
    pub loaded_mm: Option<u64>,
    pub current_task: Option<u64>,
    /// Page-table physical address from the dump's CR3, PCID and SME bits
    /// masked; the PTI bit is resolved by [`resolve_cr3`].
    pub cr3_pa: Option<u64>,
    pub prstatus_pid: Option<u32>,
}

/// All CPUs, and what could not be read.
#[derive(Debug, Clone, Default)]
pub struct CpuWalk {
    pub cpus: Vec<CpuState>,
    pub problems: Vec<ReadProblem>,
}

impl Kernel<'_> {
    /// Number of CPUs: `nr_cpu_ids`, bounded by the `__per_cpu_offset`
    /// array's size and [`MAX_CPUS`]; without the symbols, the dump's notes.
    fn nr_cpus(&self, problems: &mut Vec<ReadProblem>) -> u64 {
        let from_notes = self.dump.cpus.len() as u64;
        let array_len = self.symbols.per_cpu_offset.map_or(MAX_CPUS, |(_, size)| {
            if size == 0 {
                MAX_CPUS
            } else {
                (size / 8).min(MAX_CPUS)
            }
        });
        match self.symbols.nr_cpu_ids.map(|a| self.read_u32(a)) {
            Some(Ok(n)) if u64::from(n) <= array_len && n > 0 => u64::from(n),
            Some(Ok(n)) => {
                problems.push(ReadProblem::new(
                    ProblemScope::Cpu,
                    "nr_cpu_ids",
                    format!("value {n} is outside 1..={array_len}; using the dump's {from_notes} CPU notes"),
                ));
                from_notes.min(array_len)
            }
            Some(Err(e)) => {
                problems.push(
                    ReadProblem::new(ProblemScope::Cpu, "nr_cpu_ids", ErrorChain(&e).to_string())
                        .missing_page(e.missing_paddr()),
                );
                from_notes.min(array_len)
            }
            None => from_notes.min(array_len),
        }
    }

    pub fn cpus(&self) -> CpuWalk {
        let mut walk = CpuWalk::default();
        let n = self.nr_cpus(&mut walk.problems);
        for cpu in 0..n {
            let note = self.dump.cpus.get(cpu as usize);
            let mut st = CpuState {
                cpu: cpu as u32,
                cr3_pa: note
                    .and_then(|c| c.cr3)
                    .map(|cr3| cr3 & !CR3_PCID & !self.xlate.sme_mask),
                prstatus_pid: note.and_then(|c| c.prstatus_pid),
                ..CpuState::default()
            };
            if let Some((array, _)) = self.symbols.per_cpu_offset {
                // The array address is a symbol plus KASLR, both from the
                // inputs: wrap rather than overflow (an unmapped address then
                // reads as an error like any other).
                match self.read_u64(array.wrapping_add(cpu * 8)) {
                    Ok(off) => st.per_cpu_offset = Some(off),
                    Err(e) => walk.problems.push(
                        ReadProblem::new(
                            ProblemScope::Cpu,
                            format!("CPU {cpu} __per_cpu_offset"),
                            ErrorChain(&e).to_string(),
                        )
                        .missing_page(e.missing_paddr()),
                    ),
                }
            }
            if let (Some(base), Some(sym), Some(lm)) = (
                st.per_cpu_offset,
                self.symbols.cpu_tlbstate,
                self.offsets.tlb_loaded_mm,
            ) {
                let va = sym.base.wrapping_add(base).wrapping_add(lm);
                match self.read_u64(va) {
                    Ok(mm) => st.loaded_mm = Some(mm),
                    Err(e) => walk.problems.push(
                        ReadProblem::new(
                            ProblemScope::Cpu,
                            format!("CPU {cpu} cpu_tlbstate.loaded_mm"),
                            ErrorChain(&e).to_string(),
                        )
                        .missing_page(e.missing_paddr()),
                    ),
                }
            }
            if let Some(base) = st.per_cpu_offset {
                let cur = match (
                    self.symbols.pcpu_hot,
                    self.offsets.pcpu_hot_current_task,
                    self.symbols.current_task,
                ) {
                    (Some(sym), Some(off), _) => {
                        Some(sym.base.wrapping_add(base).wrapping_add(off))
                    }
                    (_, _, Some(sym)) => Some(sym.base.wrapping_add(base)),
                    _ => None,
                };
                if let Some(va) = cur {
                    st.current_task = self.read_u64(va).ok();
                }
            }
            walk.cpus.push(st);
        }
        walk
    }
}
