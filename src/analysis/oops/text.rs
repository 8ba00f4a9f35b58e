//! Small scanners for the numbers and markers of oops lines.

/// The text after the first occurrence of `marker`.
pub(super) fn find_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let i = text.find(marker)?;
    text.get(i + marker.len()..)
}

/// The text after `marker` where it starts a word (not preceded by a letter,
/// digit or '_'), e.g. "IP: " but not the one inside "RIP: ".
pub(super) fn find_word_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let mut from = 0usize;
    for _ in 0..64 {
        let rel = text.get(from..)?.find(marker)?;
        let at = from + rel;
        let boundary = text
            .get(..at)
            .and_then(|b| b.chars().next_back())
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        if boundary {
            return text.get(at + marker.len()..);
        }
        from = at + marker.len();
    }
    None
}

/// Hex number at the start of `s` (optional "0x"), at most 16 digits.
pub(super) fn leading_hex(s: &str) -> Option<u64> {
    let s = s.trim_start();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let digits = s.bytes().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return None;
    }
    u64::from_str_radix(s.get(..digits)?, 16).ok()
}

/// Decimal number at the start of `s`.
pub(super) fn leading_dec(s: &str) -> Option<u32> {
    let s = s.trim_start();
    let digits = s.bytes().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 10 {
        return None;
    }
    s.get(..digits)?.parse().ok()
}

/// A token that is entirely a hex number (no "0x": `%lx`).
pub(super) fn whole_hex_token(tok: &str) -> Option<u64> {
    if tok.is_empty() || tok.len() > 16 || !tok.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(tok, 16).ok()
}
