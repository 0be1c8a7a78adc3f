//! SVG → PNG with resvg, using only the embedded DejaVu Sans fonts (never the system's), so a
//! chart renders the same on a machine without any fonts installed.

use std::sync::Arc;

use resvg::tiny_skia::{Pixmap, Transform};
use resvg::usvg::{self, fontdb};

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
            fontdb: Arc::new(db),
            // Charts reference no images; never read files or data URLs on their behalf.
            image_href_resolver: usvg::ImageHrefResolver {
                resolve_data: Box::new(|_, _, _| None),
                resolve_string: Box::new(|_, _| None),
            },
            ..usvg::Options::default()
        };
        Rasterizer { options }
    }

    /// Renders `svg` at its own size (1 SVG px = 1 pixel) on white and encodes it as PNG.
    pub fn svg_to_png(&self, svg: &str) -> Result<Vec<u8>, PlotError> {
        let pixmap = self.render(svg)?;
        super::png::encode_opaque(&pixmap)
    }

    /// Renders `svg` into a pixmap (white background).
    pub fn render(&self, svg: &str) -> Result<Pixmap, PlotError> {
        let tree = usvg::Tree::from_str(svg, &self.options)
            .map_err(|e| PlotError::Render(format!("invalid SVG: {e}")))?;
        let size = tree.size().to_int_size();
        let mut pixmap = Pixmap::new(size.width(), size.height()).ok_or_else(|| {
            PlotError::Render(format!("bad image size {}x{}", size.width(), size.height()))
        })?;
        pixmap.fill(resvg::tiny_skia::Color::WHITE);
        resvg::render(&tree, Transform::default(), &mut pixmap.as_mut());
        Ok(pixmap)
    }
}

impl Default for Rasterizer {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
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
        let p = r.render(svg).unwrap();
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
}
