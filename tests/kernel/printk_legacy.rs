//! The pre-5.10 `log_buf` reader over mock memory: buffers written the way
//! kernel/printk/printk.c `log_store()` writes them, wrapped, full, damaged.

use crate::printk_support;

use pgsync_dump::dump::VmcoreInfo;
use pgsync_dump::kernel::printk::{
    BitFieldPos, KernelLog, LayoutError, LogBufLayout, LogBufSymbols, PrintkError, format_dmesg,
    read_log_buf,
};
use printk_support::*;

fn symbols(with_seq: bool) -> LogBufSymbols {
    let a = LOG_BUF_ADDRS;
    LogBufSymbols {
        log_buf: a.log_buf,
        log_buf_len: a.log_buf_len,
        log_first_idx: a.log_first_idx,
        log_next_idx: a.log_next_idx,
        log_first_seq: with_seq.then_some(a.log_first_seq),
        log_next_seq: with_seq.then_some(a.log_next_seq),
    }
}

fn read(sim: &LogBufSim) -> (MockMemory, KernelLog) {
    let mut mem = MockMemory::default();
    sim.store(&mut mem, &LOG_BUF_ADDRS);
    let log = read_log_buf(&mem, &sim.layout, &symbols(true)).expect("log_buf readable");
    (mem, log)
}

fn reread(mem: &MockMemory, sim: &LogBufSim) -> KernelLog {
    read_log_buf(mem, &sim.layout, &symbols(true)).expect("log_buf readable")
}

fn assert_warned(log: &KernelLog, needle: &str) {
    assert!(
        log.warnings.iter().any(|w| w.contains(needle)),
        "no warning with {needle:?}: {:?}",
        log.warnings
    );
}

#[test]
fn reads_records_with_dict_and_caller() {
    let mut sim = LogBufSim::new(odd_log_buf_layout(true), 1024);
    sim.push("Linux version 5.4.0", "", 0, 5, 0);
    sim.push(
        "usb 1-1: new device",
        "SUBSYSTEM=usb\0DEVICE=c189:1",
        1_500_000,
        6,
        0x8000_0002,
    );
    sim.push("two\nlines", "", 2_000_000_000, 3, 77);
    let (_, log) = read(&sim);
    assert_eq!(log.format, "log_buf");
    assert!(log.warnings.is_empty(), "{:?}", log.warnings);
    assert_eq!(log.records, sim.expected());
    assert_eq!(log.records[1].caller_label().as_deref(), Some("C2"));
    assert_eq!(log.records[2].level, 3);
    assert_eq!(
        format_dmesg(&log.records),
        "[    0.000000] Linux version 5.4.0\n[    0.001500] usb 1-1: new device\n[    2.000000] two\n[    2.000000] lines\n"
    );
}

#[test]
fn wrapped_buffer_follows_the_zero_length_marker() {
    let mut sim = LogBufSim::new(odd_log_buf_layout(false), 512);
    let mut rng = Rng(3);
    for i in 0..100u64 {
        let t = format!("{i}: {}", rng.text(40));
        sim.push(&t, "", i * 10, 6, 0);
    }
    assert!(sim.wraps >= 3);
    assert!(
        sim.next_idx < sim.first_idx,
        "the live part must wrap for this test"
    );
    let (_, log) = read(&sim);
    assert!(log.warnings.is_empty(), "{:?}", log.warnings);
    assert_eq!(log.records, sim.expected());
    assert_eq!(log.records.last().map(|r| r.seq), Some(99));
    assert!(log.records.iter().all(|r| r.caller_id.is_none()));
}

#[test]
fn equal_indexes_mean_an_empty_log() {
    // log_store() always leaves room for an extra header (the wrap marker),
    // so a non-empty buffer never has log_first_idx == log_next_idx.
    let mut sim = LogBufSim::new(odd_log_buf_layout(false), 512);
    for i in 0..40u64 {
        sim.push(&format!("{i:031}"), "", i, 6, 0); // 32 + 32 = 64 bytes
        assert_ne!(sim.first_idx, sim.next_idx, "after record {i}");
    }
    let mut mem = MockMemory::default();
    sim.store(&mut mem, &LOG_BUF_ADDRS);
    mem.write_u32(LOG_BUF_ADDRS.log_first_idx, sim.next_idx as u32);
    mem.write_u64(LOG_BUF_ADDRS.log_first_seq, sim.next_seq);
    for with_seq in [true, false] {
        let log = read_log_buf(&mem, &sim.layout, &symbols(with_seq)).unwrap();
        assert!(log.records.is_empty());
    }
    // Sequence numbers that contradict the indexes are followed, bounded, and reported.
    mem.write_u64(LOG_BUF_ADDRS.log_first_seq, sim.next_seq - 3);
    let log = read_log_buf(&mem, &sim.layout, &symbols(true)).unwrap();
    assert_eq!(log.records.len(), 3);
    assert_warned(&log, "log_next_idx");
}

#[test]
fn without_sequence_symbols_the_indexes_suffice() {
    let mut sim = LogBufSim::new(odd_log_buf_layout(true), 600);
    for i in 0..50u64 {
        sim.push(&format!("message {i}"), "", i, 6, 1);
    }
    let mut mem = MockMemory::default();
    sim.store(&mut mem, &LOG_BUF_ADDRS);
    let log = read_log_buf(&mem, &sim.layout, &symbols(false)).unwrap();
    let texts: Vec<String> = log.records.iter().map(|r| r.text.clone()).collect();
    let expected: Vec<String> = sim.expected().into_iter().map(|r| r.text).collect();
    assert_eq!(texts, expected);
    assert_eq!(log.records[0].seq, 0);
    assert_warned(&log, "count from 0");
}

#[test]
fn damaged_records_stop_the_walk_with_a_warning() {
    let mut sim = LogBufSim::new(odd_log_buf_layout(false), 1024);
    for i in 0..10u64 {
        sim.push(&format!("message {i}"), "", i, 6, 1);
    }
    let expected = sim.expected();
    // Record 4's len: not a multiple of LOG_ALIGN.
    let (_, idx4, _) = sim.live[4].clone();
    let mut mem = MockMemory::default();
    sim.store(&mut mem, &LOG_BUF_ADDRS);
    mem.write_u16(LOG_BUF_ADDRS.buf + idx4 + sim.layout.len, 13);
    let log = reread(&mem, &sim);
    assert_eq!(log.records, expected[..4].to_vec());
    assert_warned(&log, "cannot be located");

    // text_len larger than the record.
    sim.store(&mut mem, &LOG_BUF_ADDRS);
    mem.write_u16(LOG_BUF_ADDRS.buf + idx4 + sim.layout.text_len, 5000);
    let log = reread(&mem, &sim);
    assert_eq!(log.records.len(), 4);

    // A zero-length record where the walk already wrapped: two markers.
    let mut sim = LogBufSim::new(odd_log_buf_layout(false), 512);
    for i in 0..30u64 {
        sim.push(&format!("message number {i}"), "", i, 6, 1);
    }
    assert!(sim.next_idx < sim.first_idx);
    sim.store(&mut mem, &LOG_BUF_ADDRS);
    mem.write_u16(LOG_BUF_ADDRS.buf + sim.layout.len, 0); // the record at index 0
    let log = reread(&mem, &sim);
    assert_warned(&log, "second wrap marker");
    assert!(log.records.len() < sim.live.len());
}

#[test]
fn impossible_headers_are_errors() {
    let mut sim = LogBufSim::new(odd_log_buf_layout(false), 256);
    sim.push("x", "", 0, 6, 0);
    let mut mem = MockMemory::default();
    sim.store(&mut mem, &LOG_BUF_ADDRS);
    mem.write_u32(LOG_BUF_ADDRS.log_first_idx, 250);
    assert!(matches!(
        read_log_buf(&mem, &sim.layout, &symbols(true)),
        Err(PrintkError::Corrupt { .. })
    ));
    sim.store(&mut mem, &LOG_BUF_ADDRS);
    mem.write_u64(LOG_BUF_ADDRS.log_buf, 0);
    assert!(matches!(
        read_log_buf(&mem, &sim.layout, &symbols(true)),
        Err(PrintkError::Corrupt { .. })
    ));
    sim.store(&mut mem, &LOG_BUF_ADDRS);
    mem.write_u32(LOG_BUF_ADDRS.log_buf_len, u32::MAX);
    assert!(matches!(
        read_log_buf(&mem, &sim.layout, &symbols(true)),
        Err(PrintkError::Corrupt { .. })
    ));
}

#[test]
fn random_damage_never_panics_and_stays_bounded() {
    for seed in 1..300u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut sim = LogBufSim::new(odd_log_buf_layout(seed % 2 == 0), 512);
        for i in 0..rng.below(40) {
            let t = rng.text(50);
            sim.push(&t, "", i, 6, 1);
        }
        let mut mem = MockMemory::default();
        sim.store(&mut mem, &LOG_BUF_ADDRS);
        for _ in 0..1 + rng.below(10) {
            let at = if rng.below(5) == 0 {
                LOG_BUF_ADDRS.log_buf_len + rng.below(0x28)
            } else {
                LOG_BUF_ADDRS.buf + rng.below(512)
            };
            let v = rng.next();
            mem.write(at, &v.to_le_bytes()[..1 + rng.below(4) as usize]);
        }
        if let Ok(log) = read_log_buf(&mem, &sim.layout, &symbols(seed % 3 != 0)) {
            assert!(log.records.len() <= 512 / 32, "seed {seed}");
            let _ = format_dmesg(&log.records);
        }
    }
}

#[test]
fn layout_from_vmcoreinfo() {
    let text = "SYMBOL(log_buf)=ffffffff82100000\nSIZE(printk_log)=24\nOFFSET(printk_log.ts_nsec)=0\n\
OFFSET(printk_log.len)=8\nOFFSET(printk_log.text_len)=10\nOFFSET(printk_log.dict_len)=12\n\
OFFSET(printk_log.caller_id)=16\n";
    let l = LogBufLayout::from_vmcoreinfo(&VmcoreInfo::parse(text.as_bytes())).unwrap();
    assert_eq!(
        l,
        LogBufLayout {
            header_size: 24,
            ts_nsec: 0,
            len: 8,
            text_len: 10,
            dict_len: 12,
            facility: 14,
            level: BitFieldPos {
                offset: 15,
                shift: 5,
                bits: 3
            },
            caller_id: Some(16),
            source: "vmcoreinfo",
        }
    );
    // Before 3.11 the struct was `struct log`; no caller id before 5.1.
    let old = "SIZE(log)=16\nOFFSET(log.ts_nsec)=0\nOFFSET(log.len)=8\nOFFSET(log.text_len)=10\nOFFSET(log.dict_len)=12\n";
    let l = LogBufLayout::from_vmcoreinfo(&VmcoreInfo::parse(old.as_bytes())).unwrap();
    assert_eq!((l.header_size, l.caller_id), (16, None));
    // And a buffer stored with that real-shaped layout reads back.
    let mut sim = LogBufSim::new(l, 256);
    for i in 0..20u64 {
        sim.push(&format!("m{i}"), "", i, 4, 0);
    }
    let (_, log) = read(&sim);
    assert_eq!(log.records, sim.expected());
    assert!(log.records.iter().all(|r| r.level == 4));
    let err =
        LogBufLayout::from_vmcoreinfo(&VmcoreInfo::parse(b"SIZE(printk_log)=24\n")).unwrap_err();
    assert!(
        matches!(&err, LayoutError::MissingEntry(k) if k == "OFFSET(printk_log.dict_len)"),
        "{err:?}"
    );
}
