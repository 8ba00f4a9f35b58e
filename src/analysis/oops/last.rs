//! Finding the last oops in a log and collecting its lines into an [`Oops`].

use super::fault::{parse_fault_line, parse_pf_access, parse_pf_error, parse_walk};
use super::header::parse_header;
use super::prefix::{dmesg_timestamp_nsec, strip_log_prefix};
use super::rip::{parse_legacy_ip, parse_rip};
use super::task::parse_task;
use super::text::{find_after, leading_hex};
use super::{LogLine, Oops, OopsRip};

/// Longest line the parser looks at; records are at most 1024 bytes
/// (kernel/printk `PRINTKRB_RECORD_MAX`), so anything longer is garbage.
const MAX_LINE: usize = 4096;
/// Lines of one oops the parser looks at; a full oops is ~100 lines.
const MAX_OOPS_LINES: usize = 2000;

/// One physical line with where it came from.
struct Line<'a> {
    seq: u64,
    ts_nsec: u64,
    text: &'a str,
}

/// Finds and parses the last oops in the records.
pub fn parse_last_oops(records: &[LogLine]) -> Option<Oops> {
    let lines: Vec<Line<'_>> = records
        .iter()
        .flat_map(|r| {
            r.text.split('\n').map(move |t| Line {
                seq: r.seq,
                ts_nsec: r.ts_nsec,
                text: clamp(t),
            })
        })
        .collect();
    parse_lines(&lines)
}

/// Finds and parses the last oops in plain `dmesg` text; sequence numbers
/// are line indexes and timestamps come from "[ sec.usec]" prefixes.
pub fn parse_last_oops_text(text: &str) -> Option<Oops> {
    let lines: Vec<Line<'_>> = text
        .lines()
        .enumerate()
        .map(|(i, t)| Line {
            seq: i as u64,
            ts_nsec: dmesg_timestamp_nsec(t).unwrap_or(0),
            text: clamp(t),
        })
        .collect();
    parse_lines(&lines)
}

fn clamp(s: &str) -> &str {
    if s.len() <= MAX_LINE {
        return s;
    }
    let mut end = MAX_LINE;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

fn parse_lines(lines: &[Line<'_>]) -> Option<Oops> {
    let mut starts: Vec<usize> = Vec::new();
    let mut fault_awaiting_header = false;
    for (i, line) in lines.iter().enumerate() {
        if parse_fault_line(line.text).is_some() {
            starts.push(i);
            fault_awaiting_header = true;
        } else if parse_header(line.text).is_some() {
            if !fault_awaiting_header {
                starts.push(i);
            }
            fault_awaiting_header = false;
        }
    }
    let &start = starts.last()?;
    let first = lines.get(start)?;
    let mut oops = Oops {
        oops_count: starts.len(),
        start_seq: first.seq,
        start_ts_nsec: first.ts_nsec,
        fault: None,
        pf_access: None,
        pf_error: None,
        walk: None,
        header: None,
        task: None,
        rip: None,
        cr2: None,
        cr3: None,
        panic: None,
    };
    let mut legacy_ip: Option<OopsRip> = None;
    let mut first_rip: Option<OopsRip> = None;
    let mut ended = false;
    let segment = lines.get(start..)?;
    let mut iter = segment.iter().take(MAX_OOPS_LINES).peekable();
    while let Some(line) = iter.next() {
        let text = line.text;
        if let Some(p) = find_after(text, "Kernel panic - not syncing: ") {
            oops.panic.get_or_insert_with(|| p.trim_end().to_string());
        }
        if ended {
            continue;
        }
        if text.contains("---[ end trace") {
            ended = true;
            continue;
        }
        if oops.fault.is_none() {
            if let Some(f) = parse_fault_line(text) {
                oops.fault = Some(f);
                continue;
            }
        }
        if let Some(pf) = find_after(text, "#PF: ") {
            if let Some(code) = pf.strip_prefix("error_code(") {
                oops.pf_error.get_or_insert_with(|| parse_pf_error(code));
            } else {
                oops.pf_access.get_or_insert_with(|| parse_pf_access(pf));
            }
            continue;
        }
        if oops.walk.is_none() {
            if let Some(mut w) = parse_walk(text) {
                let next_is_bad = iter
                    .peek()
                    .is_some_and(|n| strip_log_prefix(n.text).trim() == "BAD");
                w.bad = w.bad || next_is_bad;
                oops.walk = Some(w);
                continue;
            }
        }
        if oops.header.is_none() {
            if let Some(h) = parse_header(text) {
                oops.header = Some(h);
                continue;
            }
        }
        if oops.task.is_none() {
            if let Some(t) = parse_task(text) {
                oops.task = Some(t);
                continue;
            }
        }
        if let Some(rip) = parse_rip(text) {
            let kernel_cs = rip.cs.is_some_and(|cs| cs & 3 == 0);
            if kernel_cs && oops.rip.is_none() {
                oops.rip = Some(rip);
            } else if first_rip.is_none() {
                first_rip = Some(rip);
            }
            continue;
        }
        if legacy_ip.is_none() {
            if let Some(ip) = parse_legacy_ip(text) {
                legacy_ip = Some(ip);
                continue;
            }
        }
        if oops.cr2.is_none() {
            if let Some(cr2) = find_after(text, "CR2: ").and_then(leading_hex) {
                oops.cr2 = Some(cr2);
            }
        }
        if oops.cr3.is_none() {
            if let Some(cr3) = find_after(text, "CR3: ").and_then(leading_hex) {
                oops.cr3 = Some(cr3);
            }
        }
    }
    if oops.rip.is_none() {
        oops.rip = first_rip.or(legacy_ip);
    }
    Some(oops)
}
