//! Text measurement and number formatting for chart labels.
//!
//! plotters has no font to measure with when built without a font feature: it estimates
//! 0.565 em per byte, so digits come out ~11 % too narrow and a 3-byte "−" 2.5 times too wide.
//! The layout measures strings itself with DejaVu Sans's real advance widths — the font that
//! the rasteriser embeds and the SVG names.

/// Advance widths of DejaVu Sans, ASCII 32..=126, in font units (2048 per em).
const REGULAR: [u16; 95] = [
    651, 821, 942, 1716, 1303, 1946, 1597, 563, 799, 799, 1024, 1716, 651, 739, 651, 690, 1303,
    1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 690, 690, 1716, 1716, 1716, 1087, 2048,
    1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 604, 604, 1343, 1141, 1767, 1532, 1612, 1235,
    1612, 1423, 1300, 1251, 1499, 1401, 2025, 1403, 1251, 1403, 799, 690, 799, 1716, 1024, 1024,
    1255, 1300, 1126, 1300, 1260, 721, 1300, 1298, 569, 569, 1186, 569, 1995, 1298, 1253, 1300,
    1300, 842, 1067, 803, 1298, 1212, 1675, 1212, 1212, 1075, 1303, 690, 1303, 1716,
];

/// Advance widths of DejaVu Sans Bold, ASCII 32..=126, in font units (2048 per em).
const BOLD: [u16; 95] = [
    713, 934, 1067, 1716, 1425, 2052, 1786, 627, 936, 936, 1071, 1716, 778, 850, 778, 748, 1425,
    1425, 1425, 1425, 1425, 1425, 1425, 1425, 1425, 1425, 819, 819, 1716, 1716, 1716, 1188, 2048,
    1585, 1561, 1503, 1700, 1399, 1399, 1681, 1714, 762, 762, 1587, 1305, 2038, 1714, 1741, 1501,
    1741, 1577, 1475, 1397, 1663, 1585, 2259, 1579, 1483, 1485, 936, 748, 936, 1716, 1024, 1024,
    1382, 1466, 1214, 1466, 1389, 891, 1466, 1458, 702, 702, 1362, 702, 2134, 1458, 1407, 1466,
    1466, 1010, 1219, 979, 1458, 1335, 1892, 1321, 1335, 1192, 1458, 748, 1458, 1716,
];

/// A name from the files (a model name) as chart text: control characters (which XML does not
/// allow: an ESC made the SVG unreadable) and bidi overrides are written as `\u{1b}`, as on
/// the terminal, line breaks become spaces, and XML's non-characters U+FFFE/U+FFFF become U+FFFD.
/// The one function every label from outside the program goes through.
pub fn chart_label(s: &str) -> String {
    crate::results::names::escape_control(&s.replace('\n', " "))
        .replace(['\u{fffe}', '\u{ffff}'], "\u{fffd}")
}

/// The minus sign used in labels (U+2212, as wide as "+" in DejaVu Sans, so signed labels line up).
pub const MINUS: char = '\u{2212}';

/// Advance width of `c` in font units (2048 per em), for the characters whose width is known:
/// printable ASCII and the few symbols charts use.
pub fn known_advance(c: char, bold: bool) -> Option<u16> {
    let table = if bold { &BOLD } else { &REGULAR };
    let ascii = |b: u8| table[usize::from(b) - 32];
    Some(match c {
        ' '..='~' => ascii(c as u8),
        '\u{2212}' | '\u{00d7}' | '\u{2264}' | '\u{2265}' | '\u{00b1}' | '\u{2191}'
        | '\u{2193}' | '\u{2248}' => 1716,
        '\u{2014}' | '\u{2026}' => 2048,
        '\u{2013}' | '\u{00b0}' => 1024,
        '\u{00b7}' | '\u{2018}' | '\u{2019}' => ascii(b'.'),
        '\u{201c}' | '\u{201d}' => {
            if bold {
                1346
            } else {
                1061
            }
        }
        _ => return None,
    })
}

fn advance(c: char, bold: bool) -> u16 {
    // Anything unknown: about an average lowercase letter.
    known_advance(c, bold).unwrap_or_else(|| known_advance('n', bold).unwrap_or(1298))
}

/// Width in pixels of `s` set in DejaVu Sans (Bold when `bold`) at font size `px`.
pub fn text_width(s: &str, px: f64, bold: bool) -> f64 {
    s.chars().map(|c| f64::from(advance(c, bold))).sum::<f64>() * px / 2048.0
}

/// `s`, shortened with a middle "…" so that it is at most `max_w` pixels wide.
pub fn fit_text(s: &str, px: f64, bold: bool, max_w: f64) -> String {
    if text_width(s, px, bold) <= max_w {
        return s.to_owned();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut keep = chars.len();
    while keep > 1 {
        keep -= 1;
        let head = keep.div_ceil(2);
        let tail = keep - head;
        let t: String = chars[..head]
            .iter()
            .chain(std::iter::once(&'…'))
            .chain(&chars[chars.len() - tail..])
            .collect();
        if text_width(&t, px, bold) <= max_w {
            return t;
        }
    }
    "…".to_owned()
}

/// A bar's value: one decimal from 100 up ("2450.0"), two below ("12.34"), three below 1
/// ("0.123").
pub fn format_value(v: f64) -> String {
    let a = v.abs();
    let s = if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 || a == 0.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    s.replace('-', &MINUS.to_string())
}

/// A signed percentage with one decimal ("+12.3%", "−4.5%", "0.0%"); changes too small to show
/// with one decimal get two ("+0.04%"), so a non-zero change never reads as 0.0%.
pub fn format_pct(d: f64) -> String {
    if d == 0.0 {
        return "0.0%".to_owned();
    }
    let s = if d.abs() < 0.05 {
        format!("{:.2}", d.abs())
    } else {
        format!("{:.1}", d.abs())
    };
    let sign = if d > 0.0 { '+' } else { MINUS };
    format!("{sign}{s}%")
}

/// An axis tick: the shortest decimal form ("0", "2500", "0.25").
pub fn format_tick(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.replace('-', &MINUS.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_labels_have_no_control_characters() {
        assert_eq!(
            chart_label("a\u{1b}[31m\nb\u{ffff}"),
            "a\\u{1b}[31m b\u{fffd}"
        );
        assert_eq!(chart_label("Qwen/Qwen3-4B"), "Qwen/Qwen3-4B");
    }

    #[test]
    fn widths_follow_dejavu_metrics() {
        // Digits are 1303/2048 em; "2450.0" = 5 digits + ".".
        let w = text_width("2450.0", 20.0, false);
        assert!((w - (5.0 * 1303.0 + 651.0) * 20.0 / 2048.0).abs() < 1e-9);
        assert!(text_width("+1.0%", 14.0, false) == text_width("\u{2212}1.0%", 14.0, false));
        assert!(text_width("Model", 14.0, true) > text_width("Model", 14.0, false));
    }

    #[test]
    fn long_text_is_shortened_in_the_middle() {
        let s = "meta-llama_Llama-3.1-70B-Instruct-AWQ-INT4";
        let t = fit_text(s, 14.0, false, 150.0);
        assert!(
            t.contains('…') && t.starts_with("meta") && t.ends_with('4'),
            "{t}"
        );
        assert!(text_width(&t, 14.0, false) <= 150.0);
        assert_eq!(fit_text("short", 14.0, false, 150.0), "short");
    }

    #[test]
    fn number_formats() {
        assert_eq!(format_value(2450.0), "2450.0");
        assert_eq!(format_value(12.3412), "12.34");
        assert_eq!(format_value(0.1234), "0.123");
        assert_eq!(format_value(0.0), "0.00");
        assert_eq!(format_pct(12.345), "+12.3%");
        assert_eq!(format_pct(-4.5), "\u{2212}4.5%");
        assert_eq!(format_pct(0.0), "0.0%");
        assert_eq!(format_pct(0.04), "+0.04%");
        assert_eq!(format_tick(2500.0), "2500");
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(0.30000000000000004), "0.3");
        assert_eq!(format_tick(-0.0), "0");
    }
}
