//! What journald, syslog and dmesg put before the kernel's own text.

/// Removes `<N>`, `[  1.234567]`, `[T123]`/`[C1]` and `host kernel: `
/// prefixes.
pub(crate) fn strip_log_prefix(line: &str) -> &str {
    let mut s = line.trim_start();
    if let Some(kernel) = s.find(" kernel: ") {
        // journalctl / syslog: "Mar 10 12:00:00 host kernel: ..."
        if kernel < 64 {
            s = s.get(kernel + " kernel: ".len()..).unwrap_or(s);
        }
    }
    for _ in 0..4 {
        let t = s.trim_start();
        let next = if let Some(rest) = t.strip_prefix('<') {
            match rest.find('>') {
                Some(end)
                    if end <= 4
                        && rest
                            .get(..end)
                            .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit())) =>
                {
                    rest.get(end + 1..)
                }
                _ => None,
            }
        } else if let Some(rest) = t.strip_prefix('[') {
            match rest.find(']') {
                Some(end) if end <= 24 => {
                    let inner = rest.get(..end).unwrap_or("").trim();
                    let stamp = inner.bytes().all(|b| b.is_ascii_digit() || b == b'.');
                    let caller = (inner.starts_with('T') || inner.starts_with('C'))
                        && inner.len() > 1
                        && inner.bytes().skip(1).all(|b| b.is_ascii_digit());
                    if stamp || caller {
                        rest.get(end + 1..)
                    } else {
                        None
                    }
                }
                _ => None,
            }
        } else {
            None
        };
        match next {
            Some(n) => s = n,
            None => break,
        }
    }
    s.trim_start()
}

/// "[  123.456789] ..." -> nanoseconds.
pub(super) fn dmesg_timestamp_nsec(line: &str) -> Option<u64> {
    let mut t = line.trim_start();
    // An optional syslog level first: "<4>[  1.5] ...".
    if let Some(after_level) = t.strip_prefix('<').and_then(|r| r.split_once('>')) {
        if after_level.0.len() <= 4 && after_level.0.bytes().all(|b| b.is_ascii_digit()) {
            t = after_level.1;
        }
    }
    let rest = t.trim_start().strip_prefix('[')?;
    let inner = rest.get(..rest.find(']')?)?.trim();
    let (secs, frac) = inner.split_once('.')?;
    let secs: u64 = secs.parse().ok()?;
    if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_num: u64 = frac.parse().ok()?;
    let scale = 10u64.checked_pow(9 - frac.len() as u32)?;
    secs.checked_mul(1_000_000_000)?
        .checked_add(frac_num.checked_mul(scale)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_stripped() {
        assert_eq!(
            strip_log_prefix("<4>[   12.345678] [    T123] Oops"),
            "Oops"
        );
        assert_eq!(strip_log_prefix("[  C2] PGD 0"), "PGD 0");
        assert_eq!(strip_log_prefix("Mar 10 12:00:00 host kernel: BAD"), "BAD");
        assert_eq!(strip_log_prefix("[not a stamp] x"), "[not a stamp] x");
        assert_eq!(
            dmesg_timestamp_nsec("[    1.500000] x"),
            Some(1_500_000_000)
        );
        assert_eq!(
            dmesg_timestamp_nsec("<4>[    1.500000] x"),
            Some(1_500_000_000)
        );
        assert_eq!(dmesg_timestamp_nsec("[x] y"), None);
    }
}
