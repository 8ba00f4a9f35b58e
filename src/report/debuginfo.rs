//! The `debuginfo` object of the reports: where the symbols and the types
//! came from (docs/json-schema.md). Additive to schema v1.

use serde::Serialize;

use crate::debuginfo::{Description, PartOrigin};

use super::hex;

/// `debuginfo` in `analyze --format json` and `info --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DebugInfoJson {
    /// `dwarf` (a vmlinux) or `btf` (the dump's own tables, or files
    /// standing in for them).
    pub source: &'static str,
    /// The vmlinux's build-id (dwarf), or the dump's VMCOREINFO BUILD-ID (btf).
    pub build_id: Option<String>,
    pub symbols: PartJson,
    pub types: PartJson,
    /// Which step of the search gave it: `--vmlinux`, `next to the dump`,
    /// `debug path`, `debuginfod cache`, `debuginfod <URL>`, or `dump`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found_by: Option<String>,
    /// Steps that gave nothing before it, one line each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tried: Vec<String>,
}

/// One part: what it is, and the file or dump address it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartJson {
    /// `vmlinux-symtab`, `vmcoreinfo-kallsyms`, `system-map` (symbols);
    /// `vmlinux-dwarf`, `dump-btf`, `btf-file` (types).
    pub from: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Kernel virtual address of the table in the dump.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Symbols (kallsyms, System.map) or types (BTF) it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

impl From<&PartOrigin> for PartJson {
    fn from(p: &PartOrigin) -> Self {
        PartJson {
            from: p.from,
            path: p.path.as_ref().map(|p| p.display().to_string()),
            address: p.address.map(hex),
            bytes: p.bytes,
            count: p.count,
        }
    }
}

impl From<&Description> for DebugInfoJson {
    fn from(d: &Description) -> Self {
        DebugInfoJson {
            source: d.source,
            build_id: d.build_id.clone(),
            symbols: (&d.symbols).into(),
            types: (&d.types).into(),
            found_by: None,
            tried: Vec::new(),
        }
    }
}

impl DebugInfoJson {
    /// One line for people: "vmlinux PATH", or where symbols and types came from.
    pub fn summary(&self) -> String {
        let part = |p: &PartJson| match (&p.path, &p.address) {
            (Some(path), _) => format!("{} {path}", p.from),
            (None, Some(a)) => format!("{} at {a}", p.from),
            (None, None) => p.from.to_string(),
        };
        match (self.source, &self.symbols.path) {
            ("dwarf", Some(path)) => format!("vmlinux {path}"),
            _ => format!(
                "no vmlinux: symbols from {}, types from {}",
                part(&self.symbols),
                part(&self.types)
            ),
        }
    }
}
