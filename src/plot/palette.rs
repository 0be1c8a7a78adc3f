//! Chart colours. The three % label colours also exist as strings in the exact form the SVG
//! backend writes (`#RRGGBB`, uppercase), see [`super::BETTER_COLOR`].

use plotters::style::RGBColor;

/// Model 1's bars (blue).
pub const MODEL1: RGBColor = RGBColor(0x4C, 0x72, 0xB0);
/// Model 2's bars (orange).
pub const MODEL2: RGBColor = RGBColor(0xDD, 0x84, 0x52);
/// Bars of the candidates compared with model 1 (`--model2` given several times): model 2's
/// orange first, then colours of the Okabe–Ito set, which stay distinct with the common
/// colour-vision deficiencies (bluish green, reddish purple, sky blue, yellow-orange).
pub const CANDIDATES: [RGBColor; 5] = [
    MODEL2,
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0xE6, 0x9F, 0x00),
];

/// The bar colour of candidate `j` (0 = model 2); repeats after five.
pub fn candidate(j: usize) -> RGBColor {
    CANDIDATES[j % CANDIDATES.len()]
}

/// % label: model 2 better.
pub const BETTER: RGBColor = RGBColor(0x1A, 0x96, 0x41);
/// % label: model 2 worse.
pub const WORSE: RGBColor = RGBColor(0xD7, 0x19, 0x1C);
/// % label: "n/a".
pub const NA: RGBColor = RGBColor(0x80, 0x80, 0x80);
/// % label: exactly equal (0.0%) — neither better nor worse, a neutral near-black.
pub const SAME: RGBColor = RGBColor(0x33, 0x33, 0x33);
/// % label: the 95 % interval includes 0 ("≈ +0.5%", within noise). Darker than "n/a" so
/// that it stays readable.
pub const NOISE: RGBColor = RGBColor(0x6E, 0x6E, 0x6E);
/// The "missing" marker where a bar would be.
pub const MISSING: RGBColor = RGBColor(0x99, 0x99, 0x99);
/// Ordinary text: titles, values, axis labels.
pub const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
/// Secondary text: "n=2", notes.
pub const SUBTLE: RGBColor = RGBColor(0x5A, 0x5A, 0x5A);
/// Error bars.
pub const WHISKER: RGBColor = RGBColor(0x22, 0x22, 0x22);
/// Horizontal grid lines.
pub const GRID: RGBColor = RGBColor(0xE3, 0xE3, 0xE3);
/// Axis lines and ticks.
pub const AXIS: RGBColor = RGBColor(0x44, 0x44, 0x44);

/// `#RRGGBB` as plotters' SVG backend writes it.
pub fn svg_hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}
