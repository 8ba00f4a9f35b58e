//! The fixture's two ELF files, written by pgsync-dump's writers
//! (`pgsync_dump::write`): the ET_CORE vmcore and the ET_EXEC vmlinux.

use pgsync_dump::write::elf::{ExecImage, write_core, write_exec};
use pgsync_dump::write::notes::{note, prstatus, qemu_cpu_state};

use super::SynthError;
use super::kernel::Machine;
use super::plan::{NoteStyle, Plan};

/// The notes every dump of the machine carries: NT_PRSTATUS per CPU, the
/// QEMU CPU states (QEMU style), VMCOREINFO.
pub fn notes(plan: &Plan, m: &Machine) -> Vec<u8> {
    let mut notes = Vec::new();
    for cpu in &m.cpus {
        notes.extend(note(
            "CORE",
            1,
            &prstatus(cpu.prstatus_pid, cpu.rip, cpu.rsp),
        ));
    }
    if plan.notes == NoteStyle::Qemu {
        for cpu in &m.cpus {
            notes.extend(note(
                "QEMU",
                0,
                &qemu_cpu_state(cpu.rip, cpu.rsp, cpu.cr3, 0),
            ));
        }
    }
    notes.extend(note("VMCOREINFO", 0, m.vmcoreinfo.as_bytes()));
    notes
}

/// The ET_CORE vmcore: one PT_NOTE, then PT_LOAD segments for runs of
/// dumped pages (trailing all-zero pages become p_memsz > p_filesz).
pub fn write_vmcore(plan: &Plan, m: &Machine) -> Result<Vec<u8>, SynthError> {
    Ok(write_core(&notes(plan, m), m.mem.dumped_pages())?)
}

/// The ET_EXEC vmlinux: NOBITS .text/.data/.data..percpu/.bss headers at
/// link addresses, .note.gnu.build-id, DWARF, .symtab/.strtab.
pub fn write_vmlinux(
    plan: &Plan,
    m: &Machine,
    debug: &[(String, Vec<u8>)],
) -> Result<Vec<u8>, SynthError> {
    Ok(write_exec(
        &ExecImage {
            build_id: &m.build_id,
            syms: &m.syms,
            sections: &m.sections,
            compress_debug: plan.compress_debug,
        },
        debug,
    )?)
}
