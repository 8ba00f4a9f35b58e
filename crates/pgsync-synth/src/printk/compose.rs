//! The records the kernel printed: boot lines, then the oops or panic the
//! plan ends in, with timestamps and callers as the kernel stamps them.

use super::super::layouts::release_at_least;
use super::super::plan::Plan;
use super::super::rng::Rng;
use super::{Ending, OopsCtx, Rec};

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
    let (mut out, mut ts) = boot_records(plan, boot_lines, empty_line, &mut r);
    ts += r.range(1_000_000_000, 30_000_000_000);
    let lines = match ending {
        Ending::Oops(o) => oops_lines(plan, o, &mut r),
        Ending::Panic {
            message,
            cpu,
            pid,
            comm,
        } => panic_lines(plan, message, *cpu, *pid, comm),
    };
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

/// The boot records (an empty one three before the end when asked), and
/// the timestamp after the last.
fn boot_records(plan: &Plan, boot_lines: u32, empty_line: bool, r: &mut Rng) -> (Vec<Rec>, u64) {
    let mut out = Vec::new();
    let mut ts = 0u64;
    for i in 0..boot_lines {
        let (text, level, caller_id, dev) = boot_line(plan, i, r);
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
    (out, ts)
}

/// The "CPU: ... Comm: ..." line (6.10 added the UID).
fn cpu_line(plan: &Plan, cpu: u32, pid: u32, comm: &str) -> String {
    let rel = &plan.osrelease;
    if release_at_least(rel, 6, 10) {
        format!("CPU: {cpu} UID: 0 PID: {pid} Comm: {comm} Not tainted {rel} #1")
    } else {
        format!("CPU: {cpu} PID: {pid} Comm: {comm} Not tainted {rel} #1")
    }
}

/// The oops of a kernel page fault: (text, level, caller) per line, as the
/// plan's kernel version prints them.
fn oops_lines(plan: &Plan, o: &OopsCtx, r: &mut Rng) -> Vec<(String, u8, u32)> {
    let rel = &plan.osrelease;
    let v6_10 = release_at_least(rel, 6, 10);
    let mut lines: Vec<(String, u8, u32)> = Vec::new();
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
    lines.push((cpu_line(plan, o.cpu, o.pid, &o.comm), 4, caller));
    lines.push((format!("Hardware name: {HARDWARE}"), 4, caller));
    lines.push((rip.clone(), 4, caller));
    lines.push((
        "Code: 48 8b 45 c8 48 89 c7 e8 00 00 00 00 <48> 8b 43 34 48 85 c0 74 0a 48 8b".into(),
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
    lines
}

/// A sysrq-triggered panic without an oops, printed by `pid`.
fn panic_lines(
    plan: &Plan,
    message: &str,
    cpu: u32,
    pid: u32,
    comm: &str,
) -> Vec<(String, u8, u32)> {
    let mut lines: Vec<(String, u8, u32)> = Vec::new();
    lines.push(("sysrq: Trigger a crash".into(), 6, pid));
    lines.push((format!("Kernel panic - not syncing: {message}"), 0, pid));
    lines.push((cpu_line(plan, cpu, pid, comm), 4, pid));
    lines.push((format!("Hardware name: {HARDWARE}"), 4, pid));
    lines.push(("Call Trace:".into(), 4, pid));
    for f in [
        " dump_stack_lvl+0x44/0x5c",
        " panic+0x118/0x2e7",
        " sysrq_handle_crash+0x16/0x20",
        " __handle_sysrq.cold+0x43/0x11b",
        " write_sysrq_trigger+0x24/0x40",
    ] {
        lines.push((f.into(), 4, pid));
    }
    lines
}
