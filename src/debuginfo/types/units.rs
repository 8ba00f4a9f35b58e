//! Compile units: their headers, read one after the other as lookups need
//! them (spans kept in the file's [`super::TypeIndex`]), and gimli [`Unit`]s
//! (abbreviations, string-offsets base) built on demand per view, with the
//! abbreviation tables shared through the index.

use std::rc::Rc;
use std::sync::Arc;

use gimli::{Abbreviations, DebugInfoOffset, Unit, UnitHeader};

use super::index::UnitSpan;
use super::{R, TypeInfo};

/// A gimli unit and where it starts in `.debug_info` (for error offsets).
pub(super) struct UnitData<'a> {
    pub(super) unit: Unit<R<'a>>,
    pub(super) start: usize,
}

impl<'a> TypeInfo<'a> {
    /// Where unit `i` is, reading unit headers up to it. `None` past the
    /// last unit (or the first unreadable header).
    pub(super) fn unit_span(&self, i: usize) -> Option<UnitSpan> {
        // Each round returns or reads one more header (or sees another view
        // read it): bounded by the section length.
        loop {
            let next = {
                let st = self.index.state();
                if let Some(span) = st.units.get(i) {
                    return Some(*span);
                }
                if st.headers_done {
                    return None;
                }
                st.units.last().map_or(0, |s| s.end)
            };
            self.read_unit_header(next);
        }
    }

    /// Reads the unit header at `at` (the end of the last known unit) into
    /// the index, or marks the headers done at the end or at an error.
    fn read_unit_header(&self, at: usize) {
        let header = (at < self.info_len).then(|| self.dwarf.unit_header(DebugInfoOffset(at)));
        let mut st = self.index.state();
        if st.headers_done || st.units.last().map_or(0, |s| s.end) != at {
            return; // another view got there first
        }
        match header {
            None => st.headers_done = true,
            Some(Ok(h)) => match at.checked_add(h.length_including_self()) {
                Some(end) if end > at && end <= self.info_len => {
                    st.units.push(UnitSpan { start: at, end });
                }
                _ => {
                    st.headers_done = true;
                    st.header_error =
                        Some(self.malformed(at, "unit header: length past the section"));
                }
            },
            Some(Err(e)) => {
                st.headers_done = true;
                st.header_error = Some(self.malformed(at, format!("unit header: {e}")));
            }
        }
    }

    /// The unit containing `.debug_info` offset `off`.
    pub(super) fn unit_containing(&self, off: usize) -> Option<usize> {
        // Read headers until one ends past `off` (bounded by the section).
        let mut i = self.index.state().units.len().saturating_sub(1);
        loop {
            if self.unit_span(i)?.end > off {
                break;
            }
            i += 1;
        }
        let st = self.index.state();
        st.units.partition_point(|s| s.start <= off).checked_sub(1)
    }

    /// Unit `i` as gimli reads it (`Dwarf::unit` with shared abbreviations):
    /// its root DIE gives the `DW_AT_str_offsets_base` that `DW_FORM_strx`
    /// names need.
    pub(super) fn unit(&self, i: usize) -> Result<Rc<UnitData<'a>>, super::TypeError> {
        if let Some(u) = self.units.borrow().get(&i) {
            return Ok(u.clone());
        }
        let (header, start) = self.unit_header(i)?;
        let abbreviations = self.abbreviations(&header, start)?;
        let unit = Unit::new_with_abbreviations(&self.dwarf, header, abbreviations)
            .map_err(|e| self.malformed(start, format!("unit DIE: {e}")))?;
        let unit = Rc::new(UnitData { unit, start });
        self.units.borrow_mut().insert(i, unit.clone());
        Ok(unit)
    }

    /// Unit `i`'s header and its offset in `.debug_info`.
    pub(super) fn unit_header(
        &self,
        i: usize,
    ) -> Result<(UnitHeader<R<'a>>, usize), super::TypeError> {
        let span = self
            .unit_span(i)
            .ok_or_else(|| self.malformed(0, format!("no compile unit #{i}")))?;
        let header = self
            .dwarf
            .unit_header(DebugInfoOffset(span.start))
            .map_err(|e| self.malformed(span.start, format!("unit header: {e}")))?;
        Ok((header, span.start))
    }

    /// The unit's abbreviation table, parsed once per file and offset.
    pub(super) fn abbreviations(
        &self,
        header: &UnitHeader<R<'a>>,
        start: usize,
    ) -> Result<Arc<Abbreviations>, super::TypeError> {
        let offset = header.debug_abbrev_offset().0;
        let key = offset as u64;
        if let Some(known) = self.index.state().abbreviations.get(&key) {
            return Ok(known.clone());
        }
        let parsed = self
            .dwarf
            .abbreviations(header)
            .map_err(|e| self.malformed(start, format!("abbreviations at {offset:#x}: {e}")))?;
        self.index.state().abbreviations.insert(key, parsed.clone());
        Ok(parsed)
    }
}
