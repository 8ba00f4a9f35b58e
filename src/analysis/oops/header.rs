//! The die header: "Oops: 0000 [#1] PREEMPT SMP PTI".

use super::OopsHeader;
use super::prefix::strip_log_prefix;

pub(super) fn parse_header(text: &str) -> Option<OopsHeader> {
    let open = text.find(" [#")?;
    let before = text.get(..open)?;
    let after = text.get(open + 3..)?;
    let close = after.find(']')?;
    let counter_text = after.get(..close)?;
    if counter_text.is_empty() || !counter_text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let die_counter = counter_text.parse().ok();
    // "...<label>: 0000"
    let colon = before.rfind(": ")?;
    let code_text = before.get(colon + 2..)?.trim();
    if code_text.is_empty()
        || code_text.len() > 16
        || !code_text.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    let error_code = u64::from_str_radix(code_text, 16).ok();
    let mut label = strip_log_prefix(before.get(..colon)?).trim();
    // 6.10 and later: "Oops: " + the __die() string.
    if let Some(inner) = label.strip_prefix("Oops: ") {
        if !inner.trim().is_empty() {
            label = inner.trim();
        }
    }
    let flags = after
        .get(close + 1..)
        .unwrap_or("")
        .split_whitespace()
        .take(16)
        .map(str::to_string)
        .collect();
    Some(OopsHeader {
        label: label.to_string(),
        error_code,
        die_counter,
        flags,
    })
}
