//! ELF notes as the kernel and QEMU write them into a vmcore: the one notes
//! writer of the workspace (extract, the fixture builder and the tests use
//! it). Read back by [`crate::dump::notes`].

/// One ELF note, 4-byte padded.
pub fn note(name: &str, n_type: u32, desc: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&(name.len() as u32 + 1).to_le_bytes());
    v.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    v.extend_from_slice(&n_type.to_le_bytes());
    v.extend_from_slice(name.as_bytes());
    v.push(0);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v.extend_from_slice(desc);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

/// x86-64 `struct elf_prstatus` (336 bytes): pr_pid at 32, pr_reg at 112
/// (user_regs_struct: rip is register 16, rsp 19).
pub fn prstatus(pid: u32, rip: u64, rsp: u64) -> Vec<u8> {
    let mut d = vec![0u8; 336];
    d[32..36].copy_from_slice(&pid.to_le_bytes());
    d[112 + 16 * 8..112 + 17 * 8].copy_from_slice(&rip.to_le_bytes());
    d[112 + 17 * 8..112 + 18 * 8].copy_from_slice(&0x10u64.to_le_bytes()); // cs
    d[112 + 19 * 8..112 + 20 * 8].copy_from_slice(&rsp.to_le_bytes());
    d[112 + 20 * 8..112 + 21 * 8].copy_from_slice(&0x18u64.to_le_bytes()); // ss
    d
}

/// QEMU's QEMUCPUState (target/i386/arch_dump.c), 440 bytes: version,
/// size, 18 registers, 10 segments of 24 bytes, `cr[5]`, kernel_gs_base.
pub fn qemu_cpu_state(rip: u64, rsp: u64, cr3: u64, gs_base: u64) -> Vec<u8> {
    let mut d = Vec::with_capacity(440);
    d.extend_from_slice(&1u32.to_le_bytes());
    d.extend_from_slice(&440u32.to_le_bytes());
    // rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags
    let mut regs = [0u64; 18];
    regs[6] = rsp;
    regs[16] = rip;
    regs[17] = 0x246;
    for r in regs {
        d.extend_from_slice(&r.to_le_bytes());
    }
    // cs ds es fs gs ss ldt tr gdt idt: {selector u32, limit u32, flags u32, pad u32, base u64}
    for (i, sel) in [0x10u32, 0x18, 0x18, 0, 0, 0x18, 0, 0x40, 0, 0]
        .iter()
        .enumerate()
    {
        d.extend_from_slice(&sel.to_le_bytes());
        d.extend_from_slice(&0xffff_ffffu32.to_le_bytes());
        d.extend_from_slice(&0u32.to_le_bytes());
        d.extend_from_slice(&0u32.to_le_bytes());
        let base = if i == 4 { gs_base } else { 0 };
        d.extend_from_slice(&base.to_le_bytes());
    }
    let cr = [
        0x8005_0033u64,
        0,
        0x7f00_dead_b000 & !0xfff,
        cr3,
        0x0035_06f0,
    ];
    for c in cr {
        d.extend_from_slice(&c.to_le_bytes());
    }
    d.extend_from_slice(&0u64.to_le_bytes());
    d
}
