//! The debug information a real kernel keeps in its own memory, so that a
//! dump can be analyzed without the vmlinux: the kallsyms tables (pointed
//! at by VMCOREINFO from Linux 6.0) and the BTF blob between `__start_BTF`
//! and `__stop_BTF`, both derived from the same symbols and [`Layouts`]
//! as the vmlinux's `.symtab` and DWARF. Kernels without VMCOREINFO
//! kallsyms get a System.map instead. Draws nothing from the random stream,
//! so the rest of the machine is laid out as before.

use pgsync_dump::write::btf::write_btf;
use pgsync_dump::write::elf::{ExecSection, ExecSymbol, ExecSymbolKind};
use pgsync_dump::write::kallsyms::{KallsymsInput, KallsymsLayout, OffsetsLayout, encode};

use super::super::SynthError;
use super::super::memory::PhysMem;
use super::super::plan::{KallsymsStyle, PercpuScheme, Plan};
use super::{START_KERNEL_MAP, TEXT_LINK};

/// Where the BTF blob starts (link address): read-only data in the text
/// region, far above the few functions the builder places after `_stext`.
const BTF_LINK: u64 = TEXT_LINK + 0x0060_0000;

/// What [`place`] put in memory, for VMCOREINFO and the fixture files.
#[derive(Debug, Clone, Default)]
pub struct DumpDebugInfo {
    /// `SYMBOL(kallsyms_*)` entries (runtime addresses); empty for
    /// [`KallsymsStyle::None`].
    pub vmcoreinfo_symbols: Vec<(&'static str, u64)>,
    /// The System.map text, for kernels without VMCOREINFO kallsyms.
    pub system_map: Option<String>,
}

/// `nm`'s type letter for a symbol of the synthetic image.
fn type_letter(s: &ExecSymbol) -> u8 {
    match (s.kind, s.sect) {
        (ExecSymbolKind::Func, _) | (_, ExecSection::Text) => b'T',
        (_, ExecSection::Bss) => b'B',
        _ => b'D',
    }
}

/// Places the BTF and the kallsyms tables (or writes a System.map) and
/// adds `__start_BTF`/`__stop_BTF` to `syms`.
pub(super) fn place(
    plan: &Plan,
    layouts: &pgsync_dump::write::layout::Layouts,
    mem: &mut PhysMem,
    syms: &mut Vec<ExecSymbol>,
) -> Result<DumpDebugInfo, SynthError> {
    let pa = |link: u64| {
        link.wrapping_add(plan.kaslr_offset)
            .wrapping_sub(START_KERNEL_MAP)
            .wrapping_add(plan.phys_base)
    };
    let btf = write_btf(layouts)?;
    mem.write(pa(BTF_LINK), &btf);
    let stop = BTF_LINK + btf.len() as u64;
    for (name, link) in [("__start_BTF", BTF_LINK), ("__stop_BTF", stop)] {
        syms.push(ExecSymbol {
            name: name.into(),
            link,
            size: 0,
            kind: ExecSymbolKind::NoType,
            sect: ExecSection::Text,
        });
    }
    let zero_based = plan.percpu == PercpuScheme::ZeroBased;
    let offsets = match plan.kallsyms {
        KallsymsStyle::None => return Ok(system_map(syms)),
        KallsymsStyle::AbsolutePercpu => OffsetsLayout::AbsolutePercpu,
        KallsymsStyle::RelativeBase => OffsetsLayout::RelativeBase,
        KallsymsStyle::PlaceRelative => OffsetsLayout::PlaceRelative,
    };
    let inputs: Vec<KallsymsInput> = syms
        .iter()
        .map(|s| {
            let absolute = zero_based && s.sect == ExecSection::Percpu;
            KallsymsInput {
                name: s.name.clone(),
                type_letter: type_letter(s),
                address: if absolute {
                    s.link
                } else {
                    s.link.wrapping_add(plan.kaslr_offset)
                },
                absolute,
            }
        })
        .collect();
    let base_link = (stop + 0xfff) & !0xfff;
    let layout = KallsymsLayout {
        offsets,
        big_names: true,
    };
    let encoded = encode(&inputs, layout, base_link.wrapping_add(plan.kaslr_offset))
        .map_err(|e| SynthError::Plan(format!("kallsyms: {e}")))?;
    mem.write(pa(base_link), &encoded.bytes);
    Ok(DumpDebugInfo {
        vmcoreinfo_symbols: encoded.vmcoreinfo_symbols(),
        system_map: None,
    })
}

/// `nm -n vmlinux` as kbuild's scripts/mksysmap writes it: link addresses,
/// sorted.
fn system_map(syms: &[ExecSymbol]) -> DumpDebugInfo {
    let mut lines: Vec<(u64, String)> = syms
        .iter()
        .map(|s| {
            let line = format!("{:016x} {} {}\n", s.link, type_letter(s) as char, s.name);
            (s.link, line)
        })
        .collect();
    lines.sort();
    DumpDebugInfo {
        vmcoreinfo_symbols: Vec::new(),
        system_map: Some(lines.into_iter().map(|(_, l)| l).collect()),
    }
}
