//! ELF notes a dump carries: VMCOREINFO, NT_PRSTATUS per CPU, and QEMU's
//! per-vCPU state (which holds CR3). Shared by every format: kdump-compressed
//! dumps store the same notes in their sub-header.

use super::vmcoreinfo::VmcoreInfo;

/// NT_PRSTATUS (include/uapi/linux/elf.h).
pub(crate) const NT_PRSTATUS: u32 = 1;
/// Offset of `pr_pid` in x86-64 `struct elf_prstatus`: `elf_siginfo` (12),
/// `pr_cursig` (2) + pad (2), `pr_sigpend` (8), `pr_sighold` (8).
const PRSTATUS_PID_OFFSET: usize = 32;
/// Offset of `pr_reg` (after pid, ppid, pgrp, sid and four timevals).
const PRSTATUS_REG_OFFSET: usize = 112;
/// `user_regs_struct` order (arch/x86/include/asm/user_64.h): rip is index 16.
const PRSTATUS_RIP_INDEX: usize = 16;
const PRSTATUS_RSP_INDEX: usize = 19;

/// QEMU's `QEMUCPUState` (target/i386/arch_dump.c): version, size, 18
/// general registers, 10 segment descriptors of 24 bytes, then cr[0..5].
const QEMU_CR_OFFSET: usize = 8 + 18 * 8 + 10 * 24;
const QEMU_RIP_OFFSET: usize = 8 + 16 * 8;
const QEMU_RSP_OFFSET: usize = 8 + 6 * 8;

/// Most CPUs whose notes are kept: x86-64's largest NR_CPUS (MAXSMP).
/// Without it, a note area of tiny PRSTATUS notes would cost ~6 bytes of
/// memory per byte of file; further notes are counted in a warning.
pub(crate) const MAX_CPU_NOTES: usize = 8192;

/// One note as found in the file.
pub struct RawNote<'a> {
    pub name: &'a str,
    pub n_type: u32,
    pub desc: &'a [u8],
}

/// What the dump records about one CPU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuNote {
    /// Position among the dump's CPU notes: the CPU number for kdump and
    /// QEMU dumps (both write them in CPU order).
    pub index: usize,
    /// `pr_pid` from NT_PRSTATUS. A task pid in kdump's /proc/vmcore, but the
    /// vCPU index + 1 in QEMU dumps: never trust it alone.
    pub prstatus_pid: Option<u32>,
    pub rip: Option<u64>,
    pub rsp: Option<u64>,
    /// Raw CR3 from QEMU's note (PCID, PTI and SME bits not yet masked).
    pub cr3: Option<u64>,
    /// True when a QEMU CPU-state note was seen for this CPU.
    pub from_qemu: bool,
}

/// Everything gathered from a dump's notes.
#[derive(Debug, Default)]
pub struct DumpNotes {
    pub vmcoreinfo: Option<VmcoreInfo>,
    pub cpus: Vec<CpuNote>,
    pub warnings: Vec<String>,
    qemu_seen: usize,
    cpu_limit_warned: bool,
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    b.get(off..off + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
}

impl DumpNotes {
    pub fn add(&mut self, note: RawNote<'_>) {
        match (note.name, note.n_type) {
            // The first VMCOREINFO note wins; a later one is ignored.
            ("VMCOREINFO", _) if self.vmcoreinfo.is_none() => {
                self.vmcoreinfo = Some(VmcoreInfo::parse(note.desc));
            }
            ("CORE", NT_PRSTATUS) | ("QEMU", _) if self.over_cpu_limit(note.name) => {}
            ("CORE", NT_PRSTATUS) => {
                let index = self.cpus.len();
                let reg = |i: usize| u64_at(note.desc, PRSTATUS_REG_OFFSET + i * 8);
                self.cpus.push(CpuNote {
                    index,
                    prstatus_pid: u32_at(note.desc, PRSTATUS_PID_OFFSET),
                    rip: reg(PRSTATUS_RIP_INDEX),
                    rsp: reg(PRSTATUS_RSP_INDEX),
                    ..CpuNote::default()
                });
            }
            ("QEMU", _) => {
                // QEMU writes one PRSTATUS and one QEMU note per vCPU; the
                // n-th QEMU note belongs to the n-th CPU.
                let i = self.qemu_seen;
                self.qemu_seen += 1;
                if self.cpus.len() <= i {
                    self.cpus.resize_with(i + 1, CpuNote::default);
                    self.cpus[i].index = i;
                }
                let cpu = &mut self.cpus[i];
                cpu.from_qemu = true;
                cpu.cr3 = u64_at(note.desc, QEMU_CR_OFFSET + 3 * 8);
                if cpu.rip.is_none() {
                    cpu.rip = u64_at(note.desc, QEMU_RIP_OFFSET);
                    cpu.rsp = u64_at(note.desc, QEMU_RSP_OFFSET);
                }
                if cpu.cr3.is_none() {
                    self.warnings.push(format!(
                        "QEMU CPU note #{i} is too short ({} bytes) to hold CR3",
                        note.desc.len()
                    ));
                }
            }
            _ => {}
        }
    }

    /// True (and warns once) when a CPU note would exceed [`MAX_CPU_NOTES`].
    fn over_cpu_limit(&mut self, name: &str) -> bool {
        let next = if name == "QEMU" {
            self.qemu_seen
        } else {
            self.cpus.len()
        };
        if next < MAX_CPU_NOTES {
            return false;
        }
        if !self.cpu_limit_warned {
            self.cpu_limit_warned = true;
            self.warnings.push(format!(
                "more than {MAX_CPU_NOTES} CPU notes: the rest are ignored"
            ));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_notes_are_capped() {
        let mut n = DumpNotes::default();
        let desc = [0u8; 336];
        for _ in 0..MAX_CPU_NOTES + 100 {
            n.add(RawNote {
                name: "CORE",
                n_type: NT_PRSTATUS,
                desc: &desc,
            });
            n.add(RawNote {
                name: "QEMU",
                n_type: 0,
                desc: &[],
            });
        }
        assert_eq!(n.cpus.len(), MAX_CPU_NOTES);
        assert_eq!(
            n.warnings
                .iter()
                .filter(|w| w.contains("CPU notes"))
                .count(),
            1
        );
    }
}
