//! The oops parser over arbitrary kernel-log text (plain `dmesg` form) and
//! as printk records (the form the ring-buffer reader will hand it).
//! Seeds: the oopses of the parser's own tests.

use pgsync_dump::analysis::oops::{LogLine, parse_last_oops, parse_last_oops_text};

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some(o) = parse_last_oops_text(&text) {
        let _ = o.fault_address();
        if let Some(w) = &o.walk {
            let _ = (w.not_present_level(), w.paging_levels_hint());
        }
    }
    // Records: one per 0x1e byte (a record may hold several '\n' lines).
    let records: Vec<LogLine> = text
        .split('\u{1e}')
        .enumerate()
        .map(|(i, t)| LogLine {
            seq: i as u64,
            ts_nsec: (i as u64).wrapping_mul(1_000_000),
            text: t.to_string(),
        })
        .collect();
    if let Some(o) = parse_last_oops(&records) {
        let _ = o.fault_address();
    }
}
