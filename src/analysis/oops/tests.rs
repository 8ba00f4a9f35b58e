//! The whole parser on real-looking logs, through its public entry points.

use super::*;

fn records(text: &str) -> Vec<LogLine> {
    text.lines()
        .enumerate()
        .map(|(i, t)| LogLine {
            seq: 100 + i as u64,
            ts_nsec: 1_000 * i as u64,
            text: t.to_string(),
        })
        .collect()
}

const OOPS_4LEVEL_6_1: &str = "\
[   41.102030] nd_pmem namespace0.0: unable to guarantee persistence of writes
[   41.210000] BUG: unable to handle page fault for address: ffffeb0000000034
[   41.210010] #PF: supervisor read access in kernel mode
[   41.210015] #PF: error_code(0x0000) - not-present page
[   41.210020] PGD 0 P4D 0 
[   41.210025] Oops: 0000 [#1] PREEMPT SMP PTI
[   41.210030] CPU: 3 PID: 1234 Comm: ndctl Not tainted 6.1.0-18-amd64 #1  Debian 6.1.76-1
[   41.210035] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   41.210040] RIP: 0010:memmap_init_zone_device+0x1a4/0x2c0
[   41.210045] Code: 48 8b 45 c8 48 89 c7 e8 00 00 00 00 <48> 8b 43 34 48 85 c0
[   41.210050] RSP: 0018:ffffc90000a1bc88 EFLAGS: 00010246
[   41.210055] RAX: 0000000000000000 RBX: ffffeb0000000000 RCX: 0000000000000000
[   41.210060] FS:  00007f3c2a1b4740(0000) GS:ffff88813bd80000(0000) knlGS:0000000000000000
[   41.210065] CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
[   41.210070] CR2: ffffeb0000000034 CR3: 000000010f20a000 CR4: 00000000003506e0
[   41.210075] Call Trace:
[   41.210080]  <TASK>
[   41.210085]  ? __die+0x23/0x70
[   41.210090]  pagemap_range+0x1c1/0x3d0
[   41.210095]  memremap_pages+0x163/0x2a0 [dax]
[   41.210100]  RIP: 0033:0x7f3c2a2c7b1b
[   41.210105]  </TASK>
[   41.210110] Modules linked in: dax_pmem nd_pmem nd_btt
[   41.210115] CR2: ffffeb0000000034
[   41.210120] ---[ end trace 0000000000000000 ]---
[   41.210125] RIP: 0010:memmap_init_zone_device+0x1a4/0x2c0
[   41.210130] Kernel panic - not syncing: Fatal exception
";

#[test]
fn four_level_6_1() {
    let o = parse_last_oops(&records(OOPS_4LEVEL_6_1)).expect("an oops");
    assert_eq!(o.oops_count, 1);
    assert_eq!(o.start_seq, 101);
    assert_eq!(
        o.fault,
        Some(FaultLine {
            kind: FaultKind::PageFault,
            address: Some(0xffff_eb00_0000_0034),
            legacy_wording: false
        })
    );
    assert_eq!(o.fault_address(), Some(0xffff_eb00_0000_0034));
    assert_eq!(
        o.pf_access,
        Some(PfAccess {
            privilege: Some(PfPrivilege::Supervisor),
            access: Some(PfAccessKind::Read),
            mode: Some(CpuMode::Kernel)
        })
    );
    assert_eq!(
        o.pf_error,
        Some(PfErrorCode {
            code: Some(0),
            reason: Some("not-present page".into())
        })
    );
    let walk = o.walk.expect("walk line");
    assert_eq!(
        walk.entries,
        vec![
            OopsWalkEntry {
                level: Level::Pgd,
                value: 0
            },
            OopsWalkEntry {
                level: Level::P4d,
                value: 0
            }
        ]
    );
    assert!(!walk.bad);
    assert_eq!(walk.not_present_level(), Some(Level::Pgd));
    assert_eq!(walk.paging_levels_hint(), Some(4));
    let h = o.header.expect("header");
    assert_eq!(h.label, "Oops");
    assert_eq!(h.error_code, Some(0));
    assert_eq!(h.die_counter, Some(1));
    assert_eq!(h.flags, vec!["PREEMPT", "SMP", "PTI"]);
    let t = o.task.expect("task line");
    assert_eq!((t.cpu, t.uid, t.pid), (Some(3), None, Some(1234)));
    assert_eq!(t.comm.as_deref(), Some("ndctl"));
    assert_eq!(t.tainted, Some(false));
    assert_eq!(t.release.as_deref(), Some("6.1.0-18-amd64"));
    let rip = o.rip.expect("rip");
    assert_eq!(rip.cs, Some(0x10));
    assert_eq!(rip.symbol.as_deref(), Some("memmap_init_zone_device"));
    assert_eq!((rip.offset, rip.size), (Some(0x1a4), Some(0x2c0)));
    assert_eq!(rip.module, None);
    assert_eq!(o.cr2, Some(0xffff_eb00_0000_0034));
    assert_eq!(o.cr3, Some(0x1_0f20_a000));
    assert_eq!(o.panic.as_deref(), Some("Fatal exception"));
}

const OOPS_5LEVEL_6_12: &str = "\
<1>[  102.334455] BUG: unable to handle page fault for address: ffd6000000000034
<1>[  102.334460] #PF: supervisor write access in kernel mode
<1>[  102.334462] #PF: error_code(0x0002) - not-present page
<6>[  102.334470] PGD 0 
<4>[  102.334480] Oops: Oops: 0002 [#1] PREEMPT SMP NOPTI
<4>[  102.334490] CPU: 7 UID: 0 PID: 4321 Comm: daxctl Tainted: G        W  OE      6.12.0-rc3+ #12
<4>[  102.334495] Tainted: [W]=WARN, [O]=OOT_MODULE, [E]=UNSIGNED_MODULE
<4>[  102.334500] RIP: 0010:vmemmap_populate_compound_pages+0x2b/0x190 [pgsync_test]
<4>[  102.334600] CR2: ffd6000000000034 CR3: 000000011a2b3000 CR4: 0000000000350ef0
";

#[test]
fn five_level_6_12() {
    let o = parse_last_oops_text(OOPS_5LEVEL_6_12).expect("an oops");
    assert_eq!(o.oops_count, 1);
    assert_eq!(o.start_seq, 0);
    assert_eq!(o.start_ts_nsec, 102_334_455_000);
    assert_eq!(o.fault_address(), Some(0xffd6_0000_0000_0034));
    assert_eq!(
        o.pf_access.and_then(|a| a.access),
        Some(PfAccessKind::Write)
    );
    assert_eq!(o.pf_error.as_ref().and_then(|e| e.code), Some(2));
    let walk = o.walk.expect("walk");
    assert_eq!(
        walk.entries,
        vec![OopsWalkEntry {
            level: Level::Pgd,
            value: 0
        }]
    );
    assert_eq!(walk.not_present_level(), Some(Level::Pgd));
    assert_eq!(walk.paging_levels_hint(), None);
    let h = o.header.expect("header");
    assert_eq!(h.label, "Oops");
    assert_eq!(h.error_code, Some(2));
    assert_eq!(h.flags, vec!["PREEMPT", "SMP", "NOPTI"]);
    let t = o.task.expect("task");
    assert_eq!((t.cpu, t.uid, t.pid), (Some(7), Some(0), Some(4321)));
    assert_eq!(t.comm.as_deref(), Some("daxctl"));
    assert_eq!(t.tainted, Some(true));
    assert_eq!(t.taint_flags.as_deref(), Some("G W OE"));
    assert_eq!(t.release.as_deref(), Some("6.12.0-rc3+"));
    let rip = o.rip.expect("rip");
    assert_eq!(
        rip.symbol.as_deref(),
        Some("vmemmap_populate_compound_pages")
    );
    assert_eq!(rip.module.as_deref(), Some("pgsync_test"));
    assert_eq!(o.cr3, Some(0x1_1a2b_3000));
}

#[test]
fn partial_walk_comm_with_spaces_and_kdump() {
    let text = "\
Mar 10 12:00:00 host kernel: BUG: unable to handle page fault for address: ffffc90000123000
Mar 10 12:00:00 host kernel: #PF: supervisor instruction fetch in kernel mode
Mar 10 12:00:00 host kernel: PGD 10f067 P4D 10f067 PUD 10e067 PMD 0 
Mar 10 12:00:00 host kernel: Oops: 0010 [#1] SMP
Mar 10 12:00:00 host kernel: CPU: 0 PID: 77 Comm: Web Content Kdump: loaded Not tainted 5.15.0-91-generic #101-Ubuntu
";
    let o = parse_last_oops_text(text).expect("an oops");
    let w = o.walk.expect("walk");
    assert_eq!(w.entries.len(), 4);
    assert_eq!(
        w.entries[2],
        OopsWalkEntry {
            level: Level::Pud,
            value: 0x10e067
        }
    );
    assert_eq!(w.not_present_level(), Some(Level::Pmd));
    assert_eq!(w.paging_levels_hint(), Some(4));
    assert_eq!(
        o.pf_access.and_then(|a| a.access),
        Some(PfAccessKind::InstructionFetch)
    );
    let t = o.task.expect("task");
    assert_eq!(t.comm.as_deref(), Some("Web Content"));
    assert!(t.kdump_loaded);
    assert_eq!(t.release.as_deref(), Some("5.15.0-91-generic"));
    assert_eq!(o.rip, None);
    assert_eq!(o.header.and_then(|h| h.error_code), Some(0x10));
}

#[test]
fn legacy_wording_and_ip_line() {
    let text = "\
[    3.100000] BUG: unable to handle kernel paging request at ffffea0000000034
[    3.100001] IP: memmap_init_zone+0x5a/0x110
[    3.100002] PGD 0 P4D 0 
[    3.100003] Oops: 0000 [#1] SMP PTI
[    3.100004] CPU: 0 PID: 1 Comm: swapper/0 Not tainted 4.15.0 #1
[    3.100005] RIP: 0010:memmap_init_zone+0x5a/0x110
";
    let o = parse_last_oops_text(text).expect("an oops");
    let f = o.fault.expect("fault");
    assert!(f.legacy_wording);
    assert_eq!(f.kind, FaultKind::PageFault);
    assert_eq!(f.address, Some(0xffff_ea00_0000_0034));
    assert_eq!(
        o.rip.and_then(|r| r.symbol).as_deref(),
        Some("memmap_init_zone")
    );
    assert_eq!(o.task.and_then(|t| t.comm).as_deref(), Some("swapper/0"));

    let older = "\
BUG: unable to handle kernel NULL pointer dereference at 0000000000000008
IP: [<ffffffff81234567>] foo_probe+0x12/0x30 [foo]
PGD 0 
Oops: 0000 [#1] SMP
CPU: 1 PID: 300 Comm: modprobe Not tainted 4.9.0-8-amd64 #1
";
    let o = parse_last_oops_text(older).expect("an oops");
    assert_eq!(
        o.fault.map(|f| f.kind),
        Some(FaultKind::NullPointerDereference)
    );
    assert_eq!(o.fault_address(), Some(8));
    let ip = o.rip.expect("IP line");
    assert_eq!(ip.cs, None);
    assert_eq!(ip.address, Some(0xffff_ffff_8123_4567));
    assert_eq!(ip.symbol.as_deref(), Some("foo_probe"));
    assert_eq!(ip.module.as_deref(), Some("foo"));
}

#[test]
fn null_pointer_new_wording_and_old_rip() {
    let text = "\
BUG: kernel NULL pointer dereference, address: 0000000000000010
#PF: supervisor read access in kernel mode
#PF: error_code(0x0000) - not-present page
PGD 0 P4D 0 
Oops: 0000 [#1] SMP NOPTI
RIP: 0010:[<ffffffff81234567>]  [<ffffffff81234567>] bar+0x3/0x9
";
    let o = parse_last_oops_text(text).expect("an oops");
    assert_eq!(
        o.fault.map(|f| f.kind),
        Some(FaultKind::NullPointerDereference)
    );
    assert_eq!(o.fault_address(), Some(0x10));
    let rip = o.rip.expect("rip");
    assert_eq!(rip.address, Some(0xffff_ffff_8123_4567));
    assert_eq!(rip.symbol.as_deref(), Some("bar"));
}

#[test]
fn takes_the_last_of_several_oopses() {
    let text = format!(
        "{}{}",
        OOPS_4LEVEL_6_1,
        "\
[   50.000000] general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#2] PREEMPT SMP PTI
[   50.000001] CPU: 1 PID: 99 Comm: kworker/1:2 Tainted: G      D            6.1.0-18-amd64 #1  Debian 6.1.76-1
[   50.000002] RIP: 0010:list_del+0x9/0x20
[   60.000000] BUG: unable to handle page fault for address: ffffeb0000001000
[   60.000001] PGD 0 P4D 0 
[   60.000002] Oops: 0000 [#3] PREEMPT SMP PTI
[   60.000003] CPU: 2 PID: 5 Comm: ndctl Tainted: G      D            6.1.0-18-amd64 #1
"
    );
    let o = parse_last_oops_text(&text).expect("an oops");
    assert_eq!(o.oops_count, 3);
    assert_eq!(o.fault_address(), Some(0xffff_eb00_0000_1000));
    assert_eq!(o.header.as_ref().and_then(|h| h.die_counter), Some(3));
    assert_eq!(o.task.as_ref().and_then(|t| t.pid), Some(5));
    assert_eq!(o.rip, None);
    assert_eq!(o.cr2, None);

    // The general protection fault, read alone, is an oops without fault line.
    let gpf = text
        .lines()
        .skip_while(|l| !l.contains("general protection"))
        .take(3);
    let gpf: Vec<&str> = gpf.collect();
    let o = parse_last_oops_text(&gpf.join("\n")).expect("an oops");
    assert_eq!(o.fault, None);
    let h = o.header.expect("header");
    assert!(h.label.starts_with("general protection fault"));
    assert_eq!(h.die_counter, Some(2));
    assert_eq!(o.task.and_then(|t| t.comm).as_deref(), Some("kworker/1:2"));
}

#[test]
fn multi_line_records_and_bad_walk() {
    let recs = vec![
        LogLine {
            seq: 9,
            ts_nsec: 5,
            text: "BUG: unable to handle page fault for address: ffffeb0000000034\n#PF: supervisor read access in kernel mode".into(),
        },
        LogLine { seq: 10, ts_nsec: 6, text: "PGD 10f067 P4D 10f067 ".into() },
        LogLine { seq: 11, ts_nsec: 7, text: "BAD".into() },
        LogLine { seq: 12, ts_nsec: 8, text: "Oops: 0000 [#1] SMP".into() },
    ];
    let o = parse_last_oops(&recs).expect("an oops");
    assert_eq!((o.start_seq, o.start_ts_nsec), (9, 5));
    assert!(o.pf_access.is_some());
    let w = o.walk.expect("walk");
    assert!(w.bad);
    assert_eq!(w.entries.len(), 2);
}

#[test]
fn truncated_lines() {
    let text = "\
BUG: unable to handle page fault for address: ffffeb00
#PF: error_code(0x00
PGD 0 P4
Oops: 0000 [#1
CPU: 3 PID: 12
RIP: 0010:memmap_init_zone_dev
CR2: ";
    let o = parse_last_oops_text(text).expect("an oops");
    assert_eq!(o.fault_address(), Some(0xffff_eb00));
    assert_eq!(o.pf_error.and_then(|e| e.code), Some(0));
    assert_eq!(o.walk.map(|w| w.entries.len()), Some(1));
    assert_eq!(o.header, None);
    let t = o.task.expect("task");
    assert_eq!((t.cpu, t.pid, t.comm), (Some(3), Some(12), None));
    let rip = o.rip.expect("rip");
    assert_eq!(rip.symbol.as_deref(), Some("memmap_init_zone_dev"));
    assert_eq!(rip.offset, None);
    assert_eq!(o.cr2, None);
}

#[test]
fn no_oops_and_garbage() {
    assert_eq!(parse_last_oops(&[]), None);
    assert_eq!(
        parse_last_oops_text("Linux version 6.1.0\nCPU: Physical Processor ID: 0\n"),
        None
    );
    let garbage: Vec<LogLine> = [
        "\u{0}\u{1}\u{ff}BUG: unable to handle page fault for address: ",
        "[#",
        ": [#]",
        "x: zzzz [#1]",
        "Oops: : [#99999999999999999999]",
        "PGD PGD PGD",
        "PGD ffffffffffffffffff P4D",
        "CPU: 99999999999 PID: -1 Comm:",
        "CPU: 1 UID: x",
        "RIP: :",
        "RIP: 12345:",
        "RIP: 0010:+/",
        "RIP: 0010:[<ffff",
        "IP: [<>]",
        "#PF: ",
        "#PF: error_code(",
        "[",
        "<",
        "[    1.2] ",
        "\u{1F600} Kernel panic - not syncing: \u{1F600}",
        "CR2: \u{00e9}\u{00e9}",
    ]
    .iter()
    .enumerate()
    .map(|(i, t)| LogLine {
        seq: i as u64,
        ts_nsec: 0,
        text: (*t).to_string(),
    })
    .collect();
    let o = parse_last_oops(&garbage).expect("the first line opens an oops");
    assert_eq!(o.fault.and_then(|f| f.address), None);
    // Very long and non-ASCII lines.
    let long = format!(
        "{}BUG: unable to handle page fault for address: 1",
        "\u{00e9}".repeat(5000)
    );
    assert_eq!(parse_last_oops_text(&long), None, "beyond the line limit");
    let mixed = "é[#1]é: é [#é] ü: 00 [#1] ö";
    let _ = parse_last_oops_text(mixed);
    // Every prefix of a real oops parses without panicking.
    for end in 0..OOPS_4LEVEL_6_1.len() {
        if let Some(s) = OOPS_4LEVEL_6_1.get(..end) {
            let _ = parse_last_oops_text(s);
        }
    }
}

#[test]
fn random_fragments_never_panic() {
    // Deterministic LCG over fragments of real oops lines.
    let fragments = [
        "BUG: unable to handle page fault for address: ",
        "ffffeb0000000034",
        "#PF: ",
        "error_code(",
        "0x",
        ") - ",
        "PGD ",
        "P4D ",
        "PUD ",
        "PMD ",
        "PTE ",
        "0 ",
        "BAD",
        "Oops: ",
        "0000",
        " [#",
        "1",
        "]",
        "CPU: ",
        " UID: ",
        " PID: ",
        " Comm: ",
        " Not tainted",
        " Tainted: ",
        "RIP: ",
        "0010:",
        "[<",
        ">]",
        "+0x",
        "/",
        " [m]",
        "IP: ",
        "CR2: ",
        "CR3: ",
        "<4>",
        "[  1.2]",
        "é",
        "\u{0}",
        " ",
        ":",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    for _ in 0..300 {
        let mut text = String::new();
        for _ in 0..(next() % 40) {
            for _ in 0..(next() % 8) {
                text.push_str(fragments[next() % fragments.len()]);
            }
            text.push('\n');
        }
        let _ = parse_last_oops_text(&text);
    }
}
