//! The kallsyms tables of a synthetic kernel, the counterpart of
//! [`crate::debuginfo::kallsyms`]: names compressed with a token table the
//! way the kernel's scripts/kallsyms.c builds one (greedy: the most frequent
//! adjacent pair of tokens gets a free code, repeatedly), the token index,
//! and the addresses in one of the encodings kernels have used.
//!
//! The tables are laid out in one blob (num_syms, names, token_table,
//! token_index, offsets or addresses, relative_base, each 8-byte aligned)
//! for the caller to place at [`EncodedKallsyms::base`] in the kernel's
//! memory; [`EncodedKallsyms::vmcoreinfo_symbols`] gives the
//! `SYMBOL(kallsyms_*)` lines. Deterministic: the same input gives the same
//! bytes.

/// One symbol to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KallsymsInput {
    pub name: String,
    /// `nm`'s type letter (`T`, `t`, `D`, `b`, ...).
    pub type_letter: u8,
    /// The runtime address, or for an absolute symbol its value.
    pub address: u64,
    /// A 0-based per-CPU value: stored as a non-negative offset under
    /// [`OffsetsLayout::AbsolutePercpu`]; other layouts refuse it unless it
    /// is representable as an ordinary entry.
    pub absolute: bool,
}

/// How the addresses are stored (see [`crate::debuginfo::kallsyms::AddressEncoding`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OffsetsLayout {
    /// `kallsyms_addresses[]`, u64 each.
    Addresses,
    /// u32 offsets from `kallsyms_relative_base` (the lowest address).
    RelativeBase,
    /// CONFIG_KALLSYMS_ABSOLUTE_PERCPU: absolute symbols as non-negative
    /// values, the others as `relative_base - 1 - address`.
    AbsolutePercpu,
    /// s32 offsets from each entry's own address, no relative base (7.x).
    PlaceRelative,
}

/// The variant of the tables to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KallsymsLayout {
    pub offsets: OffsetsLayout,
    /// Token counts of 128 and more in two bytes (Linux 6.1+); without it a
    /// name must encode in at most 255 tokens.
    pub big_names: bool,
}

/// Why the tables could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KallsymsEncodeError {
    #[error("no symbols to encode")]
    Empty,
    #[error("symbol {name:?}: {reason}")]
    Symbol { name: String, reason: String },
    #[error("symbol {name:?} at {address:#x} cannot be stored in {layout:?}: {reason}")]
    OutOfRange {
        name: String,
        address: u64,
        layout: OffsetsLayout,
        reason: &'static str,
    },
}

/// The encoded tables and where each lies once the blob is at `base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedKallsyms {
    pub base: u64,
    pub bytes: Vec<u8>,
    pub num_syms: u64,
    pub names: u64,
    pub token_table: u64,
    pub token_index: u64,
    /// `kallsyms_offsets`, or `kallsyms_addresses` under
    /// [`OffsetsLayout::Addresses`].
    pub offsets: u64,
    pub relative_base: Option<u64>,
    pub layout: KallsymsLayout,
}

impl EncodedKallsyms {
    /// The `SYMBOL(name)=address` entries VMCOREINFO carries for these
    /// tables, in the kernel's order (kernel/vmcore_info.c).
    pub fn vmcoreinfo_symbols(&self) -> Vec<(&'static str, u64)> {
        let table = match self.layout.offsets {
            OffsetsLayout::Addresses => "kallsyms_addresses",
            _ => "kallsyms_offsets",
        };
        let mut v = vec![
            ("kallsyms_names", self.names),
            ("kallsyms_num_syms", self.num_syms),
            ("kallsyms_token_table", self.token_table),
            ("kallsyms_token_index", self.token_index),
            (table, self.offsets),
        ];
        if let Some(rb) = self.relative_base {
            v.push(("kallsyms_relative_base", rb));
        }
        v
    }
}

/// KSYM_NAME_LEN - 1: the longest name the kernel keeps.
const MAX_NAME: usize = 511;
/// The longest token count a 2-byte length holds.
const MAX_BIG_TOKENS: usize = 0x7fff;

/// Encodes `symbols` (in any order: they are sorted by address, then name)
/// for a blob placed at `base`.
pub fn encode(
    symbols: &[KallsymsInput],
    layout: KallsymsLayout,
    base: u64,
) -> Result<EncodedKallsyms, KallsymsEncodeError> {
    if symbols.is_empty() {
        return Err(KallsymsEncodeError::Empty);
    }
    let mut sorted: Vec<&KallsymsInput> = symbols.iter().collect();
    sorted.sort_by(|a, b| (a.address, &a.name).cmp(&(b.address, &b.name)));
    for s in &sorted {
        let bad = |reason: &str| {
            Err(KallsymsEncodeError::Symbol {
                name: s.name.clone(),
                reason: reason.into(),
            })
        };
        if s.name.is_empty() || s.name.len() > MAX_NAME {
            return bad("a name has 1 to 511 bytes");
        }
        if !s.name.bytes().all(|b| b.is_ascii_graphic()) || !s.type_letter.is_ascii_graphic() {
            return bad("names and type letters are printable ASCII");
        }
    }
    let plain: Vec<Vec<u8>> = sorted
        .iter()
        .map(|s| {
            let mut v = vec![s.type_letter];
            v.extend_from_slice(s.name.as_bytes());
            v
        })
        .collect();
    let (tokens, compressed) = compress(&plain);

    let mut blob = Blob::default();
    let num_syms_at = blob.put(&(sorted.len() as u32).to_le_bytes());
    let mut names = Vec::new();
    for (s, codes) in sorted.iter().zip(&compressed) {
        push_len(&mut names, codes.len(), layout.big_names, &s.name)?;
        names.extend_from_slice(codes);
    }
    let names_at = blob.put(&names);
    let mut table = Vec::new();
    let mut index = Vec::new();
    for t in &tokens {
        index.extend_from_slice(&(table.len() as u16).to_le_bytes());
        table.extend_from_slice(t);
        table.push(0);
    }
    let token_table_at = blob.put(&table);
    let token_index_at = blob.put(&index);
    let offsets_at = blob.bytes.len();
    let (values, relative_base) =
        encode_addresses(&sorted, layout.offsets, base + offsets_at as u64)?;
    blob.put(&values);
    let relative_base_at = relative_base.map(|rb| blob.put(&rb.to_le_bytes()));
    let at = |off: usize| base + off as u64;
    Ok(EncodedKallsyms {
        base,
        bytes: blob.bytes,
        num_syms: at(num_syms_at),
        names: at(names_at),
        token_table: at(token_table_at),
        token_index: at(token_index_at),
        offsets: at(offsets_at),
        relative_base: relative_base_at.map(at),
        layout,
    })
}

#[derive(Default)]
struct Blob {
    bytes: Vec<u8>,
}

impl Blob {
    /// Appends `data` at the next 8-byte boundary; returns its offset.
    fn put(&mut self, data: &[u8]) -> usize {
        let at = self.bytes.len().next_multiple_of(8);
        self.bytes.resize(at, 0);
        self.bytes.extend_from_slice(data);
        at
    }
}

fn push_len(
    out: &mut Vec<u8>,
    len: usize,
    big: bool,
    name: &str,
) -> Result<(), KallsymsEncodeError> {
    let too_long = |max: usize| KallsymsEncodeError::Symbol {
        name: name.into(),
        reason: format!("{len} tokens, more than this layout's {max}"),
    };
    if big && len >= 0x80 {
        if len > MAX_BIG_TOKENS {
            return Err(too_long(MAX_BIG_TOKENS));
        }
        out.push(0x80 | (len & 0x7f) as u8);
        out.push((len >> 7) as u8);
    } else {
        out.push(u8::try_from(len).map_err(|_| too_long(255))?);
    }
    Ok(())
}

/// The token table (256 entries) and each string's codes. Codes start as
/// the bytes themselves; then, while a code is free, the most frequent
/// adjacent pair (appearing at least twice; ties to the lowest pair) gets
/// one and every occurrence is replaced.
fn compress(strings: &[Vec<u8>]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut tokens: Vec<Vec<u8>> = vec![Vec::new(); 256];
    let mut used = [false; 256];
    for s in strings {
        for &b in s {
            used[b as usize] = true;
        }
    }
    for b in 0..256 {
        if used[b] {
            tokens[b] = vec![b as u8];
        }
    }
    let mut codes: Vec<Vec<u8>> = strings.to_vec();
    let mut counts = vec![0u32; 1 << 16];
    // Like scripts/kallsyms.c, free codes are taken from the top down.
    for free in (0..256).rev() {
        if used[free] {
            continue;
        }
        counts.fill(0);
        for c in &codes {
            for w in c.windows(2) {
                counts[usize::from(w[0]) << 8 | usize::from(w[1])] += 1;
            }
        }
        let (best, &count) = counts
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
            .unwrap_or((0, &0));
        if count < 2 {
            break;
        }
        let (a, b) = ((best >> 8) as u8, (best & 0xff) as u8);
        let mut merged = tokens[a as usize].clone();
        merged.extend_from_slice(&tokens[b as usize]);
        tokens[free] = merged;
        used[free] = true;
        for c in &mut codes {
            *c = replace_pair(c, a, b, free as u8);
        }
    }
    (tokens, codes)
}

fn replace_pair(codes: &[u8], a: u8, b: u8, with: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(codes.len());
    let mut i = 0;
    while i < codes.len() {
        if i + 1 < codes.len() && codes[i] == a && codes[i + 1] == b {
            out.push(with);
            i += 2;
        } else {
            out.push(codes[i]);
            i += 1;
        }
    }
    out
}

/// The address table's bytes and, for the relative layouts, the base.
fn encode_addresses(
    sorted: &[&KallsymsInput],
    layout: OffsetsLayout,
    table_at: u64,
) -> Result<(Vec<u8>, Option<u64>), KallsymsEncodeError> {
    let out_of_range = |s: &KallsymsInput, reason| KallsymsEncodeError::OutOfRange {
        name: s.name.clone(),
        address: s.address,
        layout,
        reason,
    };
    let mut out = Vec::with_capacity(sorted.len() * 4);
    match layout {
        OffsetsLayout::Addresses => {
            for s in sorted {
                out.extend_from_slice(&s.address.to_le_bytes());
            }
            Ok((out, None))
        }
        OffsetsLayout::RelativeBase => {
            let base = sorted.iter().map(|s| s.address).min().unwrap_or(0);
            for s in sorted {
                let v = u32::try_from(s.address - base)
                    .map_err(|_| out_of_range(s, "more than 4 GiB above the lowest symbol"))?;
                out.extend_from_slice(&v.to_le_bytes());
            }
            Ok((out, Some(base)))
        }
        OffsetsLayout::AbsolutePercpu => {
            let base = sorted
                .iter()
                .filter(|s| !s.absolute)
                .map(|s| s.address)
                .min()
                .unwrap_or(0);
            for s in sorted {
                let v = if s.absolute {
                    i32::try_from(s.address)
                        .map_err(|_| out_of_range(s, "an absolute value must be below 2^31"))?
                } else {
                    // base - 1 - v = address  =>  v = base - 1 - address < 0
                    let below = s.address - base;
                    i32::try_from(-1 - i64::try_from(below).unwrap_or(i64::MAX))
                        .map_err(|_| out_of_range(s, "more than 2 GiB above the lowest symbol"))?
                };
                out.extend_from_slice(&v.to_le_bytes());
            }
            Ok((out, Some(base)))
        }
        OffsetsLayout::PlaceRelative => {
            for (i, s) in sorted.iter().enumerate() {
                let entry = table_at + 4 * i as u64;
                let v = i32::try_from(s.address.wrapping_sub(entry) as i64)
                    .map_err(|_| out_of_range(s, "more than 2 GiB from its table entry"))?;
                out.extend_from_slice(&v.to_le_bytes());
            }
            Ok((out, None))
        }
    }
}
