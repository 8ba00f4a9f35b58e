//! The instruction pointer: "RIP: 0010:func+0x12/0x30 [module]" and the older "IP: " line.

use super::OopsRip;
use super::text::{find_word_after, leading_hex, whole_hex_token};

/// "func+0x12/0x30" (the "%pS" format), optionally followed by " [module]".
fn parse_symbol(s: &str) -> (Option<String>, Option<u64>, Option<u64>, Option<String>) {
    let s = s.trim();
    let mut words = s.split_whitespace();
    let sym = words.next().unwrap_or("");
    let module = words
        .next()
        .and_then(|m| m.strip_prefix('['))
        .map(|m| m.trim_end_matches(']').to_string())
        .filter(|m| !m.is_empty());
    if sym.is_empty() {
        return (None, None, None, module);
    }
    match sym.rsplit_once('+') {
        Some((name, off_size)) => {
            let (off, size) = match off_size.split_once('/') {
                Some((o, z)) => (leading_hex(o), leading_hex(z)),
                None => (leading_hex(off_size), None),
            };
            let name = (!name.is_empty()).then(|| name.to_string());
            (name, off, size, module)
        }
        None => (Some(sym.to_string()), None, None, module),
    }
}

/// "[<ffffffff81234567>] rest" -> (address, rest).
fn bracketed_address(s: &str) -> Option<(u64, &str)> {
    let inner = s.trim_start().strip_prefix("[<")?;
    let end = inner.find(">]")?;
    let addr = whole_hex_token(inner.get(..end)?)?;
    Some((addr, inner.get(end + 2..).unwrap_or("")))
}

pub(super) fn parse_rip(text: &str) -> Option<OopsRip> {
    let rest = find_word_after(text, "RIP: ")?;
    let (cs_text, target) = rest.split_once(':')?;
    let cs_text = cs_text.trim();
    if cs_text.is_empty() || cs_text.len() > 4 {
        return None;
    }
    let cs = u16::from_str_radix(cs_text, 16).ok()?;
    let mut rip = rip_target(target);
    rip.cs = Some(cs);
    Some(rip)
}

/// The part after "RIP: 0010:" or "IP: ".
fn rip_target(target: &str) -> OopsRip {
    let mut rip = OopsRip {
        cs: None,
        symbol: None,
        offset: None,
        size: None,
        module: None,
        address: None,
    };
    let t = target.trim_start();
    let symbol_text = if let Some((addr, rest)) = bracketed_address(t) {
        // Old format: "[<addr>]  [<addr>] func+0x12/0x30" or "[<addr>] func+..".
        rip.address = Some(addr);
        bracketed_address(rest).map_or(rest, |(_, r)| r)
    } else if t.starts_with("0x") {
        // A user address without symbol: "0x7f1234567890".
        rip.address = leading_hex(t);
        ""
    } else {
        t
    };
    let (symbol, offset, size, module) = parse_symbol(symbol_text);
    rip.symbol = symbol;
    rip.offset = offset;
    rip.size = size;
    rip.module = module;
    rip
}

/// Kernels before 4.18: "IP: func+0x12/0x30" / "IP: [<ffffffff8123>] func+..".
pub(super) fn parse_legacy_ip(text: &str) -> Option<OopsRip> {
    let rest = find_word_after(text, "IP: ")?;
    let rip = rip_target(rest);
    (rip.symbol.is_some() || rip.address.is_some()).then_some(rip)
}
