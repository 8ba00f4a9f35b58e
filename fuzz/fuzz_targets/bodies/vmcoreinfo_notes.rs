//! ELF note parsing as the dump readers do it (goblin's note iterator with
//! 4-byte alignment) feeding `DumpNotes` (NT_PRSTATUS, QEMU CPU state,
//! VMCOREINFO), and the VMCOREINFO text parser on its own.
//! Seeds: note areas and VMCOREINFO texts cut from the fixtures.

use pgsync_dump::dump::VmcoreInfo;
use pgsync_dump::dump::notes::{DumpNotes, RawNote};

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::note::NoteDataIterator;

pub fn run(data: &[u8]) {
    // The whole input as VMCOREINFO text.
    let info = VmcoreInfo::parse(data);
    let _ = (info.symbol("init_top_pgt"), info.number("phys_base"));

    // The whole input as a PT_NOTE area.
    let mut notes = DumpNotes::default();
    let iter = NoteDataIterator {
        data,
        offset: 0,
        size: data.len(),
        ctx: (4, Ctx::new(Container::Big, Endian::Little)),
    };
    for note in iter {
        match note {
            Ok(n) => notes.add(RawNote {
                name: n.name,
                n_type: n.n_type,
                desc: n.desc,
            }),
            Err(_) => break,
        }
    }
    // And as the descriptor of each note kind the reader knows.
    for (name, ty) in [("CORE", 1), ("QEMU", 0), ("VMCOREINFO", 0)] {
        notes.add(RawNote {
            name,
            n_type: ty,
            desc: data,
        });
    }
    let _ = notes.cpus.len();
}
