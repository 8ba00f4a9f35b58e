//! Reading the kallsyms tables through the caller's reader: every table
//! in bulk, bounded, checked as it is read.

use std::error::Error as StdError;

use super::{
    KSYM_NAME_LEN, KallsymsError, KallsymsLocation, MAX_NAMES_BYTES, MemoryReader, entry_len,
};
use crate::addr::VirtAddr;

const NAMES_CHUNK: usize = 256 << 10;
const VALUES_CHUNK: usize = 1 << 20;
const TOKEN_TAIL_CHUNK: usize = 64;

pub(super) fn fetch<E>(
    read: &mut MemoryReader<'_, E>,
    table: &'static str,
    addr: VirtAddr,
    buf: &mut [u8],
) -> Result<(), KallsymsError>
where
    E: StdError + Send + Sync + 'static,
{
    let len = buf.len();
    if addr.checked_add(len as u64).is_none() {
        return Err(KallsymsError::AddressOverflow { table, addr, len });
    }
    read(addr, buf).map_err(|e| KallsymsError::Read {
        table,
        addr,
        len,
        source: Box::new(e),
    })
}

/// Reads `len` bytes in chunks, so that a failure names the chunk's address.
pub(super) fn read_bulk<E>(
    read: &mut MemoryReader<'_, E>,
    table: &'static str,
    at: VirtAddr,
    len: usize,
) -> Result<Vec<u8>, KallsymsError>
where
    E: StdError + Send + Sync + 'static,
{
    let mut out = vec![0u8; len];
    for (i, chunk) in out.chunks_mut(VALUES_CHUNK).enumerate() {
        let addr =
            at.checked_add((i * VALUES_CHUNK) as u64)
                .ok_or(KallsymsError::AddressOverflow {
                    table,
                    addr: at,
                    len,
                })?;
        fetch(read, table, addr, chunk)?;
    }
    Ok(out)
}

/// The token table's bytes and each token's (start, length) in them.
pub(super) type Tokens = (Vec<u8>, Vec<(usize, usize)>);

/// The token index and table, checked to be laid out as scripts/kallsyms.c
/// writes them: token 0 at offset 0, each next one right after the
/// previous one's NUL. A token may be empty: scripts/kallsyms.c leaves codes
/// unused when no pair is worth one (small symbol sets), and no name uses them.
pub(super) fn read_tokens<E>(
    loc: &KallsymsLocation,
    read: &mut MemoryReader<'_, E>,
) -> Result<Tokens, KallsymsError>
where
    E: StdError + Send + Sync + 'static,
{
    let mut raw = [0u8; 512];
    fetch(read, "kallsyms_token_index", loc.token_index, &mut raw)?;
    let index: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    if index[0] != 0 {
        return Err(KallsymsError::TokenIndex {
            addr: loc.token_index,
            entry: 0,
            value: index[0],
            expected: 0,
        });
    }
    // Everything up to the last token's first byte, then its tail.
    let last = usize::from(index[255]);
    let mut table = vec![0u8; last + 1];
    fetch(read, "kallsyms_token_table", loc.token_table, &mut table)?;
    while !table[last..].contains(&0) {
        if table.len() - last >= KSYM_NAME_LEN {
            return Err(KallsymsError::UnterminatedToken {
                addr: loc.token_table,
                entry: 255,
                offset: last,
                max: KSYM_NAME_LEN,
            });
        }
        let old = table.len();
        table.resize(old + TOKEN_TAIL_CHUNK, 0);
        let at = loc.token_table.wrapping_add(old as u64);
        fetch(read, "kallsyms_token_table", at, &mut table[old..])?;
    }
    let mut tokens = Vec::with_capacity(256);
    let mut expected = 0usize;
    for (entry, &value) in index.iter().enumerate() {
        let start = usize::from(value);
        if start != expected {
            return Err(KallsymsError::TokenIndex {
                addr: loc.token_index,
                entry,
                value,
                expected,
            });
        }
        let rest = &table[start..];
        let len = rest
            .iter()
            .take(KSYM_NAME_LEN)
            .position(|&b| b == 0)
            .ok_or(KallsymsError::UnterminatedToken {
                addr: loc.token_table,
                entry,
                offset: start,
                max: KSYM_NAME_LEN,
            })?;
        tokens.push((start, len));
        expected = start + len + 1;
    }
    table.truncate(expected);
    Ok((table, tokens))
}

/// Walks the `num_syms` entries of `kallsyms_names`, reading the table in
/// chunks as the walk needs it, and returns exactly their bytes.
pub(super) fn read_names<E>(
    loc: &KallsymsLocation,
    num_syms: usize,
    read: &mut MemoryReader<'_, E>,
) -> Result<Vec<u8>, KallsymsError>
where
    E: StdError + Send + Sync + 'static,
{
    let mut names = Vec::new();
    let mut ensure = |names: &mut Vec<u8>, end: usize, symbol: usize, offset: usize| {
        if end <= names.len() {
            return Ok(());
        }
        if end > MAX_NAMES_BYTES {
            return Err(KallsymsError::NamesTooLong {
                addr: loc.names,
                symbol,
                offset,
                max: MAX_NAMES_BYTES,
            });
        }
        let old = names.len();
        let want = (old + NAMES_CHUNK).clamp(end, MAX_NAMES_BYTES);
        names.resize(want, 0);
        let at = loc.names.wrapping_add(old as u64);
        if fetch(read, "kallsyms_names", at, &mut names[old..]).is_err() {
            // The table may end near the end of mapped memory: read just
            // what this entry needs before giving up.
            names.truncate(end);
            fetch(read, "kallsyms_names", at, &mut names[old..])?;
        }
        Ok(())
    };
    let mut pos = 0;
    for symbol in 0..num_syms {
        ensure(&mut names, pos + 1, symbol, pos)?;
        if loc.big_names && names[pos] & 0x80 != 0 {
            ensure(&mut names, pos + 2, symbol, pos)?;
        }
        let Some((len, header)) = entry_len(&names, pos, loc.big_names) else {
            // Unreachable: `ensure` made the header bytes present.
            return Err(KallsymsError::EmptyName {
                addr: loc.names,
                symbol,
                offset: pos,
            });
        };
        if len == 0 {
            return Err(KallsymsError::EmptyName {
                addr: loc.names,
                symbol,
                offset: pos,
            });
        }
        ensure(&mut names, pos + header + len, symbol, pos)?;
        pos += header + len;
    }
    names.truncate(pos);
    Ok(names)
}
