//! The one place where secrets are masked. Every writer of a file or of terminal output that can
//! carry user- or server-supplied text goes through here:
//!
//! - [`mask_url`]: a URL's user name and password, and the values of query parameters with a
//!   secret-looking name (`token`, `key`, `api_key`, `sig`, …), become `***`;
//! - [`mask_args`] / [`mask_command_line`]: a command line with the values of secret flags
//!   (`--api-key X`, `--api-key=X`, `--hf-token X`, `api-key=X` as a `--serve-arg` value),
//!   URLs and nested command strings (`--serve-extra "--api-key X"`) masked;
//! - [`register`] + [`redact`]: every secret value the process knows of (the API key, a URL's
//!   password or token, a server flag's key) is registered once, and `redact` replaces each
//!   occurrence in free text (an error body that echoes the Authorization header, a log line),
//!   along with any `Bearer <token>`.
//!
//! Secret values shorter than [`MIN_SECRET_LEN`] characters are not registered for free-text
//! redaction (masking every "a" in a log would destroy it); they are still masked where they
//! stand as a flag value or URL part.

use std::borrow::Cow;
use std::sync::RwLock;

/// What a masked secret reads as.
pub const MASK: &str = "***";

/// Shortest value that [`redact`] replaces in free text.
pub const MIN_SECRET_LEN: usize = 4;

static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Whether a flag, query-parameter or `KEY=VALUE` name names a secret: one of its words
/// (split at `-`, `_` and `.`) is `key`, `apikey`, `token`, `secret`, `password`, `passwd`,
/// `pwd`, `auth`, `authorization`, `credential(s)`, `sig` or `signature`. `--max-tokens`,
/// `--tokenizer` and `--ssl-keyfile` are not secret names.
pub fn is_secret_name(name: &str) -> bool {
    name.trim_start_matches('-')
        .split(['-', '_', '.'])
        .any(|w| {
            matches!(
                w.to_ascii_lowercase().as_str(),
                "key"
                    | "apikey"
                    | "token"
                    | "secret"
                    | "password"
                    | "passwd"
                    | "pwd"
                    | "auth"
                    | "authorization"
                    | "credential"
                    | "credentials"
                    | "sig"
                    | "signature"
            )
        })
}

/// Registers a secret value so that [`redact`] masks it wherever it appears.
pub fn register(value: &str) {
    let value = value.trim();
    if value.chars().count() < MIN_SECRET_LEN || value == MASK {
        return;
    }
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    if !known.iter().any(|k| k == value) {
        known.push(value.to_owned());
        // Longest first, so a secret that contains another is masked whole.
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

/// Registers the secrets a URL carries (user name, password, secret query values).
pub fn register_url(url: &str) {
    for s in url_secrets(url) {
        register(&s);
    }
}

/// Registers the values of secret flags in a command line (see [`mask_args`]).
pub fn register_args<S: AsRef<str>>(args: &[S]) {
    for s in arg_secrets(args) {
        register(&s);
    }
}

/// `text` with every registered secret, and the token of any `Bearer <token>`, replaced by
/// `***`. Borrows when there is nothing to mask.
pub fn redact(text: &str) -> Cow<'_, str> {
    let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    let mut out: Cow<'_, str> = Cow::Borrowed(text);
    for k in known.iter() {
        if out.contains(k.as_str()) {
            out = Cow::Owned(out.replace(k.as_str(), MASK));
        }
    }
    drop(known);
    match mask_bearer(&out) {
        Some(s) => Cow::Owned(s),
        None => out,
    }
}

/// Replaces the token after every `Bearer ` (any case) with `***`; `None` when there is none.
fn mask_bearer(text: &str) -> Option<String> {
    const WORD: &str = "bearer ";
    let lower = text.to_ascii_lowercase();
    if !lower.contains(WORD) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    let mut changed = false;
    let mut from = 0;
    while let Some(i) = lower[from..].find(WORD) {
        let start = from + i + WORD.len();
        let end = text[start..]
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '}' | ']' | ')' | ';' | '\\')
            })
            .map_or(text.len(), |j| start + j);
        if end > start && &text[start..end] != MASK {
            out.push_str(&text[rest..start]);
            out.push_str(MASK);
            rest = end;
            changed = true;
        }
        from = end.max(start);
    }
    changed.then(|| {
        out.push_str(&text[rest..]);
        out
    })
}

/// The secret parts of a URL: user name, password, secret query values.
fn url_secrets(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some((_, after_scheme)) = url.split_once("://") else {
        return out;
    };
    let authority_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let authority = &after_scheme[..authority_end];
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        match userinfo.split_once(':') {
            Some((user, pass)) => {
                out.push(user.to_owned());
                out.push(pass.to_owned());
            }
            None => out.push(userinfo.to_owned()),
        }
    }
    if let Some((_, query)) = after_scheme.split_once('?') {
        let query = query.split('#').next().unwrap_or("");
        for pair in query.split('&') {
            if let Some((k, v)) = pair.split_once('=') {
                if is_secret_name(k) && !v.is_empty() {
                    out.push(v.to_owned());
                }
            }
        }
    }
    out.retain(|s| !s.is_empty() && s != MASK);
    out
}

/// `url` with its user name and password, and the values of secret query parameters, masked.
/// Text that is not a URL is returned unchanged.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, after_scheme)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let (authority, rest) = after_scheme.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let masked = if userinfo.contains(':') {
                format!("{MASK}:{MASK}")
            } else {
                MASK.to_owned()
            };
            format!("{masked}@{host}")
        }
        None => authority.to_owned(),
    };
    let rest = match rest.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((q, f)) => (q, Some(f)),
                None => (query, None),
            };
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, v)) if is_secret_name(k) && !v.is_empty() => format!("{k}={MASK}"),
                    _ => pair.to_owned(),
                })
                .collect();
            let mut s = format!("{path}?{}", query.join("&"));
            if let Some(f) = fragment {
                s.push('#');
                s.push_str(f);
            }
            s
        }
        None => rest.to_owned(),
    };
    format!("{scheme}://{authority}{rest}")
}

/// How one argument is masked; the secrets it holds go to `found`.
fn mask_one(arg: &str, found: &mut Vec<String>) -> String {
    // `--flag=value`
    let head = arg.split('=').next().unwrap_or(arg);
    if let Some(stripped) = arg
        .strip_prefix('-')
        .filter(|_| !head.contains(char::is_whitespace))
    {
        if let Some((flag, value)) = stripped.split_once('=') {
            if is_secret_name(flag) {
                found.push(value.to_owned());
                return format!("-{flag}={MASK}");
            }
            return format!("-{flag}={}", mask_value(value, found));
        }
        return arg.to_owned();
    }
    mask_value(arg, found)
}

/// A flag's value or a bare argument: a URL, a `NAME=VALUE` pair, or a nested command string.
fn mask_value(value: &str, found: &mut Vec<String>) -> String {
    if value.contains("://") && !value.contains(char::is_whitespace) {
        found.extend(url_secrets(value));
        return mask_url(value);
    }
    if !value.contains(char::is_whitespace) {
        if let Some((name, v)) = value.split_once('=') {
            if is_secret_name(name) && !name.is_empty() {
                // `--serve-arg api-key=K1,K2`: each value is a secret of its own.
                found.extend(v.split(',').map(str::to_owned));
                found.push(v.to_owned());
                return format!("{name}={MASK}");
            }
        }
        return value.to_owned();
    }
    // A nested command line (`--serve-extra "--api-key K --port 1"`, `--serve-cmd "…"`).
    match shlex::split(value) {
        Some(words) if words.len() > 1 => {
            let mut inner = Vec::new();
            let masked = mask_words(&words, &mut inner);
            if inner.is_empty() {
                value.to_owned()
            } else {
                found.extend(inner);
                shlex::try_join(masked.iter().map(String::as_str))
                    .unwrap_or_else(|_| masked.join(" "))
            }
        }
        _ => value.to_owned(),
    }
}

fn mask_words<S: AsRef<str>>(args: &[S], found: &mut Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut mask_next = false;
    for a in args {
        let a = a.as_ref();
        if mask_next {
            found.push(a.to_owned());
            out.push(MASK.to_owned());
            mask_next = false;
            continue;
        }
        if a.starts_with('-') && !a.contains('=') && is_secret_name(a) && a.len() > 1 {
            mask_next = true;
            out.push(a.to_owned());
            continue;
        }
        out.push(mask_one(a, found));
    }
    out
}

fn arg_secrets<S: AsRef<str>>(args: &[S]) -> Vec<String> {
    let mut found = Vec::new();
    mask_words(args, &mut found);
    found.retain(|s| !s.is_empty() && s != MASK);
    found
}

/// The arguments with every secret masked (see the module documentation).
pub fn mask_args<S: AsRef<str>>(args: &[S]) -> Vec<String> {
    mask_words(args, &mut Vec::new())
}

/// [`mask_args`], quoted like a shell would.
pub fn mask_command_line<S: AsRef<str>>(args: &[S]) -> String {
    let out = mask_args(args);
    shlex::try_join(out.iter().map(String::as_str)).unwrap_or_else(|_| out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for n in [
            "--api-key",
            "api_key",
            "--hf-token",
            "token",
            "key",
            "access_token",
            "X-Auth",
            "sig",
            "--password",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in [
            "--max-tokens",
            "--tokenizer",
            "--max-num-batched-tokens",
            "--ssl-keyfile",
            "--model",
            "monkey",
        ] {
            assert!(!is_secret_name(n), "{n}");
        }
    }

    #[test]
    fn urls() {
        assert_eq!(mask_url("http://u:pw@h:1/v1"), "http://***:***@h:1/v1");
        assert_eq!(mask_url("http://tok@h"), "http://***@h");
        assert_eq!(
            mask_url("http://h:1/v1?token=abc&x=1&api_key=def#f"),
            "http://h:1/v1?token=***&x=1&api_key=***#f"
        );
        assert_eq!(mask_url("http://h:1"), "http://h:1");
        assert_eq!(mask_url("not a url"), "not a url");
        assert_eq!(
            url_secrets("http://u:pw@h/?key=k1"),
            vec!["u".to_owned(), "pw".into(), "k1".into()]
        );
    }

    #[test]
    fn command_lines() {
        let line = mask_command_line(&[
            "modelbench",
            "run",
            "--api-key",
            "sk-1",
            "--model",
            "a b",
            "--api-key=sk-2",
            "--base-url",
            "http://user:hunter2@h:1?token=t0k3n",
            "--serve-extra",
            "--api-key sk-3 --port 1",
            "--serve-arg",
            "api-key=sk-4,sk-5",
            "--hf-token",
            "hf_x",
            "--max-tokens",
            "12",
        ]);
        for s in [
            "sk-1", "sk-2", "hunter2", "t0k3n", "sk-3", "sk-4", "sk-5", "hf_x", "user:",
        ] {
            assert!(!line.contains(s), "{s} in {line}");
        }
        assert!(line.contains("--max-tokens 12"), "{line}");
        assert!(line.contains("--model 'a b'"), "{line}");
        let found = arg_secrets(&["--api-key", "sk-1", "x", "--serve-extra", "--token abcd e"]);
        assert_eq!(found, vec!["sk-1".to_owned(), "abcd".into()]);
        let found = arg_secrets(&["--serve-arg", "api-key=k1,k2"]);
        assert_eq!(found, vec!["k1".to_owned(), "k2".into(), "k1,k2".into()]);
    }

    #[test]
    fn free_text() {
        register("sk-free-text-secret");
        register("ab"); // too short: not registered
        assert_eq!(
            redact("echo: Authorization: Bearer sk-free-text-secret, ab"),
            "echo: Authorization: Bearer ***, ab"
        );
        assert_eq!(redact("bearer xyz\"}"), "bearer ***\"}");
        assert_eq!(
            redact("(Authorization: Bearer xyz)"),
            "(Authorization: Bearer ***)"
        );
        assert!(matches!(redact("nothing here"), Cow::Borrowed(_)));
        assert_eq!(redact("k=sk-free-text-secret."), "k=***.");
    }
}
