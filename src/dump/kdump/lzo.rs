//! A bounded LZO1X decoder for kdump pages (`DUMP_DH_COMPRESSED_LZO`).
//!
//! Why our own: the pure-Rust LZO crates on crates.io did not fit.
//! `rust-lzo` (a corrode translation of Linux's decoder) and `lzo1x` are
//! GPL-2.0, which this MIT/Apache-2.0 crate cannot take; `minilzo-rs` binds
//! the C minilzo (and is GPL-3.0); `lzokay-native` (MIT) indexes its output
//! with unchecked back-reference distances, so a corrupt page panics (and
//! it allocates for every literal run). The format is small and documented
//! (Linux Documentation/staging/lzo.rst, liblzo's LZO1X): this decoder is
//! written from that description, writes into a caller-sized buffer, checks
//! every distance and length, and returns an error instead of panicking.
//! Tests cross-check it against `lzokay-native`'s compressor and pages that
//! Debian's makedumpfile (liblzo2) wrote.

/// Why a stream did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LzoError {
    /// The input ended inside an instruction.
    InputOverrun { at: usize },
    /// The output would exceed the buffer (the page).
    OutputOverrun { at: usize },
    /// A back-reference points before the start of the output.
    LookbehindOverrun {
        at: usize,
        distance: usize,
        produced: usize,
    },
    /// Bytes follow the end-of-stream marker.
    TrailingInput { at: usize, left: usize },
}

impl std::fmt::Display for LzoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LzoError::InputOverrun { at } => {
                write!(f, "LZO stream ends inside an instruction at byte {at}")
            }
            LzoError::OutputOverrun { at } => {
                write!(f, "LZO stream at byte {at} decodes to more than a page")
            }
            LzoError::LookbehindOverrun {
                at,
                distance,
                produced,
            } => write!(
                f,
                "LZO instruction at byte {at} copies from {distance} bytes back but only {produced} were decoded"
            ),
            LzoError::TrailingInput { at, left } => {
                write!(f, "{left} bytes follow the LZO end marker at byte {at}")
            }
        }
    }
}

struct Input<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> Result<u8, LzoError> {
        let v = *self
            .b
            .get(self.pos)
            .ok_or(LzoError::InputOverrun { at: self.pos })?;
        self.pos += 1;
        Ok(v)
    }

    fn le16(&mut self) -> Result<usize, LzoError> {
        let lo = self.byte()? as usize;
        let hi = self.byte()? as usize;
        Ok(lo | hi << 8)
    }

    /// `base + (zero bytes * 255) + the first non-zero byte`: LZO's long
    /// length encoding. Bounded by the input length.
    fn long_len(&mut self, base: usize) -> Result<usize, LzoError> {
        let mut n = base;
        loop {
            let v = self.byte()?;
            if v != 0 {
                return Ok(n + v as usize);
            }
            n += 255;
        }
    }
}

struct Output<'a> {
    b: &'a mut [u8],
    pos: usize,
}

impl Output<'_> {
    fn literals(&mut self, input: &mut Input<'_>, n: usize) -> Result<(), LzoError> {
        let src = input
            .b
            .get(input.pos..input.pos.saturating_add(n))
            .ok_or(LzoError::InputOverrun { at: input.pos })?;
        let dst = self
            .b
            .get_mut(self.pos..self.pos.saturating_add(n))
            .ok_or(LzoError::OutputOverrun { at: input.pos })?;
        dst.copy_from_slice(src);
        input.pos += n;
        self.pos += n;
        Ok(())
    }

    fn copy_match(&mut self, at: usize, distance: usize, len: usize) -> Result<(), LzoError> {
        if distance == 0 || distance > self.pos {
            return Err(LzoError::LookbehindOverrun {
                at,
                distance,
                produced: self.pos,
            });
        }
        let end = self.pos.checked_add(len).filter(|&e| e <= self.b.len());
        let Some(end) = end else {
            return Err(LzoError::OutputOverrun { at });
        };
        let from = self.pos - distance;
        if distance >= len {
            self.b.copy_within(from..from + len, self.pos);
        } else {
            // Overlapping copy: byte by byte, as the format means it.
            for i in 0..len {
                self.b[self.pos + i] = self.b[from + i];
            }
        }
        self.pos = end;
        Ok(())
    }
}

/// Decodes one LZO1X stream into `out`; returns the number of bytes
/// written. The whole input must be consumed (as liblzo's
/// `lzo1x_decompress_safe`, which makedumpfile and crash use, requires).
pub fn decompress(input: &[u8], out: &mut [u8]) -> Result<usize, LzoError> {
    let mut ip = Input { b: input, pos: 0 };
    let mut op = Output { b: out, pos: 0 };
    // `state`: literals copied after the previous instruction (4 = "4 or
    // more"), which changes the meaning of instructions 0..15.
    let mut state: usize;

    let first = *input.first().ok_or(LzoError::InputOverrun { at: 0 })?;
    if first > 17 {
        ip.pos = 1;
        let n = (first - 17) as usize;
        op.literals(&mut ip, n)?;
        state = if n < 4 { n } else { 4 };
    } else {
        state = 0;
    }

    // Every iteration consumes at least one input byte, so the loop is
    // bounded by the input length.
    loop {
        let at = ip.pos;
        let inst = ip.byte()? as usize;
        let (distance, len, next_state);
        if inst >= 64 {
            // M2: 1LLDDDSS / 01LDDDSS + H: distance (H << 3) + D + 1.
            let h = ip.byte()? as usize;
            distance = (h << 3) + ((inst >> 2) & 7) + 1;
            len = if inst >= 128 {
                5 + ((inst >> 5) & 3)
            } else {
                3 + ((inst >> 5) & 1)
            };
            next_state = inst & 3;
        } else if inst >= 32 {
            // M3: 001LLLLL [+ length bytes] + LE16 DDDDDDDD DDDDDDSS.
            let l = inst & 31;
            len = 2 + if l == 0 { ip.long_len(31)? } else { l };
            let d = ip.le16()?;
            distance = (d >> 2) + 1;
            next_state = d & 3;
        } else if inst >= 16 {
            // M4: 0001HLLL [+ length bytes] + LE16; distance 16384 + ...;
            // distance exactly 16384 is the end of the stream.
            let l = inst & 7;
            len = 2 + if l == 0 { ip.long_len(7)? } else { l };
            let d = ip.le16()?;
            let dist = ((inst & 8) << 11) + (d >> 2);
            if dist == 0 {
                if ip.pos != input.len() {
                    return Err(LzoError::TrailingInput {
                        at: ip.pos,
                        left: input.len() - ip.pos,
                    });
                }
                return Ok(op.pos);
            }
            distance = dist + 16384;
            next_state = d & 3;
        } else if state == 0 {
            // Long literal run: 0000LLLL [+ length bytes]: 3 + L literals.
            let n = 3 + if inst == 0 { ip.long_len(15)? } else { inst };
            op.literals(&mut ip, n)?;
            state = 4;
            continue;
        } else if state < 4 {
            // M1 after 1..3 literals: 2 bytes from (H << 2) + D + 1 back.
            let h = ip.byte()? as usize;
            distance = (h << 2) + (inst >> 2) + 1;
            len = 2;
            next_state = inst & 3;
        } else {
            // M1 after 4+ literals: 3 bytes from (H << 2) + D + 2049 back.
            let h = ip.byte()? as usize;
            distance = (h << 2) + (inst >> 2) + 2049;
            len = 3;
            next_state = inst & 3;
        }
        op.copy_match(at, distance, len)?;
        op.literals(&mut ip, next_state)?;
        state = next_state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_only_stream() {
        // 22..: first-byte literal run of (byte - 17) bytes, then the end
        // marker 0x11 0x00 0x00.
        let mut s = vec![17 + 5];
        s.extend_from_slice(b"hello");
        s.extend_from_slice(&[0x11, 0, 0]);
        let mut out = [0u8; 16];
        assert_eq!(decompress(&s, &mut out), Ok(5));
        assert_eq!(&out[..5], b"hello");
    }

    #[test]
    fn round_trips_against_an_independent_compressor() {
        let mut page = vec![0u8; 4096];
        for (i, b) in page.iter_mut().enumerate() {
            *b = match i % 700 {
                0..=99 => (i % 7) as u8,
                100..=399 => 0,
                _ => (i.wrapping_mul(2654435761) >> 13) as u8,
            };
        }
        let mut pages = vec![page, vec![0u8; 4096], vec![0xa5; 4096]];
        let mut x: u32 = 12345;
        pages.push(
            (0..4096)
                .map(|_| {
                    x = x.wrapping_mul(1103515245).wrapping_add(12345);
                    (x >> 24) as u8 & 0x0f
                })
                .collect(),
        );
        for p in &pages {
            let c = lzokay_native::compress(p).expect("compress");
            let mut out = vec![0u8; 4096];
            assert_eq!(decompress(&c, &mut out), Ok(4096));
            assert_eq!(&out, p);
            // A buffer one byte short must fail, never panic.
            let mut short = vec![0u8; 4095];
            assert!(matches!(
                decompress(&c, &mut short),
                Err(LzoError::OutputOverrun { .. })
            ));
        }
    }

    #[test]
    fn corrupt_streams_fail_cleanly() {
        let mut p = vec![0u8; 4096];
        for (i, b) in p.iter_mut().enumerate() {
            *b = (i / 3 % 251) as u8;
        }
        let c = lzokay_native::compress(&p).expect("compress");
        let mut out = vec![0u8; 4096];
        // Every truncation and many single-byte corruptions: errors or a
        // decode, never a panic.
        for n in 0..c.len() {
            let _ = decompress(&c[..n], &mut out);
        }
        for i in 0..c.len() {
            for v in [0u8, 1, 0x11, 0x20, 0x40, 0xff] {
                let mut d = c.clone();
                d[i] = v;
                let _ = decompress(&d, &mut out);
            }
        }
        assert!(matches!(
            decompress(&[], &mut out),
            Err(LzoError::InputOverrun { .. })
        ));
        // A match before anything was decoded.
        assert!(matches!(
            decompress(&[0x12, b'a', 0x40, 0xff, 0x11, 0, 0], &mut out),
            Err(LzoError::LookbehindOverrun { .. })
        ));
        let mut trailing = c.clone();
        trailing.push(0);
        assert!(matches!(
            decompress(&trailing, &mut out),
            Err(LzoError::TrailingInput { .. })
        ));
    }
}
