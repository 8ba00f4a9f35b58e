//! The kernel log of a synthetic machine: the records the kernel printed
//! (boot lines, then an oops or a plain panic), and the two printk buffer
//! formats they are stored in, written the way the kernel writes them:
//!
//! - the lockless ring buffer (5.10+, kernel/printk/printk_ringbuffer.c):
//!   descriptor ids start at `DESC0_ID` and data positions at `BLK0_LPOS`
//!   (both overflow soon), `prb_reserve()` pushes the descriptor tail when the
//!   descriptor ring is full and `data_alloc()` pushes the data tail when the
//!   text ring is, a block that does not fit before the end of the text ring
//!   is stored at its start with its id also at the old position
//!   (`get_next_lpos()` before 6.18), the newest record is committed and the
//!   others finalized;
//! - `log_buf` (3.11-5.9, kernel/printk/printk.c `log_store()`): records of
//!   `struct printk_log` padded to `LOG_ALIGN` (4 on x86-64, which has
//!   CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS), the oldest dropped by
//!   `log_make_free_space()`, a zero header marking the wrap.
//!
//! Survivors (what a reader must show) are returned for expected.json.

use super::SynthError;
use super::layouts::{Layouts, release_at_least};
use super::memory::PhysMem;
use super::plan::Plan;
use super::rng::Rng;

/// One printk record as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub ts_nsec: u64,
    pub level: u8,
    pub facility: u8,
    /// A thread id, or `0x80000000 | cpu`.
    pub caller_id: u32,
    pub text: String,
    /// (subsystem, device) of dev_printk() messages.
    pub dev: Option<(&'static str, &'static str)>,
}

/// A record that is still in the buffer, with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub seq: u64,
    pub rec: Rec,
}

/// What the oops text needs from the machine.
#[derive(Debug, Clone)]
pub struct OopsCtx {
    pub fault_va: u64,
    /// "PGD 0 P4D 0 " etc. (with the trailing space the kernel leaves).
    pub walk_line: String,
    pub cpu: u32,
    pub pid: u32,
    pub comm: String,
    pub rip_function: String,
    pub rip_offset: u64,
    pub rip_size: u64,
    pub rsp: u64,
    pub cr3: u64,
    pub gs_base: u64,
}

/// How the log ends.
#[derive(Debug, Clone)]
pub enum Ending {
    Oops(OopsCtx),
    /// A panic without an oops, printed by `pid` (`comm`) on `cpu`.
    Panic {
        message: String,
        cpu: u32,
        pid: u32,
        comm: String,
    },
}

const HARDWARE: &str =
    "QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.3-debian-1.16.3-2 04/01/2014";

/// The boot lines: the first ones as every x86-64 boot prints them, then
/// device and service lines, cycling with varying numbers.
fn boot_line(
    plan: &Plan,
    i: u32,
    r: &mut Rng,
) -> (String, u8, u32, Option<(&'static str, &'static str)>) {
    let rel = &plan.osrelease;
    let mib = plan.ram_bytes >> 20;
    let ncpu = plan.cpus.len();
    let fixed: Vec<(String, u8)> = vec![
        (
            format!(
                "Linux version {rel} (synth@builder) (gcc (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC"
            ),
            5,
        ),
        (
            format!(
                "Command line: BOOT_IMAGE=/boot/vmlinuz-{rel} root=/dev/vda1 ro console=ttyS0,115200 crashkernel=256M"
            ),
            6,
        ),
        ("BIOS-provided physical RAM map:".into(), 6),
        (
            "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable".into(),
            6,
        ),
        (
            format!(
                "BIOS-e820: [mem 0x0000000000100000-0x{:016x}] usable",
                plan.ram_bytes.min(0xc000_0000) - 1
            ),
            6,
        ),
        ("NX (Execute Disable) protection: active".into(), 6),
        (format!("DMI: {HARDWARE}"), 6),
        ("tsc: Detected 2495.312 MHz processor".into(), 6),
        (
            format!(
                "Memory: {}K/{}K available (16384K kernel code, 4096K rwdata)",
                mib * 1000,
                mib * 1024
            ),
            6,
        ),
        (
            format!("SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs={ncpu}, Nodes=1"),
            6,
        ),
        ("rcu: Hierarchical RCU implementation.".into(), 6),
        ("Console: colour VGA+ 80x25".into(), 6),
        ("printk: console [ttyS0] enabled".into(), 6),
        (format!("smp: Brought up 1 node, {ncpu} CPUs"), 6),
        ("devtmpfs: initialized".into(), 6),
        ("PCI: Using configuration type 1 for base access".into(), 6),
        ("clocksource: Switched to clocksource tsc".into(), 6),
        (
            "Freeing unused kernel image (initmem) memory: 2752K".into(),
            6,
        ),
        ("Run /sbin/init as init process".into(), 6),
        ("systemd[1]: Inserted module 'autofs4'".into(), 6),
        (
            "EXT4-fs (vda1): mounted filesystem with ordered data mode. Quota mode: none.".into(),
            6,
        ),
    ];
    let k = i as usize;
    if k < fixed.len() {
        let (t, lvl) = fixed[k].clone();
        let caller = if k < 18 { 0 } else { 1 };
        return (t, lvl, caller, None);
    }
    let n = (k - fixed.len()) as u64;
    match n % 6 {
        0 => (
            format!(
                "nd_pmem namespace{}.0: unable to guarantee persistence of writes",
                n / 6
            ),
            4,
            400 + n as u32,
            Some(("nd", "+nd:namespace0.0")),
        ),
        1 => (
            format!(
                "audit: type=1400 audit({}.{:03}:{}): apparmor=\"STATUS\" operation=\"profile_load\" name=\"/usr/bin/man\" pid={}",
                1_700_000_000 + n,
                r.range(0, 1000),
                n + 2,
                300 + n
            ),
            5,
            300 + n as u32,
            None,
        ),
        2 => (
            format!(
                "virtio_net virtio{} enp0s{}: renamed from eth{}",
                n % 4,
                2 + n % 5,
                n % 3
            ),
            6,
            200 + n as u32,
            Some(("virtio", "+virtio:virtio1")),
        ),
        3 => (
            format!(
                "dax{}.0: dev_dax_probe: {} MiB of device memory",
                n % 3,
                1024 * (1 + n % 4)
            ),
            6,
            1234,
            Some(("dax", "+dax:dax0.0")),
        ),
        4 => (
            format!(
                "systemd-journald[412]: Received client request to flush runtime journal ({n})."
            ),
            6,
            412,
            None,
        ),
        _ => (
            format!(
                "IPv6: ADDRCONF(NETDEV_CHANGE): enp0s{}: link becomes ready",
                2 + n % 5
            ),
            6,
            0x8000_0000 | (n % ncpu.max(1) as u64) as u32,
            None,
        ),
    }
}

/// Every record the kernel printed, oldest first.
pub fn compose(plan: &Plan, boot_lines: u32, empty_line: bool, ending: &Ending) -> Vec<Rec> {
    let mut r = Rng::new(plan.seed ^ 0x9_1e55_a6e5);
    let mut out = Vec::new();
    let mut ts = 0u64;
    for i in 0..boot_lines {
        let (text, level, caller_id, dev) = boot_line(plan, i, &mut r);
        // systemd writes through /dev/kmsg: facility daemon (3).
        let facility = if text.starts_with("systemd") { 3 } else { 0 };
        out.push(Rec {
            ts_nsec: ts,
            level,
            facility,
            caller_id,
            text,
            dev,
        });
        ts += if i < 18 {
            r.range(1_000, 90_000_000)
        } else {
            r.range(100_000_000, 2_000_000_000)
        };
        if empty_line && i + 3 == boot_lines {
            out.push(Rec {
                ts_nsec: ts,
                level: 6,
                facility: 0,
                caller_id: 1,
                text: String::new(),
                dev: None,
            });
            ts += r.range(1_000, 900_000);
        }
    }
    ts += r.range(1_000_000_000, 30_000_000_000);
    let rel = &plan.osrelease;
    let v6_10 = release_at_least(rel, 6, 10);
    let cpu_line = |cpu: u32, pid: u32, comm: &str| {
        if v6_10 {
            format!("CPU: {cpu} UID: 0 PID: {pid} Comm: {comm} Not tainted {rel} #1")
        } else {
            format!("CPU: {cpu} PID: {pid} Comm: {comm} Not tainted {rel} #1")
        }
    };
    let mut lines: Vec<(String, u8, u32)> = Vec::new();
    match ending {
        Ending::Oops(o) => {
            let caller = o.pid;
            let rip = format!(
                "RIP: 0010:{}+{:#x}/{:#x}",
                o.rip_function, o.rip_offset, o.rip_size
            );
            let fa = o.fault_va;
            let mut header = String::new();
            if v6_10 {
                header.push_str("Oops: ");
            }
            header.push_str("Oops: 0000 [#1]");
            if release_at_least(rel, 6, 0) {
                header.push_str(" PREEMPT");
            }
            header.push_str(" SMP");
            header.push_str(if plan.pti { " PTI" } else { " NOPTI" });
            let task_markers = release_at_least(rel, 5, 17);
            lines.push((
                format!("BUG: unable to handle page fault for address: {fa:016x}"),
                1,
                caller,
            ));
            lines.push((
                "#PF: supervisor read access in kernel mode".into(),
                1,
                caller,
            ));
            lines.push((
                "#PF: error_code(0x0000) - not-present page".into(),
                1,
                caller,
            ));
            lines.push((o.walk_line.clone(), 6, caller));
            lines.push((header, 4, caller));
            lines.push((cpu_line(o.cpu, o.pid, &o.comm), 4, caller));
            lines.push((format!("Hardware name: {HARDWARE}"), 4, caller));
            lines.push((rip.clone(), 4, caller));
            lines.push((
                "Code: 48 8b 45 c8 48 89 c7 e8 00 00 00 00 <48> 8b 43 34 48 85 c0 74 0a 48 8b"
                    .into(),
                4,
                caller,
            ));
            lines.push((
                format!("RSP: 0018:{:016x} EFLAGS: 00010246", o.rsp),
                4,
                caller,
            ));
            lines.push((
                format!(
                    "RAX: 0000000000000000 RBX: {:016x} RCX: 0000000000000000",
                    fa & !0xfff
                ),
                4,
                caller,
            ));
            lines.push((
                format!("RDX: 0000000000000001 RSI: 0000000000000000 RDI: {fa:016x}"),
                4,
                caller,
            ));
            lines.push((
                format!(
                    "FS:  00007f3c2a1b4740(0000) GS:{:016x}(0000) knlGS:0000000000000000",
                    o.gs_base
                ),
                4,
                caller,
            ));
            lines.push((
                "CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033".into(),
                4,
                caller,
            ));
            lines.push((
                format!("CR2: {fa:016x} CR3: {:016x} CR4: 00000000003506f0", o.cr3),
                4,
                caller,
            ));
            lines.push(("Call Trace:".into(), 4, caller));
            if task_markers {
                lines.push((" <TASK>".into(), 4, caller));
            }
            for f in [
                " pagemap_range+0x1c1/0x3d0",
                " memremap_pages+0x163/0x2a0",
                " devm_memremap_pages+0x22/0x70",
                " dev_dax_probe+0x10b/0x260 [device_dax]",
            ] {
                lines.push((f.into(), 4, caller));
            }
            if task_markers {
                lines.push((" </TASK>".into(), 4, caller));
            }
            lines.push((
                "Modules linked in: device_dax dax_pmem nd_pmem nd_btt".into(),
                4,
                caller,
            ));
            lines.push((format!("CR2: {fa:016x}"), 4, caller));
            let trace_id = if release_at_least(rel, 5, 18) {
                0
            } else {
                r.next_u64()
            };
            lines.push((format!("---[ end trace {trace_id:016x} ]---"), 4, caller));
            lines.push((rip, 4, caller));
            lines.push((
                "Kernel panic - not syncing: Fatal exception".into(),
                0,
                caller,
            ));
        }
        Ending::Panic {
            message,
            cpu,
            pid,
            comm,
        } => {
            lines.push(("sysrq: Trigger a crash".into(), 6, *pid));
            lines.push((format!("Kernel panic - not syncing: {message}"), 0, *pid));
            lines.push((cpu_line(*cpu, *pid, comm), 4, *pid));
            lines.push((format!("Hardware name: {HARDWARE}"), 4, *pid));
            lines.push(("Call Trace:".into(), 4, *pid));
            for f in [
                " dump_stack_lvl+0x44/0x5c",
                " panic+0x118/0x2e7",
                " sysrq_handle_crash+0x16/0x20",
                " __handle_sysrq.cold+0x43/0x11b",
                " write_sysrq_trigger+0x24/0x40",
            ] {
                lines.push((f.into(), 4, *pid));
            }
        }
    }
    for (text, level, caller_id) in lines {
        out.push(Rec {
            ts_nsec: ts,
            level,
            facility: 0,
            caller_id,
            text,
            dev: None,
        });
        ts += r.range(1_000, 60_000);
    }
    out
}

/// What the kernel's `dump_pagetable()` (arch/x86/mm/fault.c) prints for
/// `va` in the table at `root`: "PGD %lx " then, while present and not a
/// leaf, "P4D %lx " (on 4-level the folded P4D repeats the PGD entry, and
/// `pgd_present()` is always true), "PUD %lx ", "PMD %lx ", "PTE %lx".
pub fn walk_line(mem: &PhysMem, levels: u8, root: u64, va: u64) -> String {
    use super::memory::{ADDR_MASK, P, PSE};
    let entry = |table: u64, shift: u32| mem.read_u64(table + ((va >> shift) & 511) * 8);
    let mut s = String::new();
    let pgd = entry(root, if levels == 5 { 48 } else { 39 });
    s.push_str(&format!("PGD {pgd:x} "));
    let p4d = if levels == 5 {
        if pgd & P == 0 {
            return s;
        }
        entry(pgd & ADDR_MASK, 39)
    } else {
        pgd
    };
    s.push_str(&format!("P4D {p4d:x} "));
    if p4d & P == 0 {
        return s;
    }
    let pud = entry(p4d & ADDR_MASK, 30);
    s.push_str(&format!("PUD {pud:x} "));
    if pud & P == 0 || pud & PSE != 0 {
        return s;
    }
    let pmd = entry(pud & ADDR_MASK, 21);
    s.push_str(&format!("PMD {pmd:x} "));
    if pmd & P == 0 || pmd & PSE != 0 {
        return s;
    }
    let pte = entry(pmd & ADDR_MASK, 12);
    s.push_str(&format!("PTE {pte:x}"));
    s
}

// ---- the lockless ring buffer ----

/// `DESC_FLAGS_SHIFT` (64-bit unsigned long), `DESC_ID_MASK`, states.
const FLAGS_SHIFT: u32 = 62;
const ID_MASK: u64 = !(3u64 << FLAGS_SHIFT);
const COMMITTED: u64 = 1;
const FINALIZED: u64 = 2;
const REUSABLE: u64 = 3;
const FAILED_LPOS: u64 = 1;
const EMPTY_LINE_LPOS: u64 = 3;
/// `LOG_NEWLINE` in `printk_info.flags`.
const LOG_NEWLINE: u8 = 2;

/// Where a ring buffer and its arrays live (runtime VAs).
#[derive(Debug, Clone, Copy)]
pub struct PrbPlace {
    pub rb: u64,
    pub descs: u64,
    pub infos: u64,
    pub data: u64,
    pub count_bits: u32,
    pub size_bits: u32,
}

/// What writing the ring left.
#[derive(Debug, Clone)]
pub struct PrbOutcome {
    pub survivors: Vec<Stored>,
    /// A surviving record's data block wraps around the end of the ring.
    pub wrapping_block: bool,
    /// Records no longer in the buffer.
    pub dropped: u64,
    pub head_id: u64,
    pub tail_id: u64,
}

#[derive(Debug, Clone, Copy)]
struct Desc {
    id: u64,
    state: u64,
    begin: u64,
    next: u64,
    /// Index into the records, None for the bootstrap descriptor.
    rec: Option<usize>,
}

struct PrbOffsets {
    desc_size: u64,
    info_size: u64,
    state_var: u64,
    begin: u64,
    next: u64,
    seq: u64,
    ts_nsec: u64,
    text_len: u64,
    facility: u64,
    flags_level: u64,
    caller_id: u64,
    subsystem: u64,
    device: u64,
}

fn prb_offsets(l: &Layouts) -> Result<PrbOffsets, SynthError> {
    let lpos = l.off("prb_desc", "text_blk_lpos")?;
    let dev = l.off("printk_info", "dev_info")?;
    Ok(PrbOffsets {
        desc_size: l.size("prb_desc")?,
        info_size: l.size("printk_info")?,
        state_var: l.off("prb_desc", "state_var")?,
        begin: lpos + l.off("prb_data_blk_lpos", "begin")?,
        next: lpos + l.off("prb_data_blk_lpos", "next")?,
        seq: l.off("printk_info", "seq")?,
        ts_nsec: l.off("printk_info", "ts_nsec")?,
        text_len: l.off("printk_info", "text_len")?,
        facility: l.off("printk_info", "facility")?,
        flags_level: l.off("printk_info", "level")?,
        caller_id: l.off("printk_info", "caller_id")?,
        subsystem: dev + l.off("dev_printk_info", "subsystem")?,
        device: dev + l.off("dev_printk_info", "device")?,
    })
}

/// Writes the ring buffer header (`struct printk_ringbuffer`) at `p.rb`.
#[allow(clippy::too_many_arguments)]
fn write_rb_header(
    mem: &mut PhysMem,
    pa: &dyn Fn(u64) -> u64,
    l: &Layouts,
    p: &PrbPlace,
    head_id: u64,
    tail_id: u64,
    head_lpos: u64,
    tail_lpos: u64,
) -> Result<(), SynthError> {
    let dr = p.rb + l.off("printk_ringbuffer", "desc_ring")?;
    let tr = p.rb + l.off("printk_ringbuffer", "text_data_ring")?;
    mem.write_u32(pa(dr + l.off("prb_desc_ring", "count_bits")?), p.count_bits);
    mem.write_u64(pa(dr + l.off("prb_desc_ring", "descs")?), p.descs);
    mem.write_u64(pa(dr + l.off("prb_desc_ring", "infos")?), p.infos);
    mem.write_u64(pa(dr + l.off("prb_desc_ring", "head_id")?), head_id);
    mem.write_u64(pa(dr + l.off("prb_desc_ring", "tail_id")?), tail_id);
    if let Ok(o) = l.off("prb_desc_ring", "last_finalized_seq") {
        mem.write_u64(pa(dr + o), 0);
    }
    mem.write_u32(pa(tr + l.off("prb_data_ring", "size_bits")?), p.size_bits);
    mem.write_u64(pa(tr + l.off("prb_data_ring", "data")?), p.data);
    mem.write_u64(pa(tr + l.off("prb_data_ring", "head_lpos")?), head_lpos);
    mem.write_u64(pa(tr + l.off("prb_data_ring", "tail_lpos")?), tail_lpos);
    mem.write_u64(pa(p.rb + l.off("printk_ringbuffer", "fail")?), 0);
    Ok(())
}

/// Stores `recs` in a ring buffer as the kernel would, oldest first, and
/// writes its final state.
pub fn write_prb(
    mem: &mut PhysMem,
    pa: &dyn Fn(u64) -> u64,
    l: &Layouts,
    p: &PrbPlace,
    recs: &[Rec],
) -> Result<PrbOutcome, SynthError> {
    let o = prb_offsets(l)?;
    let count = 1u64 << p.count_bits;
    let size = 1u64 << p.size_bits;
    let wraps = |lpos: u64| lpos >> p.size_bits;
    let index = |lpos: u64| lpos & (size - 1);
    // Bootstrap (_DEFINE_PRINTKRB): the last descriptor is reusable with
    // DESC0_ID, infos[0].seq = -count, head = tail = DESC0_ID, BLK0_LPOS.
    let desc0 = 0u64.wrapping_sub(count + 1) & ID_MASK;
    let mut descs: Vec<Option<Desc>> = vec![None; count as usize];
    descs[(count - 1) as usize] = Some(Desc {
        id: desc0,
        state: REUSABLE,
        begin: FAILED_LPOS,
        next: FAILED_LPOS,
        rec: None,
    });
    let mut head_id = desc0;
    let mut tail_id = desc0;
    let mut head_lpos = size.wrapping_neg();
    let mut tail_lpos = head_lpos;
    // The data ring's bytes (old blocks stay as garbage).
    let mut data = vec![0u8; size as usize];
    // Records with data, oldest first: (begin, next, record index).
    let mut blocks: std::collections::VecDeque<(u64, u64, usize)> = Default::default();
    let mut dropped_recs = std::collections::BTreeSet::new();
    let mut wrapping = std::collections::BTreeSet::new();
    let slot = |id: u64| (id & (count - 1)) as usize;

    for (k, rec) in recs.iter().enumerate() {
        if rec.text.len() > 1024 {
            return Err(SynthError::Plan(
                "a printk record longer than 1024 bytes".into(),
            ));
        }
        // desc_reserve(): the new id's slot is the tail's: push the tail.
        let id = head_id.wrapping_add(1) & ID_MASK;
        if id.wrapping_sub(count) & ID_MASK == tail_id {
            let t = slot(tail_id);
            if let Some(d) = descs[t].as_mut() {
                if d.state != REUSABLE && d.begin & 1 == 0 {
                    // data_push_tail(desc.next): drop every older block too.
                    while let Some(&(b, n, ri)) = blocks.front() {
                        if (d.next.wrapping_sub(n) as i64) < 0 {
                            break;
                        }
                        let _ = b;
                        tail_lpos = n;
                        blocks.pop_front();
                        dropped_recs.insert(ri);
                    }
                }
                d.state = REUSABLE;
                if let Some(ri) = d.rec {
                    dropped_recs.insert(ri);
                }
            }
            tail_id = tail_id.wrapping_add(1) & ID_MASK;
        }
        // data_alloc()
        let text = rec.text.as_bytes();
        let (begin, next) = if text.is_empty() {
            (EMPTY_LINE_LPOS, EMPTY_LINE_LPOS)
        } else {
            let blk = (text.len() as u64 + 8).div_ceil(8) * 8;
            let begin = head_lpos;
            let mut next = begin.wrapping_add(blk);
            if wraps(begin) != wraps(next) {
                next = (next & !(size - 1)).wrapping_add(blk);
            }
            // data_push_tail(next - size): make room.
            let need = next.wrapping_sub(size);
            while (need.wrapping_sub(tail_lpos) as i64) > 0 {
                let Some((_, n, ri)) = blocks.pop_front() else {
                    return Err(SynthError::Plan("text data ring too small".into()));
                };
                tail_lpos = n;
                dropped_recs.insert(ri);
                if let Some(d) = descs.iter_mut().flatten().find(|d| d.rec == Some(ri)) {
                    d.state = REUSABLE;
                }
            }
            let b = index(begin) as usize;
            data[b..b + 8].copy_from_slice(&id.to_le_bytes());
            let at = if wraps(begin) != wraps(next) {
                wrapping.insert(k);
                data[0..8].copy_from_slice(&id.to_le_bytes());
                8
            } else {
                b + 8
            };
            data[at..at + text.len()].copy_from_slice(text);
            head_lpos = next;
            blocks.push_back((begin, next, k));
            (begin, next)
        };
        descs[slot(id)] = Some(Desc {
            id,
            state: FINALIZED,
            begin,
            next,
            rec: Some(k),
        });
        head_id = id;
    }
    // The newest record is committed, not yet finalized.
    if let Some(d) = descs[slot(head_id)].as_mut() {
        if d.rec.is_some() && d.state == FINALIZED {
            d.state = COMMITTED;
        }
    }

    // Write the arrays. Untouched infos keep the bootstrap sequence numbers.
    for (i, d) in descs.iter().enumerate() {
        let dva = p.descs + i as u64 * o.desc_size;
        let iva = p.infos + i as u64 * o.info_size;
        let boot_seq = if i == 0 { count.wrapping_neg() } else { 0 };
        let Some(d) = d else {
            mem.write_u64(pa(iva + o.seq), boot_seq);
            continue;
        };
        mem.write_u64(pa(dva + o.state_var), d.id | (d.state << FLAGS_SHIFT));
        mem.write_u64(pa(dva + o.begin), d.begin);
        mem.write_u64(pa(dva + o.next), d.next);
        let Some(ri) = d.rec else {
            mem.write_u64(pa(iva + o.seq), boot_seq);
            continue;
        };
        let rec = &recs[ri];
        mem.write_u64(pa(iva + o.seq), ri as u64);
        mem.write_u64(pa(iva + o.ts_nsec), rec.ts_nsec);
        mem.write(pa(iva + o.text_len), &(rec.text.len() as u16).to_le_bytes());
        mem.write(pa(iva + o.facility), &[rec.facility]);
        mem.write(pa(iva + o.flags_level), &[LOG_NEWLINE | (rec.level << 5)]);
        mem.write_u32(pa(iva + o.caller_id), rec.caller_id);
        if let Some((sub, dev)) = rec.dev {
            mem.write(pa(iva + o.subsystem), sub.as_bytes());
            mem.write(pa(iva + o.device), dev.as_bytes());
        }
    }
    mem.write(pa(p.data), &data);
    write_rb_header(mem, pa, l, p, head_id, tail_id, head_lpos, tail_lpos)?;

    // Survivors: ids tail..=head whose descriptor is committed/finalized.
    let mut survivors = Vec::new();
    let mut id = tail_id;
    loop {
        if let Some(d) = descs[slot(id)].filter(|d| d.id == id) {
            if let (Some(ri), true) = (d.rec, d.state == COMMITTED || d.state == FINALIZED) {
                survivors.push(Stored {
                    seq: ri as u64,
                    rec: recs[ri].clone(),
                });
            }
        }
        if id == head_id {
            break;
        }
        id = id.wrapping_add(1) & ID_MASK;
    }
    let wrapping_block = survivors
        .iter()
        .any(|s| wrapping.contains(&(s.seq as usize)));
    Ok(PrbOutcome {
        dropped: recs.len() as u64 - survivors.len() as u64,
        survivors,
        wrapping_block,
        head_id,
        tail_id,
    })
}

// ---- log_buf (before 5.10) ----

/// `sizeof(struct printk_log)` with CONFIG_PRINTK_CALLER, packed.
pub const PRINTK_LOG_SIZE: u64 = 20;
/// `LOG_ALIGN` on x86-64.
pub const LOG_ALIGN: u64 = 4;

/// The indexes `log_store()` left.
#[derive(Debug, Clone)]
pub struct LogBufOutcome {
    pub first_idx: u32,
    pub next_idx: u32,
    pub first_seq: u64,
    pub next_seq: u64,
    pub survivors: Vec<Stored>,
    /// A zero-length wrap marker was written.
    pub wrapped: bool,
}

/// The dictionary of a dev_printk() record ("SUBSYSTEM=..\0DEVICE=..").
fn dict_of(rec: &Rec) -> Vec<u8> {
    match rec.dev {
        Some((sub, dev)) => format!("SUBSYSTEM={sub}\0DEVICE={dev}").into_bytes(),
        None => Vec::new(),
    }
}

/// Stores `recs` in a `log_buf` of `len` bytes at `buf` as `log_store()`
/// does; writes the buffer (the caller writes the index variables).
pub fn write_log_buf(
    mem: &mut PhysMem,
    pa: &dyn Fn(u64) -> u64,
    buf: u64,
    len: u64,
    recs: &[Rec],
) -> Result<LogBufOutcome, SynthError> {
    let h = PRINTK_LOG_SIZE;
    let mut b = vec![0u8; len as usize];
    let (mut first_idx, mut next_idx, mut first_seq, mut next_seq) = (0u64, 0u64, 0u64, 0u64);
    let mut wrapped = false;
    let rd16 =
        |b: &[u8], at: u64| u64::from(u16::from_le_bytes([b[at as usize], b[at as usize + 1]]));
    let has_space = |first: u64, next: u64, size: u64, empty: bool| {
        let free = if next > first || empty {
            (len - next).max(first)
        } else {
            first - next
        };
        free >= size + h
    };
    for rec in recs {
        let dict = dict_of(rec);
        let text = rec.text.as_bytes();
        let size = (h + text.len() as u64 + dict.len() as u64).div_ceil(LOG_ALIGN) * LOG_ALIGN;
        // log_make_free_space()
        while first_seq < next_seq && !has_space(first_idx, next_idx, size, false) {
            let l = rd16(&b, first_idx + 8);
            first_idx = if l == 0 { rd16(&b, 8) } else { first_idx + l };
            first_seq += 1;
        }
        if !has_space(first_idx, next_idx, size, first_seq == next_seq) {
            return Err(SynthError::Plan("log_buf too small for a record".into()));
        }
        if next_idx + size + h > len {
            b[next_idx as usize..(next_idx + h) as usize].fill(0);
            next_idx = 0;
            wrapped = true;
        }
        let at = next_idx as usize;
        let mut rec_bytes = vec![0u8; size as usize];
        rec_bytes[0..8].copy_from_slice(&rec.ts_nsec.to_le_bytes());
        rec_bytes[8..10].copy_from_slice(&(size as u16).to_le_bytes());
        rec_bytes[10..12].copy_from_slice(&(text.len() as u16).to_le_bytes());
        rec_bytes[12..14].copy_from_slice(&(dict.len() as u16).to_le_bytes());
        rec_bytes[14] = rec.facility;
        rec_bytes[15] = LOG_NEWLINE | (rec.level << 5);
        rec_bytes[16..20].copy_from_slice(&rec.caller_id.to_le_bytes());
        rec_bytes[20..20 + text.len()].copy_from_slice(text);
        rec_bytes[20 + text.len()..20 + text.len() + dict.len()].copy_from_slice(&dict);
        b[at..at + size as usize].copy_from_slice(&rec_bytes);
        next_idx += size;
        next_seq += 1;
    }
    mem.write(pa(buf), &b);
    let survivors = (first_seq..next_seq)
        .map(|s| Stored {
            seq: s,
            rec: recs[s as usize].clone(),
        })
        .collect();
    Ok(LogBufOutcome {
        first_idx: first_idx as u32,
        next_idx: next_idx as u32,
        first_seq,
        next_seq,
        survivors,
        wrapped,
    })
}

/// The lines `dmesg` prints for the stored records: "[%5lu.%06lu] " before
/// every line of a record (kernel/printk/printk.c `record_print_text()`).
pub fn dmesg_lines(stored: &[Stored]) -> Vec<String> {
    let mut out = Vec::new();
    for s in stored {
        let prefix = format!(
            "[{:5}.{:06}] ",
            s.rec.ts_nsec / 1_000_000_000,
            (s.rec.ts_nsec % 1_000_000_000) / 1000
        );
        for line in s.rec.text.split('\n') {
            out.push(format!("{prefix}{line}"));
        }
    }
    out
}
