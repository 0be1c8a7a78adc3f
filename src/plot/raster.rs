//! SVG → PNG with resvg, using only the embedded DejaVu Sans fonts (never the system's), so a
//! chart renders the same on a machine without any fonts installed.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use resvg::tiny_skia::{Color, Pixmap, Transform};
use resvg::usvg::{self, fontdb};

use super::glyphs::{split_texts, GlyphCache};
use super::PlotError;

/// DejaVu Sans (licence: assets/fonts/LICENSE-DejaVu.txt).
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// DejaVu Sans Bold (same licence).
static DEJAVU_SANS_BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// The family every generic family (and a missing `font-family`) resolves to.
pub const FAMILY: &str = "DejaVu Sans";

/// Turns SVG documents into PNG bytes. Create once and share (font loading is the costly part);
/// it is `Send + Sync`, so rayon workers can use one instance.
pub struct Rasterizer {
    options: usvg::Options<'static>,
    glyphs: GlyphCache,
}

impl Rasterizer {
    pub fn new() -> Rasterizer {
        let mut db = fontdb::Database::new();
        db.load_font_source(fontdb::Source::Binary(Arc::new(DEJAVU_SANS)));
        db.load_font_source(fontdb::Source::Binary(Arc::new(DEJAVU_SANS_BOLD)));
        db.set_sans_serif_family(FAMILY);
        db.set_serif_family(FAMILY);
        db.set_monospace_family(FAMILY);
        db.set_cursive_family(FAMILY);
        db.set_fantasy_family(FAMILY);
        let options = usvg::Options {
            font_family: FAMILY.to_owned(),
            // Every shape plotters writes is axis-aligned on whole pixels (bars, grid, axes,
            // error bars): anti-aliasing them only costs time (supersampled scanlines over the
            // whole background). Text keeps its anti-aliasing (text-rendering is separate).
            shape_rendering: usvg::ShapeRendering::CrispEdges,
            fontdb: Arc::new(db),
            // Charts reference no images; never read files or data URLs on their behalf.
            image_href_resolver: usvg::ImageHrefResolver {
                resolve_data: Box::new(|_, _, _| None),
                resolve_string: Box::new(|_, _| None),
            },
            ..usvg::Options::default()
        };
        Rasterizer {
            options,
            glyphs: GlyphCache::default(),
        }
    }

    /// Renders `svg` at its own size (1 SVG px = 1 pixel) on white and encodes it as PNG.
    pub fn svg_to_png(&self, svg: &str) -> Result<Vec<u8>, PlotError> {
        // Each thread keeps its last pixmaps: a fresh 8 MB buffer per chart costs more in page
        // faults than drawing it.
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let pixmap = self.draw(svg, &mut scratch)?;
            super::png::encode_opaque(pixmap)
        })
    }

    /// Renders `svg` on white into a new pixmap.
    pub fn render(&self, svg: &str) -> Result<Pixmap, PlotError> {
        let mut pixmaps = Vec::new();
        self.draw(svg, &mut pixmaps)?;
        pixmaps
            .pop()
            .ok_or_else(|| PlotError::Render("nothing rendered".to_owned()))
    }

    /// Renders `svg` into the pixmap of its size in `pixmaps` (created if missing): the
    /// background, the shapes (and any text [`super::glyphs`] cannot take) with resvg, then the
    /// texts from the glyph cache. The result is opaque.
    fn draw<'p>(
        &self,
        svg: &str,
        pixmaps: &'p mut Vec<Pixmap>,
    ) -> Result<&'p mut Pixmap, PlotError> {
        let (background, svg) = split_background(svg);
        let (shapes, texts) = split_texts(&svg);
        let tree = self.parse(&shapes)?;
        let size = tree.size().to_int_size();
        let (w, h) = (size.width(), size.height());
        let i = match pixmaps
            .iter()
            .position(|p| p.width() == w && p.height() == h)
        {
            Some(i) => i,
            None => {
                let p = Pixmap::new(w, h)
                    .ok_or_else(|| PlotError::Render(format!("bad image size {w}x{h}")))?;
                if pixmaps.len() >= 2 {
                    pixmaps.remove(0);
                }
                pixmaps.push(p);
                pixmaps.len() - 1
            }
        };
        let pixmap = &mut pixmaps[i];
        let [r, g, b] = background.unwrap_or([255, 255, 255]);
        pixmap.fill(Color::from_rgba8(r, g, b, 255));
        resvg::render(&tree, Transform::default(), &mut pixmap.as_mut());
        self.glyphs.draw(pixmap, &texts, &self.options);
        Ok(pixmap)
    }

    /// Parses `svg`, laying out its text with the embedded fonts.
    pub fn parse(&self, svg: &str) -> Result<usvg::Tree, PlotError> {
        usvg::Tree::from_str(svg, &self.options)
            .map_err(|e| PlotError::Render(format!("invalid SVG: {e}")))
    }

    /// Renders a parsed SVG on white, everything (text too) by resvg.
    pub fn render_tree(&self, tree: &usvg::Tree) -> Result<Pixmap, PlotError> {
        let size = tree.size().to_int_size();
        let mut pixmap = Pixmap::new(size.width(), size.height()).ok_or_else(|| {
            PlotError::Render(format!("bad image size {}x{}", size.width(), size.height()))
        })?;
        pixmap.fill(Color::WHITE);
        resvg::render(tree, Transform::default(), &mut pixmap.as_mut());
        Ok(pixmap)
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<Pixmap>> = const { RefCell::new(Vec::new()) };
}

/// plotters starts every document with an opaque rectangle over the whole canvas (the
/// background): filling the pixmap with its colour is several times faster than resvg
/// drawing it. Returns that colour and the document without the rectangle, or the document
/// unchanged when it does not start that way.
fn split_background(svg: &str) -> (Option<[u8; 3]>, Cow<'_, str>) {
    let found = (|| {
        let open_end = svg.find('>')? + 1;
        let open = &svg[..open_end];
        let attr = |name: &str| open.split(&format!(" {name}=\"")).nth(1)?.split('"').next();
        let (w, h) = (attr("width")?, attr("height")?);
        let rest = svg[open_end..].trim_start();
        let prefix =
            format!("<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" opacity=\"1\" fill=\"#");
        let after = rest.strip_prefix(prefix.as_str())?;
        let (hex, after) = (after.get(..6)?, after.get(6..)?);
        let after = after.strip_prefix("\" stroke=\"none\"/>")?;
        let c = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
        let colour = [c(0)?, c(2)?, c(4)?];
        Some((colour, format!("{open}{after}")))
    })();
    match found {
        Some((c, doc)) => (Some(c), Cow::Owned(doc)),
        None => (None, Cow::Borrowed(svg)),
    }
}

impl Default for Rasterizer {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn is_shareable_across_threads() {
        fn check<T: Send + Sync>() {}
        check::<Rasterizer>();
    }

    #[test]
    fn renders_text_with_the_embedded_font_only() {
        let r = Rasterizer::new();
        assert_eq!(r.options.fontdb.len(), 2);
        let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40">
            <text x="10" y="30" font-family="sans-serif" font-size="20" fill="#000000">2450.0</text></svg>"##;
        let p = r.render_tree(&r.parse(svg).unwrap()).unwrap();
        let dark: Vec<usize> = (0..p.width() as usize)
            .filter(|x| {
                (0..p.height() as usize).any(|y| p.pixels()[y * p.width() as usize + x].red() < 128)
            })
            .collect();
        assert!(!dark.is_empty(), "no text rendered");
        // Ink spans about the advance width of "2450.0" (5 digits + "." at 20 px ≈ 70 px).
        let span = (dark[dark.len() - 1] - dark[0]) as f64;
        let w = super::super::text::text_width("2450.0", 20.0, false);
        assert!((span - w).abs() < 6.0, "ink {span} px vs advance {w} px");
    }

    /// Renders `svg` with the glyph cache and entirely with resvg: (inked pixels of each —
    /// pixels `inked` says are text —, pixels whose green differs by more than 96).
    pub(crate) fn fast_vs_resvg(
        r: &Rasterizer,
        svg: &str,
        inked: impl Fn(&resvg::tiny_skia::PremultipliedColorU8) -> bool,
    ) -> (usize, usize, usize) {
        let fast = r.render(svg).unwrap();
        let slow = r.render_tree(&r.parse(svg).unwrap()).unwrap();
        let ink = |p: &Pixmap| p.pixels().iter().filter(|c| inked(c)).count();
        let off = fast
            .pixels()
            .iter()
            .zip(slow.pixels())
            .filter(|(x, y)| x.green().abs_diff(y.green()) > 96)
            .count();
        (ink(&fast), ink(&slow), off)
    }

    /// Texts as plotters writes them: every anchor, baseline shift, weight, a rotation.
    fn labels_svg() -> String {
        let mut svg = String::from(
            "<svg width=\"400\" height=\"300\" viewBox=\"0 0 400 300\" xmlns=\"http://www.w3.org/2000/svg\">\n\
             <rect x=\"0\" y=\"0\" width=\"400\" height=\"300\" opacity=\"1\" fill=\"#FFFFFF\" stroke=\"none\"/>\n",
        );
        let texts = [
            (100, 30, "0.76em", "start", "13.25", "", "2450.0", ""),
            (
                200,
                70,
                "-0.5ex",
                "middle",
                "15.5",
                " font-weight=\"bold\"",
                "\u{2212}12.3%",
                "",
            ),
            (300, 110, "0.5ex", "end", "11", "", "n=2 (12.34)", ""),
            (
                200,
                160,
                "-0.5ex",
                "middle",
                "20",
                " font-weight=\"bold\"",
                "+48.3%",
                "",
            ),
            (
                60,
                280,
                "0.5ex",
                "start",
                "11",
                "",
                "12345.6",
                " transform=\"rotate(270, 60, 280)\"",
            ),
        ];
        for (x, y, dy, anchor, size, weight, text, transform) in texts {
            svg.push_str(&format!(
                "<text x=\"{x}\" y=\"{y}\" dy=\"{dy}\" text-anchor=\"{anchor}\" font-family=\"DejaVu Sans, sans-serif\" \
                 font-size=\"{size}\" opacity=\"1\" fill=\"#1A9641\"{weight}{transform}>\n{text}\n</text>\n"
            ));
        }
        svg.push_str("</svg>\n");
        svg
    }

    #[test]
    fn glyph_cache_draws_what_resvg_draws() {
        let r = Rasterizer::new();
        let svg = labels_svg();
        assert_eq!(
            split_texts(&svg).1.len(),
            5,
            "every label takes the fast path"
        );
        let (a, b, off) = fast_vs_resvg(&r, &svg, |c| c.red() < 200);
        assert!(b > 1000 && a.abs_diff(b) * 20 < b, "ink {a} vs {b}");
        // Same glyphs at the same places (up to a quarter pixel): nearly every pixel agrees.
        assert!(off * 25 < b, "{off} pixels differ a lot, of {b} inked");
    }

    #[test]
    fn the_background_rectangle_becomes_a_fill() {
        let svg = labels_svg();
        let (bg, rest) = split_background(&svg);
        assert_eq!(bg, Some([255, 255, 255]));
        assert!(!rest.contains("<rect") && rest.starts_with("<svg width=\"400\""));
        let other = "<svg width=\"4\" height=\"4\"><rect x=\"0\" y=\"0\" width=\"2\" height=\"4\" opacity=\"1\" fill=\"#000000\" stroke=\"none\"/></svg>";
        assert_eq!(split_background(other), (None, Cow::Borrowed(other)));
    }
}
