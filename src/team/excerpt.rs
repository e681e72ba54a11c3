//! What a diagnostic shows of the file: the lines around its labels, each cut to a window.
//!
//! miette renders a label by scanning its source from the first byte (quadratic over many
//! problems), draws every line a label spans, and panics on a label past column 65,535 (a
//! format width is a `u16`). So a [`FileDiagnostic`](super::FileDiagnostic) never hands miette
//! the file: it hands it an [`Excerpt`], a few short lines per label at their real line
//! numbers, whatever the file's size or line length. Building one costs the size of the
//! excerpt plus a binary search in the file's line index. Nothing here changes what the
//! diagnostic says, only what part of the file it shows.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use miette::{LabeledSpan, MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

/// Lines shown around a label (miette's default context).
const CONTEXT_LINES: usize = 1;
/// The most bytes of one line shown; longer lines show a window around the label, marked with
/// `…`. Even with every byte a tab (four columns), a label stays far below column 65,535.
const MAX_LINE_BYTES: usize = 160;
/// A label over more lines than this is shown on its first line only.
const MAX_LABEL_LINES: usize = 4;
/// Where a cut line starts, before the label: a quarter of the window.
const LEAD_BYTES: usize = MAX_LINE_BYTES / 4;
const CUT: &str = "…";

/// A team file's text with its line index, shared by every diagnostic about it.
#[derive(Debug)]
pub(crate) struct SourceFile {
    pub name: String,
    pub text: String,
    line_starts: OnceLock<Vec<usize>>,
}

impl SourceFile {
    pub(crate) fn new(name: &str, text: &str) -> Arc<SourceFile> {
        Arc::new(SourceFile {
            name: name.to_string(),
            text: text.to_string(),
            line_starts: OnceLock::new(),
        })
    }

    fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(index, _)| index + 1))
                .collect()
        })
    }

    /// The line holding byte `offset` (0-based).
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts()
            .partition_point(|start| *start <= offset)
            .saturating_sub(1)
    }

    /// The bytes of line `line`, without its line break.
    fn line(&self, line: usize) -> Range<usize> {
        let starts = self.line_starts();
        let start = starts[line];
        let mut end = starts
            .get(line + 1)
            .map_or(self.text.len(), |next| next - 1);
        if self.text[start..end].ends_with('\r') {
            end -= 1;
        }
        start..end
    }

    fn floor(&self, mut index: usize) -> usize {
        index = index.min(self.text.len());
        while !self.text.is_char_boundary(index) {
            index -= 1;
        }
        index
    }
}

/// The lines a diagnostic shows, with its labels moved onto them. miette reads it as the
/// diagnostic's source code.
#[derive(Debug, Clone)]
pub(crate) struct Excerpt {
    name: String,
    text: String,
    segments: Vec<Segment>,
    pub labels: Vec<LabeledSpan>,
}

/// Consecutive lines of the file, as they sit in the excerpt's text.
#[derive(Debug, Clone)]
struct Segment {
    /// Byte range in the excerpt's text.
    range: Range<usize>,
    /// The file line of its first line (0-based).
    first_line: usize,
    /// Per line: the bytes of the file line hidden before the window, less the `…` shown.
    column_shifts: Vec<isize>,
}

/// A shown line: which bytes of the file line, and where they start in the excerpt.
struct Window {
    line: usize,
    file: Range<usize>,
    /// Offset in the excerpt of the first shown byte (after a leading `…`).
    at: usize,
}

struct Mark<'a> {
    start: usize,
    end: usize,
    start_line: usize,
    end_line: usize,
    text: &'a str,
}

impl Excerpt {
    /// The excerpt of `file` for labels at `labels` (byte ranges of the file; the first is the
    /// primary one).
    pub(crate) fn new(file: &SourceFile, labels: &[(Range<usize>, String)]) -> Excerpt {
        let marks: Vec<Mark<'_>> = labels
            .iter()
            .map(|(range, text)| {
                let start = file.floor(range.start);
                let mut end = file.floor(range.end.max(start));
                let start_line = file.line_of(start);
                let mut end_line = if end > start {
                    file.line_of(end - 1)
                } else {
                    start_line
                };
                if end_line - start_line >= MAX_LABEL_LINES {
                    end = file.line(start_line).end.max(start);
                    end_line = start_line;
                }
                Mark {
                    start,
                    end,
                    start_line,
                    end_line,
                    text,
                }
            })
            .collect();
        // The empty "line" after a final line break is shown only when a label is on it.
        let starts = file.line_starts();
        let last_line = match starts.last() {
            Some(&start) if start == file.text.len() && starts.len() > 1 => starts.len() - 2,
            _ => starts.len() - 1,
        };
        let mut spans: Vec<Range<usize>> = marks
            .iter()
            .map(|mark| {
                let after = (mark.end_line + CONTEXT_LINES).min(last_line);
                mark.start_line.saturating_sub(CONTEXT_LINES)..after.max(mark.end_line) + 1
            })
            .collect();
        spans.sort_by_key(|span| span.start);
        let mut merged: Vec<Range<usize>> = Vec::new();
        for span in spans {
            match merged.last_mut() {
                Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
                _ => merged.push(span),
            }
        }
        let mut excerpt = Excerpt {
            name: file.name.clone(),
            text: String::new(),
            segments: Vec::with_capacity(merged.len()),
            labels: Vec::with_capacity(marks.len()),
        };
        let mut windows = Vec::new();
        for lines in merged {
            let start = excerpt.text.len();
            let mut column_shifts = Vec::with_capacity(lines.len());
            for line in lines.clone() {
                let file_range = file.line(line);
                let window = shown_bytes(file, file_range.clone(), line, &marks);
                let mut shift = (window.start - file_range.start) as isize;
                if window.start > file_range.start {
                    excerpt.text.push_str(CUT);
                    shift -= CUT.len() as isize;
                }
                windows.push(Window {
                    line,
                    file: window.clone(),
                    at: excerpt.text.len(),
                });
                // A lone carriage return would be a line break to miette.
                excerpt
                    .text
                    .push_str(&file.text[window.clone()].replace('\r', " "));
                if window.end < file_range.end {
                    excerpt.text.push_str(CUT);
                }
                excerpt.text.push('\n');
                column_shifts.push(shift);
            }
            excerpt.segments.push(Segment {
                range: start..excerpt.text.len(),
                first_line: lines.start,
                column_shifts,
            });
        }
        let place = |offset: usize, line: usize| {
            let window = windows
                .iter()
                .find(|window| window.line == line)
                .expect("every labelled line is shown");
            window.at + offset.clamp(window.file.start, window.file.end) - window.file.start
        };
        for (index, mark) in marks.iter().enumerate() {
            let start = place(mark.start, mark.start_line);
            let end = place(mark.end, mark.end_line).max(start);
            let label = (!mark.text.is_empty()).then(|| mark.text.to_string());
            let span = (start, end - start);
            excerpt.labels.push(if index == 0 {
                LabeledSpan::new_primary_with_span(label, span)
            } else {
                LabeledSpan::new_with_span(label, span)
            });
        }
        excerpt
    }
}

/// The bytes of a line to show: all of a short line; of a long one, a window that starts a
/// little before the first label starting on it.
fn shown_bytes(
    file: &SourceFile,
    line: Range<usize>,
    number: usize,
    marks: &[Mark<'_>],
) -> Range<usize> {
    if line.len() <= MAX_LINE_BYTES {
        return line;
    }
    let anchor = marks
        .iter()
        .filter(|mark| mark.start_line == number)
        .map(|mark| mark.start)
        .min()
        .unwrap_or(line.start);
    let start = file.floor(anchor.saturating_sub(LEAD_BYTES).max(line.start));
    let end = file.floor((start + MAX_LINE_BYTES).min(line.end));
    start..end
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let offset = span.offset();
        let segment = self
            .segments
            .iter()
            .find(|segment| segment.range.contains(&offset))
            .or_else(|| self.segments.iter().find(|s| s.range.end == offset))
            .ok_or(MietteError::OutOfBounds)?;
        // Context never reaches past the segment: the next one starts at another line.
        let text = &self.text[segment.range.clone()];
        let local = SourceSpan::new(
            (offset - segment.range.start).into(),
            span.len().min(segment.range.end - offset),
        );
        let contents = text.read_span(&local, context_lines_before, context_lines_after)?;
        let data = contents.data();
        let data_start = contents.span().offset() + segment.range.start;
        let shift = segment
            .column_shifts
            .get(contents.line())
            .copied()
            .unwrap_or(0);
        let column = contents.column().saturating_add_signed(shift);
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            data,
            SourceSpan::new(data_start.into(), data.len()),
            segment.first_line + contents.line(),
            column,
            contents.line_count(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(excerpt: &Excerpt) -> Vec<&str> {
        excerpt
            .labels
            .iter()
            .map(|label| &excerpt.text[label.offset()..label.offset() + label.len()])
            .collect()
    }

    #[test]
    fn short_lines_are_shown_whole_at_their_line_numbers() {
        let text = "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\n";
        let file = SourceFile::new("t.toml", text);
        let b = text.find("b = 2").unwrap();
        let f = text.find("6").unwrap();
        let excerpt = Excerpt::new(
            &file,
            &[(b..b + 1, "here".into()), (f..f + 1, String::new())],
        );
        assert_eq!(excerpt.text, "a = 1\nb = 2\nc = 3\ne = 5\nf = 6\n");
        assert_eq!(labels(&excerpt), ["b", "6"]);
        let contents = excerpt
            .read_span(&excerpt.labels[1].inner().clone(), 0, 0)
            .unwrap();
        assert_eq!((contents.line(), contents.column()), (5, 4));
        let contents = excerpt
            .read_span(&excerpt.labels[0].inner().clone(), 5, 5)
            .unwrap();
        assert_eq!(contents.line(), 0);
        assert_eq!(
            std::str::from_utf8(contents.data()).unwrap(),
            "a = 1\nb = 2\nc = 3\n"
        );
    }

    #[test]
    fn long_lines_show_a_window_around_the_label() {
        let text = format!("x = \"{}\" # é{}bad\n", "y".repeat(70_000), "é".repeat(10));
        let file = SourceFile::new("t.toml", &text);
        let at = text.find("bad").unwrap();
        let excerpt = Excerpt::new(&file, &[(at..at + 3, "bad".into())]);
        assert!(excerpt.text.len() < MAX_LINE_BYTES + 10, "{}", excerpt.text);
        assert!(excerpt.text.starts_with(CUT));
        assert_eq!(labels(&excerpt), ["bad"]);
        let contents = excerpt
            .read_span(&excerpt.labels[0].inner().clone(), 0, 0)
            .unwrap();
        assert_eq!(contents.column(), at);
    }

    #[test]
    fn labels_over_many_lines_show_their_first_line() {
        let text = format!("[[teammate]]\n{}", "k = 1\n".repeat(100_000));
        let file = SourceFile::new("t.toml", &text);
        let excerpt = Excerpt::new(&file, &[(0..text.len(), String::new())]);
        assert_eq!(excerpt.text, "[[teammate]]\nk = 1\n");
        assert_eq!(labels(&excerpt), ["[[teammate]]"]);
    }

    #[test]
    fn labels_past_the_end_are_clamped() {
        let file = SourceFile::new("t.toml", "name = \"é");
        let excerpt = Excerpt::new(&file, &[(8..100, String::new()), (0..0, String::new())]);
        assert_eq!(labels(&excerpt), ["é", ""]);
        let file = SourceFile::new("t.toml", "");
        let excerpt = Excerpt::new(&file, &[(0..0, String::new())]);
        assert_eq!(excerpt.text, "\n");
    }
}
