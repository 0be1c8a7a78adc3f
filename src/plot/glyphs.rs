//! Fast text for the rasteriser: the `<text>` elements plotters writes are drawn from a cache
//! of glyph images instead of being shaped and filled by usvg one element at a time.
//!
//! Why: usvg shapes every text element with rustybuzz (re-parsing the font several times per
//! glyph) and resvg fills every glyph outline with tiny-skia's supersampled anti-aliasing. On a
//! chart that is ~90 % of the rasterising time (1200×700: ~9 of ~11 ms; the combined figure:
//! ~35 of ~40 ms). The glyph images are still made by usvg + resvg from the embedded fonts —
//! one glyph per tiny SVG, once per character, size, weight, rotation and quarter-pixel
//! offset — so the pixels are resvg's; only their placement is done here, with the fonts'
//! advance widths ([`super::text::known_advance`]; no kerning, and DejaVu Sans's digits have
//! none, so numbers come out exactly as usvg sets them).
//!
//! Only texts this module fully understands take the fast path (the attributes plotters writes,
//! characters with known widths, plain content); anything else stays in the SVG for usvg. Fast
//! texts are drawn after the SVG's shapes, which changes nothing for the charts: no shape is
//! drawn over a text.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use resvg::tiny_skia::{Pixmap, Transform};
use resvg::usvg;

use super::text::known_advance;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Anchor {
    Start,
    Middle,
    End,
}

/// One text element taken out of the SVG.
#[derive(Debug, Clone, PartialEq)]
pub struct TextRun {
    text: String,
    x: f64,
    y: f64,
    /// Baseline shift (`dy`) in px.
    dy: f64,
    anchor: Anchor,
    size: f64,
    bold: bool,
    rgb: [u8; 3],
    /// 0..=255.
    alpha: u8,
    /// `rotate(270, x, y)`: reads upwards.
    rotated: bool,
}

#[cfg(test)]
impl TextRun {
    pub fn text(&self) -> &str {
        &self.text
    }
    pub fn is_rotated(&self) -> bool {
        self.rotated
    }
}

/// Splits `svg` into the document without the text elements that can be drawn from the glyph
/// cache, and those texts in document order.
pub fn split_texts(svg: &str) -> (String, Vec<TextRun>) {
    if svg.contains("xml:space") {
        return (svg.to_owned(), Vec::new());
    }
    let mut out = String::with_capacity(svg.len());
    let mut runs = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find("<text") {
        let (before, from) = rest.split_at(i);
        out.push_str(before);
        let Some(close) = from.find("</text>") else {
            rest = from;
            break;
        };
        let end = close + "</text>".len();
        let element = &from[..end];
        match parse_text(element) {
            Some(run) => runs.push(run),
            None => out.push_str(element),
        }
        rest = &from[end..];
    }
    out.push_str(rest);
    (out, runs)
}

fn parse_text(element: &str) -> Option<TextRun> {
    let inner = element.strip_prefix("<text")?;
    if !inner.starts_with([' ', '\n', '\t', '\r']) {
        return None;
    }
    let gt = inner.find('>')?;
    let (attrs, body) = (&inner[..gt], &inner[gt + 1..]);
    let content = body.strip_suffix("</text>")?;
    if attrs.ends_with('/') || content.contains('<') {
        return None;
    }
    let mut run = TextRun {
        text: collapse_spaces(&unescape(content)?),
        x: 0.0,
        y: 0.0,
        dy: 0.0,
        anchor: Anchor::Start,
        size: 0.0,
        bold: false,
        rgb: [0, 0, 0],
        alpha: 255,
        rotated: false,
    };
    let (mut rotation, mut dy) = (None, None);
    let mut rest = attrs.trim_start();
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"")?;
        let (value, after) = after.split_once('"')?;
        let value = unescape(value)?;
        match name.trim() {
            "x" => run.x = value.parse().ok()?,
            "y" => run.y = value.parse().ok()?,
            "dy" => dy = Some(value),
            "text-anchor" => {
                run.anchor = match value.as_str() {
                    "start" => Anchor::Start,
                    "middle" => Anchor::Middle,
                    "end" => Anchor::End,
                    _ => return None,
                }
            }
            "font-family" => {} // the rasteriser resolves every family to DejaVu Sans
            "font-size" => {
                run.size = value
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && *s < 500.0)?
            }
            "opacity" => {
                run.alpha = (value.parse::<f64>().ok()?.clamp(0.0, 1.0) * 255.0).round() as u8
            }
            "fill" => run.rgb = hex_colour(&value)?,
            "font-weight" => {
                run.bold = match value.as_str() {
                    "bold" | "700" => true,
                    "normal" | "400" => false,
                    _ => return None,
                }
            }
            "transform" => rotation = Some(value),
            _ => return None,
        }
        rest = after.trim_start();
    }
    // `dy` in em/ex depends on the font size, which may come after it.
    if let Some(dy) = dy {
        run.dy = dy_px(&dy, run.size)?;
    }
    if let Some(t) = rotation {
        if t.replace(' ', "") != format!("rotate(270,{},{})", run.x, run.y) {
            return None;
        }
        run.rotated = true;
    }
    if run.size == 0.0
        || !run
            .text
            .chars()
            .all(|c| known_advance(c, run.bold).is_some())
    {
        return None;
    }
    Some(run)
}

/// A `dy` length in px: em, ex (usvg: 1ex = 0.5em), px or a plain number.
fn dy_px(v: &str, size: f64) -> Option<f64> {
    let num = |n: &str| n.trim().parse::<f64>().ok().filter(|n| n.is_finite());
    if let Some(n) = v.strip_suffix("em") {
        num(n).map(|n| n * size)
    } else if let Some(n) = v.strip_suffix("ex") {
        num(n).map(|n| n * size / 2.0)
    } else {
        num(v.strip_suffix("px").unwrap_or(v))
    }
}

fn hex_colour(v: &str) -> Option<[u8; 3]> {
    let h = v.strip_prefix('#')?;
    if h.len() != 6 {
        return None;
    }
    let c = |i: usize| u8::from_str_radix(h.get(i..i + 2)?, 16).ok();
    Some([c(0)?, c(2)?, c(4)?])
}

/// XML entities plotters writes; `None` for anything else.
fn unescape(s: &str) -> Option<String> {
    if !s.contains('&') {
        return Some(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let (entity, after) = rest[i..].split_once(';')?;
        out.push(match entity {
            "&lt" => '<',
            "&gt" => '>',
            "&amp" => '&',
            "&quot" => '"',
            "&apos" => '\'',
            _ => return None,
        });
        rest = after;
    }
    out.push_str(rest);
    Some(out)
}

/// SVG's default white-space handling as usvg does it: newlines and tabs become spaces, runs
/// of spaces collapse, leading and trailing spaces go.
fn collapse_spaces(s: &str) -> String {
    s.split([' ', '\n', '\t', '\r'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A glyph's coverage, positioned relative to the pixel its origin falls in.
struct Mask {
    dx: i32,
    dy: i32,
    w: usize,
    alpha: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    c: char,
    /// Font size in 1/100 px.
    size: u32,
    bold: bool,
    rotated: bool,
    /// Sub-pixel offset of the origin, in quarter pixels.
    qx: u8,
    qy: u8,
}

/// Glyph images rendered by usvg/resvg, shared by all threads.
#[derive(Default)]
pub struct GlyphCache {
    masks: RwLock<HashMap<Key, Arc<Mask>>>,
}

impl GlyphCache {
    /// Draws `runs` onto `pixmap`.
    pub fn draw(&self, pixmap: &mut Pixmap, runs: &[TextRun], options: &usvg::Options) {
        for run in runs {
            self.draw_run(pixmap, run, options);
        }
    }

    fn draw_run(&self, pixmap: &mut Pixmap, run: &TextRun, options: &usvg::Options) {
        if run.alpha == 0 {
            return;
        }
        let adv = |c: char| f64::from(known_advance(c, run.bold).unwrap_or(0)) * run.size / 2048.0;
        let width: f64 = run.text.chars().map(adv).sum();
        let mut pen = match run.anchor {
            Anchor::Start => 0.0,
            Anchor::Middle => -width / 2.0,
            Anchor::End => -width,
        };
        for c in run.text.chars() {
            if c != ' ' {
                // The glyph origin in the text's own frame is (pen, dy) from (x, y).
                let (gx, gy) = if run.rotated {
                    (run.x + run.dy, run.y - pen)
                } else {
                    (run.x + pen, run.y + run.dy)
                };
                let (fx, qx) = quarter(gx);
                let (fy, qy) = quarter(gy);
                let key = Key {
                    c,
                    size: (run.size * 100.0).round() as u32,
                    bold: run.bold,
                    rotated: run.rotated,
                    qx,
                    qy,
                };
                let mask = self.mask(key, options);
                composite(
                    pixmap,
                    &mask,
                    fx + mask.dx,
                    fy + mask.dy,
                    run.rgb,
                    run.alpha,
                );
            }
            pen += adv(c);
        }
    }

    fn mask(&self, key: Key, options: &usvg::Options) -> Arc<Mask> {
        if let Some(m) = self.masks.read().ok().and_then(|m| m.get(&key).cloned()) {
            return m;
        }
        let m = Arc::new(render_glyph(key, options));
        if let Ok(mut masks) = self.masks.write() {
            masks.entry(key).or_insert_with(|| m.clone());
        }
        m
    }
}

/// Whole pixel and quarter-pixel fraction of `v`.
fn quarter(v: f64) -> (i32, u8) {
    let q = (v * 4.0).round() as i64;
    (q.div_euclid(4) as i32, q.rem_euclid(4) as u8)
}

/// Renders one glyph with usvg/resvg into a tight coverage mask.
fn render_glyph(key: Key, options: &usvg::Options) -> Mask {
    let empty = Mask {
        dx: 0,
        dy: 0,
        w: 0,
        alpha: Vec::new(),
    };
    let size = f64::from(key.size) / 100.0;
    let pad = (size * 1.6).ceil() + 2.0;
    let dim = (2.0 * pad) as u32;
    let (ox, oy) = (pad + f64::from(key.qx) / 4.0, pad + f64::from(key.qy) / 4.0);
    let transform = if key.rotated {
        format!(" transform=\"rotate(270, {ox}, {oy})\"")
    } else {
        String::new()
    };
    let weight = if key.bold { "bold" } else { "normal" };
    let c = match key.c {
        '<' => "&lt;".to_owned(),
        '>' => "&gt;".to_owned(),
        '&' => "&amp;".to_owned(),
        c => c.to_string(),
    };
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{dim}\" height=\"{dim}\">\
         <text x=\"{ox}\" y=\"{oy}\" font-size=\"{size}\" font-weight=\"{weight}\" fill=\"#000000\"{transform}>{c}</text></svg>"
    );
    let (Ok(tree), Some(mut pixmap)) = (usvg::Tree::from_str(&svg, options), Pixmap::new(dim, dim))
    else {
        return empty;
    };
    resvg::render(&tree, Transform::default(), &mut pixmap.as_mut());
    let w = dim as usize;
    let alpha: Vec<u8> = pixmap.pixels().iter().map(|p| p.alpha()).collect();
    let rows: Vec<usize> = (0..w)
        .filter(|y| alpha[y * w..(y + 1) * w].iter().any(|a| *a > 0))
        .collect();
    let cols: Vec<usize> = (0..w)
        .filter(|x| (0..w).any(|y| alpha[y * w + x] > 0))
        .collect();
    let (Some(&y0), Some(&y1), Some(&x0), Some(&x1)) =
        (rows.first(), rows.last(), cols.first(), cols.last())
    else {
        return empty;
    };
    let crop = (y0..=y1)
        .flat_map(|y| alpha[y * w + x0..=y * w + x1].iter().copied())
        .collect();
    Mask {
        dx: x0 as i32 - pad as i32,
        dy: y0 as i32 - pad as i32,
        w: x1 - x0 + 1,
        alpha: crop,
    }
}

/// Paints `rgb` through `mask` (scaled by `alpha`) onto the premultiplied pixmap at (x, y).
fn composite(pixmap: &mut Pixmap, mask: &Mask, x: i32, y: i32, rgb: [u8; 3], alpha: u8) {
    if mask.w == 0 {
        return;
    }
    let (pw, ph) = (pixmap.width() as i32, pixmap.height() as i32);
    let data = pixmap.data_mut();
    let src = [u32::from(rgb[0]), u32::from(rgb[1]), u32::from(rgb[2]), 255];
    for (my, row) in mask.alpha.chunks(mask.w).enumerate() {
        let py = y + my as i32;
        if py < 0 || py >= ph {
            continue;
        }
        for (mx, &m) in row.iter().enumerate() {
            let px = x + mx as i32;
            if m == 0 || px < 0 || px >= pw {
                continue;
            }
            let a = div255(u32::from(m) * u32::from(alpha));
            let i = (py as usize * pw as usize + px as usize) * 4;
            let dst = &mut data[i..i + 4];
            if a == 255 {
                dst.copy_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
            } else {
                for (d, s) in dst.iter_mut().zip(src) {
                    *d = div255(s * a + u32::from(*d) * (255 - a)) as u8;
                }
            }
        }
    }
}

/// `v / 255` rounded, for `v` up to 255².
fn div255(v: u32) -> u32 {
    let v = v + 128;
    (v + (v >> 8)) >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plotters_texts_are_taken_out_and_others_left_in() {
        let svg = "<svg><rect x=\"0\"/>\n\
            <text x=\"600\" y=\"12\" dy=\"0.76em\" text-anchor=\"middle\" font-family=\"DejaVu Sans, sans-serif\" \
            font-size=\"20\" opacity=\"1\" fill=\"#1A9641\" font-weight=\"bold\">\nA &amp; B\n</text>\n\
            <text x=\"12\" y=\"364\" dy=\"0.5ex\" text-anchor=\"start\" font-size=\"14\" opacity=\"0.5\" fill=\"#222222\" \
            transform=\"rotate(270, 12, 364)\">\nms\n</text>\n\
            <text x=\"1\" y=\"2\" font-size=\"14\">\u{6f22}</text><text x=\"1\" y=\"2\" font-size=\"14\"><tspan>a</tspan></text></svg>";
        let (rest, runs) = split_texts(svg);
        assert_eq!(rest, "<svg><rect x=\"0\"/>\n\n\n<text x=\"1\" y=\"2\" font-size=\"14\">\u{6f22}</text><text x=\"1\" y=\"2\" font-size=\"14\"><tspan>a</tspan></text></svg>");
        assert_eq!(runs.len(), 2);
        let a = &runs[0];
        assert_eq!(
            (a.text.as_str(), a.x, a.y, a.anchor, a.bold, a.rgb, a.alpha),
            (
                "A & B",
                600.0,
                12.0,
                Anchor::Middle,
                true,
                [0x1A, 0x96, 0x41],
                255
            )
        );
        assert!((a.dy - 15.2).abs() < 1e-9);
        let b = &runs[1];
        assert!(
            b.rotated && !b.bold && b.alpha == 128 && (b.dy - 3.5).abs() < 1e-9,
            "{b:?}"
        );
        assert_eq!(
            split_texts(
                "<svg xml:space=\"preserve\"><text x=\"1\" y=\"1\" font-size=\"9\">a</text></svg>"
            )
            .1
            .len(),
            0
        );
    }

    #[test]
    fn div255_rounds_like_division() {
        for v in 0..=255 * 255 {
            assert_eq!(div255(v), (v + 127) / 255, "{v}");
        }
    }

    #[test]
    fn quarters() {
        assert_eq!(quarter(10.0), (10, 0));
        assert_eq!(quarter(10.3), (10, 1));
        assert_eq!(quarter(10.9), (11, 0));
        assert_eq!(quarter(-0.25), (-1, 3));
    }
}
