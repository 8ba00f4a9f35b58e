//! Tables that fit the terminal without splitting a number.
//!
//! Hex addresses and raw entries are what people copy into `vtop` or a bug
//! report, so no layout may break one across lines. Given a width (the
//! terminal's), a table is fitted in this order: wrap only its prose columns
//! (task lists, lists of page tables) at spaces; then leave out its secondary
//! columns, least useful first, saying so under the table; then print each
//! row as a block of `header  value` lines. Without a width (output to a pipe
//! or a file) the table is full rows, exactly as it always was.

use comfy_table::{ContentArrangement, Table, TableStyle, presets};

/// How a column may be fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fit {
    /// Never wrapped: numbers, names, short words.
    Whole,
    /// Wrapped at spaces, never inside a word (every word stays whole).
    Prose,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub fit: Fit,
    /// Left out when the table does not fit: lower ranks go first; `None`
    /// never goes.
    pub drop_rank: Option<u8>,
}

impl Column {
    /// A column that is never wrapped nor left out.
    pub const fn whole(header: &'static str) -> Column {
        Column {
            header,
            fit: Fit::Whole,
            drop_rank: None,
        }
    }

    /// A column wrapped at spaces.
    pub const fn prose(header: &'static str) -> Column {
        Column {
            header,
            fit: Fit::Prose,
            drop_rank: None,
        }
    }

    /// Left out (rank 0 first) when the table does not fit.
    pub const fn secondary(self, rank: u8) -> Column {
        Column {
            drop_rank: Some(rank),
            ..self
        }
    }
}

/// The frame around the cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// Box-drawing borders and a header row.
    Boxed,
    /// No borders and no header row (key/value lists such as `info`).
    Plain,
}

impl Frame {
    fn style(self) -> TableStyle {
        match self {
            Frame::Boxed => presets::UTF8_FULL_CONDENSED,
            Frame::Plain => presets::NOTHING,
        }
    }
}

/// Renders `rows` (one cell per column) under `columns`. `width`: the
/// terminal's columns, or `None` for full rows. No trailing newline, like a
/// table's `Display`.
pub fn render(
    frame: Frame,
    columns: &[Column],
    rows: &[Vec<String>],
    width: Option<u16>,
) -> String {
    let Some(width) = width else {
        let all: Vec<usize> = (0..columns.len()).collect();
        return table(frame, columns, &all, rows, None).to_string();
    };
    let width = usize::from(width);
    let mut secondary: Vec<usize> = (0..columns.len())
        .filter(|&c| columns[c].drop_rank.is_some())
        .collect();
    secondary.sort_by_key(|&c| columns[c].drop_rank);
    for dropped in 0..=secondary.len() {
        let left_out = &secondary[..dropped];
        // An empty table is no way to fit one.
        if left_out.len() == columns.len() {
            break;
        }
        let kept: Vec<usize> = (0..columns.len())
            .filter(|c| !left_out.contains(c))
            .collect();
        let Some(widths) = column_widths(frame, columns, &kept, rows, width) else {
            continue;
        };
        let text = table(frame, columns, &kept, rows, Some(&widths)).to_string();
        // The widths are counted in chars; a wide character can still push a
        // line over, and then the next layout is tried.
        if text.lines().all(|l| display_width(l) <= width) {
            if left_out.is_empty() {
                return text;
            }
            let names: Vec<&str> = left_out.iter().map(|&c| columns[c].header).collect();
            let note = format!(
                "(not shown in {width} columns: {}; --format json has them)",
                names.join(", ")
            );
            return format!("{text}\n{}", wrap(&note, width).join("\n"));
        }
    }
    vertical(frame, columns, rows, width)
}

fn display_width(s: &str) -> usize {
    s.chars().count()
}

/// Greedy wrap at spaces to `width`; a word longer than `width` stays whole
/// on a line of its own. Existing line breaks are kept.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for source in text.split('\n') {
        let mut line = String::new();
        for word in source.split(' ').filter(|w| !w.is_empty()) {
            if !line.is_empty() && display_width(&line) + 1 + display_width(word) > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

fn longest_line(s: &str) -> usize {
    s.split('\n').map(display_width).max().unwrap_or(0)
}

fn longest_word(s: &str) -> usize {
    s.split([' ', '\n']).map(display_width).max().unwrap_or(0)
}

/// Columns the frame adds around `n` columns of content.
fn frame_overhead(frame: Frame, n: usize) -> usize {
    // Measured rather than assumed: one row of one-char cells.
    let mut t = Table::new();
    t.load_style(frame.style())
        .set_content_arrangement(ContentArrangement::Disabled);
    t.add_row(vec!["x"; n]);
    let rendered = t.to_string();
    rendered
        .lines()
        .map(display_width)
        .max()
        .unwrap_or(0)
        .saturating_sub(n)
}

/// A width per kept column so that the table fits `width`, or `None`. Each
/// column gets at least its longest word (prose) or its longest cell
/// (whole); what is left goes to the columns that would use it.
fn column_widths(
    frame: Frame,
    columns: &[Column],
    kept: &[usize],
    rows: &[Vec<String>],
    width: usize,
) -> Option<Vec<usize>> {
    let header = frame == Frame::Boxed;
    let cells = |c: usize| rows.iter().filter_map(move |r| r.get(c));
    let mut min = Vec::new();
    let mut natural = Vec::new();
    for &c in kept {
        let col = &columns[c];
        let head_word = if header { longest_word(col.header) } else { 0 };
        let head_line = if header { display_width(col.header) } else { 0 };
        let content_min = match col.fit {
            Fit::Whole => cells(c).map(|s| longest_line(s)).max().unwrap_or(0),
            Fit::Prose => cells(c).map(|s| longest_word(s)).max().unwrap_or(0),
        };
        let content_natural = cells(c).map(|s| longest_line(s)).max().unwrap_or(0);
        min.push(content_min.max(head_word).max(1));
        natural.push(content_natural.max(head_line).max(1));
    }
    let used: usize = frame_overhead(frame, kept.len()) + min.iter().sum::<usize>();
    let mut spare = width.checked_sub(used)?;
    let mut widths = min;
    // One column at a time, round robin, so that two prose columns share.
    while spare > 0 {
        let mut grew = false;
        for (w, n) in widths.iter_mut().zip(&natural) {
            if spare > 0 && *w < *n {
                *w += 1;
                spare -= 1;
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    Some(widths)
}

/// The comfy table of the `kept` columns; cells wrapped to `widths` when
/// given (whole cells already fit them, so only prose and headers wrap).
fn table(
    frame: Frame,
    columns: &[Column],
    kept: &[usize],
    rows: &[Vec<String>],
    widths: Option<&[usize]>,
) -> Table {
    let fitted = |text: &str, i: usize| match widths {
        Some(w) => wrap(text, w[i]).join("\n"),
        None => text.to_string(),
    };
    let mut t = Table::new();
    // Disabled: comfy-table never rewraps (it could split a number); the
    // cells arrive wrapped to their column's width.
    t.load_style(frame.style())
        .set_content_arrangement(ContentArrangement::Disabled);
    if frame == Frame::Boxed {
        t.set_header(
            kept.iter()
                .enumerate()
                .map(|(i, &c)| fitted(columns[c].header, i))
                .collect::<Vec<_>>(),
        );
    }
    for r in rows {
        t.add_row(
            kept.iter()
                .enumerate()
                .map(|(i, &c)| fitted(r.get(c).map_or("", String::as_str), i))
                .collect::<Vec<_>>(),
        );
    }
    t
}

/// One block per row: `header  value` lines (boxed tables), or the key then
/// its value indented (plain key/value lists); prose values wrapped.
fn vertical(frame: Frame, columns: &[Column], rows: &[Vec<String>], width: usize) -> String {
    let mut out: Vec<String> = Vec::new();
    match frame {
        Frame::Boxed => {
            let label = columns
                .iter()
                .map(|c| display_width(c.header))
                .max()
                .unwrap_or(0);
            let indent = label + 2;
            for (n, r) in rows.iter().enumerate() {
                if n > 0 {
                    out.push(String::new());
                }
                for (c, col) in columns.iter().enumerate() {
                    let value = r.get(c).map_or("", String::as_str);
                    let lines = value_lines(col.fit, value, width.saturating_sub(indent));
                    for (i, line) in lines.iter().enumerate() {
                        let head = if i == 0 { col.header } else { "" };
                        out.push(format!("{head:<label$}  {line}").trim_end().to_string());
                    }
                }
            }
        }
        Frame::Plain => {
            for r in rows {
                let mut cells = r.iter();
                if let Some(key) = cells.next() {
                    out.push(key.clone());
                }
                for (c, value) in cells.enumerate() {
                    let fit = columns.get(c + 1).map_or(Fit::Whole, |col| col.fit);
                    for line in value_lines(fit, value, width.saturating_sub(4)) {
                        out.push(format!("    {line}"));
                    }
                }
            }
        }
    }
    out.join("\n")
}

fn value_lines(fit: Fit, value: &str, width: usize) -> Vec<String> {
    match fit {
        Fit::Prose => wrap(value, width.max(1)),
        Fit::Whole => value.split('\n').map(str::to_string).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_words_whole() {
        assert_eq!(
            wrap("1 init, 220 systemd, 0xffff8c1741062000", 12),
            vec!["1 init, 220", "systemd,", "0xffff8c1741062000"]
        );
        assert_eq!(wrap("a\nb c", 80), vec!["a", "b c"]);
    }

    #[test]
    fn without_a_width_rows_are_full() {
        let cols = [Column::whole("a"), Column::prose("list")];
        let rows = vec![vec!["1".to_string(), "x y z ".repeat(40)]];
        let text = render(Frame::Boxed, &cols, &rows, None);
        assert_eq!(text.lines().count(), 5);
    }
}
