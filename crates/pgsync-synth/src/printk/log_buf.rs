//! `log_buf` (3.11-5.9, kernel/printk/printk.c `log_store()`): records of
//! `struct printk_log`, the oldest dropped to make room.

use super::super::SynthError;
use super::super::memory::PhysMem;
use super::{LOG_NEWLINE, Rec, Stored};

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
