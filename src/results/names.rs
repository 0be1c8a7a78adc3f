//! Names: the one rule that turns a model name into its folder name (used by every command:
//! `run` and `sweep` write there, `compare` and `summarize` look there), and the one function
//! that makes any text from the files (model names, config values, folder names) safe to print
//! on a terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Why a model name cannot be a folder name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not usable as a model folder name under the output folder ({why})", escape_control(&format!("{name:?}")))]
pub struct ModelNameError {
    pub name: String,
    pub why: &'static str,
}

/// The folder a model's runs are stored under: the name with surrounding whitespace and
/// trailing `/` removed, and every `/` and `\` replaced by `_` (`Qwen/Qwen3-4B` →
/// `Qwen_Qwen3-4B`). Names that would not be one folder inside the output folder are
/// rejected: empty (after trimming), `.`, `..`, or containing control characters.
pub fn model_folder_name(model: &str) -> Result<String, ModelNameError> {
    let err = |why| ModelNameError {
        name: model.to_owned(),
        why,
    };
    let trimmed = model.trim().trim_end_matches(['/', '\\']).trim();
    if trimmed.is_empty() {
        return Err(err("empty once spaces and slashes are removed"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(err("it contains control characters"));
    }
    let folder = trimmed.replace(['/', '\\'], "_");
    if folder == "." || folder == ".." {
        return Err(err("it names the output folder or its parent"));
    }
    Ok(folder)
}

/// Characters that must not reach a terminal raw: C0/C1 controls and DEL (escape sequences,
/// bells, carriage returns that overwrite a line) and the bidirectional overrides that make a
/// line read differently from what it holds.
fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Text for one terminal line: every control character (and bidi override) written as
/// `\u{1b}`; newlines kept. Borrowed when there is nothing to escape.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `println!` with every control character of the line escaped ([`escape_control`]).
#[macro_export]
macro_rules! outln {
    () => { println!() };
    ($($arg:tt)*) => { println!("{}", $crate::results::names::escape_control(&format!($($arg)*))) };
}

/// `eprintln!` with every control character of the line escaped ([`escape_control`]).
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { eprintln!("{}", $crate::results::names::escape_control(&format!($($arg)*))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_follow_one_rule() {
        let ok = |m: &str| model_folder_name(m).unwrap();
        assert_eq!(ok("Qwen/Qwen3-4B"), "Qwen_Qwen3-4B");
        assert_eq!(ok("  Org\\Name  "), "Org_Name");
        assert_eq!(ok("Org/Name/"), "Org_Name");
        assert_eq!(ok("a..b"), "a..b");
        assert_eq!(ok("../x"), ".._x");
        for bad in [
            "", "  ", "/", "//", "\\", ".", "..", " .. ", "../", "a\u{1b}b",
        ] {
            assert!(model_folder_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        assert!(matches!(escape_control("plain – ü"), Cow::Borrowed(_)));
        assert_eq!(
            escape_control("a\u{1b}[31mb\u{7}\r\tc\u{9b}\u{202e}\nd"),
            "a\\u{1b}[31mb\\u{7}\\u{d}\\u{9}c\\u{9b}\\u{202e}\nd"
        );
    }
}
