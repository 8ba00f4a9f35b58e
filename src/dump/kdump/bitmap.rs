//! The dumpable-page bitmap (the second of the two) with a rank index:
//! a page's descriptor is the `rank`-th, rank = the number of set bits
//! before its pfn. A table of cumulative counts every [`BLOCK_BITS`] bits is
//! built on open (8 bytes per 4096 pfns: 2 MiB of table per 4 TiB of RAM), so
//! a rank costs one table lookup plus a popcount over at most 512 bytes.

use super::source::{ByteSource, OutOfRange};

pub(crate) const BLOCK_BITS: u64 = 4096;
const BLOCK_BYTES: usize = (BLOCK_BITS / 8) as usize;
/// Most RAM ranges [`Bitmap::runs`] returns (real machines have a few dozen).
pub(crate) const MAX_RUNS: usize = 1 << 16;
/// Bitmap bytes read per step while building the table.
const SCAN_CHUNK: usize = 64 * BLOCK_BYTES;

/// A bitmap of `nbits` bits at file offset `offset`, with its rank table.
#[derive(Debug, Clone)]
pub(crate) struct Bitmap {
    offset: u64,
    nbits: u64,
    /// `before[i]`: set bits in `[0, i * BLOCK_BITS)`; one more entry at
    /// the end holds the total.
    before: Vec<u64>,
}

impl Bitmap {
    /// Scans the bitmap once. The caller has checked that
    /// `offset + ceil(nbits / 8)` lies inside the source.
    pub(crate) fn build(
        src: &dyn ByteSource,
        offset: u64,
        nbits: u64,
    ) -> Result<Bitmap, OutOfRange> {
        let nbytes = nbits.div_ceil(8);
        let blocks = nbits.div_ceil(BLOCK_BITS);
        let mut before = Vec::with_capacity(blocks as usize + 1);
        let mut total = 0u64;
        let mut buf = vec![0u8; SCAN_CHUNK];
        let mut done = 0u64;
        while done < nbytes {
            let n = ((nbytes - done) as usize).min(SCAN_CHUNK);
            let chunk = &mut buf[..n];
            src.read_at(offset + done, chunk)?;
            // Bits past nbits in the last byte do not count.
            if done + n as u64 == nbytes && nbits % 8 != 0 {
                if let Some(last) = chunk.last_mut() {
                    *last &= (1u8 << (nbits % 8)) - 1;
                }
            }
            for block in chunk.chunks(BLOCK_BYTES) {
                before.push(total);
                total += popcount(block);
            }
            done += n as u64;
        }
        before.push(total);
        Ok(Bitmap {
            offset,
            nbits,
            before,
        })
    }

    /// A bitmap without a rank table (only `test` and `runs` are valid).
    pub(crate) fn build_unindexed(offset: u64, nbits: u64) -> Bitmap {
        Bitmap {
            offset,
            nbits,
            before: Vec::new(),
        }
    }

    /// Number of set bits in the whole bitmap.
    pub(crate) fn count_ones(&self) -> u64 {
        self.before.last().copied().unwrap_or(0)
    }

    /// Whether bit `pfn` is set (false past the end).
    pub(crate) fn test(&self, src: &dyn ByteSource, pfn: u64) -> Result<bool, OutOfRange> {
        if pfn >= self.nbits {
            return Ok(false);
        }
        let mut b = [0u8; 1];
        src.read_at(self.offset + pfn / 8, &mut b)?;
        Ok(b[0] & (1 << (pfn % 8)) != 0)
    }

    /// Set bits in `[0, pfn)`; `pfn` may be `nbits`.
    pub(crate) fn rank(&self, src: &dyn ByteSource, pfn: u64) -> Result<u64, OutOfRange> {
        let pfn = pfn.min(self.nbits);
        let block = pfn / BLOCK_BITS;
        let base = self
            .before
            .get(block as usize)
            .copied()
            .unwrap_or_else(|| self.count_ones());
        let in_block = pfn % BLOCK_BITS;
        if in_block == 0 {
            return Ok(base);
        }
        let full = (in_block / 8) as usize;
        let mut buf = [0u8; BLOCK_BYTES];
        let with_partial = full + usize::from(in_block % 8 != 0);
        let bytes = &mut buf[..with_partial];
        src.read_at(self.offset + block * (BLOCK_BITS / 8), bytes)?;
        if in_block % 8 != 0 {
            bytes[full] &= (1u8 << (in_block % 8)) - 1;
        }
        Ok(base + popcount(bytes))
    }

    /// Maximal runs of set bits, as pfn ranges `[start, end)`; at most
    /// [`MAX_RUNS`] of them: past that, later runs are merged into the last
    /// one (the ranges only size the direct map and count RAM ranges, and a
    /// bitmap of alternating bits would otherwise cost 64 bytes per byte).
    pub(crate) fn runs(&self, src: &dyn ByteSource) -> Result<Vec<(u64, u64)>, OutOfRange> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        let push = |runs: &mut Vec<(u64, u64)>, run: (u64, u64)| {
            let full = runs.len() >= MAX_RUNS;
            match runs.last_mut() {
                Some(last) if full => last.1 = run.1,
                _ => runs.push(run),
            }
        };
        let nbytes = self.nbits.div_ceil(8);
        let mut buf = vec![0u8; SCAN_CHUNK];
        let mut done = 0u64;
        let mut open: Option<u64> = None;
        while done < nbytes {
            let n = ((nbytes - done) as usize).min(SCAN_CHUNK);
            let chunk = &mut buf[..n];
            src.read_at(self.offset + done, chunk)?;
            for (i, &byte) in chunk.iter().enumerate() {
                let base = (done + i as u64) * 8;
                // Whole bytes of zeros or ones need no bit loop.
                if byte == 0xff && base + 8 <= self.nbits {
                    open.get_or_insert(base);
                    continue;
                }
                if byte == 0 {
                    if let Some(s) = open.take() {
                        push(&mut runs, (s, base));
                    }
                    continue;
                }
                for bit in 0..8u64 {
                    let pfn = base + bit;
                    if pfn >= self.nbits {
                        break;
                    }
                    if byte & (1 << bit) != 0 {
                        open.get_or_insert(pfn);
                    } else if let Some(s) = open.take() {
                        push(&mut runs, (s, pfn));
                    }
                }
            }
            done += n as u64;
        }
        if let Some(s) = open {
            push(&mut runs, (s, self.nbits));
        }
        Ok(runs)
    }
}

fn popcount(b: &[u8]) -> u64 {
    let mut words = b.chunks_exact(8);
    let mut n: u64 = 0;
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        n += u64::from(u64::from_le_bytes(a).count_ones());
    }
    n + words
        .remainder()
        .iter()
        .map(|x| u64::from(x.count_ones()))
        .sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    struct Mem(Vec<u8>);
    impl ByteSource for Mem {
        fn len(&self) -> u64 {
            self.0.len() as u64
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), OutOfRange> {
            let o = offset as usize;
            let s = self.0.get(o..o + buf.len()).ok_or(OutOfRange {
                offset,
                len: buf.len() as u64,
                file_len: self.len(),
            })?;
            buf.copy_from_slice(s);
            Ok(())
        }
        fn path(&self) -> &Path {
            Path::new("mem")
        }
    }

    #[test]
    fn runs_are_capped() {
        // Alternating bits: one run per two pfns, 4 x MAX_RUNS of them.
        let nbits = 8 * MAX_RUNS as u64;
        let src = Mem(vec![0x55u8; nbits.div_ceil(8) as usize]);
        let b = Bitmap::build(&src, 0, nbits).expect("build");
        let runs = b.runs(&src).expect("runs");
        assert_eq!(runs.len(), MAX_RUNS);
        assert_eq!(runs[0], (0, 1));
        // The last run swallowed the rest, up to the last set bit.
        assert_eq!(runs.last().map(|r| r.1), Some(nbits - 1));
    }

    #[test]
    fn rank_matches_naive_count() {
        let nbits = 3 * BLOCK_BITS + 1234;
        let mut bytes = vec![0xffu8; 7]; // leading bytes before the bitmap
        let mut x: u64 = 7;
        let bits: Vec<bool> = (0..nbits)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Long runs of ones and zeros plus noise.
                (i / 5000) % 3 == 0 || (x >> 60) & 1 == 1
            })
            .collect();
        let mut bm = vec![0u8; nbits.div_ceil(8) as usize];
        for (i, &b) in bits.iter().enumerate() {
            if b {
                bm[i / 8] |= 1 << (i % 8);
            }
        }
        // Garbage bits past nbits must not count.
        if let Some(l) = bm.last_mut() {
            *l |= 0x80;
        }
        bytes.extend_from_slice(&bm);
        let src = Mem(bytes);
        let b = Bitmap::build(&src, 7, nbits).expect("build");
        let mut naive = 0u64;
        for pfn in 0..nbits {
            if pfn % 97 == 0 || pfn % BLOCK_BITS < 3 {
                assert_eq!(b.rank(&src, pfn), Ok(naive), "pfn {pfn}");
            }
            assert_eq!(b.test(&src, pfn), Ok(bits[pfn as usize]));
            naive += u64::from(bits[pfn as usize]);
        }
        assert_eq!(b.rank(&src, nbits), Ok(naive));
        assert_eq!(b.count_ones(), naive);
        assert_eq!(b.test(&src, nbits), Ok(false));
        let runs = b.runs(&src).expect("runs");
        let from_runs: u64 = runs.iter().map(|(s, e)| e - s).sum();
        assert_eq!(from_runs, naive);
        for w in runs.windows(2) {
            assert!(w[0].1 < w[1].0);
        }
    }
}
