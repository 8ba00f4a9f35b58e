//! The kernel log (what `dmesg` shows), read from the crashed kernel's printk
//! buffer.
//!
//! Two formats exist:
//! - the lockless ring buffer `prb` of Linux 5.10 and later
//!   (kernel/printk/printk_ringbuffer.{h,c}): see [`PrbLayout`];
//! - the `log_buf` array of `struct printk_log` records of Linux 3.5 to 5.9
//!   (kernel/printk/printk.c before 5.10): see [`LogBufLayout`].
//!
//! Layouts come from the VMCOREINFO `OFFSET(..)`/`SIZE(..)` entries the
//! kernel exports for exactly this (kernel/printk/printk.c
//! `log_buf_vmcoreinfo_setup()`) when they are all there: they cost nothing,
//! while on a real Debian 6.1 vmlinux `struct printk_ringbuffer` is first
//! defined in compile unit 328 and finding it in DWARF costs ~60 ms. DWARF is
//! the fallback, or the choice of the caller ([`LayoutSource`]).
//!
//! The readers work over the small [`KernelMemory`] trait so that tests can
//! run them over a mock memory; [`Kernel`] implements it. A damaged buffer
//! yields the records that can be read plus warnings: every loop is bounded
//! by the buffer's own size and every length is checked against it.

pub(crate) mod legacy;
pub(crate) mod prb;

use std::collections::HashMap;

use crate::ErrorChain;
use crate::arch::x86_64::TranslateError;
use crate::debuginfo::{DebugInfoError, TypeError};

use super::{Kernel, KernelError};

pub use legacy::{LogBufLayout, LogBufSymbols, read_log_buf};
pub use prb::{PrbLayout, read_prb};

/// Kernel virtual memory as the log readers need it.
pub trait KernelMemory {
    /// Fills `buf` from kernel virtual address `va`, or fails without
    /// a partial result.
    fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), TranslateError>;

    /// Hints that `len` bytes at `va` will be read next: with a cold page
    /// cache, ranges known in advance are then read together rather than a
    /// fault at a time. Changes no result; does nothing by default.
    fn will_need(&self, va: u64, len: u64) {
        let _ = (va, len);
    }
}

impl KernelMemory for Kernel<'_> {
    fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), TranslateError> {
        Kernel::read(self, va, buf)
    }

    fn will_need(&self, va: u64, len: u64) {
        Kernel::will_need(self, va, len)
    }
}

/// One record of the kernel log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// printk sequence number.
    pub seq: u64,
    /// Nanoseconds since boot (`local_clock()` at the time of the printk).
    pub ts_nsec: u64,
    /// Syslog level 0 (KERN_EMERG) to 7 (KERN_DEBUG).
    pub level: u8,
    /// Syslog facility (0 = kernel).
    pub facility: u8,
    /// Who printed: a thread id, or `0x80000000 + cpu` when printed outside
    /// task context (kernel/printk/printk.c `printk_caller_id()`). `None`
    /// when the kernel does not record it (log_buf without
    /// CONFIG_PRINTK_CALLER).
    pub caller_id: Option<u32>,
    /// The text, without a trailing newline; may hold several lines.
    pub text: String,
}

/// Bit of `caller_id` marking a CPU number rather than a thread id.
pub(crate) const CALLER_ID_CPU_FLAG: u32 = 0x8000_0000;

impl LogRecord {
    /// The caller as the kernel prints it with CONFIG_PRINTK_CALLER:
    /// `T<tid>` or `C<cpu>` (kernel/printk/printk.c `info_print_prefix()`).
    pub fn caller_label(&self) -> Option<String> {
        self.caller_id.map(|id| {
            if id & CALLER_ID_CPU_FLAG != 0 {
                format!("C{}", id & !CALLER_ID_CPU_FLAG)
            } else {
                format!("T{id}")
            }
        })
    }

    /// The lines of the record (a record printed with embedded newlines
    /// holds several).
    pub(crate) fn lines(&self) -> impl Iterator<Item = &str> {
        self.text
            .strip_suffix('\n')
            .unwrap_or(&self.text)
            .split('\n')
    }
}

/// The kernel log read from a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelLog {
    /// Records in sequence order.
    pub records: Vec<LogRecord>,
    /// What could not be read, or looked damaged, in words.
    pub warnings: Vec<String>,
    /// "prb" (lockless ring buffer) or "log_buf" (before 5.10).
    pub format: &'static str,
    /// Where the layout came from: "vmcoreinfo" or "dwarf".
    pub layout_source: &'static str,
}

/// Where to take the buffer's struct layouts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayoutSource {
    /// VMCOREINFO when it has every entry needed, else DWARF.
    Auto,
    /// VMCOREINFO only.
    Vmcoreinfo,
    /// DWARF only.
    Dwarf,
}

/// Why the kernel log could not be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrintkError {
    #[error("kernel log: cannot read {what}")]
    Read {
        what: String,
        #[source]
        source: TranslateError,
    },
    #[error("kernel log: {what} is damaged: {detail}")]
    Corrupt { what: String, detail: String },
    #[error("kernel log: no printk buffer found ({detail})")]
    NotFound { detail: String },
    #[error("kernel log: layout of {what} unknown")]
    NoLayout {
        what: &'static str,
        /// Boxed: two errors would make every `KernelError` large.
        #[source]
        tried: Box<LayoutAttempts>,
    },
}

/// Why one source could not give a struct layout of the printk buffer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    #[error("the dump has no VMCOREINFO")]
    NoVmcoreinfo,
    /// VMCOREINFO lacks an entry, e.g. `OFFSET(printk_info.seq)`.
    #[error("no {0}")]
    MissingEntry(String),
    /// The vmlinux's DWARF could not be loaded.
    #[error(transparent)]
    DebugInfo(#[from] DebugInfoError),
    /// DWARF lacks a struct or member, or describes it unusably.
    #[error(transparent)]
    Type(#[from] TypeError),
    /// The layout was found but is impossible (a member outside its struct).
    #[error("{0}")]
    Implausible(String),
}

/// What each tried source said, in the order tried (VMCOREINFO, then DWARF).
#[derive(Debug, thiserror::Error)]
pub struct LayoutAttempts {
    pub vmcoreinfo: Option<LayoutError>,
    pub dwarf: Option<LayoutError>,
}

impl std::fmt::Display for LayoutAttempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.vmcoreinfo, &self.dwarf) {
            (Some(v), Some(d)) => {
                write!(f, "VMCOREINFO: {}; DWARF: {}", ErrorChain(v), ErrorChain(d))
            }
            (Some(v), None) => write!(f, "VMCOREINFO: {}", ErrorChain(v)),
            (None, Some(d)) => write!(f, "DWARF: {}", ErrorChain(d)),
            (None, None) => f.write_str("no source tried"),
        }
    }
}

/// Formats records like `dmesg` (and the kernel console): each line is
/// prefixed with `[seconds.microseconds] `; the continuation lines of a
/// multi-line record get the same prefix (kernel/printk/printk.c
/// `record_print_text()`).
pub fn format_dmesg(records: &[LogRecord]) -> String {
    let mut out = String::new();
    for r in records {
        let prefix = format!(
            "[{:5}.{:06}] ",
            r.ts_nsec / 1_000_000_000,
            (r.ts_nsec % 1_000_000_000) / 1000
        );
        for line in r.lines() {
            out.push_str(&prefix);
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

impl Kernel<'_> {
    /// The kernel log, layouts from VMCOREINFO when it has them all, else
    /// from DWARF.
    pub fn kernel_log(&self) -> Result<KernelLog, KernelError> {
        self.kernel_log_with(LayoutSource::Auto)
    }

    /// The kernel log with the layout taken from `source`.
    pub fn kernel_log_with(&self, source: LayoutSource) -> Result<KernelLog, KernelError> {
        let info = self.dump.vmcoreinfo.as_ref();
        // The pointer variable `prb` (kernel/printk/printk.c) exists from
        // 5.10; `log_buf` exists in both formats (in 5.10+ it points at the
        // text data ring), so `prb` decides.
        let prb_var = info.and_then(|i| i.symbol("prb")).or(self.symbols.prb);
        if let Some(prb_var) = prb_var {
            let layout = self.prb_layout(source)?;
            let rb = self.read_u64(prb_var).map_err(|source| PrintkError::Read {
                what: format!("the prb pointer at {prb_var:#x}"),
                source,
            })?;
            if rb == 0 {
                return Err(PrintkError::Corrupt {
                    what: "prb".into(),
                    detail: "the pointer is NULL".into(),
                }
                .into());
            }
            return Ok(read_prb(self, &layout, rb)?);
        }
        let sym = |name: &str, ours: Option<u64>| info.and_then(|i| i.symbol(name)).or(ours);
        let Some(log_buf) = sym("log_buf", self.symbols.log_buf) else {
            return Err(PrintkError::NotFound {
                detail: "neither `prb` nor `log_buf` is in VMCOREINFO or the symbol table".into(),
            }
            .into());
        };
        let missing = |name: &'static str| PrintkError::NotFound {
            detail: format!(
                "log_buf exists but {name} is in neither VMCOREINFO nor the symbol table"
            ),
        };
        let symbols = LogBufSymbols {
            log_buf,
            log_buf_len: sym("log_buf_len", self.symbols.log_buf_len)
                .ok_or_else(|| missing("log_buf_len"))?,
            log_first_idx: sym("log_first_idx", self.symbols.log_first_idx)
                .ok_or_else(|| missing("log_first_idx"))?,
            log_next_idx: sym("log_next_idx", self.symbols.log_next_idx)
                .ok_or_else(|| missing("log_next_idx"))?,
            log_first_seq: sym("log_first_seq", self.symbols.log_first_seq),
            log_next_seq: sym("log_next_seq", self.symbols.log_next_seq),
        };
        let layout = self.log_buf_layout(source)?;
        Ok(read_log_buf(self, &layout, &symbols)?)
    }

    fn prb_layout(&self, source: LayoutSource) -> Result<PrbLayout, KernelError> {
        let from_vmcoreinfo = || match self.dump.vmcoreinfo.as_ref() {
            Some(i) => PrbLayout::from_vmcoreinfo(i),
            None => Err(LayoutError::NoVmcoreinfo),
        };
        let from_dwarf = || PrbLayout::from_dwarf(&self.debuginfo.types()?);
        pick_layout(
            "the printk ring buffer",
            source,
            from_vmcoreinfo,
            from_dwarf,
        )
    }

    fn log_buf_layout(&self, source: LayoutSource) -> Result<LogBufLayout, KernelError> {
        let from_vmcoreinfo = || match self.dump.vmcoreinfo.as_ref() {
            Some(i) => LogBufLayout::from_vmcoreinfo(i),
            None => Err(LayoutError::NoVmcoreinfo),
        };
        let from_dwarf = || LogBufLayout::from_dwarf(&self.debuginfo.types()?);
        pick_layout("struct printk_log", source, from_vmcoreinfo, from_dwarf)
    }
}

fn pick_layout<L>(
    what: &'static str,
    source: LayoutSource,
    from_vmcoreinfo: impl FnOnce() -> Result<L, LayoutError>,
    from_dwarf: impl FnOnce() -> Result<L, LayoutError>,
) -> Result<L, KernelError> {
    let no_layout = |vmcoreinfo, dwarf| {
        KernelError::from(PrintkError::NoLayout {
            what,
            tried: Box::new(LayoutAttempts { vmcoreinfo, dwarf }),
        })
    };
    match source {
        LayoutSource::Vmcoreinfo => from_vmcoreinfo().map_err(|v| no_layout(Some(v), None)),
        LayoutSource::Dwarf => from_dwarf().map_err(|d| no_layout(None, Some(d))),
        LayoutSource::Auto => match from_vmcoreinfo() {
            Ok(l) => Ok(l),
            Err(v) => from_dwarf().map_err(|d| no_layout(Some(v), Some(d))),
        },
    }
}

/// A member stored in some bits of one byte (`u8 level:3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitFieldPos {
    /// Byte offset in the struct.
    pub offset: u64,
    /// Lowest bit within that byte (x86-64 GCC allocates from bit 0).
    pub shift: u8,
    pub bits: u8,
}

impl BitFieldPos {
    fn extract(&self, bytes: &[u8]) -> u8 {
        let byte = bytes.get(self.offset as usize).copied().unwrap_or(0);
        let mask = if self.bits >= 8 {
            0xff
        } else {
            (1u8 << self.bits) - 1
        };
        (byte >> self.shift.min(7)) & mask
    }
}

/// Little-endian integer of `N` bytes at `off` in `bytes`; 0 when out of
/// range (callers size their buffers from the layout, so this only guards
/// against a layout that contradicts itself).
fn le(bytes: &[u8], off: u64, n: usize) -> u64 {
    let off = off as usize;
    let mut b = [0u8; 8];
    if let Some(src) = off.checked_add(n).and_then(|end| bytes.get(off..end)) {
        b[..n.min(8)].copy_from_slice(&src[..n.min(8)]);
    }
    u64::from_le_bytes(b)
}

const PAGE_SIZE: u64 = 4096;
/// Pages kept by [`PagedReader`]; readers walk their buffers in order, so a
/// small cache holds the working set.
const MAX_CACHED_PAGES: usize = 512;

/// Reads kernel memory a page at a time and keeps the pages, so that walking
/// thousands of small descriptors costs a few hundred translations. A page
/// that cannot be read whole is read piecewise, so that a mock (or a
/// partial dump) still yields every readable byte.
pub(crate) struct PagedReader<'m> {
    mem: &'m dyn KernelMemory,
    pages: HashMap<u64, Option<Box<[u8]>>>,
}

impl<'m> PagedReader<'m> {
    pub(crate) fn new(mem: &'m dyn KernelMemory) -> PagedReader<'m> {
        PagedReader {
            mem,
            pages: HashMap::new(),
        }
    }

    pub(crate) fn read(&mut self, va: u64, buf: &mut [u8]) -> Result<(), TranslateError> {
        let mut done = 0usize;
        while done < buf.len() {
            let cur = va.wrapping_add(done as u64);
            let page = cur & !(PAGE_SIZE - 1);
            let in_page = (cur - page) as usize;
            let n = (PAGE_SIZE as usize - in_page).min(buf.len() - done);
            if !self.pages.contains_key(&page) {
                if self.pages.len() >= MAX_CACHED_PAGES {
                    self.pages.clear();
                }
                let mut data = vec![0u8; PAGE_SIZE as usize].into_boxed_slice();
                let ok = self.mem.read(page, &mut data).is_ok();
                self.pages.insert(page, ok.then_some(data));
            }
            match self.pages.get(&page) {
                Some(Some(data)) => {
                    buf[done..done + n].copy_from_slice(&data[in_page..in_page + n])
                }
                _ => self.mem.read(cur, &mut buf[done..done + n])?,
            }
            done += n;
        }
        Ok(())
    }

    pub(crate) fn read_u64(&mut self, va: u64) -> Result<u64, TranslateError> {
        let mut b = [0u8; 8];
        self.read(va, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    pub(crate) fn read_u32(&mut self, va: u64) -> Result<u32, TranslateError> {
        let mut b = [0u8; 4];
        self.read(va, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
}

/// Examples kept per kind of problem.
const EXAMPLES_PER_PROBLEM: usize = 3;

/// Counts of each kind of problem, turned into one warning line per kind
/// (with the first few examples) rather than one per record: a damaged
/// ring of a million records must not give a million warnings.
#[derive(Default)]
pub(crate) struct ProblemTally {
    entries: Vec<(String, u64, Vec<String>)>,
}

impl ProblemTally {
    /// Records one occurrence of `kind`; `example` is kept for the first few.
    pub(crate) fn add(&mut self, kind: &str, example: impl FnOnce() -> String) {
        match self.entries.iter_mut().find(|(k, _, _)| k == kind) {
            Some((_, n, examples)) => {
                *n += 1;
                if examples.len() < EXAMPLES_PER_PROBLEM {
                    examples.push(example());
                }
            }
            None => self.entries.push((kind.to_string(), 1, vec![example()])),
        }
    }

    pub(crate) fn into_warnings(self, out: &mut Vec<String>) {
        for (kind, n, examples) in self.entries {
            let shown = examples.join("; ");
            if n == 1 {
                out.push(format!("{kind}: {shown}"));
            } else if n as usize == examples.len() {
                out.push(format!("{kind}: {n} times ({shown})"));
            } else {
                out.push(format!("{kind}: {n} times ({shown}; ...)"));
            }
        }
    }
}
