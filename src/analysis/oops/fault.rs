//! The page-fault lines: "BUG: ...", the two "#PF:" lines and the page-table walk.

use super::text::{find_after, find_word_after, leading_hex, whole_hex_token};
use super::{
    CpuMode, FaultKind, FaultLine, OopsWalk, OopsWalkEntry, PfAccess, PfAccessKind, PfErrorCode,
    PfPrivilege,
};
use crate::arch::x86_64::paging::Level;

pub(super) fn parse_fault_line(text: &str) -> Option<FaultLine> {
    let forms: [(&str, FaultKind, bool); 4] = [
        (
            "BUG: unable to handle page fault for address: ",
            FaultKind::PageFault,
            false,
        ),
        (
            "BUG: kernel NULL pointer dereference, address: ",
            FaultKind::NullPointerDereference,
            false,
        ),
        (
            "BUG: unable to handle kernel paging request at ",
            FaultKind::PageFault,
            true,
        ),
        (
            "BUG: unable to handle kernel NULL pointer dereference at ",
            FaultKind::NullPointerDereference,
            true,
        ),
    ];
    forms.iter().find_map(|&(marker, kind, legacy_wording)| {
        let rest = find_after(text, marker)?;
        let address = if rest.trim_start().starts_with("(null)") {
            Some(0)
        } else {
            leading_hex(rest)
        };
        Some(FaultLine {
            kind,
            address,
            legacy_wording,
        })
    })
}

pub(super) fn parse_pf_access(s: &str) -> PfAccess {
    let privilege = if s.starts_with("supervisor") {
        Some(PfPrivilege::Supervisor)
    } else if s.starts_with("user") {
        Some(PfPrivilege::User)
    } else {
        None
    };
    let access = if s.contains("instruction fetch") {
        Some(PfAccessKind::InstructionFetch)
    } else if s.contains("write access") {
        Some(PfAccessKind::Write)
    } else if s.contains("read access") {
        Some(PfAccessKind::Read)
    } else {
        None
    };
    let mode = match find_after(s, " in ").map(str::trim_start) {
        Some(m) if m.starts_with("kernel") => Some(CpuMode::Kernel),
        Some(m) if m.starts_with("user") => Some(CpuMode::User),
        _ => None,
    };
    PfAccess {
        privilege,
        access,
        mode,
    }
}

/// After "#PF: error_code(": "0x0000) - not-present page".
pub(super) fn parse_pf_error(s: &str) -> PfErrorCode {
    let code = leading_hex(s);
    let reason = find_after(s, ") - ")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    PfErrorCode { code, reason }
}

fn level_named(name: &str) -> Option<Level> {
    match name {
        "PGD" => Some(Level::Pgd),
        "P4D" => Some(Level::P4d),
        "PUD" => Some(Level::Pud),
        "PMD" => Some(Level::Pmd),
        "PTE" => Some(Level::Pte),
        _ => None,
    }
}

pub(super) fn parse_walk(text: &str) -> Option<OopsWalk> {
    let rest = find_word_after(text, "PGD ")?;
    let mut entries = vec![OopsWalkEntry {
        level: Level::Pgd,
        value: whole_hex_token(rest.split_whitespace().next()?)?,
    }];
    let mut words = rest.split_whitespace().skip(1);
    let mut bad = false;
    // At most the four levels below the PGD.
    for _ in 0..4 {
        let Some(name) = words.next() else { break };
        if name == "BAD" {
            bad = true;
            break;
        }
        let Some(level) = level_named(name) else {
            break;
        };
        // A truncated line can end after the name.
        let Some(value) = words.next().and_then(whole_hex_token) else {
            break;
        };
        if entries.last().is_some_and(|l| l.level >= level) {
            break;
        }
        entries.push(OopsWalkEntry { level, value });
    }
    Some(OopsWalk { entries, bad })
}
