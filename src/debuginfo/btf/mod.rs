//! Struct layouts from BTF (the BPF Type Format a kernel built with
//! CONFIG_DEBUG_INFO_BTF keeps in its `.BTF` section and in memory between
//! `__start_BTF` and `__stop_BTF`), answering the same queries as the DWARF
//! reader ([`crate::debuginfo::TypeInfo`]) with the same values.
//!
//! Our own reader, bounded as the rest of the crate: the crates that parse
//! BTF either parse every type eagerly into owned values without bounding
//! what a header claims (`btf`, `btfparse`), are LGPL (`btf-rs`), or come
//! with an eBPF loader (`aya-obj`).
//!
//! - `header`: the header and the sections' bounds ([`Btf::parse`]).
//! - `index`: one pass over the type section, on the first query: each type
//!   id's offset and the struct/union/typedef names (about 2 ms for the
//!   ~100k types of a 6.1 kernel).
//! - `resolve`: a struct resolved into a self-contained [`StructType`],
//!   cached by name (answers and errors) and by type id (members).
//!
//! See docs/debuginfo.md ("BTF") for what differs from DWARF.

mod header;
mod index;
mod resolve;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

pub use header::{BTF_MAGIC, BtfError};
use index::TypeTable;

use super::types::{MemberNode, StructType, TypeError, TypeSource};

/// What queries have resolved so far.
#[derive(Default)]
struct Answers {
    /// [`Btf::struct_type`] answers, errors included, by name.
    structs: HashMap<String, Result<StructType, TypeError>>,
    /// Resolved members by struct/union type id.
    members: HashMap<u32, Arc<[MemberNode]>>,
}

/// A BTF blob (owned) and what has been read from it. `Sync`: the index is
/// built once, answers are kept under a mutex never held across a lookup.
pub struct Btf {
    bytes: Vec<u8>,
    origin: PathBuf,
    layout: header::Layout,
    table: OnceLock<TypeTable>,
    answers: Mutex<Answers>,
}

impl std::fmt::Debug for Btf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Btf")
            .field("origin", &self.origin)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl Btf {
    /// Checks the header (magic 0xeB9F little-endian, version 1, `hdr_len`,
    /// both sections inside `bytes`). Types are read on the first query.
    /// `origin` names the source in messages ("vmcore BTF at 0x...", a path).
    pub fn parse(bytes: Vec<u8>, origin: impl Into<PathBuf>) -> Result<Btf, BtfError> {
        let origin = origin.into();
        let layout = header::parse(&bytes, &origin)?;
        Ok(Btf {
            bytes,
            origin,
            layout,
            table: OnceLock::new(),
            answers: Mutex::new(Answers::default()),
        })
    }

    /// Where the bytes came from, as given to [`Btf::parse`].
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// The blob, header included.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Number of type ids (void, id 0, included) the type section holds up
    /// to its end or its first malformed record. Builds the index.
    pub fn type_count(&self) -> usize {
        self.table().id_count()
    }

    /// Struct or union by tag name, or by a typedef name resolving to one:
    /// the first complete definition in type-id order (forward declarations
    /// are skipped). The same values as `TypeInfo::struct_type` from the
    /// kernel's DWARF, except [`StructType::die_offset`], here the type id.
    /// Cached (errors too).
    pub fn struct_type(&self, name: &str) -> Result<StructType, TypeError> {
        if let Some(r) = self.answers().structs.get(name) {
            return r.clone();
        }
        let result = self.lookup_struct(name);
        self.answers()
            .structs
            .insert(name.to_string(), result.clone());
        result
    }

    /// Resolves `names` into the cache (the one index pass covers every
    /// name, so this only front-loads the work). Errors are kept for
    /// [`Btf::struct_type`].
    pub fn prefetch(&self, names: &[&str]) {
        for n in names {
            let _ = self.struct_type(n);
        }
    }

    fn table(&self) -> &TypeTable {
        self.table.get_or_init(|| {
            TypeTable::build(
                &self.bytes,
                self.layout.types.clone(),
                self.layout.strings.clone(),
            )
        })
    }

    fn answers(&self) -> MutexGuard<'_, Answers> {
        // Every update is a single insert: a panic elsewhere cannot leave
        // the answers half-written.
        self.answers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn malformed(&self, offset: usize, reason: impl std::fmt::Display) -> TypeError {
        TypeError::MalformedBtf {
            origin: self.origin.clone(),
            offset: offset as u64,
            reason: reason.to_string(),
        }
    }

    fn lookup_struct(&self, name: &str) -> Result<StructType, TypeError> {
        let table = self.table();
        if let Some(&id) = table.tags.get(name.as_bytes()) {
            return self.build_struct(name, id);
        }
        if let Some(&id) = table.typedefs.get(name.as_bytes())
            && let Some(found) = self.struct_through_typedef(name, id)?
        {
            return Ok(found);
        }
        if let Some((offset, reason)) = &table.stopped {
            return Err(self.malformed(*offset, reason));
        }
        Err(TypeError::NotFound {
            name: name.to_string(),
            file: self.origin.clone(),
            format: TypeSource::Btf,
        })
    }
}

#[cfg(test)]
mod tests;
