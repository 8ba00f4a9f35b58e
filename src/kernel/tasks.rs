//! The task list: `init_task.tasks` links thread-group leaders
//! (kernel/fork.c), each leader's threads hang off its signal struct
//! (6.7+: `signal->thread_head` / `thread_node`) or a ring through
//! `thread_group` (older). Idle tasks of other CPUs are on neither.

use std::cell::RefCell;
use std::collections::HashSet;

use crate::ErrorChain;

use super::list::{MAX_LIST_ENTRIES, walk_list_ahead, walk_list_bounded};
use super::offsets::ThreadLink;
use super::{Kernel, KernelError, ProblemScope, ReadProblem};

/// `PF_KTHREAD` (include/linux/sched.h).
pub(crate) const PF_KTHREAD: u64 = 0x0020_0000;

/// One task as read from the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub addr: u64,
    pub pid: i32,
    pub tgid: i32,
    pub comm: String,
    /// `task->mm`: the mm the task uses (NULL for kernel threads, unless
    /// inside `kthread_use_mm`).
    pub mm: u64,
    /// `task->active_mm`: may be borrowed lazily; not ownership.
    pub active_mm: u64,
    pub flags: u64,
}

impl Task {
    pub(crate) fn is_kthread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
}

/// The result of walking every task: what was read, and what broke.
#[derive(Debug, Clone, Default)]
pub struct TaskWalk {
    pub tasks: Vec<Task>,
    pub problems: Vec<ReadProblem>,
}

/// SLUB's largest slab by default: order 3 (`slub_max_order` defaults to
/// `PAGE_ALLOC_COSTLY_ORDER`, mm/slub.c), naturally aligned. A task_struct
/// (8-10 KiB) shares such a block with two or three others, often its
/// neighbours on the task list.
const SLAB_BLOCK: u64 = 32 << 10;

/// Read-ahead hints for the task walk ([`Kernel::will_need`]; they change
/// no result). Reaching a task hints the slab-sized block around it, once
/// per block, so that with a cold page cache the task's pages, and those of
/// the tasks sharing its slab, are read in one wait instead of one fault per
/// member's page and per task.
struct TaskHints {
    /// What of each task_struct is read ([`Kernel::task_read_span`]).
    span: (u64, u64),
    blocks: RefCell<HashSet<u64>>,
}

impl TaskHints {
    fn new(k: &Kernel<'_>) -> TaskHints {
        TaskHints {
            span: k.task_read_span(),
            blocks: RefCell::new(HashSet::new()),
        }
    }

    fn task(&self, k: &Kernel<'_>, addr: u64) {
        let (start, end) = (
            addr.wrapping_add(self.span.0),
            addr.wrapping_add(self.span.1),
        );
        let first = start & !(SLAB_BLOCK - 1);
        let last = end.saturating_sub(1) & !(SLAB_BLOCK - 1);
        for block in [first, last] {
            if self.blocks.borrow_mut().insert(block) {
                k.will_need(block, SLAB_BLOCK);
            }
        }
    }
}

impl Kernel<'_> {
    /// The part of a task_struct the walk reads, as (start, end) offsets:
    /// from the first to the last member [`Kernel::read_task`] and the
    /// thread walk use.
    fn task_read_span(&self) -> (u64, u64) {
        let o = &self.offsets.task;
        let thread_link = match o.threads {
            ThreadLink::SignalThreadHead {
                task_thread_node, ..
            } => task_thread_node,
            ThreadLink::ThreadGroup { task_thread_group } => task_thread_group,
        };
        let members = [
            (o.tasks, 16),
            (o.pid, 4),
            (o.tgid, 4),
            (o.comm, o.comm_len),
            (o.mm, 8),
            (o.active_mm, 8),
            (o.flags, o.flags_size),
            (o.signal, 8),
            (thread_link, 16),
        ];
        let start = members.iter().map(|&(off, _)| off).min().unwrap_or(0);
        let end = members
            .iter()
            .map(|&(off, len)| off.saturating_add(len))
            .max()
            .unwrap_or(0);
        (start, end)
    }

    /// Reads one task_struct's fields the analysis uses.
    pub(crate) fn read_task(&self, addr: u64) -> Result<Task, KernelError> {
        let o = &self.offsets.task;
        let what = |f: &str| format!("task_struct at {addr:#x}: reading {f}");
        let rd = |off: u64, f: &str| {
            self.read_u64(addr.wrapping_add(off))
                .map_err(|source| KernelError::Read {
                    what: what(f),
                    source,
                })
        };
        let rd32 = |off: u64, f: &str| {
            self.read_u32(addr.wrapping_add(off))
                .map_err(|source| KernelError::Read {
                    what: what(f),
                    source,
                })
        };
        let mut comm = vec![0u8; o.comm_len as usize];
        self.read(addr.wrapping_add(o.comm), &mut comm)
            .map_err(|source| KernelError::Read {
                what: what("comm"),
                source,
            })?;
        let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
        Ok(Task {
            addr,
            pid: rd32(o.pid, "pid")? as i32,
            tgid: rd32(o.tgid, "tgid")? as i32,
            comm: String::from_utf8_lossy(&comm[..end]).into_owned(),
            mm: rd(o.mm, "mm")?,
            active_mm: rd(o.active_mm, "active_mm")?,
            flags: self
                .read_uint(addr.wrapping_add(o.flags), o.flags_size)
                .map_err(|source| KernelError::Read {
                    what: what("flags"),
                    source,
                })?,
        })
    }

    /// Addresses of the threads of the group led by `leader` (leader included
    /// when the list holds it), or the reason the walk broke. `walked` holds
    /// the list heads already walked (a head is walked once, however many
    /// leaders name it) and `budget` the list entries the whole task walk may
    /// still read.
    fn thread_addrs(
        &self,
        leader: u64,
        walked: &mut HashSet<u64>,
        budget: &mut usize,
        problems: &mut Vec<ReadProblem>,
        hints: &TaskHints,
    ) -> Vec<u64> {
        let what = || format!("threads of task {leader:#x}");
        // (list head, offset of the list_head in task_struct, name for errors)
        let (head, node_offset, name) = match self.offsets.task.threads {
            ThreadLink::SignalThreadHead {
                task_thread_node,
                signal_thread_head,
            } => {
                let signal = match self.read_u64(leader.wrapping_add(self.offsets.task.signal)) {
                    Ok(s) if s != 0 => s,
                    Ok(_) => return vec![],
                    Err(e) => {
                        let detail = format!("task->signal unreadable: {}", ErrorChain(&e));
                        problems.push(
                            ReadProblem::new(ProblemScope::Threads, what(), detail)
                                .missing_page(e.missing_paddr()),
                        );
                        return vec![];
                    }
                };
                let name = format!("signal_struct {signal:#x} thread_head");
                (
                    signal.wrapping_add(signal_thread_head),
                    task_thread_node,
                    name,
                )
            }
            // The ring has no separate head: walk it from the leader's node.
            ThreadLink::ThreadGroup { task_thread_group } => (
                leader.wrapping_add(task_thread_group),
                task_thread_group,
                format!("task {leader:#x} thread_group"),
            ),
        };
        if !walked.insert(head) {
            return vec![];
        }
        if *budget == 0 {
            problems.push(ReadProblem::new(
                ProblemScope::Threads,
                what(),
                format!("not walked: the task walk already read {MAX_LIST_ENTRIES} list entries"),
            ));
            return vec![];
        }
        let (nodes, brk) = walk_list_bounded(self, head, &name, *budget, |node| {
            hints.task(self, node.wrapping_sub(node_offset));
        });
        *budget -= nodes.len().min(*budget);
        if let Some(b) = brk {
            problems.push(
                ReadProblem::new(ProblemScope::Threads, what(), b.detail)
                    .missing_page(b.missing_paddr),
            );
        }
        nodes
            .into_iter()
            .map(|n| n.wrapping_sub(node_offset))
            .collect()
    }

    /// Every task reachable from `init_task`: leaders, then their threads.
    pub fn tasks(&self) -> Result<TaskWalk, KernelError> {
        let init_task = self
            .symbols
            .init_task
            .ok_or_else(|| KernelError::MissingSymbol {
                name: "init_task",
                vmlinux: self.debuginfo.name(),
            })?;
        // One budget for the whole walk: no kernel has more than
        // PID_MAX_LIMIT (4 Mi) tasks, and without a shared bound a corrupt
        // dump whose leaders all name one long thread list would cost
        // leaders x threads reads. A leader already met as another group's
        // thread has had its ring walked (thread_group) or names a
        // signal_struct already walked (thread_head): skipped. Each group is
        // read as its leader is reached, while its pages are cached.
        let mut state = GroupWalk {
            walk: TaskWalk::default(),
            budget: MAX_LIST_ENTRIES,
            walked: HashSet::new(),
            seen: HashSet::new(),
        };
        let hints = TaskHints::new(self);
        state.visit_group(self, init_task, &hints);
        let tasks_off = self.offsets.task.tasks;
        let (_, brk) = walk_list_ahead(
            self,
            init_task.wrapping_add(tasks_off),
            "init_task.tasks",
            MAX_LIST_ENTRIES,
            |node| hints.task(self, node.wrapping_sub(tasks_off)),
            |node| {
                state.budget = state.budget.saturating_sub(1);
                state.visit_group(self, node.wrapping_sub(tasks_off), &hints);
            },
        );
        let mut walk = state.walk;
        if let Some(b) = brk {
            walk.problems.push(
                ReadProblem::new(ProblemScope::TaskList, "task list", b.detail)
                    .missing_page(b.missing_paddr),
            );
        }
        Ok(walk)
    }
}

/// The state of one task walk: what was read, the shared list budget, and
/// what was already visited.
struct GroupWalk {
    walk: TaskWalk,
    budget: usize,
    walked: HashSet<u64>,
    seen: HashSet<u64>,
}

impl GroupWalk {
    /// Reads the thread group led by `leader`, unless it was met already.
    fn visit_group(&mut self, k: &Kernel<'_>, leader: u64, hints: &TaskHints) {
        if self.seen.contains(&leader) {
            return;
        }
        let mut group = vec![leader];
        group.extend(k.thread_addrs(
            leader,
            &mut self.walked,
            &mut self.budget,
            &mut self.walk.problems,
            hints,
        ));
        for addr in group {
            if !self.seen.insert(addr) {
                continue;
            }
            match k.read_task(addr) {
                Ok(t) => self.walk.tasks.push(t),
                Err(e) => self.walk.problems.push(
                    ReadProblem::new(
                        ProblemScope::Task,
                        format!("task {addr:#x}"),
                        ErrorChain(&e).to_string(),
                    )
                    .missing_page(e.missing_paddr()),
                ),
            }
        }
    }
}
