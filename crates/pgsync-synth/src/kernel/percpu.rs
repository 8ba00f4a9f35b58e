//! Per-CPU areas: the `.data..percpu` section's symbols, one area per CPU in
//! the direct map with `__per_cpu_offset` pointing at it, and what each
//! area holds at the crash (loaded mm, current task, CPU number) with the
//! registers the CPU notes carry.

use pgsync_dump::write::elf::{ExecSection, ExecSymbolKind};

use super::super::SynthError;
use super::super::memory::PAGE;
use super::super::plan::{Loaded, NoteStyle, PercpuScheme};
use super::image::{TextSymbols, Variables};
use super::tasks::Tasks;
use super::{Builder, BuiltCpu, MmAlloc, PERCPU_LOAD, PERCPU_SIZE_MAX};

/// Where the per-CPU variables sit in the section and the areas.
pub(super) struct PercpuLayout {
    /// Offsets of `cpu_tlbstate`, `current_task` and `cpu_number`.
    tlb: u64,
    current: u64,
    cpu_number: u64,
    /// Link start and size of the section.
    pub(super) base_link: u64,
    pub(super) size: u64,
    /// Direct-map address of each CPU's area (`gs_base`).
    pub(super) areas: Vec<u64>,
}

impl Builder<'_> {
    /// The section's symbols and one area per CPU, with its offset in
    /// `__per_cpu_offset`.
    pub(super) fn percpu_areas(&mut self, v: &Variables) -> Result<PercpuLayout, SynthError> {
        let plan = self.plan;
        let r = &mut self.r;
        let tlb = (0x1f000 + 0x40 * r.range(0, 64)).min(PERCPU_SIZE_MAX - 0x2000);
        let current = 0x40 * r.range(8, 0x300);
        let cpu_number = current + 0x40 * r.range(1, 8);
        let size = (tlb + self.sizes.tlb).div_ceil(PAGE) * PAGE + PAGE * r.range(0, 4);
        let (base_link, base_runtime) = match plan.percpu {
            PercpuScheme::ZeroBased => (0, 0),
            PercpuScheme::Relative => (PERCPU_LOAD, self.img.runtime(PERCPU_LOAD)),
        };
        let img = &mut self.img;
        use ExecSection::Percpu;
        use ExecSymbolKind::{NoType, Object};
        img.sym("__per_cpu_start", base_link, 0, NoType, Percpu);
        img.sym("__per_cpu_end", base_link + size, 0, NoType, Percpu);
        let tlb_size = self.sizes.tlb;
        img.sym("cpu_tlbstate", base_link + tlb, tlb_size, Object, Percpu);
        img.sym("current_task", base_link + current, 8, Object, Percpu);
        img.sym("cpu_number", base_link + cpu_number, 4, Object, Percpu);
        if plan.percpu == PercpuScheme::ZeroBased {
            img.sym("__per_cpu_load", PERCPU_LOAD, 0, NoType, ExecSection::Data);
        }
        let mut areas = Vec::new();
        for i in 0..plan.cpus.len() {
            let a = self.small.alloc(size.max(0x40000), 0x40000)?;
            areas.push(self.pob + a);
            let off = (self.pob + a).wrapping_sub(base_runtime);
            let slot = self.img.pa(v.per_cpu_offset) + 8 * i as u64;
            self.mem.write_u64(slot, off);
        }
        Ok(PercpuLayout {
            tlb,
            current,
            cpu_number,
            base_link,
            size,
            areas,
        })
    }

    /// Fills each CPU's area and returns what its PRSTATUS (and QEMU) note
    /// says: pid, rip in `__schedule`, rsp, CR3 of the loaded table.
    pub(super) fn cpu_states(
        &mut self,
        v: &Variables,
        pc: &PercpuLayout,
        mms: &[MmAlloc],
        tasks: &Tasks,
        text: &TextSymbols,
    ) -> Result<Vec<BuiltCpu>, SynthError> {
        let plan = self.plan;
        let o_loaded = self.l.off("tlb_state", "loaded_mm")?;
        let pid_va = |pid: u32| -> u64 {
            plan.tasks
                .iter()
                .position(|t| t.pid == pid)
                .map_or(0, |k| tasks.task_va[k])
        };
        let mut cpus = Vec::new();
        for (i, c) in plan.cpus.iter().enumerate() {
            let area_pa = pc.areas[i] - self.pob;
            let (loaded_va, loaded_pgd_pa) = match c.loaded {
                Loaded::InitMm => (v.init_mm_va, v.init_pgd_pa),
                Loaded::Mm(m) => (mms[m].mm_va, mms[m].pgd_pa),
            };
            self.mem.write_u64(area_pa + pc.tlb + o_loaded, loaded_va);
            let cur = c.current.map_or(tasks.idle_va[i], pid_va);
            self.mem.write_u64(area_pa + pc.current, cur);
            self.mem.write_u32(area_pa + pc.cpu_number, i as u32);
            let cr3 = loaded_pgd_pa
                | u64::from(c.pcid & 0xfff)
                | if c.user_cr3 && plan.pti { 1 << 12 } else { 0 };
            let prstatus_pid = match plan.notes {
                NoteStyle::Kdump => c.current.unwrap_or(0),
                NoteStyle::Qemu => i as u32 + 1,
            };
            let schedule = *text.func_addr.get("__schedule").unwrap_or(&text.stext);
            let rip = self.img.runtime(schedule) + 0x10 * self.r.range(1, 8);
            let rsp = self.pob + self.small.alloc(0, 16)? + 0x3f00;
            cpus.push(BuiltCpu {
                prstatus_pid,
                rip,
                rsp,
                cr3,
            });
        }
        Ok(cpus)
    }
}
