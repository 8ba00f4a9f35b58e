//! Test support for the kernel-log readers: a page-granular mock kernel
//! memory, and writers that build printk buffers the way the kernel does
//! (kernel/printk/printk_ringbuffer.c `prb_reserve()`/`data_alloc()`/
//! `data_push_tail()`/`desc_push_tail()`, and the pre-5.10 `log_store()`),
//! with struct layouts unlike the real kernel's so that nothing passes by
//! hard-coding.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};

use pgsync_dump::arch::x86_64::{Level, PhysAddr, TranslateError, VirtAddr};
use pgsync_dump::kernel::printk::{BitFieldPos, KernelMemory, LogBufLayout, LogRecord, PrbLayout};

pub const PAGE: u64 = 4096;

/// Sparse kernel memory: whole 4 KiB pages; reading an absent page fails.
#[derive(Default, Clone)]
pub struct MockMemory {
    pages: BTreeMap<u64, Vec<u8>>,
}

impl MockMemory {
    pub fn write(&mut self, va: u64, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            let a = va + i as u64;
            let page = self
                .pages
                .entry(a & !(PAGE - 1))
                .or_insert_with(|| vec![0; PAGE as usize]);
            page[(a & (PAGE - 1)) as usize] = *b;
        }
    }
    pub fn write_u64(&mut self, va: u64, v: u64) {
        self.write(va, &v.to_le_bytes());
    }
    pub fn write_u32(&mut self, va: u64, v: u32) {
        self.write(va, &v.to_le_bytes());
    }
    pub fn write_u16(&mut self, va: u64, v: u16) {
        self.write(va, &v.to_le_bytes());
    }
    pub fn read_u64(&self, va: u64) -> u64 {
        let mut b = [0u8; 8];
        self.read(va, &mut b).unwrap();
        u64::from_le_bytes(b)
    }
    pub fn unmap_page(&mut self, va: u64) {
        self.pages.remove(&(va & !(PAGE - 1)));
    }
}

impl KernelMemory for MockMemory {
    fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), TranslateError> {
        for (i, b) in buf.iter_mut().enumerate() {
            let a = va.wrapping_add(i as u64);
            let page = self
                .pages
                .get(&(a & !(PAGE - 1)))
                .ok_or(TranslateError::NotMapped {
                    va: VirtAddr::new(a),
                    level: Level::Pte,
                    entry_pa: PhysAddr::new(0),
                    entry: 0,
                })?;
            *b = page[(a & (PAGE - 1)) as usize];
        }
        Ok(())
    }
}

/// A ring-buffer layout with every member moved from where Linux has it.
pub fn odd_prb_layout() -> PrbLayout {
    PrbLayout {
        rb_desc_ring: 16,
        rb_text_data_ring: 104,
        desc_ring_count_bits: 44,
        desc_ring_descs: 0,
        desc_ring_infos: 24,
        desc_ring_head_id: 56,
        desc_ring_tail_id: 8,
        desc_size: 40,
        desc_state_var: 24,
        desc_text_begin: 0,
        desc_text_next: 8,
        info_size: 64,
        info_seq: 40,
        info_ts_nsec: 0,
        info_text_len: 12,
        info_facility: 9,
        info_level: BitFieldPos {
            offset: 8,
            shift: 2,
            bits: 3,
        },
        info_caller_id: Some(20),
        data_ring_size_bits: 28,
        data_ring_data: 8,
        data_ring_head_lpos: 16,
        data_ring_tail_lpos: 0,
        source: "test",
    }
}

/// VMCOREINFO text describing [`odd_prb_layout`] the way the kernel would
/// export it (printk_info facility/level are not exported: the layout
/// derived from this text puts them after text_len, as Linux does).
pub fn odd_prb_vmcoreinfo() -> String {
    "SYMBOL(prb)=ffffffff81000000\n\
SIZE(printk_ringbuffer)=160\n\
OFFSET(printk_ringbuffer.desc_ring)=16\n\
OFFSET(printk_ringbuffer.text_data_ring)=104\n\
OFFSET(printk_ringbuffer.fail)=150\n\
SIZE(prb_desc_ring)=80\n\
OFFSET(prb_desc_ring.count_bits)=44\n\
OFFSET(prb_desc_ring.descs)=0\n\
OFFSET(prb_desc_ring.infos)=24\n\
OFFSET(prb_desc_ring.head_id)=56\n\
OFFSET(prb_desc_ring.tail_id)=8\n\
SIZE(prb_desc)=40\n\
OFFSET(prb_desc.state_var)=24\n\
OFFSET(prb_desc.text_blk_lpos)=0\n\
SIZE(prb_data_blk_lpos)=16\n\
OFFSET(prb_data_blk_lpos.begin)=0\n\
OFFSET(prb_data_blk_lpos.next)=8\n\
SIZE(printk_info)=64\n\
OFFSET(printk_info.seq)=40\n\
OFFSET(printk_info.ts_nsec)=0\n\
OFFSET(printk_info.text_len)=12\n\
OFFSET(printk_info.caller_id)=20\n\
OFFSET(printk_info.dev_info)=48\n\
SIZE(prb_data_ring)=40\n\
OFFSET(prb_data_ring.size_bits)=28\n\
OFFSET(prb_data_ring.data)=8\n\
OFFSET(prb_data_ring.head_lpos)=16\n\
OFFSET(prb_data_ring.tail_lpos)=0\n\
OFFSET(atomic_long_t.counter)=0\n"
        .to_string()
}

pub const DESC_ID_MASK: u64 = !(3u64 << 62);
pub const FINALIZED: u64 = 2;
pub const COMMITTED: u64 = 1;
pub const RESERVED: u64 = 0;
pub const REUSABLE: u64 = 3;

#[derive(Debug, Clone, Copy)]
pub struct SimDesc {
    pub state_var: u64,
    pub begin: u64,
    pub next: u64,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SimInfo {
    pub seq: u64,
    pub ts_nsec: u64,
    pub text_len: u16,
    pub facility: u8,
    pub level: u8,
    pub caller_id: u32,
}

/// A printk ring buffer written the way the kernel writes it.
pub struct PrbSim {
    pub count_bits: u32,
    pub size_bits: u32,
    pub descs: Vec<SimDesc>,
    pub infos: Vec<SimInfo>,
    pub data: Vec<u8>,
    pub head_id: u64,
    pub tail_id: u64,
    pub head_lpos: u64,
    pub tail_lpos: u64,
    /// 6.18 and later: a block ending exactly at the end of the ring is not
    /// wrapped ("printk_ringbuffer: don't needlessly wrap data blocks around").
    pub exact_fit: bool,
    /// Blocks in data order: (id, begin, next).
    blocks: VecDeque<(u64, u64, u64)>,
    /// Texts by id, to build the expected records.
    texts: BTreeMap<u64, String>,
    /// Ids whose block wrapped to the start of the ring.
    pub wrapped_ids: Vec<u64>,
    pub exact_fit_ids: Vec<u64>,
}

impl PrbSim {
    /// `prb_init()`/`DEFINE_PRINTKRB()` bootstrap state (printk_ringbuffer.h).
    pub fn new(count_bits: u32, size_bits: u32) -> PrbSim {
        let count = 1u64 << count_bits;
        let size = 1u64 << size_bits;
        let desc0_id = 0u64.wrapping_sub(count + 1) & DESC_ID_MASK;
        let mut descs = vec![
            SimDesc {
                state_var: 0,
                begin: 0,
                next: 0
            };
            count as usize
        ];
        descs[(count - 1) as usize] = SimDesc {
            state_var: desc0_id | (REUSABLE << 62),
            begin: 1,
            next: 1,
        };
        let mut infos = vec![SimInfo::default(); count as usize];
        infos[0].seq = 0u64.wrapping_sub(count);
        let blk0 = 0u64.wrapping_sub(size);
        PrbSim {
            count_bits,
            size_bits,
            descs,
            infos,
            data: vec![0; size as usize],
            head_id: desc0_id,
            tail_id: desc0_id,
            head_lpos: blk0,
            tail_lpos: blk0,
            exact_fit: false,
            blocks: VecDeque::new(),
            texts: BTreeMap::new(),
            wrapped_ids: Vec::new(),
            exact_fit_ids: Vec::new(),
        }
    }

    fn count(&self) -> u64 {
        1 << self.count_bits
    }
    fn size(&self) -> u64 {
        1 << self.size_bits
    }
    fn index(&self, id: u64) -> usize {
        (id & (self.count() - 1)) as usize
    }
    fn state(&self, id: u64) -> u64 {
        self.descs[self.index(id)].state_var >> 62
    }

    /// `data_push_tail()`: drops the oldest block, making its descriptor reusable.
    fn drop_oldest_block(&mut self) {
        let (id, _begin, next) = self.blocks.pop_front().expect("a block to drop");
        let i = self.index(id);
        if self.descs[i].state_var & DESC_ID_MASK == id {
            self.descs[i].state_var = id | (REUSABLE << 62);
        }
        self.tail_lpos = next;
    }

    /// `desc_push_tail()`: the tail descriptor must be reusable, which
    /// means dropping its data first.
    fn push_desc_tail(&mut self) {
        let tail = self.tail_id;
        while self.blocks.iter().any(|b| b.0 == tail) {
            self.drop_oldest_block();
        }
        let i = self.index(tail);
        self.descs[i].state_var = tail | (REUSABLE << 62);
        self.tail_id = (tail + 1) & DESC_ID_MASK;
    }

    /// Appends a record as `prb_reserve()` + `prb_final_commit()` do; the
    /// previous record is finalized, the new one left committed (as the
    /// last record of a live kernel usually is).
    pub fn push(&mut self, text: &str, ts_nsec: u64, level: u8, caller_id: u32) -> u64 {
        let count = self.count();
        let size = self.size();
        let id = (self.head_id + 1) & DESC_ID_MASK;
        if id.wrapping_sub(self.tail_id) & DESC_ID_MASK >= count {
            self.push_desc_tail();
        }
        // The previous head gets finalized when a new record is reserved.
        let prev = self.head_id;
        let pi = self.index(prev);
        if self.descs[pi].state_var == prev | (COMMITTED << 62) {
            self.descs[pi].state_var = prev | (FINALIZED << 62);
        }
        let i = self.index(id);
        let old_seq = self.infos[i].seq;
        let seq = if old_seq == 0 && i != 0 {
            i as u64
        } else {
            old_seq.wrapping_add(count)
        };
        let bytes = text.as_bytes();
        let (begin, next) = if bytes.is_empty() {
            (3, 3) // EMPTY_LINE_LPOS
        } else {
            let blk_size = (8 + bytes.len() as u64).div_ceil(8) * 8;
            assert!(blk_size <= size / 2, "record too big for the test ring");
            let begin = self.head_lpos;
            let mut next = begin.wrapping_add(blk_size);
            let wraps = |l: u64| l >> self.size_bits;
            let crosses = if self.exact_fit {
                wraps(begin) != wraps(next.wrapping_sub(1))
            } else {
                wraps(begin) != wraps(next)
            };
            if crosses {
                next = (next & !(size - 1)).wrapping_add(blk_size);
            }
            while next.wrapping_sub(self.tail_lpos) > size {
                self.drop_oldest_block();
            }
            let mask = size - 1;
            let bi = (begin & mask) as usize;
            self.data[bi..bi + 8].copy_from_slice(&id.to_le_bytes());
            let start = if crosses {
                self.wrapped_ids.push(id);
                0
            } else {
                if next & mask == 0 {
                    self.exact_fit_ids.push(id);
                }
                bi
            };
            self.data[start..start + 8].copy_from_slice(&id.to_le_bytes());
            self.data[start + 8..start + 8 + bytes.len()].copy_from_slice(bytes);
            self.head_lpos = next;
            self.blocks.push_back((id, begin, next));
            (begin, next)
        };
        self.descs[i] = SimDesc {
            state_var: id | (COMMITTED << 62),
            begin,
            next,
        };
        self.infos[i] = SimInfo {
            seq,
            ts_nsec,
            text_len: bytes.len() as u16,
            facility: 0,
            level,
            caller_id,
        };
        self.head_id = id;
        self.texts.insert(id, text.to_string());
        seq
    }

    /// The records a correct reader returns: committed or finalized
    /// descriptors from tail to head, by seq.
    pub fn expected(&self) -> Vec<LogRecord> {
        let mut out = Vec::new();
        let mut id = self.tail_id;
        loop {
            let d = self.descs[self.index(id)];
            let st = self.state(id);
            if d.state_var & DESC_ID_MASK == id && (st == COMMITTED || st == FINALIZED) {
                let info = self.infos[self.index(id)];
                out.push(LogRecord {
                    seq: info.seq,
                    ts_nsec: info.ts_nsec,
                    level: info.level,
                    facility: info.facility,
                    caller_id: Some(info.caller_id),
                    text: self.texts.get(&id).cloned().unwrap_or_default(),
                });
            }
            if id == self.head_id {
                break;
            }
            id = (id + 1) & DESC_ID_MASK;
        }
        out.sort_by_key(|r| r.seq);
        out
    }

    pub fn id_of_seq(&self, seq: u64) -> Option<u64> {
        let mut id = self.tail_id;
        loop {
            if self.infos[self.index(id)].seq == seq
                && self.descs[self.index(id)].state_var & DESC_ID_MASK == id
            {
                return Some(id);
            }
            if id == self.head_id {
                return None;
            }
            id = (id + 1) & DESC_ID_MASK;
        }
    }
}

/// Where [`PrbSim::store`] puts things.
#[derive(Debug, Clone, Copy)]
pub struct PrbAddresses {
    pub rb: u64,
    pub descs: u64,
    pub infos: u64,
    pub data: u64,
}

pub const PRB_ADDRS: PrbAddresses = PrbAddresses {
    rb: 0xffff_ffff_8200_0100,
    descs: 0xffff_8880_0010_0000,
    infos: 0xffff_8880_0030_0000,
    data: 0xffff_c900_0000_0000,
};

impl PrbSim {
    /// Writes the ring into `mem` with layout `l`.
    pub fn store(&self, mem: &mut MockMemory, l: &PrbLayout, a: PrbAddresses) {
        let dr = a.rb + l.rb_desc_ring;
        let tr = a.rb + l.rb_text_data_ring;
        mem.write(a.rb, &[0u8; 256]);
        mem.write_u32(dr + l.desc_ring_count_bits, self.count_bits);
        mem.write_u64(dr + l.desc_ring_descs, a.descs);
        mem.write_u64(dr + l.desc_ring_infos, a.infos);
        mem.write_u64(dr + l.desc_ring_head_id, self.head_id);
        mem.write_u64(dr + l.desc_ring_tail_id, self.tail_id);
        mem.write_u32(tr + l.data_ring_size_bits, self.size_bits);
        mem.write_u64(tr + l.data_ring_data, a.data);
        mem.write_u64(tr + l.data_ring_head_lpos, self.head_lpos);
        mem.write_u64(tr + l.data_ring_tail_lpos, self.tail_lpos);
        for (i, d) in self.descs.iter().enumerate() {
            let va = a.descs + i as u64 * l.desc_size;
            mem.write(va, &vec![0xa5; l.desc_size as usize]);
            mem.write_u64(va + l.desc_state_var, d.state_var);
            mem.write_u64(va + l.desc_text_begin, d.begin);
            mem.write_u64(va + l.desc_text_next, d.next);
        }
        for (i, info) in self.infos.iter().enumerate() {
            let va = a.infos + i as u64 * l.info_size;
            mem.write(va, &vec![0u8; l.info_size as usize]);
            mem.write_u64(va + l.info_seq, info.seq);
            mem.write_u64(va + l.info_ts_nsec, info.ts_nsec);
            mem.write_u16(va + l.info_text_len, info.text_len);
            mem.write(va + l.info_facility, &[info.facility]);
            let lv = l.info_level;
            let mut byte = [0u8; 1];
            mem.read(va + lv.offset, &mut byte).unwrap();
            byte[0] |= (info.level & ((1 << lv.bits) - 1)) << lv.shift;
            mem.write(va + lv.offset, &byte);
            if let Some(c) = l.info_caller_id {
                mem.write_u32(va + c, info.caller_id);
            }
        }
        mem.write(a.data, &self.data);
    }
}

/// A `struct printk_log` layout unlike Linux's: 32-byte header.
pub fn odd_log_buf_layout(with_caller: bool) -> LogBufLayout {
    LogBufLayout {
        header_size: 32,
        ts_nsec: 16,
        len: 2,
        text_len: 6,
        dict_len: 4,
        facility: 0,
        level: BitFieldPos {
            offset: 1,
            shift: 1,
            bits: 3,
        },
        caller_id: with_caller.then_some(8),
        source: "test",
    }
}

/// A pre-5.10 `log_buf` written the way `log_store()` writes it.
pub struct LogBufSim {
    pub layout: LogBufLayout,
    pub buf: Vec<u8>,
    pub first_idx: u64,
    pub next_idx: u64,
    pub first_seq: u64,
    pub next_seq: u64,
    /// (seq, idx, record) of live records, oldest first.
    pub live: VecDeque<(u64, u64, LogRecord)>,
    pub wraps: usize,
}

impl LogBufSim {
    pub fn new(layout: LogBufLayout, len: usize) -> LogBufSim {
        LogBufSim {
            layout,
            buf: vec![0; len],
            first_idx: 0,
            next_idx: 0,
            first_seq: 0,
            next_seq: 0,
            live: VecDeque::new(),
            wraps: 0,
        }
    }

    fn rec_len(&self, text: &str, dict: &str) -> u64 {
        (self.layout.header_size + text.len() as u64 + dict.len() as u64).div_ceil(8) * 8
    }

    fn len_at(&self, idx: u64) -> u64 {
        let o = (idx + self.layout.len) as usize;
        u16::from_le_bytes([self.buf[o], self.buf[o + 1]]) as u64
    }

    /// `log_make_free_space()`: drops the oldest record.
    fn drop_first(&mut self) {
        let mut len = self.len_at(self.first_idx);
        if len == 0 {
            self.first_idx = 0;
            len = self.len_at(0);
        }
        self.first_idx += len;
        self.first_seq += 1;
        self.live.pop_front();
    }

    /// `logbuf_has_space()`
    fn has_space(&self, size: u64, empty: bool) -> bool {
        let buf_len = self.buf.len() as u64;
        let header = self.layout.header_size;
        if self.next_idx > self.first_idx || empty {
            buf_len - self.next_idx >= size + header || self.first_idx >= size + header
        } else {
            self.first_idx - self.next_idx >= size + header
        }
    }

    pub fn push(&mut self, text: &str, dict: &str, ts_nsec: u64, level: u8, caller_id: u32) {
        let size = self.rec_len(text, dict);
        let header = self.layout.header_size;
        let buf_len = self.buf.len() as u64;
        while self.first_seq < self.next_seq && !self.has_space(size, false) {
            self.drop_first();
        }
        if self.next_idx + size + header > buf_len {
            let at = self.next_idx as usize;
            self.buf[at..at + header as usize].fill(0);
            self.next_idx = 0;
            self.wraps += 1;
            while self.first_seq < self.next_seq && !self.has_space(size, false) {
                self.drop_first();
            }
        }
        let idx = self.next_idx;
        let l = self.layout;
        let at = idx as usize;
        self.buf[at..at + size as usize].fill(0);
        let mut put = |off: u64, bytes: &[u8]| {
            let o = at + off as usize;
            self.buf[o..o + bytes.len()].copy_from_slice(bytes);
        };
        put(l.ts_nsec, &ts_nsec.to_le_bytes());
        put(l.len, &(size as u16).to_le_bytes());
        put(l.text_len, &(text.len() as u16).to_le_bytes());
        put(l.dict_len, &(dict.len() as u16).to_le_bytes());
        put(l.facility, &[0]);
        if let Some(c) = l.caller_id {
            put(c, &caller_id.to_le_bytes());
        }
        let lo = at + l.level.offset as usize;
        self.buf[lo] |= level << l.level.shift;
        let t = at + header as usize;
        self.buf[t..t + text.len()].copy_from_slice(text.as_bytes());
        self.buf[t + text.len()..t + text.len() + dict.len()].copy_from_slice(dict.as_bytes());
        let rec = LogRecord {
            seq: self.next_seq,
            ts_nsec,
            level,
            facility: 0,
            caller_id: l.caller_id.map(|_| caller_id),
            text: text.to_string(),
        };
        self.live.push_back((self.next_seq, idx, rec));
        self.next_idx += size;
        self.next_seq += 1;
    }

    pub fn expected(&self) -> Vec<LogRecord> {
        self.live.iter().map(|(_, _, r)| r.clone()).collect()
    }
}

pub struct LogBufAddresses {
    pub log_buf: u64,
    pub log_buf_len: u64,
    pub log_first_idx: u64,
    pub log_next_idx: u64,
    pub log_first_seq: u64,
    pub log_next_seq: u64,
    pub buf: u64,
}

pub const LOG_BUF_ADDRS: LogBufAddresses = LogBufAddresses {
    log_buf: 0xffff_ffff_8210_0000,
    log_buf_len: 0xffff_ffff_8210_0008,
    log_first_idx: 0xffff_ffff_8210_0010,
    log_next_idx: 0xffff_ffff_8210_0018,
    log_first_seq: 0xffff_ffff_8210_0020,
    log_next_seq: 0xffff_ffff_8210_0028,
    buf: 0xffff_8880_0200_0000,
};

impl LogBufSim {
    pub fn store(&self, mem: &mut MockMemory, a: &LogBufAddresses) {
        mem.write_u64(a.log_buf, a.buf);
        mem.write_u32(a.log_buf_len, self.buf.len() as u32);
        mem.write_u32(a.log_first_idx, self.first_idx as u32);
        mem.write_u32(a.log_next_idx, self.next_idx as u32);
        mem.write_u64(a.log_first_seq, self.first_seq);
        mem.write_u64(a.log_next_seq, self.next_seq);
        mem.write(a.buf, &self.buf);
    }
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn text(&mut self, max: usize) -> String {
        let n = 1 + self.below(max as u64) as usize;
        (0..n)
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect()
    }
}
