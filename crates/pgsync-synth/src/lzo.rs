//! A small LZO1X encoder for fixture pages (the crate decodes LZO only, and
//! the fixture generator cannot use the dev-only `lzokay-native`).
//!
//! It emits a valid LZO1X stream (Documentation/staging/lzo.rst) from two
//! instruction kinds only: literal runs and M3 matches (`001LLLLL` +
//! 16-bit distance, distances up to 16 KiB, any length), plus the
//! end-of-stream M4 (`0x11 0x00 0x00`). Literal runs of 1-3 bytes after a
//! match ride in the match's low distance bits, as LZO requires; the first
//! run uses the first-byte form (`17 + n`). Greedy matching with a hash of
//! 4-byte sequences is enough for mostly-zero kernel pages.

const MIN_MATCH: usize = 4;
const MAX_DISTANCE: usize = 16384;
const HASH_BITS: u32 = 12;

fn hash(b: &[u8]) -> usize {
    let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    (v.wrapping_mul(0x9e37_79b1) >> (32 - HASH_BITS)) as usize
}

/// Extra length bytes: `n` zero bytes each worth 255, then a non-zero byte.
fn push_len(out: &mut Vec<u8>, mut rest: usize) {
    while rest > 255 {
        out.push(0);
        rest -= 255;
    }
    out.push(rest as u8);
}

/// Appends a literal run of `lit` (at least 4 bytes unless first).
fn push_literals(out: &mut Vec<u8>, lit: &[u8], first: bool) {
    let n = lit.len();
    if first && n <= 238 {
        out.push((17 + n) as u8);
    } else if n <= 18 {
        out.push((n - 3) as u8);
    } else {
        out.push(0);
        push_len(out, n - 18);
    }
    out.extend_from_slice(lit);
}

/// An M3 match of `len` (>= 3) bytes `dist` (1..=16384) back, followed by
/// `trailing` (0..=3) literals that the caller appends.
fn push_match(out: &mut Vec<u8>, len: usize, dist: usize, trailing: usize) {
    if len <= 33 {
        out.push(0x20 | (len - 2) as u8);
    } else {
        out.push(0x20);
        push_len(out, len - 33);
    }
    let d = (((dist - 1) << 2) | trailing) as u16;
    out.extend_from_slice(&d.to_le_bytes());
}

/// Compresses `input` to an LZO1X stream.
pub fn compress(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 2 + 16);
    let mut table = vec![usize::MAX; 1 << HASH_BITS];
    let mut pos = 0usize;
    let mut lit_start = 0usize;
    // Whether anything was emitted (the first run has a special form).
    let mut started = false;
    while pos + MIN_MATCH <= input.len() {
        let h = hash(&input[pos..]);
        let cand = table[h];
        table[h] = pos;
        let found = cand != usize::MAX
            && pos - cand <= MAX_DISTANCE
            && input[cand..cand + MIN_MATCH] == input[pos..pos + MIN_MATCH];
        // A match needs a literal before it at the start of the stream.
        if !found || (!started && pos == lit_start && pos == 0) {
            pos += 1;
            continue;
        }
        let mut len = MIN_MATCH;
        while pos + len < input.len() && input[cand + len] == input[pos + len] {
            len += 1;
        }
        let lit = &input[lit_start..pos];
        if !started {
            push_literals(&mut out, lit, true);
        } else if lit.len() >= 4 {
            push_literals(&mut out, lit, false);
        } else if !lit.is_empty() {
            // 1-3 literals belong to the previous match's low bits.
            let n = out.len();
            out[n - 2] |= lit.len() as u8;
            out.extend_from_slice(lit);
        }
        started = true;
        push_match(&mut out, len, pos - cand, 0);
        pos += len;
        lit_start = pos;
    }
    let lit = &input[lit_start..];
    if !started {
        if !lit.is_empty() {
            push_literals(&mut out, lit, true);
        }
    } else if lit.len() >= 4 {
        push_literals(&mut out, lit, false);
    } else if !lit.is_empty() {
        let n = out.len();
        out[n - 2] |= lit.len() as u8;
        out.extend_from_slice(lit);
    }
    out.extend_from_slice(&[0x11, 0, 0]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(data: &[u8]) {
        let c = compress(data);
        let mut out = vec![0u8; data.len()];
        let n = pgsync_dump::dump::kdump::lzo::decompress(&c, &mut out).expect("our decoder");
        assert_eq!(&out[..n], data);
        let mut reader = std::io::Cursor::new(&c);
        let out2 = lzokay_native::decompress(&mut reader, Some(data.len())).expect("lzokay");
        assert_eq!(out2, data);
    }

    #[test]
    fn pages_round_trip_through_both_decoders() {
        let mut r = super::super::rng::Rng::new(7);
        let zero = vec![0u8; 4096];
        roundtrip(&zero);
        let mut sparse = zero.clone();
        for i in 0..40 {
            let at = r.range(0, 4088) as usize;
            sparse[at..at + 8].copy_from_slice(&(r.next_u64() >> (i % 9)).to_le_bytes());
        }
        roundtrip(&sparse);
        let text: Vec<u8> = (0..4096)
            .map(|i| b"BUG: unable to handle "[i % 22])
            .collect();
        roundtrip(&text);
        let noise: Vec<u8> = (0..4096).map(|_| r.next_u64() as u8).collect();
        roundtrip(&noise);
        for n in [1usize, 2, 3, 4, 5, 17, 18, 19, 238, 239, 300] {
            roundtrip(&noise[..n]);
            let mut v = noise[..n].to_vec();
            v.extend_from_slice(&zero[..100]);
            v.extend_from_slice(&noise[..n.min(3)]);
            roundtrip(&v);
        }
    }
}
