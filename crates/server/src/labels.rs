//! Sample labels rendered by the server: QR and Code 128 as SVG and PNG, and a PDF sheet of
//! labels. The Code 128 encoding and ZPL live in the domain (`domain::label`).

use labledger_domain::label::{code128_modules, code128_svg};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};
use qrcode::{Color, QrCode};

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("{0}")]
    Code128(#[from] labledger_domain::label::Unencodable),
    #[error("QR: {0}")]
    Qr(#[from] qrcode::types::QrError),
    #[error("PNG: {0}")]
    Png(#[from] png::EncodingError),
}

/// Which symbol a label image carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symbol {
    Qr,
    Code128,
}

impl Symbol {
    pub fn parse(s: Option<&str>) -> Option<Symbol> {
        match s.unwrap_or("qr") {
            "qr" => Some(Symbol::Qr),
            "code128" => Some(Symbol::Code128),
            _ => None,
        }
    }
}

/// The QR modules (true = dark) with a 4-module quiet zone, and the side length.
fn qr_modules(text: &str) -> Result<(Vec<bool>, usize), LabelError> {
    let code = QrCode::new(text.as_bytes())?;
    let w = code.width();
    let colors = code.to_colors();
    let side = w + 8;
    let mut out = vec![false; side * side];
    for (i, c) in colors.iter().enumerate() {
        let (y, x) = (i / w + 4, i % w + 4);
        if let Some(cell) = out.get_mut(y * side + x) {
            *cell = *c == Color::Dark;
        }
    }
    Ok((out, side))
}

pub fn svg(text: &str, symbol: Symbol) -> Result<String, LabelError> {
    match symbol {
        Symbol::Code128 => Ok(code128_svg(text, 2, 80)?),
        Symbol::Qr => {
            let (m, side) = qr_modules(text)?;
            let scale = 6;
            let px = side * scale;
            let mut s = format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{px}\" height=\"{px}\" \
                 viewBox=\"0 0 {side} {side}\" shape-rendering=\"crispEdges\"><rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/><path fill=\"#000\" d=\""
            );
            for (i, dark) in m.iter().enumerate() {
                if *dark {
                    s.push_str(&format!("M{} {}h1v1h-1z", i % side, i / side));
                }
            }
            s.push_str("\"/></svg>");
            Ok(s)
        }
    }
}

fn encode_png(width: usize, height: usize, pixels: &[u8]) -> Result<Vec<u8>, LabelError> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width as u32, height as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header()?;
        writer.write_image_data(pixels)?;
        writer.finish()?;
    }
    Ok(out)
}

pub fn png(text: &str, symbol: Symbol) -> Result<Vec<u8>, LabelError> {
    match symbol {
        Symbol::Qr => {
            let (m, side) = qr_modules(text)?;
            let scale = 6;
            let px = side * scale;
            let mut pixels = vec![255u8; px * px];
            for (i, p) in pixels.iter_mut().enumerate() {
                let (y, x) = (i / px / scale, i % px / scale);
                if m.get(y * side + x).copied().unwrap_or(false) {
                    *p = 0;
                }
            }
            encode_png(px, px, &pixels)
        }
        Symbol::Code128 => {
            let m = code128_modules(text)?;
            let scale = 3;
            let (w, h) = (m.len() * scale, 100);
            let row: Vec<u8> = (0..w)
                .map(|x| {
                    if m.get(x / scale).copied().unwrap_or(false) {
                        0
                    } else {
                        255
                    }
                })
                .collect();
            let pixels: Vec<u8> = (0..h).flat_map(|_| row.iter().copied()).collect();
            encode_png(w, h, &pixels)
        }
    }
}

/// One label of the sheet.
pub struct SheetLabel {
    pub code: String,
    pub line2: String,
}

/// Keeps text the standard PDF fonts can show (printable ASCII).
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

/// An A4 sheet (or several) of 3 × 8 labels, each with the code in text, a Code 128 barcode and
/// a QR code.
pub fn sheet_pdf(labels: &[SheetLabel]) -> Result<Vec<u8>, LabelError> {
    const PER_PAGE: usize = 24;
    const COLS: usize = 3;
    const W: f32 = 198.0;
    const H: f32 = 105.0;
    let (page_w, page_h) = (595.0, 842.0);
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let font = Ref::new(3);
    let mut next = 4;
    let pages: Vec<&[SheetLabel]> = if labels.is_empty() {
        vec![&[]]
    } else {
        labels.chunks(PER_PAGE).collect()
    };
    let mut page_ids = Vec::new();
    let mut contents = Vec::new();
    for chunk in &pages {
        let page_id = Ref::new(next);
        let content_id = Ref::new(next + 1);
        next += 2;
        let mut c = Content::new();
        for (i, label) in chunk.iter().enumerate() {
            let x0 = 0.5 * (page_w - COLS as f32 * W) + (i % COLS) as f32 * W;
            let y0 = page_h - 21.0 - ((i / COLS) + 1) as f32 * H;
            c.begin_text();
            c.set_font(Name(b"F1"), 12.0);
            c.next_line(x0 + 10.0, y0 + H - 22.0);
            c.show(Str(&pdf_text(&label.code)));
            c.end_text();
            c.begin_text();
            c.set_font(Name(b"F1"), 8.0);
            c.next_line(x0 + 10.0, y0 + H - 34.0);
            c.show(Str(&pdf_text(&label.line2)));
            c.end_text();
            // QR at the top right, 1.5 pt per module.
            let (m, side) = qr_modules(&label.code)?;
            let q = 1.5;
            let qx = x0 + W - 10.0 - side as f32 * q;
            let qy = y0 + H - 6.0 - side as f32 * q;
            for (k, dark) in m.iter().enumerate() {
                if *dark {
                    let (row, col) = (k / side, k % side);
                    c.rect(qx + col as f32 * q, qy + (side - 1 - row) as f32 * q, q, q);
                }
            }
            // Code 128 across the bottom, 1.1 pt per module, 26 pt tall.
            let bars = code128_modules(&label.code)?;
            let b = 1.1;
            let mut k = 0;
            while k < bars.len() {
                if bars.get(k).copied().unwrap_or(false) {
                    let start = k;
                    while bars.get(k).copied().unwrap_or(false) {
                        k += 1;
                    }
                    c.rect(
                        x0 + start as f32 * b,
                        y0 + 8.0,
                        (k - start) as f32 * b,
                        26.0,
                    );
                } else {
                    k += 1;
                }
            }
            c.fill_nonzero();
        }
        page_ids.push(page_id);
        contents.push((page_id, content_id, c.finish()));
    }
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(page_ids.len() as i32);
    for (page_id, content_id, data) in &contents {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, page_w, page_h));
        page.parent(tree);
        page.contents(*content_id);
        page.resources().fonts().pair(Name(b"F1"), font);
        page.finish();
        pdf.stream(*content_id, data);
    }
    pdf.type1_font(font).base_font(Name(b"Helvetica"));
    Ok(pdf.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_have_their_signatures() {
        for sym in [Symbol::Qr, Symbol::Code128] {
            let p = png("S-000001", sym).unwrap();
            assert_eq!(&p[..8], b"\x89PNG\r\n\x1a\n");
            let s = svg("S-000001", sym).unwrap();
            assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        }
        let pdf = sheet_pdf(&[SheetLabel {
            code: "S-000001".into(),
            line2: "blood".into(),
        }])
        .unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.windows(8).any(|w| w == b"S-000001"));
        assert_eq!(Symbol::parse(None), Some(Symbol::Qr));
        assert_eq!(Symbol::parse(Some("ean")), None);
    }
}
