//! Printable reports as PDF: lines of text in Helvetica on A4 pages, paginated, made with
//! `pdf-writer` (no external tools).

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

/// One line of a report.
#[derive(Clone, Debug)]
pub enum Line {
    Title(String),
    Heading(String),
    Text(String),
    Blank,
}

impl Line {
    fn style(&self) -> (f32, f32) {
        // (font size, line height)
        match self {
            Line::Title(_) => (18.0, 26.0),
            Line::Heading(_) => (13.0, 20.0),
            Line::Text(_) => (9.5, 13.0),
            Line::Blank => (9.5, 8.0),
        }
    }
    fn text(&self) -> &str {
        match self {
            Line::Title(s) | Line::Heading(s) | Line::Text(s) => s,
            Line::Blank => "",
        }
    }
}

/// Helvetica's standard encoding: printable ASCII only; anything else becomes `?`.
fn pdf_text(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| {
            if (' '..='~').contains(&c) {
                c as u8
            } else {
                b'?'
            }
        })
        .collect()
}

/// Long lines are cut into pieces of at most `width` characters.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars
        .chunks(width)
        .map(|c| c.iter().collect::<String>())
        .collect()
}

/// The report as a PDF document; every page carries `footer` and its page number.
pub fn text_pdf(lines: &[Line], footer: &str) -> Vec<u8> {
    const PAGE_W: f32 = 595.0;
    const PAGE_H: f32 = 842.0;
    const MARGIN: f32 = 50.0;
    let mut pages: Vec<Vec<(f32, f32, Vec<u8>)>> = vec![Vec::new()];
    let mut y = PAGE_H - MARGIN;
    for line in lines {
        let (size, height) = line.style();
        let width = if size > 10.0 { 60 } else { 100 };
        for piece in wrap(line.text(), width) {
            if y - height < MARGIN + 20.0 {
                pages.push(Vec::new());
                y = PAGE_H - MARGIN;
            }
            y -= height;
            if let Some(page) = pages.last_mut() {
                page.push((size, y, pdf_text(&piece)));
            }
        }
    }
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let font = Ref::new(3);
    let mut next = 4;
    let total = pages.len();
    let mut page_ids = Vec::new();
    let mut contents = Vec::new();
    for (n, page) in pages.iter().enumerate() {
        let page_id = Ref::new(next);
        let content_id = Ref::new(next + 1);
        next += 2;
        let mut c = Content::new();
        for (size, y, text) in page {
            c.begin_text();
            c.set_font(Name(b"F1"), *size);
            c.next_line(MARGIN, *y);
            c.show(Str(text));
            c.end_text();
        }
        c.begin_text();
        c.set_font(Name(b"F1"), 8.0);
        c.next_line(MARGIN, MARGIN - 10.0);
        c.show(Str(&pdf_text(&format!(
            "{footer} - page {} of {total}",
            n + 1
        ))));
        c.end_text();
        page_ids.push(page_id);
        contents.push((page_id, content_id, c.finish()));
    }
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(page_ids.len() as i32);
    for (page_id, content_id, data) in &contents {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(tree);
        page.contents(*content_id);
        page.resources().fonts().pair(Name(b"F1"), font);
        page.finish();
        pdf.stream(*content_id, data);
    }
    pdf.type1_font(font).base_font(Name(b"Helvetica"));
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_paginate_and_keep_their_text() {
        let mut lines = vec![Line::Title("Project report".into())];
        for i in 0..200 {
            lines.push(Line::Text(format!("S-{i:06}")));
        }
        let pdf = text_pdf(&lines, "footer");
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.windows(8).any(|w| w == b"S-000199"));
        assert!(pdf.windows(10).any(|w| w == b"page 2 of "));
        assert_eq!(
            wrap("abcdef", 4),
            vec!["abcd".to_string(), "ef".to_string()]
        );
    }
}
