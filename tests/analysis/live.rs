//! A running kernel read through `/proc/kcore` (issue 11, part 1): the
//! fixture builder's kcore-shaped file of a scenario gives the same findings
//! (slots, page tables, pids) as the scenario's dump, and a table that
//! changes between the check and the re-check is listed as changed, never
//! as a finding.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use pgsync_dump::analysis::{self, Source, TableStatus, Verdict};
use pgsync_dump::arch::x86_64::VirtAddr;
use pgsync_dump::debuginfo::Vmlinux;
use pgsync_dump::dump::notes::DumpNotes;
use pgsync_dump::dump::{
    self, CrashDump, DumpFormat, PhysAddr, PhysRange, PhysicalMemory, ReadError,
};
use pgsync_dump::kernel::{Kernel, ProblemScope};
use pgsync_synth::scenarios;

use crate::common::analyze_json_file;

/// A scenario's dump, kcore-shaped file and vmlinux in a fresh directory
/// of the test named `test` (tests run in parallel).
fn scenario_files(name: &str, test: &str) -> PathBuf {
    let plan = scenarios()
        .into_iter()
        .find(|p| p.name == name)
        .expect("scenario exists");
    let (built, m) = pgsync_synth::build_with_machine(&plan).expect("builds");
    let dir =
        std::env::temp_dir().join(format!("pgsync-live-{test}-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("vmcore"), &built.vmcore).unwrap();
    std::fs::write(dir.join("vmlinux"), &built.vmlinux).unwrap();
    let kcore = pgsync_synth::kcore::write_kcore(&plan, &m).expect("kcore written");
    std::fs::write(dir.join("kcore"), kcore).unwrap();
    dir
}

#[test]
fn a_kcore_gives_the_dumps_findings_as_a_live_snapshot() {
    for name in [
        "missing-4l",
        "missing-5l",
        "mismatch",
        "kaslr-randomized",
        "healthy-4l",
    ] {
        let dir = scenario_files(name, "a_kcore_give");
        let (dump_code, dump_json, _) = analyze_json_file(&dir, "vmcore", &[]);
        let (live_code, live_json, stderr) = analyze_json_file(&dir, "kcore", &[]);
        assert_eq!(live_code, dump_code, "{name}: exit status; stderr {stderr}");
        assert_eq!(
            live_json["findings"], dump_json["findings"],
            "{name}: findings"
        );
        // A running kernel has no CPU notes, so no CR3: the dump's `cr3`
        // source is the one difference in how tables were found.
        let mut dump_tables = dump_json["page_tables"].clone();
        for t in dump_tables.as_array_mut().unwrap() {
            t["sources"].as_array_mut().unwrap().retain(|s| s != "cr3");
        }
        assert_eq!(live_json["page_tables"], dump_tables, "{name}");
        assert_eq!(live_json["summary"], dump_json["summary"], "{name}");
        assert_eq!(live_json["dump"]["format"], "kcore");
        assert_eq!(dump_json["dump"]["format"], "elf");
        assert_eq!(
            live_json["crash"],
            Value::Null,
            "{name}: no crash read live"
        );
        assert_eq!(
            live_json["live"],
            serde_json::json!({
                "snapshot": true,
                "kernel_release": dump_json["dump"]["osrelease"],
                "changed_while_reading": 0,
                "crash": "not applicable: a running kernel has not crashed",
            }),
            "{name}"
        );
        assert!(
            dump_json.get("live").is_none(),
            "{name}: a dump is not live"
        );
        // Positioned reads (the live path) over the same file: the same memory.
        let by_pread = dump::open_kcore(&dir.join("kcore")).expect("opens");
        let mapped = dump::open(&[dir.join("vmcore")]).expect("opens");
        assert_eq!(by_pread.format(), DumpFormat::Kcore);
        assert!(
            by_pread.cpus().is_empty(),
            "kcore's PRSTATUS is a placeholder"
        );
        assert_eq!(by_pread.vmcoreinfo(), mapped.vmcoreinfo());
        for r in mapped.memory().ranges() {
            let mut a = vec![0u8; (r.end - r.start).min(1 << 20) as usize];
            let mut b = a.clone();
            mapped
                .memory()
                .read(PhysAddr::new(r.start), &mut a)
                .unwrap();
            by_pread
                .memory()
                .read(PhysAddr::new(r.start), &mut b)
                .unwrap();
            assert!(a == b, "{name}: memory at {:#x}", r.start);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn the_table_report_says_live_snapshot_and_the_release() {
    let dir = scenario_files("missing-4l", "the_table_re");
    let r = crate::common::run(&[
        "analyze",
        dir.join("kcore").to_str().unwrap(),
        "--vmlinux",
        dir.join("vmlinux").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.contains("live snapshot of the running kernel 6.1.0-synth-amd64: each difference was read again before being reported; crash: not applicable: a running kernel has not crashed\n"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("\ncrash:"), "{}", r.stdout);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A kcore whose memory changes when the test says so: the `(pa, u64)`
/// writes in `writes` are applied to every read, as a running kernel's
/// memory changes between the check and the re-check.
struct Changing {
    inner: CrashDump,
    writes: Arc<Mutex<Vec<(u64, u64)>>>,
}

impl PhysicalMemory for Changing {
    fn read(&self, addr: PhysAddr, buf: &mut [u8]) -> Result<(), ReadError> {
        self.inner.memory().read(addr, buf)?;
        let start = addr.get();
        for &(pa, value) in self.writes.lock().unwrap().iter() {
            for (i, b) in value.to_le_bytes().iter().enumerate() {
                let at = pa + i as u64;
                if at >= start && at - start < buf.len() as u64 {
                    buf[(at - start) as usize] = *b;
                }
            }
        }
        Ok(())
    }
    fn ranges(&self) -> Vec<PhysRange> {
        self.inner.memory().ranges()
    }
}

#[test]
fn tables_that_change_under_the_reader_are_listed_as_changed_not_as_findings() {
    let dir = scenario_files("missing-4l", "tables_that_");
    let inner = dump::open_kcore(&dir.join("kcore")).expect("opens");
    let mut notes = DumpNotes::default();
    notes.vmcoreinfo = inner.vmcoreinfo().cloned();
    let path = inner.path().to_path_buf();
    let writes = Arc::new(Mutex::new(Vec::new()));
    let d = CrashDump::new(
        path,
        DumpFormat::Kcore,
        None,
        Box::new(Changing {
            inner,
            writes: Arc::clone(&writes),
        }),
        notes,
    );
    let v = Vmlinux::open(&dir.join("vmlinux")).expect("vmlinux");
    let k = Kernel::open(&d, &v).expect("kernel");
    let mut a = analysis::check(&k).expect("check");
    let tables: Vec<u64> = a.findings.iter().map(|f| f.pgd_va.get()).collect();
    assert_eq!(
        tables,
        [
            0xffff888002ec8000,
            0xffff888002ecc000,
            0xffff888002ed4000,
            0xffff888002ed8000
        ]
    );
    // Between the check and the re-check: the first table's slot is synced,
    // the second table's one task (pid 1234) exits (task->mm = NULL).
    let f0 = a.findings[0].clone();
    let f1 = a.findings[1].clone();
    let task = a
        .tasks
        .iter()
        .find(|t| t.pid == 1234)
        .expect("pid 1234")
        .clone();
    assert_eq!(Some(VirtAddr::new(task.mm)), f1.mm);
    assert_eq!(f1.pids, [1234]);
    let task_mm_pa = k
        .pa(VirtAddr::new(task.addr + k.offsets().task.mm))
        .expect("task_struct translates")
        .get();
    writes
        .lock()
        .unwrap()
        .extend([(f0.actual_pa.get(), f0.expected.0), (task_mm_pa, 0)]);
    assert_eq!(analysis::live::recheck(&k, &mut a), 2);
    let left: Vec<(u16, u64, Vec<i32>)> = a
        .findings
        .iter()
        .map(|f| (f.slot.0, f.pgd_va.get(), f.pids.clone()))
        .collect();
    assert_eq!(
        left,
        [
            (469, 0xffff888002ed4000, vec![88]),
            (469, 0xffff888002ed8000, vec![])
        ]
    );
    let changed = changed_tables(&a);
    assert_eq!(
        changed,
        [
            (
                0xffff888002ec8000,
                format!(
                    "changed while reading: slot 469 was 0x0, now {:#x}",
                    f0.expected.0
                )
            ),
            (
                0xffff888002ecc000,
                format!(
                    "changed while reading: no task uses mm {:#x} any more (pids 1234 exited or changed mm)",
                    task.mm
                )
            ),
        ]
    );
    assert_eq!(a.changed_tables(), 2);
    assert_eq!(
        a.verdict(),
        Verdict::MissingSync,
        "two real findings remain"
    );
    // Once the other two change as well, nothing is left to report.
    let (f2, f3) = (a.findings[0].clone(), a.findings[1].clone());
    writes.lock().unwrap().extend([
        (f2.actual_pa.get(), f2.expected.0),
        (f3.actual_pa.get(), 0x1234_5067),
    ]);
    assert_eq!(analysis::live::recheck(&k, &mut a), 2);
    assert!(a.findings.is_empty());
    assert_eq!(a.verdict(), Verdict::Consistent);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A kcore whose `pgd_list` head points into garbage for `bad` reads of
/// it after the first `good` ones, as an entry freed under the walker sends
/// it astray.
struct FreedUnderTheWalk {
    inner: CrashDump,
    head_next_pa: u64,
    good: AtomicUsize,
    bad: AtomicUsize,
}

impl PhysicalMemory for FreedUnderTheWalk {
    fn read(&self, addr: PhysAddr, buf: &mut [u8]) -> Result<(), ReadError> {
        self.inner.memory().read(addr, buf)?;
        let start = addr.get();
        let at = self.head_next_pa;
        if at >= start && at + 8 <= start + buf.len() as u64 {
            let good = self.good.load(Ordering::SeqCst);
            let left = self.bad.load(Ordering::SeqCst);
            if good > 0 {
                self.good.store(good - 1, Ordering::SeqCst);
            } else if left > 0 {
                self.bad.store(left - 1, Ordering::SeqCst);
                // LIST_POISON1: what list_del() leaves in a removed entry.
                let o = (at - start) as usize;
                buf[o..o + 8].copy_from_slice(&0xdead_0000_0000_0100u64.to_le_bytes());
            }
        }
        Ok(())
    }
    fn ranges(&self) -> Vec<PhysRange> {
        self.inner.memory().ranges()
    }
}

/// The tables a live check listed as changed while reading: (pgd, reason).
fn changed_tables(a: &analysis::Analysis) -> Vec<(u64, String)> {
    a.tables
        .iter()
        .filter(|t| t.status == TableStatus::Changed)
        .map(|t| (t.pgd_va.get(), t.reason.clone().unwrap_or_default()))
        .collect()
}

/// The kcore of missing-4l whose pgd_list walk breaks `bad` times after
/// `good` clean walks.
fn freed_under_the_walk(dir: &Path, good: usize, bad: usize) -> (CrashDump, Vmlinux) {
    let v = Vmlinux::open(&dir.join("vmlinux")).expect("vmlinux");
    let inner = dump::open_kcore(&dir.join("kcore")).expect("opens");
    let head_next_pa = {
        let k = Kernel::open(&inner, &v).expect("kernel");
        let head = k.symbols().pgd_list.expect("pgd_list symbol");
        k.pa(VirtAddr::new(head)).expect("translates").get()
    };
    let mut notes = DumpNotes::default();
    notes.vmcoreinfo = inner.vmcoreinfo().cloned();
    let path = inner.path().to_path_buf();
    let mem = FreedUnderTheWalk {
        inner,
        head_next_pa,
        good: AtomicUsize::new(good),
        bad: AtomicUsize::new(bad),
    };
    let d = CrashDump::new(path, DumpFormat::Kcore, None, Box::new(mem), notes);
    (d, v)
}

#[test]
fn a_pgd_list_walk_that_breaks_is_walked_again() {
    let dir = scenario_files("missing-4l", "a_pgd_list_w");
    let pgd_list_problems = |a: &analysis::Analysis| {
        a.problems
            .iter()
            .filter(|p| p.scope == ProblemScope::PgdList)
            .count()
    };
    // Once: the dump check reports the break (exit 3 material); the live
    // check walks again and gets the dump's answer.
    let (d, v) = freed_under_the_walk(&dir, 0, 1);
    let k = Kernel::open(&d, &v).expect("kernel");
    let broken = analysis::check(&k).expect("check");
    assert_eq!(pgd_list_problems(&broken), 1);
    let live = analysis::live::check(&k).expect("check");
    assert_eq!(pgd_list_problems(&live), 0);
    assert_eq!(live.findings.len(), 4);
    assert_eq!(live.verdict(), Verdict::MissingSync);
    assert_eq!(live.changed_tables(), 0);
    // Every walk breaks: the break is reported (the verdict is at risk),
    // and only the tables tasks and CPUs name are found (the fourth is a
    // CPU's lazily loaded mm no task has).
    let (d, v) = freed_under_the_walk(&dir, 0, usize::MAX);
    let k = Kernel::open(&d, &v).expect("kernel");
    let live = analysis::live::check(&k).expect("check");
    assert_eq!(pgd_list_problems(&live), 1);
    let tables: Vec<u64> = live.findings.iter().map(|f| f.pgd_va.get()).collect();
    assert_eq!(
        tables,
        [
            0xffff888002ec8000,
            0xffff888002ecc000,
            0xffff888002ed4000,
            0xffff888002ed8000
        ]
    );
    let lazy = live
        .tables
        .iter()
        .find(|t| t.pgd_va.get() == 0xffff888002ed8000)
        .expect("the lazily loaded mm's table");
    let sources: Vec<Source> = lazy.sources.iter().copied().collect();
    assert_eq!(sources, [Source::CpuLoadedMm]);
    // The walk that found the tables was clean, every later one breaks: the
    // table only pgd_list names (no task) cannot be confirmed: changed.
    let (d, v) = freed_under_the_walk(&dir, 1, usize::MAX);
    let k = Kernel::open(&d, &v).expect("kernel");
    let live = analysis::live::check(&k).expect("check");
    assert_eq!(pgd_list_problems(&live), 0);
    let changed = changed_tables(&live);
    assert_eq!(
        changed,
        [(
            0xffff888002ed8000,
            "changed while reading: pgd_list kept changing: 5 walks broke, so pgd 0x2ed8000 cannot be confirmed".to_string()
        )]
    );
    assert_eq!(live.findings.len(), 3);
    assert_eq!(live.verdict(), Verdict::MissingSync);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn info_and_tasks_read_a_kcore_like_a_dump() {
    let dir = scenario_files("missing-4l", "info_and_tas");
    let vmlinux = dir.join("vmlinux");
    let json = |cmd: &str, file: &str| {
        let r = crate::common::run(&[
            cmd,
            "--format",
            "json",
            dir.join(file).to_str().unwrap(),
            "--vmlinux",
            vmlinux.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{cmd} {file}: {}", r.stderr);
        serde_json::from_str::<Value>(&r.stdout).expect("JSON")
    };
    let (live, dump) = (json("tasks", "kcore"), json("tasks", "vmcore"));
    assert_eq!(live, dump, "the same tasks and page-table statuses");
    let info = json("info", "kcore");
    assert_eq!(info["format"], "kcore", "{info}");
    assert_eq!(info["cpus"], 0, "kcore holds no CPU state");
    std::fs::remove_dir_all(&dir).unwrap();
}
