//! The BTF reader on mutated blobs: header and section bounds, the type
//! section pass, name lookups, typedef/qualifier chains and cycles, arrays,
//! bit-fields, nested and anonymous members, dotted member paths.
//! Seeds: write::btf of the fixture builder's layouts (fuzz/corpus/btf).
#![no_main]

#[path = "bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::btf::run(data));
