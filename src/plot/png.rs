//! PNG encoding of a rendered chart.

use resvg::tiny_skia::Pixmap;

use super::PlotError;

/// Encodes a pixmap as PNG.
pub fn encode_opaque(pixmap: &Pixmap) -> Result<Vec<u8>, PlotError> {
    pixmap
        .encode_png()
        .map_err(|e| PlotError::Render(format!("cannot encode PNG: {e}")))
}
