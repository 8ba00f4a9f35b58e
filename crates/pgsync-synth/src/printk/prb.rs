//! The lockless ring buffer (5.10+, kernel/printk/printk_ringbuffer.c),
//! written record by record as `prb_reserve()` and `data_alloc()` would.

use std::collections::{BTreeSet, VecDeque};

use super::super::SynthError;
use super::super::layouts::Layouts;
use super::super::memory::PhysMem;
use super::{LOG_NEWLINE, Rec, Stored};

/// `DESC_FLAGS_SHIFT` (64-bit unsigned long), `DESC_ID_MASK`, states.
const FLAGS_SHIFT: u32 = 62;
const ID_MASK: u64 = !(3u64 << FLAGS_SHIFT);
const COMMITTED: u64 = 1;
const FINALIZED: u64 = 2;
const REUSABLE: u64 = 3;
const FAILED_LPOS: u64 = 1;
const EMPTY_LINE_LPOS: u64 = 3;

/// Where a ring buffer and its arrays live (runtime VAs).
#[derive(Debug, Clone, Copy)]
pub struct PrbPlace {
    pub rb: u64,
    pub descs: u64,
    pub infos: u64,
    pub data: u64,
    pub count_bits: u32,
    pub size_bits: u32,
}

/// What writing the ring left.
#[derive(Debug, Clone)]
pub struct PrbOutcome {
    pub survivors: Vec<Stored>,
    /// A surviving record's data block wraps around the end of the ring.
    pub wrapping_block: bool,
    /// Records no longer in the buffer.
    pub dropped: u64,
    pub head_id: u64,
    pub tail_id: u64,
}

#[derive(Debug, Clone, Copy)]
struct Desc {
    id: u64,
    state: u64,
    begin: u64,
    next: u64,
    /// Index into the records, None for the bootstrap descriptor.
    rec: Option<usize>,
}

struct PrbOffsets {
    desc_size: u64,
    info_size: u64,
    state_var: u64,
    begin: u64,
    next: u64,
    seq: u64,
    ts_nsec: u64,
    text_len: u64,
    facility: u64,
    flags_level: u64,
    caller_id: u64,
    subsystem: u64,
    device: u64,
}

fn prb_offsets(l: &Layouts) -> Result<PrbOffsets, SynthError> {
    let lpos = l.off("prb_desc", "text_blk_lpos")?;
    let dev = l.off("printk_info", "dev_info")?;
    Ok(PrbOffsets {
        desc_size: l.size("prb_desc")?,
        info_size: l.size("printk_info")?,
        state_var: l.off("prb_desc", "state_var")?,
        begin: lpos + l.off("prb_data_blk_lpos", "begin")?,
        next: lpos + l.off("prb_data_blk_lpos", "next")?,
        seq: l.off("printk_info", "seq")?,
        ts_nsec: l.off("printk_info", "ts_nsec")?,
        text_len: l.off("printk_info", "text_len")?,
        facility: l.off("printk_info", "facility")?,
        flags_level: l.off("printk_info", "level")?,
        caller_id: l.off("printk_info", "caller_id")?,
        subsystem: dev + l.off("dev_printk_info", "subsystem")?,
        device: dev + l.off("dev_printk_info", "device")?,
    })
}

/// Writes the ring buffer header (`struct printk_ringbuffer`) at `p.rb`.
#[allow(clippy::too_many_arguments)]
fn write_rb_header(
    mem: &mut PhysMem,
    pa: &dyn Fn(u64) -> u64,
    l: &Layouts,
    p: &PrbPlace,
    head_id: u64,
    tail_id: u64,
    head_lpos: u64,
    tail_lpos: u64,
) -> Result<(), SynthError> {
    let dr = p.rb + l.off("printk_ringbuffer", "desc_ring")?;
    let tr = p.rb + l.off("printk_ringbuffer", "text_data_ring")?;
    mem.write_u32(pa(dr + l.off("prb_desc_ring", "count_bits")?), p.count_bits);
    mem.write_u64(pa(dr + l.off("prb_desc_ring", "descs")?), p.descs);
    mem.write_u64(pa(dr + l.off("prb_desc_ring", "infos")?), p.infos);
    mem.write_u64(pa(dr + l.off("prb_desc_ring", "head_id")?), head_id);
    mem.write_u64(pa(dr + l.off("prb_desc_ring", "tail_id")?), tail_id);
    if let Ok(o) = l.off("prb_desc_ring", "last_finalized_seq") {
        mem.write_u64(pa(dr + o), 0);
    }
    mem.write_u32(pa(tr + l.off("prb_data_ring", "size_bits")?), p.size_bits);
    mem.write_u64(pa(tr + l.off("prb_data_ring", "data")?), p.data);
    mem.write_u64(pa(tr + l.off("prb_data_ring", "head_lpos")?), head_lpos);
    mem.write_u64(pa(tr + l.off("prb_data_ring", "tail_lpos")?), tail_lpos);
    mem.write_u64(pa(p.rb + l.off("printk_ringbuffer", "fail")?), 0);
    Ok(())
}

/// The ring as the kernel leaves it after storing records one by one.
struct Ring {
    count: u64,
    size_bits: u32,
    descs: Vec<Option<Desc>>,
    head_id: u64,
    tail_id: u64,
    head_lpos: u64,
    tail_lpos: u64,
    /// The data ring's bytes (old blocks stay as garbage).
    data: Vec<u8>,
    /// Records with data, oldest first: (begin, next, record index).
    blocks: VecDeque<(u64, u64, usize)>,
    /// Records whose data block wraps around the end of the text ring.
    wrapping: BTreeSet<usize>,
}

impl Ring {
    /// Bootstrap (_DEFINE_PRINTKRB): the last descriptor is reusable with
    /// DESC0_ID, `infos[0].seq = -count`, head = tail = DESC0_ID, BLK0_LPOS.
    fn new(p: &PrbPlace) -> Ring {
        let count = 1u64 << p.count_bits;
        let size = 1u64 << p.size_bits;
        let desc0 = 0u64.wrapping_sub(count + 1) & ID_MASK;
        let mut descs: Vec<Option<Desc>> = vec![None; count as usize];
        descs[(count - 1) as usize] = Some(Desc {
            id: desc0,
            state: REUSABLE,
            begin: FAILED_LPOS,
            next: FAILED_LPOS,
            rec: None,
        });
        let head_lpos = size.wrapping_neg();
        Ring {
            count,
            size_bits: p.size_bits,
            descs,
            head_id: desc0,
            tail_id: desc0,
            head_lpos,
            tail_lpos: head_lpos,
            data: vec![0u8; size as usize],
            blocks: VecDeque::new(),
            wrapping: BTreeSet::new(),
        }
    }

    fn size(&self) -> u64 {
        1u64 << self.size_bits
    }

    fn slot(&self, id: u64) -> usize {
        (id & (self.count - 1)) as usize
    }

    fn wraps(&self, lpos: u64) -> u64 {
        lpos >> self.size_bits
    }

    /// Stores record `k` as `prb_reserve()` and `prb_commit()` would.
    fn store(&mut self, k: usize, rec: &Rec) -> Result<(), SynthError> {
        if rec.text.len() > 1024 {
            return Err(SynthError::Plan(
                "a printk record longer than 1024 bytes".into(),
            ));
        }
        let id = self.head_id.wrapping_add(1) & ID_MASK;
        self.desc_reserve(id);
        let (begin, next) = self.data_alloc(k, id, rec.text.as_bytes())?;
        let slot = self.slot(id);
        self.descs[slot] = Some(Desc {
            id,
            state: FINALIZED,
            begin,
            next,
            rec: Some(k),
        });
        self.head_id = id;
        Ok(())
    }

    /// desc_reserve(): when the new id's slot is the tail's, push the tail.
    fn desc_reserve(&mut self, id: u64) {
        if id.wrapping_sub(self.count) & ID_MASK != self.tail_id {
            return;
        }
        let t = self.slot(self.tail_id);
        if let Some(d) = self.descs[t].as_mut() {
            if d.state != REUSABLE && d.begin & 1 == 0 {
                // data_push_tail(desc.next): drop every older block too.
                while let Some(&(_, n, _)) = self.blocks.front() {
                    if (d.next.wrapping_sub(n) as i64) < 0 {
                        break;
                    }
                    self.tail_lpos = n;
                    self.blocks.pop_front();
                }
            }
            d.state = REUSABLE;
        }
        self.tail_id = self.tail_id.wrapping_add(1) & ID_MASK;
    }

    /// data_alloc(): the block's (begin, next) positions, pushing the data
    /// tail to make room, with the id also at the ring's start when the
    /// block wraps.
    fn data_alloc(&mut self, k: usize, id: u64, text: &[u8]) -> Result<(u64, u64), SynthError> {
        if text.is_empty() {
            return Ok((EMPTY_LINE_LPOS, EMPTY_LINE_LPOS));
        }
        let size = self.size();
        let blk = (text.len() as u64 + 8).div_ceil(8) * 8;
        let begin = self.head_lpos;
        let mut next = begin.wrapping_add(blk);
        if self.wraps(begin) != self.wraps(next) {
            next = (next & !(size - 1)).wrapping_add(blk);
        }
        // data_push_tail(next - size): make room.
        let need = next.wrapping_sub(size);
        while (need.wrapping_sub(self.tail_lpos) as i64) > 0 {
            let Some((_, n, ri)) = self.blocks.pop_front() else {
                return Err(SynthError::Plan("text data ring too small".into()));
            };
            self.tail_lpos = n;
            if let Some(d) = self.descs.iter_mut().flatten().find(|d| d.rec == Some(ri)) {
                d.state = REUSABLE;
            }
        }
        let b = (begin & (size - 1)) as usize;
        self.data[b..b + 8].copy_from_slice(&id.to_le_bytes());
        let at = if self.wraps(begin) != self.wraps(next) {
            self.wrapping.insert(k);
            self.data[0..8].copy_from_slice(&id.to_le_bytes());
            8
        } else {
            b + 8
        };
        self.data[at..at + text.len()].copy_from_slice(text);
        self.head_lpos = next;
        self.blocks.push_back((begin, next, k));
        Ok((begin, next))
    }

    /// The newest record is committed, not yet finalized.
    fn commit_newest(&mut self) {
        let slot = self.slot(self.head_id);
        if let Some(d) = self.descs[slot].as_mut() {
            if d.rec.is_some() && d.state == FINALIZED {
                d.state = COMMITTED;
            }
        }
    }

    /// Survivors: ids tail..=head whose descriptor is committed/finalized.
    fn survivors(&self, recs: &[Rec]) -> Vec<Stored> {
        let mut survivors = Vec::new();
        let mut id = self.tail_id;
        loop {
            if let Some(d) = self.descs[self.slot(id)].filter(|d| d.id == id) {
                if let (Some(ri), true) = (d.rec, d.state == COMMITTED || d.state == FINALIZED) {
                    survivors.push(Stored {
                        seq: ri as u64,
                        rec: recs[ri].clone(),
                    });
                }
            }
            if id == self.head_id {
                break;
            }
            id = id.wrapping_add(1) & ID_MASK;
        }
        survivors
    }
}

/// Writes the descriptor and info arrays. Untouched infos keep the
/// bootstrap sequence numbers.
fn write_arrays(
    mem: &mut PhysMem,
    pa: &dyn Fn(u64) -> u64,
    o: &PrbOffsets,
    p: &PrbPlace,
    ring: &Ring,
    recs: &[Rec],
) {
    for (i, d) in ring.descs.iter().enumerate() {
        let dva = p.descs + i as u64 * o.desc_size;
        let iva = p.infos + i as u64 * o.info_size;
        let boot_seq = if i == 0 { ring.count.wrapping_neg() } else { 0 };
        let Some(d) = d else {
            mem.write_u64(pa(iva + o.seq), boot_seq);
            continue;
        };
        mem.write_u64(pa(dva + o.state_var), d.id | (d.state << FLAGS_SHIFT));
        mem.write_u64(pa(dva + o.begin), d.begin);
        mem.write_u64(pa(dva + o.next), d.next);
        let Some(ri) = d.rec else {
            mem.write_u64(pa(iva + o.seq), boot_seq);
            continue;
        };
        let rec = &recs[ri];
        mem.write_u64(pa(iva + o.seq), ri as u64);
        mem.write_u64(pa(iva + o.ts_nsec), rec.ts_nsec);
        mem.write(pa(iva + o.text_len), &(rec.text.len() as u16).to_le_bytes());
        mem.write(pa(iva + o.facility), &[rec.facility]);
        mem.write(pa(iva + o.flags_level), &[LOG_NEWLINE | (rec.level << 5)]);
        mem.write_u32(pa(iva + o.caller_id), rec.caller_id);
        if let Some((sub, dev)) = rec.dev {
            mem.write(pa(iva + o.subsystem), sub.as_bytes());
            mem.write(pa(iva + o.device), dev.as_bytes());
        }
    }
}

/// Stores `recs` in a ring buffer as the kernel would, oldest first, and
/// writes its final state.
pub fn write_prb(
    mem: &mut PhysMem,
    pa: &dyn Fn(u64) -> u64,
    l: &Layouts,
    p: &PrbPlace,
    recs: &[Rec],
) -> Result<PrbOutcome, SynthError> {
    let o = prb_offsets(l)?;
    let mut ring = Ring::new(p);
    for (k, rec) in recs.iter().enumerate() {
        ring.store(k, rec)?;
    }
    ring.commit_newest();
    write_arrays(mem, pa, &o, p, &ring, recs);
    mem.write(pa(p.data), &ring.data);
    let (head_id, tail_id) = (ring.head_id, ring.tail_id);
    write_rb_header(
        mem,
        pa,
        l,
        p,
        head_id,
        tail_id,
        ring.head_lpos,
        ring.tail_lpos,
    )?;
    let survivors = ring.survivors(recs);
    let wrapping_block = survivors
        .iter()
        .any(|s| ring.wrapping.contains(&(s.seq as usize)));
    Ok(PrbOutcome {
        dropped: recs.len() as u64 - survivors.len() as u64,
        survivors,
        wrapping_block,
        head_id,
        tail_id,
    })
}
