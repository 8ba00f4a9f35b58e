//! makedumpfile's flattened format written: what `makedumpfile -F` (and
//! QEMU 7.2) write; read back by [`crate::dump::kdump::FlattenedSource`].

use crate::dump::kdump::flattened::{
    FLAT_HEADER_SIZE, FLAT_SIGNATURE, TYPE_FLAT_HEADER, VERSION_FLAT_HEADER,
};

/// Writes `kdump` (a kdump-compressed file's bytes) as a flattened stream
/// of records of at most `chunk` bytes, as `makedumpfile -F` would.
/// `rewrite_header` appends a second copy of the first block at the end
/// (makedumpfile rewrites its headers last), exercising overlap handling.
pub fn flatten(kdump: &[u8], chunk: usize, rewrite_header: bool) -> Vec<u8> {
    let chunk = chunk.max(1);
    let mut out = vec![0u8; FLAT_HEADER_SIZE as usize];
    out[..12].copy_from_slice(FLAT_SIGNATURE);
    out[16..24].copy_from_slice(&TYPE_FLAT_HEADER.to_be_bytes());
    out[24..32].copy_from_slice(&VERSION_FLAT_HEADER.to_be_bytes());
    let record = |out: &mut Vec<u8>, off: usize, data: &[u8]| {
        out.extend_from_slice(&(off as i64).to_be_bytes());
        out.extend_from_slice(&(data.len() as i64).to_be_bytes());
        out.extend_from_slice(data);
    };
    for (i, c) in kdump.chunks(chunk).enumerate() {
        let off = i * chunk;
        if rewrite_header && off == 0 {
            // First a stale header, overwritten by the record at the end.
            record(&mut out, 0, &vec![0xee; c.len().min(4096)]);
            if c.len() > 4096 {
                record(&mut out, 4096, &c[4096..]);
            }
            continue;
        }
        record(&mut out, off, c);
    }
    if rewrite_header {
        record(&mut out, 0, &kdump[..kdump.len().min(4096)]);
    }
    out.extend_from_slice(&(-1i64).to_be_bytes());
    out.extend_from_slice(&(-1i64).to_be_bytes());
    out
}
