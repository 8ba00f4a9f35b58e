//! The lockless ring-buffer reader (kernel/printk/printk_ringbuffer.c) over
//! mock memory: rings written the way the kernel writes them, then damaged.

use crate::printk_support;

use pgsync_dump::dump::VmcoreInfo;
use pgsync_dump::kernel::printk::{
    KernelLog, LayoutError, LogRecord, PrbLayout, PrintkError, format_dmesg, read_prb,
};
use printk_support::*;

fn read(sim: &PrbSim) -> (MockMemory, KernelLog) {
    let layout = odd_prb_layout();
    let mut mem = MockMemory::default();
    sim.store(&mut mem, &layout, PRB_ADDRS);
    let log = read_prb(&mem, &layout, PRB_ADDRS.rb).expect("ring readable");
    (mem, log)
}

fn reread(mem: &MockMemory) -> KernelLog {
    read_prb(mem, &odd_prb_layout(), PRB_ADDRS.rb).expect("ring readable")
}

fn desc_va(sim: &PrbSim, id: u64) -> u64 {
    let l = odd_prb_layout();
    PRB_ADDRS.descs + (id & ((1 << sim.count_bits) - 1)) * l.desc_size
}

fn info_va(sim: &PrbSim, id: u64) -> u64 {
    let l = odd_prb_layout();
    PRB_ADDRS.infos + (id & ((1 << sim.count_bits) - 1)) * l.info_size
}

#[test]
fn reads_records_levels_callers_and_multiline_text() {
    let mut sim = PrbSim::new(4, 10);
    sim.push("Linux version 6.1.0", 0, 5, 0);
    sim.push(
        "BUG: unable to handle page fault for address: ffffe70000000034",
        1_234_567_000,
        1,
        0x8000_0001,
    );
    sim.push("first line\nsecond line\nthird", 2_000_001_000, 4, 98);
    sim.push("", 2_500_000_000, 6, 98);
    let (_, log) = read(&sim);
    assert_eq!(log.format, "prb");
    assert_eq!(log.layout_source, "test");
    assert!(log.warnings.is_empty(), "{:?}", log.warnings);
    assert_eq!(log.records, sim.expected());
    assert_eq!(
        log.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert_eq!(log.records[1].level, 1);
    assert_eq!(log.records[1].caller_label().as_deref(), Some("C1"));
    assert_eq!(log.records[2].caller_label().as_deref(), Some("T98"));
    assert_eq!(
        format_dmesg(&log.records),
        "[    0.000000] Linux version 6.1.0\n\
[    1.234567] BUG: unable to handle page fault for address: ffffe70000000034\n\
[    2.000001] first line\n\
[    2.000001] second line\n\
[    2.000001] third\n\
[    2.500000] \n"
    );
}

#[test]
fn empty_ring_reads_as_no_records() {
    let sim = PrbSim::new(3, 8);
    let (_, log) = read(&sim);
    assert!(log.records.is_empty());
    assert!(log.warnings.is_empty(), "{:?}", log.warnings);
}

#[test]
fn wrapped_data_blocks_are_read_from_the_ring_start() {
    // 256-byte data ring, 32 descriptors: blocks wrap often and the data
    // ring, not the descriptor ring, limits what survives.
    let mut sim = PrbSim::new(5, 8);
    let mut rng = Rng(7);
    for i in 0..200u64 {
        let text = format!("record {i} {}", rng.text(60));
        sim.push(&text, i * 1000, (i % 8) as u8, i as u32);
    }
    assert!(!sim.wrapped_ids.is_empty());
    let (_, log) = read(&sim);
    assert!(log.warnings.is_empty(), "{:?}", log.warnings);
    let expected = sim.expected();
    assert_eq!(log.records, expected);
    // Records whose block wrapped are among those read.
    let wrapped_seqs: Vec<u64> = log
        .records
        .iter()
        .filter(|r| {
            sim.id_of_seq(r.seq)
                .is_some_and(|id| sim.wrapped_ids.contains(&id))
        })
        .map(|r| r.seq)
        .collect();
    assert!(!wrapped_seqs.is_empty(), "no surviving wrapped block");
    // The newest record is there and sequence numbers are contiguous.
    assert_eq!(log.records.last().map(|r| r.seq), Some(199));
    assert!(log.records.windows(2).all(|w| w[1].seq == w[0].seq + 1));
}

#[test]
fn blocks_ending_exactly_at_the_ring_end_are_read() {
    // 6.18+: a block that ends exactly at the end of the ring is not wrapped.
    let mut sim = PrbSim::new(4, 7);
    sim.exact_fit = true;
    for i in 0..40u64 {
        // 8-byte id + 24 bytes = 32-byte blocks: four fill the 128-byte ring exactly.
        sim.push(&format!("exactly 24 bytes, #{i:04}"), i, 6, 1);
    }
    assert!(!sim.exact_fit_ids.is_empty());
    let (_, log) = read(&sim);
    assert!(log.warnings.is_empty(), "{:?}", log.warnings);
    assert_eq!(log.records, sim.expected());
    assert_eq!(log.records.len(), 4);
}

#[test]
fn full_descriptor_ring_with_a_moved_tail() {
    // 8 descriptors, roomy data ring: the descriptor ring limits.
    let mut sim = PrbSim::new(3, 12);
    for i in 0..50u64 {
        sim.push(&format!("line {i}"), i * 1_000_000, 6, 1);
    }
    let (_, log) = read(&sim);
    assert!(log.warnings.is_empty(), "{:?}", log.warnings);
    assert_eq!(log.records, sim.expected());
    let seqs: Vec<u64> = log.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (42..50).collect::<Vec<_>>());
    assert_eq!(log.records[0].text, "line 42");
}

#[test]
fn reusable_and_reserved_descriptors_are_skipped() {
    let mut sim = PrbSim::new(3, 12);
    for i in 0..6u64 {
        sim.push(&format!("line {i}"), i, 6, 1);
    }
    // A record made reusable (as data_push_tail() leaves them) and the head
    // still being written.
    let reusable_id = sim.id_of_seq(2).unwrap();
    let head_id = sim.head_id;
    let layout = odd_prb_layout();
    let mut mem = MockMemory::default();
    sim.store(&mut mem, &layout, PRB_ADDRS);
    mem.write_u64(
        desc_va(&sim, reusable_id) + layout.desc_state_var,
        reusable_id | (REUSABLE << 62),
    );
    mem.write_u64(
        desc_va(&sim, head_id) + layout.desc_state_var,
        head_id | (RESERVED << 62),
    );
    let log = reread(&mem);
    let seqs: Vec<u64> = log.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![0, 1, 3, 4]);
    assert_eq!(log.warnings.len(), 1, "{:?}", log.warnings);
    assert!(
        log.warnings[0].contains("still being written"),
        "{:?}",
        log.warnings
    );
}

#[test]
fn empty_lines_and_lost_text() {
    let mut sim = PrbSim::new(3, 10);
    sim.push("before", 1, 6, 1);
    sim.push("", 2, 6, 1);
    let lost = sim.push("lost", 3, 6, 1);
    sim.push("after", 4, 6, 1);
    let layout = odd_prb_layout();
    let mut mem = MockMemory::default();
    sim.store(&mut mem, &layout, PRB_ADDRS);
    // FAILED_LPOS: the writer could not get data space.
    let id = sim.id_of_seq(lost).unwrap();
    mem.write_u64(desc_va(&sim, id) + layout.desc_text_begin, 1);
    mem.write_u64(desc_va(&sim, id) + layout.desc_text_next, 1);
    let log = reread(&mem);
    let texts: Vec<&str> = log.records.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, vec!["before", "", "after"]);
    assert_eq!(log.warnings.len(), 1);
    assert!(
        log.warnings[0].contains("FAILED_LPOS"),
        "{:?}",
        log.warnings
    );
}

/// A ring of 10 records, stored, for the corruption tests.
fn ten_records() -> (PrbSim, MockMemory, PrbLayout) {
    let mut sim = PrbSim::new(4, 10);
    for i in 0..10u64 {
        sim.push(&format!("record number {i}"), i * 1000, 6, 1);
    }
    let layout = odd_prb_layout();
    let mut mem = MockMemory::default();
    sim.store(&mut mem, &layout, PRB_ADDRS);
    (sim, mem, layout)
}

fn seqs(log: &KernelLog) -> Vec<u64> {
    log.records.iter().map(|r| r.seq).collect()
}

fn all_but(skip: &[u64]) -> Vec<u64> {
    (0..10).filter(|s| !skip.contains(s)).collect()
}

fn assert_warned(log: &KernelLog, needle: &str) {
    assert!(
        log.warnings.iter().any(|w| w.contains(needle)),
        "no warning with {needle:?}: {:?}",
        log.warnings
    );
}

#[test]
fn descriptor_holding_another_id_is_skipped_with_a_warning() {
    let (sim, mut mem, l) = ten_records();
    let id = sim.id_of_seq(4).unwrap();
    mem.write_u64(
        desc_va(&sim, id) + l.desc_state_var,
        (id + 16) | (FINALIZED << 62),
    );
    let log = reread(&mem);
    assert_eq!(seqs(&log), all_but(&[4]));
    assert_warned(&log, "desc_miss");
}

#[test]
fn sequence_number_from_another_slot_is_skipped() {
    let (sim, mut mem, l) = ten_records();
    let id = sim.id_of_seq(5).unwrap();
    mem.write_u64(info_va(&sim, id) + l.info_seq, 1234);
    let log = reread(&mem);
    assert_eq!(seqs(&log), all_but(&[5]));
    assert_warned(&log, "does not match their slot");
}

#[test]
fn lengths_and_positions_past_the_data_ring() {
    let (sim, mut mem, l) = ten_records();
    // seq 1: next far beyond the ring; seq 2: unaligned; seq 3: block
    // outside the valid window; seq 6: text_len past its block.
    let d1 = desc_va(&sim, sim.id_of_seq(1).unwrap());
    mem.write_u64(
        d1 + l.desc_text_next,
        mem.read_u64(d1 + l.desc_text_begin).wrapping_add(1 << 40),
    );
    let d2 = desc_va(&sim, sim.id_of_seq(2).unwrap());
    mem.write_u64(
        d2 + l.desc_text_begin,
        mem.read_u64(d2 + l.desc_text_begin) + 3,
    );
    let d3 = desc_va(&sim, sim.id_of_seq(3).unwrap());
    let b3 = mem.read_u64(d3 + l.desc_text_begin);
    mem.write_u64(d3 + l.desc_text_begin, b3.wrapping_sub(4096));
    mem.write_u64(
        d3 + l.desc_text_next,
        mem.read_u64(d3 + l.desc_text_next).wrapping_sub(4096),
    );
    let i6 = info_va(&sim, sim.id_of_seq(6).unwrap());
    mem.write_u16(i6 + l.info_text_len, 60000);
    let log = reread(&mem);
    assert_eq!(seqs(&log), all_but(&[1, 2, 3]));
    assert!(
        log.records
            .iter()
            .find(|r| r.seq == 6)
            .unwrap()
            .text
            .starts_with("record number 6")
    );
    assert_warned(&log, "impossible length");
    assert_warned(&log, "unaligned");
    assert_warned(&log, "outside the valid data");
    assert_warned(&log, "invalid text block positions");
    assert_warned(&log, "truncated");
}

#[test]
fn overwritten_block_is_detected_by_its_id() {
    let (sim, mut mem, l) = ten_records();
    let id = sim.id_of_seq(7).unwrap();
    let begin = mem.read_u64(desc_va(&sim, id) + l.desc_text_begin);
    let block = PRB_ADDRS.data + (begin & ((1 << sim.size_bits) - 1));
    mem.write_u64(block, id + 99);
    let log = reread(&mem);
    assert_eq!(seqs(&log), all_but(&[7]));
    assert_warned(&log, "overwritten by another record");
}

#[test]
fn unreadable_pages_cost_only_their_records() {
    let mut sim = PrbSim::new(8, 14);
    for i in 0..256u64 {
        sim.push(&format!("record {i:03} {}", "x".repeat(20)), i, 6, 1);
    }
    let layout = odd_prb_layout();
    let mut mem = MockMemory::default();
    sim.store(&mut mem, &layout, PRB_ADDRS);
    // Descriptor page 1 (descriptors 102..204 straddle it) and one text page.
    mem.unmap_page(PRB_ADDRS.descs + PAGE);
    mem.unmap_page(PRB_ADDRS.data + 2 * PAGE);
    let log = reread(&mem);
    assert!(
        log.records.len() > 100 && log.records.len() < 256,
        "{}",
        log.records.len()
    );
    assert_warned(&log, "unreadable descriptors");
    assert_warned(&log, "unreadable text blocks");
    let expected = sim.expected();
    for r in &log.records {
        assert!(expected.contains(r), "{r:?} not as written");
    }
}

#[test]
fn ids_further_apart_than_the_ring_are_bounded() {
    let (sim, mut mem, l) = ten_records();
    let dr = PRB_ADDRS.rb + l.rb_desc_ring;
    mem.write_u64(dr + l.desc_ring_tail_id, sim.head_id.wrapping_sub(1 << 40));
    let log = reread(&mem);
    assert_warned(&log, "more than the 16 descriptors");
    // The last 16 ids hold the 10 records.
    assert_eq!(seqs(&log), all_but(&[]));
}

#[test]
fn impossible_ring_headers_are_errors_not_panics() {
    let l = odd_prb_layout();
    for (field, value) in [
        (l.rb_desc_ring + l.desc_ring_count_bits, 60u64),
        (l.rb_desc_ring + l.desc_ring_count_bits, 0),
        (l.rb_text_data_ring + l.data_ring_size_bits, 63),
        (l.rb_desc_ring + l.desc_ring_descs, 0),
    ] {
        let (_, mut mem, _) = ten_records();
        if field == l.rb_desc_ring + l.desc_ring_descs {
            mem.write_u64(PRB_ADDRS.rb + field, value);
        } else {
            mem.write_u32(PRB_ADDRS.rb + field, value as u32);
        }
        match read_prb(&mem, &l, PRB_ADDRS.rb) {
            Err(PrintkError::Corrupt { .. }) => {}
            other => panic!("field at {field}: {other:?}"),
        }
    }
    // An unmapped ring structure.
    let mem = MockMemory::default();
    assert!(matches!(
        read_prb(&mem, &l, PRB_ADDRS.rb),
        Err(PrintkError::Read { .. })
    ));
}

#[test]
fn random_damage_never_panics_and_stays_bounded() {
    let l = odd_prb_layout();
    for seed in 1..300u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut sim = PrbSim::new(4, 9);
        for i in 0..(rng.below(60)) {
            let t = rng.text(80);
            sim.push(&t, i, 6, 1);
        }
        let mut mem = MockMemory::default();
        sim.store(&mut mem, &l, PRB_ADDRS);
        let regions = [
            (PRB_ADDRS.rb, 200u64),
            (PRB_ADDRS.descs, 16 * l.desc_size),
            (PRB_ADDRS.infos, 16 * l.info_size),
            (PRB_ADDRS.data, 512),
        ];
        for _ in 0..1 + rng.below(12) {
            let (base, len) = regions[rng.below(4) as usize];
            let at = base + rng.below(len);
            let v = match rng.below(3) {
                0 => rng.next(),
                1 => rng.below(1 << 12),
                _ => u64::MAX - rng.below(64),
            };
            mem.write(at, &v.to_le_bytes()[..1 + rng.below(8) as usize]);
        }
        if let Ok(log) = read_prb(&mem, &l, PRB_ADDRS.rb) {
            assert!(log.records.len() <= 16, "seed {seed}");
            assert!(
                log.records.windows(2).all(|w| w[0].seq < w[1].seq),
                "seed {seed}"
            );
            let _ = format_dmesg(&log.records);
        }
    }
}

#[test]
fn layout_from_vmcoreinfo_matches_the_struct_offsets() {
    let info = VmcoreInfo::parse(odd_prb_vmcoreinfo().as_bytes());
    let from_info = PrbLayout::from_vmcoreinfo(&info).unwrap();
    let mut expected = odd_prb_layout();
    // VMCOREINFO has no facility/level: Linux's places follow text_len.
    expected.info_facility = expected.info_text_len + 2;
    expected.info_level = pgsync_dump::kernel::printk::BitFieldPos {
        offset: expected.info_text_len + 3,
        shift: 5,
        bits: 3,
    };
    expected.source = "vmcoreinfo";
    assert_eq!(from_info, expected);

    // A ring stored with that layout reads back level and facility.
    let mut sim = PrbSim::new(3, 9);
    sim.push("<3>-ish", 5, 3, 1);
    let mut mem = MockMemory::default();
    sim.store(&mut mem, &from_info, PRB_ADDRS);
    let log = read_prb(&mem, &from_info, PRB_ADDRS.rb).unwrap();
    assert_eq!(log.layout_source, "vmcoreinfo");
    assert_eq!(log.records[0].level, 3);

    let partial = odd_prb_vmcoreinfo().replace("OFFSET(prb_desc_ring.tail_id)=8\n", "");
    let err = PrbLayout::from_vmcoreinfo(&VmcoreInfo::parse(partial.as_bytes())).unwrap_err();
    assert!(
        matches!(&err, LayoutError::MissingEntry(k) if k == "OFFSET(prb_desc_ring.tail_id)"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "no OFFSET(prb_desc_ring.tail_id)");

    let bad = odd_prb_vmcoreinfo().replace("SIZE(prb_desc)=40", "SIZE(prb_desc)=16");
    let err = PrbLayout::from_vmcoreinfo(&VmcoreInfo::parse(bad.as_bytes())).unwrap_err();
    assert!(
        matches!(&err, LayoutError::Implausible(m) if m.contains("does not fit")),
        "{err:?}"
    );
}

#[test]
fn dmesg_format_prefixes_every_line() {
    let r = |seq, ts, text: &str| LogRecord {
        seq,
        ts_nsec: ts,
        level: 6,
        facility: 0,
        caller_id: None,
        text: text.into(),
    };
    let out = format_dmesg(&[r(0, 123_456_789_012_345, "a\nb\n"), r(1, 999_999_999, "c")]);
    assert_eq!(
        out,
        "[123456.789012] a\n[123456.789012] b\n[    0.999999] c\n"
    );
}
