//! The printk buffer of Linux 3.5 to 5.9 (kernel/printk/printk.c before the
//! lockless ring buffer): `char *log_buf` of `log_buf_len` bytes holding
//! variable-length records
//! ```text
//! struct printk_log {            /* `struct log` before 3.11 */
//!     u64 ts_nsec;
//!     u16 len;                   /* whole record, header + text + dict + padding */
//!     u16 text_len;
//!     u16 dict_len;
//!     u8  facility;
//!     u8  flags:5;
//!     u8  level:3;
//!     u32 caller_id;             /* CONFIG_PRINTK_CALLER, 5.1+ */
//! };                             /* then text, then dict, padded to LOG_ALIGN */
//! ```
//! The oldest record starts at `log_first_idx` (sequence `log_first_seq`),
//! the next free byte is `log_next_idx` (`log_next_seq`). A record whose
//! `len` is 0 marks the end of the used part of the buffer: reading wraps to
//! index 0 (`log_next()`, `log_store()` writes that empty header when the
//! next record does not fit). `logbuf_has_space()` always keeps room for
//! that extra header, so `log_first_idx == log_next_idx` only when the log
//! is empty. The count of records is `log_next_seq - log_first_seq` when the
//! symbols are known; the walk also stops on reaching `log_next_idx`.
//!
//! Continuation fragments (`LOG_CONT`) are shown as the records they are;
//! `dmesg` on those kernels joined them.

use crate::ErrorChain;
use crate::debuginfo::Types;
use crate::dump::VmcoreInfo;

use super::prb::sort_and_dedup;
use super::{
    BitFieldPos, KernelLog, KernelMemory, LayoutError, LogRecord, PagedReader, PrintkError, le,
};

/// `LOG_ALIGN` on x86-64 (kernel/printk/printk.c before 5.10): 4, since the
/// architecture has CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS; `struct
/// printk_log` is `__packed __aligned(4)` there. (Architectures without it
/// use `__alignof__(struct printk_log)`.)
const LOG_ALIGN: u64 = 4;
/// `LOG_BUF_LEN_MAX` (kernel/printk/printk.c): 2 GiB.
pub(crate) const MAX_LOG_BUF_LEN: u64 = 1 << 31;

/// Byte offsets in `struct printk_log`; member types are the C ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBufLayout {
    /// `sizeof(struct printk_log)`: the text starts right after the header.
    pub header_size: u64,
    pub ts_nsec: u64,
    pub len: u64,
    pub text_len: u64,
    pub dict_len: u64,
    pub facility: u64,
    pub level: BitFieldPos,
    pub caller_id: Option<u64>,
    /// "vmcoreinfo" or "dwarf".
    pub source: &'static str,
}

impl LogBufLayout {
    /// From kernel/printk/printk.c `log_buf_vmcoreinfo_setup()` (3.5-5.9):
    /// `SIZE(printk_log)`, `OFFSET(printk_log.ts_nsec|len|text_len|dict_len)`,
    /// `OFFSET(printk_log.caller_id)` with CONFIG_PRINTK_CALLER; `log` instead
    /// of `printk_log` before 3.11. Facility and level are not exported:
    /// they are the two bytes after `u16 dict_len`, level in bits 5-7.
    pub fn from_vmcoreinfo(info: &VmcoreInfo) -> Result<LogBufLayout, LayoutError> {
        let name = if info.sizes.contains_key("printk_log") {
            "printk_log"
        } else if info.sizes.contains_key("log") {
            "log"
        } else {
            return Err(LayoutError::MissingEntry("SIZE(printk_log)".into()));
        };
        let off = |m: &str| {
            let key = format!("{name}.{m}");
            info.offsets
                .get(&key)
                .copied()
                .ok_or_else(|| LayoutError::MissingEntry(format!("OFFSET({key})")))
        };
        let dict_len = off("dict_len")?;
        let layout = LogBufLayout {
            header_size: info.sizes.get(name).copied().unwrap_or(0),
            ts_nsec: off("ts_nsec")?,
            len: off("len")?,
            text_len: off("text_len")?,
            dict_len,
            facility: dict_len + 2,
            level: BitFieldPos {
                offset: dict_len + 3,
                shift: 5,
                bits: 3,
            },
            caller_id: off("caller_id").ok(),
            source: "vmcoreinfo",
        };
        layout.check()?;
        Ok(layout)
    }

    /// From DWARF `struct printk_log`.
    pub(crate) fn from_dwarf(types: &Types<'_>) -> Result<LogBufLayout, LayoutError> {
        let s = types.struct_type("printk_log").map_err(LayoutError::from)?;
        let off = |path: &str| s.member(path).map(|m| m.offset).map_err(LayoutError::from);
        let level = s.member("level").map_err(LayoutError::from)?;
        let layout = LogBufLayout {
            header_size: s.size,
            ts_nsec: off("ts_nsec")?,
            len: off("len")?,
            text_len: off("text_len")?,
            dict_len: off("dict_len")?,
            facility: off("facility")?,
            level: match level.bit_field {
                Some(b) => BitFieldPos {
                    offset: level.offset,
                    shift: b.bit_offset,
                    bits: b.bit_size.min(8) as u8,
                },
                None => BitFieldPos {
                    offset: level.offset,
                    shift: 0,
                    bits: 8,
                },
            },
            caller_id: s.member("caller_id").ok().map(|m| m.offset),
            source: "dwarf",
        };
        layout.check()?;
        Ok(layout)
    }

    fn check(&self) -> Result<(), LayoutError> {
        if self.header_size < 8 || self.header_size > 256 {
            return Err(LayoutError::Implausible(format!(
                "implausible sizeof(struct printk_log): {}",
                self.header_size
            )));
        }
        let fields = [
            ("ts_nsec", self.ts_nsec, 8),
            ("len", self.len, 2),
            ("text_len", self.text_len, 2),
            ("dict_len", self.dict_len, 2),
            ("facility", self.facility, 1),
            ("level", self.level.offset, 1),
        ];
        for (name, off, width) in fields {
            if off + width > self.header_size {
                return Err(LayoutError::Implausible(format!(
                    "printk_log.{name} at offset {off} does not fit in {} bytes",
                    self.header_size
                )));
            }
        }
        if self.caller_id.is_some_and(|c| c + 4 > self.header_size) {
            return Err(LayoutError::Implausible(
                "printk_log.caller_id does not fit in the struct".into(),
            ));
        }
        Ok(())
    }
}

/// Runtime addresses of the variables describing the buffer
/// (kernel/printk/printk.c, all `static`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBufSymbols {
    /// `char *log_buf`
    pub log_buf: u64,
    /// `u32 log_buf_len`
    pub log_buf_len: u64,
    /// `u32 log_first_idx`
    pub log_first_idx: u64,
    /// `u32 log_next_idx`
    pub log_next_idx: u64,
    /// `u64 log_first_seq` (symbol table only: not in VMCOREINFO)
    pub log_first_seq: Option<u64>,
    /// `u64 log_next_seq`
    pub log_next_seq: Option<u64>,
}

/// Reads every readable record of a pre-5.10 `log_buf`.
pub fn read_log_buf(
    mem: &dyn KernelMemory,
    layout: &LogBufLayout,
    syms: &LogBufSymbols,
) -> Result<KernelLog, PrintkError> {
    let mut r = PagedReader::new(mem);
    let vars = read_buffer_vars(&mut r, syms)?;
    vars.check(layout.header_size)?;
    let mut warnings = Vec::new();
    // Every record is at least a header long: this bounds the walk.
    let max_records = vars.buf_len / layout.header_size;
    let (first_seq, remaining) = expected_records(&mut r, syms, &vars, max_records, &mut warnings);
    let mut walk = LogBufWalk {
        r,
        layout,
        vars,
        remaining,
        walked: 0,
        seq: first_seq.unwrap_or(0),
        idx: vars.first_idx,
        wrapped: false,
        head: vec![0u8; layout.header_size as usize],
        records: Vec::new(),
    };
    // One step per record plus one wrap marker.
    for _ in 0..=max_records + 1 {
        if !walk.step(&mut warnings) {
            break;
        }
    }
    let mut records = walk.records;
    sort_and_dedup(&mut records, &mut warnings);
    Ok(KernelLog {
        records,
        warnings,
        format: "log_buf",
        layout_source: layout.source,
    })
}

/// The values of the variables describing the buffer, as read.
#[derive(Debug, Clone, Copy)]
struct LogBufVars {
    /// `log_buf`: where the buffer is.
    buf: u64,
    /// `log_buf_len`
    buf_len: u64,
    /// `log_first_idx`
    first_idx: u64,
    /// `log_next_idx`
    next_idx: u64,
}

/// Reads `log_buf`, `log_buf_len`, `log_first_idx` and `log_next_idx`.
fn read_buffer_vars(
    r: &mut PagedReader<'_>,
    syms: &LogBufSymbols,
) -> Result<LogBufVars, PrintkError> {
    let read_err = |what: &str, va: u64| {
        let what = format!("{what} at {va:#x}");
        move |source| PrintkError::Read { what, source }
    };
    let buf = r
        .read_u64(syms.log_buf)
        .map_err(read_err("log_buf", syms.log_buf))?;
    let buf_len = u64::from(
        r.read_u32(syms.log_buf_len)
            .map_err(read_err("log_buf_len", syms.log_buf_len))?,
    );
    let first_idx = u64::from(
        r.read_u32(syms.log_first_idx)
            .map_err(read_err("log_first_idx", syms.log_first_idx))?,
    );
    let next_idx = u64::from(
        r.read_u32(syms.log_next_idx)
            .map_err(read_err("log_next_idx", syms.log_next_idx))?,
    );
    Ok(LogBufVars {
        buf,
        buf_len,
        first_idx,
        next_idx,
    })
}

impl LogBufVars {
    /// Rejects a NULL buffer, a length beyond the kernel's limit and
    /// indexes with no room for a `header`-byte record header.
    fn check(&self, header: u64) -> Result<(), PrintkError> {
        let LogBufVars {
            buf,
            buf_len,
            first_idx,
            next_idx,
        } = *self;
        let corrupt = |detail: String| PrintkError::Corrupt {
            what: "log_buf".into(),
            detail,
        };
        if buf == 0 {
            return Err(corrupt("the log_buf pointer is NULL".into()));
        }
        if buf_len < header || buf_len > MAX_LOG_BUF_LEN {
            return Err(corrupt(format!("log_buf_len is {buf_len}")));
        }
        if first_idx + header > buf_len || next_idx + header > buf_len {
            return Err(corrupt(format!(
                "log_first_idx {first_idx} / log_next_idx {next_idx} past the {buf_len}-byte buffer"
            )));
        }
        Ok(())
    }
}

/// The first record's sequence number and, when the sequence variables can
/// be read and agree with the buffer, how many records the walk should find.
fn expected_records(
    r: &mut PagedReader<'_>,
    syms: &LogBufSymbols,
    vars: &LogBufVars,
    max_records: u64,
    warnings: &mut Vec<String>,
) -> (Option<u64>, Option<u64>) {
    let mut read_seq = |va: Option<u64>, name: &str| match va.map(|va| r.read_u64(va)) {
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            warnings.push(format!("cannot read {name}: {}", ErrorChain(&e)));
            None
        }
        None => None,
    };
    let first_seq = read_seq(syms.log_first_seq, "log_first_seq");
    let next_seq = read_seq(syms.log_next_seq, "log_next_seq");
    let mut remaining = match (first_seq, next_seq) {
        (Some(f), Some(n)) if n.wrapping_sub(f) <= max_records => Some(n.wrapping_sub(f)),
        (Some(f), Some(n)) => {
            warnings.push(format!(
                "log_first_seq {f} and log_next_seq {n} say more records than the buffer can hold: following the indexes"
            ));
            None
        }
        _ => None,
    };
    if first_seq.is_none() {
        warnings.push("log_first_seq unknown: sequence numbers count from 0".into());
    }
    if remaining.is_none() && vars.first_idx == vars.next_idx {
        // log_store() always keeps room for one more header, so equal
        // indexes mean an empty log.
        remaining = Some(0);
    }
    (first_seq, remaining)
}

/// The walk from `log_first_idx` record by record, as `log_next()` goes.
struct LogBufWalk<'m, 'l> {
    r: PagedReader<'m>,
    layout: &'l LogBufLayout,
    vars: LogBufVars,
    /// Records still expected, when the sequence numbers tell it.
    remaining: Option<u64>,
    /// Records stepped over so far (read or not).
    walked: u64,
    seq: u64,
    idx: u64,
    /// Whether the walk went back to index 0 already.
    wrapped: bool,
    /// The current record's header.
    head: Vec<u8>,
    records: Vec<LogRecord>,
}

impl LogBufWalk<'_, '_> {
    /// Takes the record at `idx` or wraps to the start; false when the walk
    /// ends (at its end, or where the rest cannot be located).
    fn step(&mut self, warnings: &mut Vec<String>) -> bool {
        if self.reached_end(warnings) {
            return false;
        }
        let idx = self.idx;
        if idx + self.layout.header_size > self.vars.buf_len {
            if self.wrapped {
                warnings.push(format!(
                    "record index {idx} past the buffer after a wrap: stopping"
                ));
                return false;
            }
            warnings.push(format!(
                "record index {idx} leaves no room for a header: wrapping"
            ));
            self.idx = 0;
            self.wrapped = true;
            return true;
        }
        if let Err(e) = self.r.read(self.vars.buf + idx, &mut self.head) {
            warnings.push(format!(
                "record header at log_buf+{idx} unreadable ({}): stopping, the rest cannot be located", ErrorChain(&e)
            ));
            return false;
        }
        let len = le(&self.head, self.layout.len, 2);
        if len == 0 {
            // The end-of-data marker: continue at the start (log_next()).
            if self.wrapped {
                warnings.push(format!("a second wrap marker at log_buf+{idx}: stopping"));
                return false;
            }
            self.idx = 0;
            self.wrapped = true;
            return true;
        }
        self.take_record(len, warnings)
    }

    /// Whether the walk has found every record: the expected count, or
    /// `log_next_idx`; warns when the two disagree.
    fn reached_end(&self, warnings: &mut Vec<String>) -> bool {
        let (idx, next_idx) = (self.idx, self.vars.next_idx);
        if self.remaining == Some(0) {
            if idx != next_idx {
                warnings.push(format!(
                    "log_next_seq reached at index {idx}, but log_next_idx is {next_idx}"
                ));
            }
            return true;
        }
        if idx == next_idx && self.walked > 0 {
            if let Some(n) = self.remaining {
                warnings.push(format!(
                    "log_next_idx reached with {n} record(s) still expected by log_next_seq"
                ));
            }
            return true;
        }
        false
    }

    /// Reads the record of `len` bytes whose header is in `head` and steps
    /// past it; false when its lengths contradict each other or the buffer.
    fn take_record(&mut self, len: u64, warnings: &mut Vec<String>) -> bool {
        let (idx, seq, header) = (self.idx, self.seq, self.layout.header_size);
        let (head, layout) = (&self.head, self.layout);
        let text_len = le(head, layout.text_len, 2);
        let dict_len = le(head, layout.dict_len, 2);
        if len < header + text_len + dict_len
            || len % LOG_ALIGN != 0
            || idx + len > self.vars.buf_len
        {
            warnings.push(format!(
                "record at log_buf+{idx} (seq {seq}) has len {len}, text_len {text_len}, dict_len {dict_len}: stopping, the rest cannot be located"
            ));
            return false;
        }
        let mut text = vec![0u8; text_len as usize];
        match self.r.read(self.vars.buf + idx + header, &mut text) {
            Ok(()) => self.records.push(LogRecord {
                seq,
                ts_nsec: le(head, layout.ts_nsec, 8),
                level: layout.level.extract(head),
                facility: le(head, layout.facility, 1) as u8,
                caller_id: layout.caller_id.map(|o| le(head, o, 4) as u32),
                text: String::from_utf8_lossy(&text).into_owned(),
            }),
            Err(e) => warnings.push(format!("text of seq {seq} unreadable: {}", ErrorChain(&e))),
        }
        self.walked += 1;
        self.seq = seq.wrapping_add(1);
        self.remaining = self.remaining.map(|n| n - 1);
        self.idx += len;
        true
    }
}
