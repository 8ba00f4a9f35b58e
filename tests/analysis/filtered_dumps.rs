//! Dumps whose page filter lost kernel objects (issue 12, item 5): the
//! fixture dumps re-read with chosen pages left out, as makedumpfile's
//! `-d 31` leaves out slab pages it misclassifies. Losing thread lists with
//! `pgd_list` complete keeps the verdict (partial attribution); losing a
//! `pgd_list` link or a page table makes it `incomplete`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use pgsync_dump::analysis::lost::{SAFE_DUMP_LEVEL, describe_lost, filter_loss};
use pgsync_dump::analysis::{self, Analysis, Verdict};
use pgsync_dump::arch::x86_64::VirtAddr;
use pgsync_dump::debuginfo::Vmlinux;
use pgsync_dump::dump::notes::DumpNotes;
use pgsync_dump::dump::{self, CrashDump, PhysAddr, PhysRange, PhysicalMemory, ReadError};
use pgsync_dump::kernel::offsets::ThreadLink;
use pgsync_dump::kernel::{Kernel, ProblemScope};

const PAGE: u64 = 4096;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// A dump's memory with some ranges left out, as a page filter would leave
/// out the pages holding them (the synthetic kernels pack unrelated objects
/// into one page, so exactly the object's bytes go).
struct Filtered {
    inner: CrashDump,
    /// Physical (start, end) ranges not in the dump.
    hidden: BTreeSet<(u64, u64)>,
}

impl PhysicalMemory for Filtered {
    fn read(&self, addr: PhysAddr, buf: &mut [u8]) -> Result<(), ReadError> {
        let paddr = addr.get();
        let end = paddr.saturating_add(buf.len() as u64);
        if let Some(&(start, _)) = self
            .hidden
            .iter()
            .find(|&&(start, stop)| start < end && paddr < stop)
        {
            return Err(ReadError::NotInDump {
                paddr: PhysAddr::new(start.max(paddr)),
            });
        }
        self.inner.memory().read(addr, buf)
    }
    fn ranges(&self) -> Vec<PhysRange> {
        self.inner.memory().ranges()
    }
    fn left_out_by_filter(&self, paddr: u64) -> bool {
        self.hidden
            .iter()
            .any(|&(start, stop)| (start..stop).contains(&paddr))
    }
}

/// The fixture's dump with `pick`'s (address, length) ranges left out,
/// recorded as a `dump_level` 31 dump.
fn filtered(name: &str, pick: impl FnOnce(&Kernel<'_>, &Analysis) -> Vec<(u64, u64)>) -> CrashDump {
    let dir = fixture(name);
    let d = dump::open(&[dir.join("vmcore")]).expect("fixture dump");
    let v = Vmlinux::open(&dir.join("vmlinux")).expect("fixture vmlinux");
    let hidden: BTreeSet<(u64, u64)> = {
        let k = Kernel::open(&d, &v).expect("kernel");
        let a = analysis::check(&k).expect("check");
        pick(&k, &a)
            .into_iter()
            .map(|(va, len)| {
                let pa = k.pa(VirtAddr::new(va)).expect("translates").get();
                (pa, pa + len)
            })
            .collect()
    };
    assert!(!hidden.is_empty());
    let mut notes = DumpNotes::default();
    notes.vmcoreinfo = d.vmcoreinfo().cloned();
    notes.cpus = d.cpus().to_vec();
    let (path, format) = (d.path().to_path_buf(), d.format());
    let mem = Filtered { inner: d, hidden };
    CrashDump::new(path, format, Some("zlib"), Box::new(mem), notes).with_dump_level(31)
}

fn check(name: &str, d: &CrashDump) -> Analysis {
    let v = Vmlinux::open(&fixture(name).join("vmlinux")).expect("vmlinux");
    let k = Kernel::open(d, &v).expect("kernel");
    analysis::check(&k).expect("check")
}

/// Where each task's thread list starts: its signal_struct's `thread_head`
/// (6.7+), else its own `thread_group` node (the ring the walk enters).
fn thread_heads(k: &Kernel<'_>, a: &Analysis) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = a
        .tasks
        .iter()
        .filter_map(|t| match k.offsets().task.threads {
            ThreadLink::SignalThreadHead {
                signal_thread_head, ..
            } => k
                .read_u64(t.addr + k.offsets().task.signal)
                .ok()
                .filter(|&s| s != 0)
                .map(|s| (s + signal_thread_head, 16)),
            ThreadLink::ThreadGroup { task_thread_group } => Some((t.addr + task_thread_group, 16)),
            other => panic!("the test does not know the thread linkage {other:?}"),
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[test]
fn lost_thread_lists_keep_the_verdict_and_name_the_filter() {
    let name = "missing-4l";
    let full = {
        let dir = fixture(name);
        let d = dump::open(&[dir.join("vmcore")]).expect("dump");
        check(name, &d)
    };
    assert_eq!(full.verdict(), Verdict::MissingSync);
    assert!(full.problems.is_empty());

    let d = filtered(name, thread_heads);
    let a = check(name, &d);
    // Same page tables, same findings: the verdict stands; only the
    // threads (the `threads` process's 641 and 642) are no longer named.
    assert_eq!(a.verdict(), Verdict::MissingSync);
    let unnamed = |a: &Analysis| {
        a.findings
            .iter()
            .map(|f| {
                let mut f = f.clone();
                f.pids.clear();
                f
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(unnamed(&a), unnamed(&full));
    let pids = |a: &Analysis| {
        a.findings
            .iter()
            .flat_map(|f| f.pids.clone())
            .collect::<BTreeSet<_>>()
    };
    let lost: Vec<i32> = pids(&full).difference(&pids(&a)).copied().collect();
    assert_eq!(lost, vec![641, 642]);
    let pgds = |a: &Analysis| a.tables.iter().map(|t| t.pgd_pa).collect::<Vec<_>>();
    assert_eq!(pgds(&a), pgds(&full));
    // What was lost: thread lists, each because its page is not in the dump.
    assert!(!a.problems.is_empty());
    assert!(
        a.problems
            .iter()
            .all(|p| p.scope == ProblemScope::Threads && p.not_in_dump),
        "{:?}",
        a.problems
    );
    assert!(a.partial_attribution());
    assert!(!a.verdict_at_risk());
    assert_eq!(
        describe_lost(&a),
        format!("{} thread list(s)", a.problems.len())
    );
    let loss = filter_loss(&a, d.dump_level(), d.memory()).expect("the filter is named");
    assert_eq!(loss.dump_level, 31);
    assert_eq!(loss.objects, a.problems.len());
    assert!(
        loss.advice
            .contains(&format!("makedumpfile -d {SAFE_DUMP_LEVEL}"))
    );
}

#[test]
fn lost_thread_lists_of_a_healthy_dump_stay_consistent() {
    let name = "healthy-5l";
    let d = filtered(name, thread_heads);
    let a = check(name, &d);
    assert!(!a.problems.is_empty());
    assert_eq!(a.verdict(), Verdict::Consistent);
    assert_eq!(a.verdict().exit_code(), 0);
    assert!(a.partial_attribution());
}

#[test]
fn a_lost_pgd_list_link_makes_it_incomplete() {
    let name = "healthy-4l";
    // The struct page (vmemmap) of the second pgd on pgd_list: the walk
    // cannot go past it, so later page tables may go unchecked.
    let d = filtered(name, |k, _| {
        let walk = k.pgd_list().expect("pgd_list");
        assert!(walk.entries.len() >= 3);
        vec![(walk.entries[1].page.get() + k.offsets().pgd_list.link, 16)]
    });
    let a = check(name, &d);
    assert_eq!(a.verdict(), Verdict::Incomplete);
    assert!(a.verdict_at_risk());
    assert!(!a.partial_attribution());
    let broken: Vec<_> = a
        .problems
        .iter()
        .filter(|p| p.scope == ProblemScope::PgdList)
        .collect();
    assert_eq!(broken.len(), 1, "{:?}", a.problems);
    assert!(broken[0].not_in_dump);
    assert!(filter_loss(&a, d.dump_level(), d.memory()).is_some_and(|f| f.objects >= 1));
}

#[test]
fn a_lost_page_table_makes_it_incomplete() {
    let name = "healthy-4l";
    let d = filtered(name, |_, a| {
        vec![(
            a.tables
                .iter()
                .find(|t| t.tasks.iter().any(|r| r.pid > 1))
                .expect("a process's table")
                .pgd_va
                .get(),
            PAGE,
        )]
    });
    let a = check(name, &d);
    assert_eq!(a.verdict(), Verdict::Incomplete);
    let unreadable: Vec<_> = a
        .tables
        .iter()
        .filter(|t| t.status == analysis::TableStatus::Unreadable)
        .collect();
    assert_eq!(unreadable.len(), 1);
    assert!(unreadable[0].not_in_dump);
    assert_eq!(
        filter_loss(&a, d.dump_level(), d.memory()).map(|f| f.objects),
        Some(1)
    );
}
