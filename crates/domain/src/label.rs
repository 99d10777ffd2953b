//! Sample labels: the Code 128 (code set B) encoding of a sample code, its SVG drawing, and the
//! ZPL a Zebra-compatible printer takes. Pure text and bits; the server renders PNG and PDF.

/// The bar/space pattern of each Code 128 symbol value 0..=105, 11 modules each (1 = bar),
/// most significant bit first. 103–105 are START A/B/C.
const PATTERNS: [u16; 106] = [
    0b11011001100,
    0b11001101100,
    0b11001100110,
    0b10010011000,
    0b10010001100,
    0b10001001100,
    0b10011001000,
    0b10011000100,
    0b10001100100,
    0b11001001000,
    0b11001000100,
    0b11000100100,
    0b10110011100,
    0b10011011100,
    0b10011001110,
    0b10111001100,
    0b10011101100,
    0b10011100110,
    0b11001110010,
    0b11001011100,
    0b11001001110,
    0b11011100100,
    0b11001110100,
    0b11101101110,
    0b11101001100,
    0b11100101100,
    0b11100100110,
    0b11101100100,
    0b11100110100,
    0b11100110010,
    0b11011011000,
    0b11011000110,
    0b11000110110,
    0b10100011000,
    0b10001011000,
    0b10001000110,
    0b10110001000,
    0b10001101000,
    0b10001100010,
    0b11010001000,
    0b11000101000,
    0b11000100010,
    0b10110111000,
    0b10110001110,
    0b10001101110,
    0b10111011000,
    0b10111000110,
    0b10001110110,
    0b11101110110,
    0b11010001110,
    0b11000101110,
    0b11011101000,
    0b11011100010,
    0b11011101110,
    0b11101011000,
    0b11101000110,
    0b11100010110,
    0b11101101000,
    0b11101100010,
    0b11100011010,
    0b11101111010,
    0b11001000010,
    0b11110001010,
    0b10100110000,
    0b10100001100,
    0b10010110000,
    0b10010000110,
    0b10000101100,
    0b10000100110,
    0b10110010000,
    0b10110000100,
    0b10011010000,
    0b10011000010,
    0b10000110100,
    0b10000110010,
    0b11000010010,
    0b11001010000,
    0b11110111010,
    0b11000010100,
    0b10001111010,
    0b10100111100,
    0b10010111100,
    0b10010011110,
    0b10111100100,
    0b10011110100,
    0b10011110010,
    0b11110100100,
    0b11110010100,
    0b11110010010,
    0b11011011110,
    0b11011110110,
    0b11110110110,
    0b10101111000,
    0b10100011110,
    0b10001011110,
    0b10111101000,
    0b10111100010,
    0b11110101000,
    0b11110100010,
    0b10111011110,
    0b10111101110,
    0b11101011110,
    0b11110101110,
    0b11010000100,
    0b11010010000,
    0b11010011100,
];
/// STOP plus the final bar: 13 modules.
const STOP: u16 = 0b1100011101011;
const START_B: usize = 104;
/// Quiet zone on each side, in modules.
pub const QUIET: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Code 128 set B encodes printable ASCII only (character {0:?} is not)")]
pub struct Unencodable(pub char);

/// The symbol values of `text` in code set B: START B, the data, the check symbol (STOP is
/// added by [`code128_modules`]).
pub fn code128_values(text: &str) -> Result<Vec<usize>, Unencodable> {
    let mut values = vec![START_B];
    for c in text.chars() {
        if !(' '..='~').contains(&c) {
            return Err(Unencodable(c));
        }
        values.push(c as usize - 32);
    }
    let sum = values
        .iter()
        .enumerate()
        .map(|(i, v)| i.max(1) * v)
        .sum::<usize>();
    values.push(sum % 103);
    Ok(values)
}

fn push_bits(out: &mut Vec<bool>, pattern: u16, width: u32) {
    for i in (0..width).rev() {
        out.push(pattern >> i & 1 == 1);
    }
}

/// The modules (true = bar) of `text` as Code 128, with a quiet zone on both sides.
pub fn code128_modules(text: &str) -> Result<Vec<bool>, Unencodable> {
    let values = code128_values(text)?;
    let mut out = vec![false; QUIET];
    for v in values {
        push_bits(&mut out, PATTERNS.get(v).copied().unwrap_or(0), 11);
    }
    push_bits(&mut out, STOP, 13);
    out.extend(std::iter::repeat_n(false, QUIET));
    Ok(out)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A Code 128 barcode as SVG: one rect per bar, `module` px wide, `height` px tall, with the
/// text beneath.
pub fn code128_svg(text: &str, module: u32, height: u32) -> Result<String, Unencodable> {
    let modules = code128_modules(text)?;
    let width = modules.len() as u32 * module;
    let total = height + 16;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{width}\" height=\"{total}\" \
         viewBox=\"0 0 {width} {total}\"><rect width=\"{width}\" height=\"{total}\" fill=\"#fff\"/>"
    );
    let mut x = 0usize;
    while x < modules.len() {
        if modules.get(x).copied().unwrap_or(false) {
            let start = x;
            while modules.get(x).copied().unwrap_or(false) {
                x += 1;
            }
            svg.push_str(&format!(
                "<rect x=\"{}\" y=\"0\" width=\"{}\" height=\"{height}\" fill=\"#000\"/>",
                start as u32 * module,
                (x - start) as u32 * module
            ));
        } else {
            x += 1;
        }
    }
    svg.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" font-family=\"monospace\" font-size=\"14\" text-anchor=\"middle\">{}</text></svg>",
        width / 2,
        height + 14,
        xml_escape(text)
    ));
    Ok(svg)
}

/// What a label carries besides its code.
#[derive(Clone, Debug, Default)]
pub struct LabelText {
    pub code: String,
    pub line2: String,
}

fn zpl_field(s: &str) -> String {
    // ^FD data ends at ^ or ~ (command prefixes): keep printable ASCII, replace the rest.
    s.chars()
        .map(|c| match c {
            '^' | '~' => '-',
            c if (' '..='}').contains(&c) => c,
            _ => '?',
        })
        .collect()
}

/// ZPL II for one 2 × 1 inch label (203 dpi): Code 128 of the code, a QR code of the code, the
/// code and a second line in text.
pub fn zpl(label: &LabelText) -> String {
    let code = zpl_field(&label.code);
    let line2 = zpl_field(&label.line2);
    format!(
        "^XA\n^CI0\n^PW406\n^LL203\n\
         ^FO20,20^BY2^BCN,70,N,N,N^FD{code}^FS\n\
         ^FO20,100^A0N,28,28^FD{code}^FS\n\
         ^FO20,135^A0N,22,22^FD{line2}^FS\n\
         ^FO300,100^BQN,2,3^FDQA,{code}^FS\n\
         ^XZ\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_table_is_well_formed() {
        // Every symbol: 11 modules, starts with a bar, ends with a space, three bars and three
        // spaces, an even number of bar modules; all distinct.
        for (v, p) in PATTERNS.iter().enumerate() {
            assert_eq!(p >> 10, 1, "symbol {v} starts with a bar");
            assert_eq!(p & 1, 0, "symbol {v} ends with a space");
            let bits: Vec<bool> = (0..11).rev().map(|i| p >> i & 1 == 1).collect();
            let runs = 1 + bits.windows(2).filter(|w| w[0] != w[1]).count();
            assert_eq!(runs, 6, "symbol {v} has 3 bars and 3 spaces");
            let bar_modules = bits.iter().filter(|b| **b).count();
            assert_eq!(bar_modules % 2, 0, "symbol {v} bar parity");
            for (w, q) in PATTERNS.iter().enumerate() {
                assert!(v == w || p != q, "symbols {v} and {w} are equal");
            }
        }
    }

    #[test]
    fn values_and_check_symbol() {
        // START B, P J J 1 2 3 C, check = (104 + Σ i·v) mod 103.
        let v = code128_values("PJJ123C").unwrap();
        assert_eq!(v, vec![104, 48, 42, 42, 17, 18, 19, 35, 55]);
        assert_eq!(code128_values("S-000001").unwrap().first(), Some(&104));
        assert_eq!(code128_values("é").unwrap_err(), Unencodable('é'));
        assert!(code128_values("a\nb").is_err());
    }

    #[test]
    fn modules_have_quiet_zones_and_the_stop_pattern() {
        let m = code128_modules("S-000123").unwrap();
        // quiet + (start + 8 chars + check) * 11 + stop 13 + quiet
        assert_eq!(m.len(), QUIET + 10 * 11 + 13 + QUIET);
        assert!(m[..QUIET].iter().all(|b| !b));
        assert!(m[m.len() - QUIET..].iter().all(|b| !b));
        let stop: Vec<bool> = m[m.len() - QUIET - 13..m.len() - QUIET].to_vec();
        let want: Vec<bool> = "1100011101011".chars().map(|c| c == '1').collect();
        assert_eq!(stop, want);
        let start: Vec<bool> = m[QUIET..QUIET + 11].to_vec();
        let want: Vec<bool> = "11010010000".chars().map(|c| c == '1').collect();
        assert_eq!(start, want);
    }

    #[test]
    fn svg_and_zpl() {
        let svg = code128_svg("S-000001", 2, 60).unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains(">S-000001</text>"));
        let zpl = zpl(&LabelText {
            code: "S-000001".into(),
            line2: "blood ^XZ~".into(),
        });
        assert!(zpl.starts_with("^XA"));
        assert!(zpl.trim_end().ends_with("^XZ"));
        assert_eq!(zpl.matches("^XZ").count(), 1, "no command injection: {zpl}");
        assert!(zpl.contains("^FDS-000001^FS"));
        assert!(zpl.contains("^FDQA,S-000001^FS"));
    }
}
