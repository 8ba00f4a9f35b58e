//! The kernel log: the records the plan prints (boot lines, then the oops
//! or panic) stored in a printk ring buffer (5.10+) or a log_buf (before),
//! with the variables and VMCOREINFO lines a reader starts from.

use pgsync_dump::write::elf::{ExecSection, ExecSymbolKind};

use super::super::SynthError;
use super::super::layouts::release_at_least;
use super::super::memory::PAGE;
use super::super::plan::{CrashPlan, Loaded, LogFormat, LogPlan};
use super::super::printk::{
    Ending, OopsCtx, PrbPlace, Rec, Stored, compose, walk_line, write_log_buf, write_prb,
};
use super::super::rng::Rng;
use super::image::{TextSymbols, Variables};
use super::percpu::PercpuLayout;
use super::{Builder, BuiltCpu, MmAlloc, check};

/// The kernel log as built: what a reader must find.
#[derive(Debug, Clone)]
pub struct BuiltLog {
    pub format: LogFormat,
    /// Records still in the buffer, oldest first.
    pub survivors: Vec<Stored>,
    /// Records printed since boot (the first survivor may be later).
    pub printed: u64,
    /// The buffer wrapped: older records are gone (prb: ids and data
    /// positions past the first wrap; log_buf: a wrap marker).
    pub wrapped: bool,
    /// prb: a surviving data block wraps around the end of the text ring.
    pub wrapping_block: bool,
    /// VMCOREINFO lines for the buffer (empty when the plan leaves them out).
    pub vmcoreinfo: Vec<String>,
    /// `prb` (or `log_buf`) variable, runtime address.
    pub pointer_va: u64,
}

impl Builder<'_> {
    /// The log the plan asks for, ending in its crash (an oops whose rip
    /// function is added to the text and set as the crashing CPU's rip) or
    /// a panic. Draws from its own random stream.
    pub(super) fn kernel_log(
        &mut self,
        v: &Variables,
        pc: &PercpuLayout,
        mms: &[MmAlloc],
        text: &mut TextSymbols,
        cpus: &mut [BuiltCpu],
    ) -> Result<Option<BuiltLog>, SynthError> {
        let plan = self.plan;
        let Some(lp) = &plan.log else {
            return Ok(None);
        };
        let mut lr = Rng::new(plan.seed ^ 0x10_6b0f);
        // The crash: the walk the kernel printed, in the table the CPU ran on.
        let ending = match &plan.crash {
            Some(c) => self.oops_ending(c, v, pc, mms, text, cpus, &mut lr),
            None => self.panic_ending(lp),
        };
        self.img.sym(
            "panic",
            text.next_func,
            0x200,
            ExecSymbolKind::Func,
            ExecSection::Text,
        );
        let recs = compose(plan, lp.boot_lines, lp.empty_line, &ending);
        let log = match lp.format {
            LogFormat::Prb => self.prb_log(lp, &mut lr, recs)?,
            LogFormat::LogBuf => self.log_buf_log(lp, &mut lr, recs)?,
        };
        Ok(Some(log))
    }

    /// The oops of the plan's crash, on the crashing CPU.
    #[allow(clippy::too_many_arguments)]
    fn oops_ending(
        &mut self,
        c: &CrashPlan,
        v: &Variables,
        pc: &PercpuLayout,
        mms: &[MmAlloc],
        text: &mut TextSymbols,
        cpus: &mut [BuiltCpu],
        lr: &mut Rng,
    ) -> Ending {
        let plan = self.plan;
        let ci = c.cpu as usize;
        let cp = &plan.cpus[ci];
        let pid = cp.current.unwrap_or(0);
        let comm = plan
            .tasks
            .iter()
            .find(|t| t.pid == pid)
            .map_or_else(|| format!("swapper/{ci}"), |t| t.comm.clone());
        let root = match cp.loaded {
            Loaded::InitMm => v.init_pgd_pa,
            Loaded::Mm(m) => mms[m].pgd_pa,
        };
        let size = 0x40 * lr.range(4, 16);
        let fpos = text.next_func;
        self.img.sym(
            &c.rip_function,
            fpos,
            size,
            ExecSymbolKind::Func,
            ExecSection::Text,
        );
        let off = 0x4 * lr.range(4, size / 4 - 1);
        let rip = self.img.runtime(fpos) + off;
        text.next_func = fpos + size + 0x10 * lr.range(1, 64);
        cpus[ci].rip = rip;
        Ending::Oops(OopsCtx {
            fault_va: c.fault_va,
            walk_line: walk_line(&self.mem, plan.levels, root, c.fault_va),
            cpu: c.cpu,
            pid,
            comm,
            rip_function: c.rip_function.clone(),
            rip_offset: off,
            rip_size: size,
            rsp: cpus[ci].rsp,
            cr3: root | u64::from(cp.pcid & 0xfff),
            gs_base: pc.areas[ci],
        })
    }

    /// A panic on the first CPU that runs a planned task (no crash planned).
    fn panic_ending(&self, lp: &LogPlan) -> Ending {
        let plan = self.plan;
        let ci = plan.cpus.iter().position(|c| c.current.is_some());
        let (cpu, pid) = ci.map_or((0, 0), |i| (i as u32, plan.cpus[i].current.unwrap_or(0)));
        let comm = plan
            .tasks
            .iter()
            .find(|t| t.pid == pid)
            .map_or_else(|| "swapper/0".to_string(), |t| t.comm.clone());
        Ending::Panic {
            message: lp.panic.clone(),
            cpu,
            pid,
            comm,
        }
    }

    /// The printk ring buffer (5.10+): the static ring, and with
    /// `log_buf_len=` a dynamic one that holds the records.
    fn prb_log(
        &mut self,
        lp: &LogPlan,
        lr: &mut Rng,
        recs: Vec<Rec>,
    ) -> Result<BuiltLog, SynthError> {
        let plan = self.plan;
        check(release_at_least(&plan.osrelease, 5, 10), || {
            "the prb ring buffer needs a 5.10+ osrelease".into()
        })?;
        check(
            (3..=16).contains(&lp.count_bits) && (9..=20).contains(&lp.size_bits),
            || "count_bits 3..=16, size_bits 9..=20".into(),
        )?;
        let printed = recs.len() as u64;
        let l = &self.l;
        let rb_size = l.size("printk_ringbuffer")?;
        let ds = l.size("prb_desc")?;
        let is = l.size("printk_info")?;
        let img = &mut self.img;
        let v_prb = img.var(lr, "prb", 8, 8, false);
        let v_static = img.var(lr, "printk_rb_static", rb_size, 64, false);
        // The static ring's arrays (_DEFINE_PRINTKRB): with log_buf_len=
        // the kernel moved to a dynamic ring and the static one keeps its
        // bootstrap state in this model.
        let (scb, ssb) = if lp.dynamic {
            (7, 12)
        } else {
            (lp.count_bits, lp.size_bits)
        };
        let v_sdescs = img.var(lr, "_printk_rb_static_descs", ds << scb, 64, false);
        let v_sinfos = img.var(lr, "_printk_rb_static_infos", is << scb, 64, false);
        let v_logbuf = img.var(lr, "__log_buf", 1 << ssb, 64, true);
        let v_log_buf_ptr = img.var(lr, "log_buf", 8, 8, false);
        let v_log_buf_len = img.var(lr, "log_buf_len", 4, 4, false);
        let v_clear = img.var(lr, "clear_seq", 24, 8, true);
        let v_dynamic = img.var(lr, "printk_rb_dynamic", rb_size, 64, true);
        let img = &self.img;
        let rt = |v: u64| img.runtime(v);
        let pa_of = |va: u64| super::direct_pa(plan, va);
        let mem = &mut self.mem;
        let static_place = PrbPlace {
            rb: rt(v_static),
            descs: rt(v_sdescs),
            infos: rt(v_sinfos),
            data: rt(v_logbuf),
            count_bits: scb,
            size_bits: ssb,
        };
        let (place, out) = if lp.dynamic {
            write_prb(mem, &pa_of, l, &static_place, &[])?;
            let pob = plan.page_offset_base;
            let small = &mut self.small;
            let data = pob + small.alloc(1 << lp.size_bits, PAGE)?;
            let descs = pob + small.alloc(ds << lp.count_bits, PAGE)?;
            let infos = pob + small.alloc(is << lp.count_bits, PAGE)?;
            let place = PrbPlace {
                rb: rt(v_dynamic),
                descs,
                infos,
                data,
                count_bits: lp.count_bits,
                size_bits: lp.size_bits,
            };
            let out = write_prb(mem, &pa_of, l, &place, &recs)?;
            (place, out)
        } else {
            let out = write_prb(mem, &pa_of, l, &static_place, &recs)?;
            (static_place, out)
        };
        // Every page of the arrays is RAM the dump holds (zeros or not).
        for (va, len) in [
            (place.descs, ds << place.count_bits),
            (place.infos, is << place.count_bits),
            (place.data, 1 << place.size_bits),
        ] {
            let mut a = va & !(PAGE - 1);
            while a < va + len {
                mem.touch(pa_of(a));
                a += PAGE;
            }
        }
        mem.write_u64(pa_of(rt(v_prb)), place.rb);
        mem.write_u64(pa_of(rt(v_log_buf_ptr)), place.data);
        mem.write_u32(pa_of(rt(v_log_buf_len)), 1 << place.size_bits);
        mem.write_u64(pa_of(rt(v_clear)), 0);
        let mut vi = vec![
            format!("SYMBOL(prb)={:x}", rt(v_prb)),
            format!("SYMBOL(printk_rb_static)={:x}", rt(v_static)),
            format!("SYMBOL(clear_seq)={:x}", rt(v_clear)),
        ];
        self.prb_vmcoreinfo(&mut vi)?;
        let count = 1u64 << lp.count_bits;
        let desc0 = 0u64.wrapping_sub(count + 1) & !(3u64 << 62);
        let wrapped = out.dropped > 0 || out.head_id.wrapping_sub(desc0) >= count;
        Ok(BuiltLog {
            format: lp.format,
            survivors: out.survivors,
            printed,
            wrapped,
            wrapping_block: out.wrapping_block,
            vmcoreinfo: if lp.in_vmcoreinfo { vi } else { Vec::new() },
            pointer_va: self.img.runtime(v_prb),
        })
    }

    /// The ring buffer's sizes and offsets, as
    /// kernel/printk/printk.c log_buf_vmcoreinfo_setup() (5.10+) writes them.
    fn prb_vmcoreinfo(&self, vi: &mut Vec<String>) -> Result<(), SynthError> {
        let l = &self.l;
        let off = |s: &str, m: &str| l.off(s, m);
        let rb_size = l.size("printk_ringbuffer")?;
        vi.push(format!("SIZE(printk_ringbuffer)={rb_size}"));
        for m in ["desc_ring", "text_data_ring", "fail"] {
            vi.push(format!(
                "OFFSET(printk_ringbuffer.{m})={}",
                off("printk_ringbuffer", m)?
            ));
        }
        vi.push(format!("SIZE(prb_desc_ring)={}", l.size("prb_desc_ring")?));
        for m in ["count_bits", "descs", "infos", "head_id", "tail_id"] {
            vi.push(format!(
                "OFFSET(prb_desc_ring.{m})={}",
                off("prb_desc_ring", m)?
            ));
        }
        vi.push(format!("SIZE(prb_desc)={}", l.size("prb_desc")?));
        for m in ["state_var", "text_blk_lpos"] {
            vi.push(format!("OFFSET(prb_desc.{m})={}", off("prb_desc", m)?));
        }
        vi.push(format!(
            "SIZE(prb_data_blk_lpos)={}",
            l.size("prb_data_blk_lpos")?
        ));
        for m in ["begin", "next"] {
            vi.push(format!(
                "OFFSET(prb_data_blk_lpos.{m})={}",
                off("prb_data_blk_lpos", m)?
            ));
        }
        vi.push(format!("SIZE(printk_info)={}", l.size("printk_info")?));
        for m in ["seq", "ts_nsec", "text_len", "caller_id", "dev_info"] {
            vi.push(format!(
                "OFFSET(printk_info.{m})={}",
                off("printk_info", m)?
            ));
        }
        vi.push(format!(
            "SIZE(dev_printk_info)={}",
            l.size("dev_printk_info")?
        ));
        vi.push(format!(
            "OFFSET(dev_printk_info.subsystem)={}",
            off("dev_printk_info", "subsystem")?
        ));
        vi.push("LENGTH(printk_info_subsystem)=16".into());
        vi.push(format!(
            "OFFSET(dev_printk_info.device)={}",
            off("dev_printk_info", "device")?
        ));
        vi.push("LENGTH(printk_info_device)=48".into());
        vi.push(format!("SIZE(prb_data_ring)={}", l.size("prb_data_ring")?));
        for m in ["size_bits", "data", "head_lpos", "tail_lpos"] {
            vi.push(format!(
                "OFFSET(prb_data_ring.{m})={}",
                off("prb_data_ring", m)?
            ));
        }
        vi.push("SIZE(atomic_long_t)=8".into());
        vi.push("OFFSET(atomic_long_t.counter)=0".into());
        if release_at_least(&self.plan.osrelease, 5, 14) {
            vi.push("SIZE(latched_seq)=24".into());
            vi.push("OFFSET(latched_seq.val)=8".into());
        }
        Ok(())
    }

    /// The log_buf of kernels before 5.10, with its index variables and
    /// VMCOREINFO lines (log_buf_vmcoreinfo_setup(), 3.11-5.9).
    fn log_buf_log(
        &mut self,
        lp: &LogPlan,
        lr: &mut Rng,
        recs: Vec<Rec>,
    ) -> Result<BuiltLog, SynthError> {
        let plan = self.plan;
        check(!release_at_least(&plan.osrelease, 5, 10), || {
            "log_buf is the format of kernels before 5.10".into()
        })?;
        check((10..=20).contains(&lp.size_bits), || {
            "log_buf size_bits 10..=20".into()
        })?;
        let printed = recs.len() as u64;
        let len = 1u64 << lp.size_bits;
        let img = &mut self.img;
        let v_buf = img.var(lr, "__log_buf", len, 8, true);
        let v_ptr = img.var(lr, "log_buf", 8, 8, false);
        let v_len = img.var(lr, "log_buf_len", 4, 4, false);
        let v_first_seq = img.var(lr, "log_first_seq", 8, 8, true);
        let v_first_idx = img.var(lr, "log_first_idx", 4, 4, true);
        let v_next_seq = img.var(lr, "log_next_seq", 8, 8, true);
        let v_next_idx = img.var(lr, "log_next_idx", 4, 4, true);
        let v_clear_seq = img.var(lr, "clear_seq", 8, 8, true);
        let v_clear_idx = img.var(lr, "clear_idx", 4, 4, true);
        let img = &self.img;
        let rt = |v: u64| img.runtime(v);
        let pa_of = |va: u64| super::direct_pa(plan, va);
        let mem = &mut self.mem;
        let out = write_log_buf(mem, &pa_of, rt(v_buf), len, &recs)?;
        mem.write_u64(pa_of(rt(v_ptr)), rt(v_buf));
        mem.write_u32(pa_of(rt(v_len)), len as u32);
        mem.write_u64(pa_of(rt(v_first_seq)), out.first_seq);
        mem.write_u32(pa_of(rt(v_first_idx)), out.first_idx);
        mem.write_u64(pa_of(rt(v_next_seq)), out.next_seq);
        mem.write_u32(pa_of(rt(v_next_idx)), out.next_idx);
        mem.write_u64(pa_of(rt(v_clear_seq)), 0);
        mem.write_u32(pa_of(rt(v_clear_idx)), 0);
        let l = &self.l;
        let mut vi = vec![
            format!("SYMBOL(log_buf)={:x}", rt(v_ptr)),
            format!("SYMBOL(log_buf_len)={:x}", rt(v_len)),
            format!("SYMBOL(log_first_idx)={:x}", rt(v_first_idx)),
            format!("SYMBOL(clear_idx)={:x}", rt(v_clear_idx)),
            format!("SYMBOL(log_next_idx)={:x}", rt(v_next_idx)),
            format!("SIZE(printk_log)={}", l.size("printk_log")?),
        ];
        for m in ["ts_nsec", "len", "text_len", "dict_len", "caller_id"] {
            vi.push(format!(
                "OFFSET(printk_log.{m})={}",
                l.off("printk_log", m)?
            ));
        }
        Ok(BuiltLog {
            format: lp.format,
            printed,
            wrapped: out.wrapped,
            wrapping_block: false,
            survivors: out.survivors,
            vmcoreinfo: if lp.in_vmcoreinfo { vi } else { Vec::new() },
            pointer_va: rt(v_ptr),
        })
    }
}
