//! Tasks and mms: where each planned mm and pgd goes, the task_structs
//! (init_task, the planned tasks, the other CPUs' idle tasks) with their
//! tasks and thread-group lists, the signal structs, and the mm_structs.

use std::collections::{BTreeMap, HashMap};

use super::super::SynthError;
use super::super::memory::{PAGE, PhysMem};
use super::super::plan::{Loaded, MmRole};
use super::image::Variables;
use super::{
    Builder, MmAlloc, PF_FORKNOEXEC, PF_IDLE, PF_KTHREAD, PF_NOFREEZE, PF_RANDOMIZE, link_circular,
    write_list,
};

/// The task_structs' runtime addresses.
pub(super) struct Tasks {
    /// Per plan task (same order).
    pub(super) task_va: Vec<u64>,
    /// Per CPU: its idle task (init_task on CPU 0).
    pub(super) idle_va: Vec<u64>,
}

/// One task_struct to write.
struct TaskRecord<'a> {
    va: u64,
    pid: u32,
    tgid: u32,
    comm: &'a str,
    flags: u32,
    mm: u64,
    active_mm: u64,
}

/// Offsets of the task_struct and signal_struct members the builder writes.
struct TaskOffsets {
    tasks: u64,
    pid: u64,
    tgid: u64,
    comm: u64,
    mm: u64,
    active_mm: u64,
    flags: u64,
    signal: u64,
    group_leader: u64,
    thread_node: Option<u64>,
    thread_group: Option<u64>,
    thread_head: Option<u64>,
    nr_threads: u64,
    /// `children`, `sibling`: empty lists, pointing at themselves.
    self_lists: Vec<u64>,
}

impl TaskOffsets {
    fn new(l: &super::Layouts) -> Result<TaskOffsets, SynthError> {
        Ok(TaskOffsets {
            tasks: l.off("task_struct", "tasks")?,
            pid: l.off("task_struct", "pid")?,
            tgid: l.off("task_struct", "tgid")?,
            comm: l.off("task_struct", "comm")?,
            mm: l.off("task_struct", "mm")?,
            active_mm: l.off("task_struct", "active_mm")?,
            flags: l.off("task_struct", "flags")?,
            signal: l.off("task_struct", "signal")?,
            group_leader: l.off("task_struct", "group_leader")?,
            thread_node: l.off("task_struct", "thread_node").ok(),
            thread_group: l.off("task_struct", "thread_group").ok(),
            thread_head: l.off("signal_struct", "thread_head").ok(),
            nr_threads: l.off("signal_struct", "nr_threads")?,
            self_lists: ["children", "sibling"]
                .iter()
                .filter_map(|n| l.off("task_struct", n).ok())
                .collect(),
        })
    }
}

impl<'p> Builder<'p> {
    /// Allocates each planned mm's pgd and mm_struct (contents later);
    /// `poking_mm` points at its mm.
    pub(super) fn allocate_mms(&mut self, v: &Variables) -> Result<Vec<MmAlloc>, SynthError> {
        let plan = self.plan;
        let mut mm_alloc = Vec::new();
        for m in &plan.mms {
            let pgd_pa = self.small.alloc(self.sizes.pgd, self.sizes.pgd)?;
            self.small.alloc(0, PAGE * self.r.range(1, 4))?;
            let mm_va = match m.role {
                MmRole::Efi => self.img.runtime(v.efi_mm.unwrap_or(0)),
                _ => {
                    let a = self.small.alloc_scattered(&mut self.r, self.sizes.mm, 64)?;
                    self.pob + a
                }
            };
            mm_alloc.push(MmAlloc { mm_va, pgd_pa });
        }
        if let (Some(var), Some(i)) = (
            v.poking_mm,
            plan.mms.iter().position(|m| m.role == MmRole::Poking),
        ) {
            self.mem.write_u64(self.img.pa(var), mm_alloc[i].mm_va);
        }
        Ok(mm_alloc)
    }

    /// One object of `size` in the direct map, scattered like a slab.
    fn alloc_object(&mut self, size: u64) -> Result<u64, SynthError> {
        Ok(self.pob + self.small.alloc_scattered(&mut self.r, size, 64)?)
    }

    /// All task_structs and signal structs, the tasks list (init_task,
    /// then leaders in plan order) and the thread groups.
    pub(super) fn tasks(&mut self, v: &Variables, mms: &[MmAlloc]) -> Result<Tasks, SynthError> {
        let plan = self.plan;
        let mut task_va = Vec::new();
        for _ in &plan.tasks {
            task_va.push(self.alloc_object(self.sizes.task)?);
        }
        let mut signal_of: BTreeMap<u32, u64> = BTreeMap::new();
        signal_of.insert(0, self.img.runtime(v.init_signals));
        for t in &plan.tasks {
            if t.pid == t.tgid {
                signal_of.insert(t.tgid, self.alloc_object(self.sizes.signal)?);
            }
        }
        let o = TaskOffsets::new(&self.l)?;
        let all = self.planned_task_records(v, mms, &task_va);
        // Idle tasks of the other CPUs (not on the tasks list).
        let mut idle_va = vec![v.init_task_va];
        for _ in plan.cpus.iter().skip(1) {
            idle_va.push(self.alloc_object(self.sizes.task)?);
        }
        let idle_comms: Vec<String> = (0..plan.cpus.len())
            .map(|i| format!("swapper/{i}"))
            .collect();
        let idle_tasks: Vec<TaskRecord<'_>> = plan
            .cpus
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, c)| TaskRecord {
                va: idle_va[i],
                pid: 0,
                tgid: 0,
                comm: &idle_comms[i],
                flags: PF_KTHREAD | PF_IDLE,
                mm: 0,
                active_mm: match c.loaded {
                    Loaded::InitMm => v.init_mm_va,
                    Loaded::Mm(m) => mms[m].mm_va,
                },
            })
            .collect();
        self.write_task_structs(&o, &all, &idle_tasks, &signal_of);
        self.link_tasks(&o, &all, &signal_of);
        Ok(Tasks { task_va, idle_va })
    }

    /// init_task and the planned tasks, in plan order.
    fn planned_task_records(
        &mut self,
        v: &Variables,
        mms: &[MmAlloc],
        task_va: &[u64],
    ) -> Vec<TaskRecord<'p>> {
        let plan: &'p super::Plan = self.plan;
        let mut all = vec![TaskRecord {
            va: v.init_task_va,
            pid: 0,
            tgid: 0,
            comm: "swapper/0",
            flags: PF_KTHREAD | PF_IDLE,
            mm: 0,
            active_mm: v.init_mm_va,
        }];
        for (t, &va) in plan.tasks.iter().zip(task_va) {
            let flags = if t.kthread {
                PF_KTHREAD | PF_NOFREEZE
            } else {
                (PF_FORKNOEXEC * (self.r.range(0, 2) as u32)) | PF_RANDOMIZE
            };
            let mm = t.mm.map_or(0, |i| mms[i].mm_va);
            let active_mm = if t.mm.is_some() {
                mm
            } else if let Some(b) = t.lazy_mm {
                mms[b].mm_va
            } else {
                v.init_mm_va
            };
            all.push(TaskRecord {
                va,
                pid: t.pid,
                tgid: t.tgid,
                comm: &t.comm,
                flags,
                mm,
                active_mm,
            });
        }
        all
    }

    /// Writes every task_struct; its lists point at themselves until
    /// [`Builder::link_tasks`] links them.
    fn write_task_structs(
        &mut self,
        o: &TaskOffsets,
        all: &[TaskRecord<'_>],
        idle_tasks: &[TaskRecord<'_>],
        signal_of: &BTreeMap<u32, u64>,
    ) {
        // First task of each pid (group leaders), looked up instead of scanned.
        let mut va_of_pid: HashMap<u32, u64> = HashMap::with_capacity(all.len());
        for t in all {
            va_of_pid.entry(t.pid).or_insert(t.va);
        }
        for t in all.iter().chain(idle_tasks.iter()) {
            let pa = self.pa_of(t.va);
            let mem = &mut self.mem;
            mem.write_u32(pa + o.pid, t.pid);
            mem.write_u32(pa + o.tgid, t.tgid);
            let mut comm = [0u8; 16];
            let n = t.comm.len().min(15);
            comm[..n].copy_from_slice(&t.comm.as_bytes()[..n]);
            mem.write(pa + o.comm, &comm);
            mem.write_u32(pa + o.flags, t.flags);
            mem.write_u64(pa + o.mm, t.mm);
            mem.write_u64(pa + o.active_mm, t.active_mm);
            mem.write_u64(
                pa + o.signal,
                *signal_of.get(&t.tgid).unwrap_or(&signal_of[&0]),
            );
            let leader = va_of_pid.get(&t.tgid).copied().unwrap_or(t.va);
            mem.write_u64(pa + o.group_leader, if t.pid == 0 { t.va } else { leader });
            for &off in &o.self_lists {
                write_list(mem, pa + off, t.va + off, t.va + off);
            }
            // Until linked below, thread lists point at themselves.
            for off in [o.thread_node, o.thread_group].into_iter().flatten() {
                write_list(mem, pa + off, t.va + off, t.va + off);
            }
            write_list(mem, pa + o.tasks, t.va + o.tasks, t.va + o.tasks);
        }
    }

    /// The tasks list (init_task, then leaders in plan order) and each
    /// thread group's lists and count.
    fn link_tasks(
        &mut self,
        o: &TaskOffsets,
        all: &[TaskRecord<'_>],
        signal_of: &BTreeMap<u32, u64>,
    ) {
        let plan = self.plan;
        let pa_of = |va: u64| super::direct_pa(plan, va);
        let mem = &mut self.mem;
        let leaders: Vec<(u64, u64)> = all
            .iter()
            .filter(|t| t.pid == t.tgid)
            .map(|t| (pa_of(t.va) + o.tasks, t.va + o.tasks))
            .collect();
        link_circular(mem, &leaders);
        // Each group's members in order, looked up instead of scanned.
        let mut members_of: HashMap<u32, Vec<usize>> = HashMap::new();
        for (k, t) in all.iter().enumerate() {
            members_of.entry(t.tgid).or_default().push(k);
        }
        for (&tgid, &sig_va) in signal_of {
            let members: Vec<&TaskRecord<'_>> = members_of
                .get(&tgid)
                .map_or(&[][..], |v| &v[..])
                .iter()
                .map(|&k| &all[k])
                .collect();
            let sig_pa = pa_of(sig_va);
            mem.write_u32(sig_pa + o.nr_threads, members.len() as u32);
            if let (Some(on), Some(oh)) = (o.thread_node, o.thread_head) {
                let mut nodes = vec![(sig_pa + oh, sig_va + oh)];
                nodes.extend(members.iter().map(|t| (pa_of(t.va) + on, t.va + on)));
                link_circular(mem, &nodes);
            }
            if let Some(og) = o.thread_group {
                let nodes: Vec<(u64, u64)> = members
                    .iter()
                    .map(|t| (pa_of(t.va) + og, t.va + og))
                    .collect();
                link_circular(mem, &nodes);
            }
        }
    }

    /// init_mm's and each planned mm's mm_struct: pgd, users, count (one
    /// more per CPU that has it loaded lazily), owner.
    pub(super) fn mm_structs(
        &mut self,
        v: &Variables,
        mms: &[MmAlloc],
        task_va: &[u64],
    ) -> Result<(), SynthError> {
        let plan = self.plan;
        let o = MmOffsets {
            pgd: self.l.off("mm_struct", "pgd")?,
            users: self.l.off("mm_struct", "mm_users")?,
            count: self.l.off("mm_struct", "mm_count")?,
            map_count: self.l.off("mm_struct", "map_count")?,
            total_vm: self.l.off("mm_struct", "total_vm")?,
            owner: self.l.off("mm_struct", "owner").ok(),
        };
        let init_mm = MmRecord {
            va: v.init_mm_va,
            pgd_va: v.init_pgd_va,
            users: 2,
            count: 1,
            owner: 0,
        };
        self.write_mm(&o, &init_mm);
        // Users and owner (first non-kthread leader) of each mm, in one pass.
        let mut users_of = vec![0u32; plan.mms.len()];
        let mut owner_of: Vec<Option<usize>> = vec![None; plan.mms.len()];
        for (k, t) in plan.tasks.iter().enumerate() {
            if let Some(i) = t.mm {
                users_of[i] += 1;
                if t.pid == t.tgid && !t.kthread && owner_of[i].is_none() {
                    owner_of[i] = Some(k);
                }
            }
        }
        for i in 0..plan.mms.len() {
            let lazies = plan
                .cpus
                .iter()
                .filter(|c| c.loaded == Loaded::Mm(i))
                .count() as u32;
            let mm = MmRecord {
                va: mms[i].mm_va,
                pgd_va: self.pob + mms[i].pgd_pa,
                users: users_of[i],
                count: 1 + lazies,
                owner: owner_of[i].map_or(0, |k| task_va[k]),
            };
            self.write_mm(&o, &mm);
        }
        Ok(())
    }

    fn write_mm(&mut self, o: &MmOffsets, mm: &MmRecord) {
        let pa = self.pa_of(mm.va);
        let (mem, r): (&mut PhysMem, _) = (&mut self.mem, &mut self.r);
        mem.write_u64(pa + o.pgd, mm.pgd_va);
        mem.write_u32(pa + o.users, mm.users);
        mem.write_u32(pa + o.count, mm.count);
        mem.write_u32(pa + o.map_count, r.range(20, 400) as u32);
        mem.write_u64(pa + o.total_vm, r.range(1000, 900_000));
        if let Some(off) = o.owner {
            mem.write_u64(pa + off, mm.owner);
        }
    }
}

/// Offsets of the mm_struct members the builder writes.
struct MmOffsets {
    pgd: u64,
    users: u64,
    count: u64,
    map_count: u64,
    total_vm: u64,
    owner: Option<u64>,
}

/// One mm_struct to write.
struct MmRecord {
    va: u64,
    pgd_va: u64,
    users: u32,
    count: u32,
    owner: u64,
}
