//! The kernel log of real QEMU dumps against the serial console of the same
//! boot (ignored by default: needs the dumps of the real-kernel harness).
//! Run with
//!   cargo test --release --test kernel -- --ignored --nocapture printk_real_dumps::
//! Dumps are looked up under $PGSYNC_DUMPS or
//! /work/.cache/pgsync-harness/dumps/<release>/<scenario>/vmcore.elf, each
//! with `vmlinux` and `serial.log` beside it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pgsync_dump::analysis::oops::{LogLine, parse_last_oops, parse_last_oops_text};
use pgsync_dump::debuginfo::Vmlinux;
use pgsync_dump::kernel::Kernel;
use pgsync_dump::kernel::printk::{LayoutSource, format_dmesg};

fn dump_dirs() -> Vec<PathBuf> {
    let root = std::env::var_os("PGSYNC_DUMPS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/.cache/pgsync-harness/dumps"));
    let mut dirs = Vec::new();
    for release in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for scenario in std::fs::read_dir(release.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let d = scenario.path();
            if d.join("vmcore.elf").exists()
                && d.join("vmlinux").exists()
                && d.join("serial.log").exists()
            {
                dirs.push(d);
            }
        }
    }
    dirs.sort();
    dirs
}

/// The console lines that carry a printk timestamp, as the ring would print them.
fn serial_lines(dir: &Path) -> Vec<String> {
    let raw = std::fs::read(dir.join("serial.log")).unwrap();
    String::from_utf8_lossy(&raw)
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| l.starts_with('[') && l.get(13..15) == Some("] "))
        .collect()
}

/// Position in `haystack` of each of `needles`, matched in order.
fn match_in_order(haystack: &[&str], needles: &[String]) -> Result<(), String> {
    let mut at = 0usize;
    for (i, n) in needles.iter().enumerate() {
        match haystack[at..].iter().position(|h| h == n) {
            Some(p) => at += p + 1,
            None => {
                return Err(format!(
                    "serial line {i} not found (in order) in the ring: {n:?}"
                ));
            }
        }
    }
    Ok(())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
#[ignore = "needs the real-kernel harness dumps"]
fn ring_matches_serial_console() {
    let dirs = dump_dirs();
    if dirs.is_empty() {
        println!("SKIPPED: no dumps found");
        return;
    }
    for dir in dirs {
        let d = pgsync_dump::dump::open(&[dir.join("vmcore.elf")]).unwrap();
        let v = Vmlinux::open(&dir.join("vmlinux")).unwrap();
        let k = Kernel::open(&d, &v).unwrap();

        let mut vmcoreinfo_times = Vec::new();
        let mut dwarf_times = Vec::new();
        let mut log = None;
        for _ in 0..5 {
            let t = Instant::now();
            let l = k.kernel_log_with(LayoutSource::Vmcoreinfo).unwrap();
            vmcoreinfo_times.push(t.elapsed());
            log = Some(l);
            let t = Instant::now();
            let l2 = k.kernel_log_with(LayoutSource::Dwarf).unwrap();
            dwarf_times.push(t.elapsed());
            assert_eq!(
                log.as_ref().unwrap().records,
                l2.records,
                "{}: DWARF and VMCOREINFO layouts disagree",
                dir.display()
            );
            assert_eq!(l2.layout_source, "dwarf");
        }
        let log = log.unwrap();
        assert_eq!(log.format, "prb");
        assert_eq!(log.layout_source, "vmcoreinfo");
        let auto = k.kernel_log().unwrap();
        assert_eq!(auto.layout_source, "vmcoreinfo");

        let text = format_dmesg(&log.records);
        let ring: Vec<&str> = text.lines().collect();
        let serial = serial_lines(&dir);
        println!(
            "{}: {} records, {} lines, seq {}..{}, warnings {:?}; read with VMCOREINFO layout {:?}, DWARF layout {:?} (median of 5)",
            dir.display(),
            log.records.len(),
            ring.len(),
            log.records.first().map_or(0, |r| r.seq),
            log.records.last().map_or(0, |r| r.seq),
            log.warnings,
            median(vmcoreinfo_times),
            median(dwarf_times),
        );
        // Sequence numbers strictly increase.
        assert!(log.records.windows(2).all(|w| w[0].seq < w[1].seq));
        // The oops at the end of the console appears in the ring, in order.
        let tail: Vec<String> = serial.iter().rev().take(60).rev().cloned().collect();
        match_in_order(&ring, &tail).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for needle in ["BUG: unable to handle page fault for address", "CPU: "] {
            if serial.iter().any(|l| l.contains(needle)) {
                assert!(
                    ring.iter().any(|l| l.contains(needle)),
                    "{}: {needle:?} missing",
                    dir.display()
                );
            }
        }
        let cpu_line = serial
            .iter()
            .rev()
            .find(|l| l.contains(" PID: ") && l.contains("Comm: "));
        if let Some(c) = cpu_line {
            assert!(
                ring.contains(&c.as_str()),
                "{}: {c:?} missing",
                dir.display()
            );
        }
        // Every console line is in the ring, in order (the console prints
        // from the ring, filtered by loglevel).
        let all = match_in_order(&ring, &serial);
        println!(
            "  all {} serial lines in order: {:?}",
            serial.len(),
            all.as_ref().map(|_| "yes")
        );
        all.unwrap_or_else(|e| panic!("{}: {e}", dir.display()));

        // The oops parser (analysis layer) consumes the records, converted
        // field by field, and finds the same oops as in the console text.
        let lines: Vec<LogLine> = log
            .records
            .iter()
            .map(|r| LogLine {
                seq: r.seq,
                ts_nsec: r.ts_nsec,
                text: r.text.clone(),
            })
            .collect();
        let from_ring = parse_last_oops(&lines);
        let from_serial = parse_last_oops_text(&serial.join("\n"));
        assert_eq!(
            from_ring.as_ref().map(|o| (
                o.fault_address(),
                o.task.as_ref().and_then(|t| t.pid),
                o.oops_count
            )),
            from_serial.as_ref().map(|o| (
                o.fault_address(),
                o.task.as_ref().and_then(|t| t.pid),
                o.oops_count
            )),
            "{}",
            dir.display()
        );
        if let Some(o) = &from_ring {
            println!("  oops: fault {:x?}, task {:?}", o.fault_address(), o.task);
        }

        // The same ring read through the other formats of the same dump.
        for other in [
            "vmcore.elf-d31",
            "vmcore.zlib",
            "vmcore.lzo",
            "vmcore.qemu-kdump-flat",
        ] {
            let path = dir.join(other);
            if !path.exists() {
                continue;
            }
            let d2 = match pgsync_dump::dump::open(std::slice::from_ref(&path)) {
                Ok(d2) => d2,
                Err(e) => {
                    println!("  {other}: cannot open ({e}), skipped");
                    continue;
                }
            };
            let k2 = Kernel::open(&d2, &v).unwrap();
            let t = Instant::now();
            let l2 = k2.kernel_log().unwrap();
            let took = t.elapsed();
            assert_eq!(l2.records, log.records, "{}", path.display());
            println!("  {other}: same {} records in {took:?}", l2.records.len());
        }
    }
}
