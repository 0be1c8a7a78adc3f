//! Proxy variables: modelbench connects to the server directly and never through a proxy (a
//! proxy would add its own queueing to every timestamp). A run whose URL a proxy variable would
//! send through a proxy (as curl reads them) is refused with one line naming the variable,
//! instead of silently going around the proxy.
//!
//! As curl: `https_proxy`/`HTTPS_PROXY` for https URLs, `http_proxy` (and here also
//! `HTTP_PROXY`) for http, then `all_proxy`/`ALL_PROXY`; `no_proxy`/`NO_PROXY` lists hosts that
//! go direct (`*` = all; `example.com` or `.example.com` = that domain and its subdomains; exact
//! IP addresses; a `:port` suffix is ignored). Unlike curl, loopback hosts (`localhost`,
//! 127.0.0.0/8, `::1`) are always direct, as in Go's HTTP client: a proxy cannot reach the
//! machine's own loopback server anyway.

use reqwest::Url;

/// The proxy variable that would apply to `url`, with its (unmasked) value; `None` when the
/// connection goes direct. `var` reads the environment.
pub fn applicable(url: &Url, var: impl Fn(&str) -> Option<String>) -> Option<(String, String)> {
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    if is_loopback(host) {
        return None;
    }
    let names: &[&str] = match url.scheme() {
        "https" => &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
        _ => &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"],
    };
    let (name, value) = names
        .iter()
        .find_map(|n| var(n).filter(|v| !v.trim().is_empty()).map(|v| (*n, v)))?;
    let no_proxy = var("no_proxy")
        .filter(|v| !v.trim().is_empty())
        .or_else(|| var("NO_PROXY"))
        .unwrap_or_default();
    if bypassed(host, &no_proxy) {
        return None;
    }
    Some((name.to_owned(), value))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `NO_PROXY`'s list sends `host` direct.
fn bypassed(host: &str, no_proxy: &str) -> bool {
    let host = host.to_ascii_lowercase();
    no_proxy.split(',').any(|entry| {
        let e = entry.trim().to_ascii_lowercase();
        if e == "*" {
            return true;
        }
        // `host:port` and `[v6]:port` entries: the host part.
        let e = match e.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or("").to_owned(),
            None if e.matches(':').count() == 1 => e.split(':').next().unwrap_or("").to_owned(),
            None => e,
        };
        let e = e.trim_start_matches("*.").trim_start_matches('.');
        !e.is_empty() && (host == e || host.ends_with(&format!(".{e}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, env: &[(&str, &str)]) -> Option<String> {
        let url = Url::parse(url).unwrap();
        applicable(&url, |n| {
            env.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| (*v).to_owned())
        })
        .map(|(n, _)| n)
    }

    #[test]
    fn proxy_variables_as_curl_reads_them() {
        let p = "http://proxy:3128";
        assert_eq!(check("https://api.example.com", &[]), None);
        assert_eq!(
            check("https://api.example.com", &[("HTTPS_PROXY", p)]).as_deref(),
            Some("HTTPS_PROXY")
        );
        // The scheme's own variable.
        assert_eq!(check("https://api.example.com", &[("HTTP_PROXY", p)]), None);
        assert_eq!(
            check("http://api.example.com", &[("http_proxy", p)]).as_deref(),
            Some("http_proxy")
        );
        assert_eq!(
            check("http://api.example.com", &[("ALL_PROXY", p)]).as_deref(),
            Some("ALL_PROXY")
        );
        // NO_PROXY: domains, subdomains, leading dots, `*`, ports, IPs.
        for np in [
            "example.com",
            ".example.com",
            "*",
            "other, api.example.com:443",
        ] {
            assert_eq!(
                check(
                    "https://api.example.com",
                    &[("HTTPS_PROXY", p), ("NO_PROXY", np)]
                ),
                None,
                "{np}"
            );
        }
        assert!(check(
            "https://api.example.com",
            &[("HTTPS_PROXY", p), ("NO_PROXY", "ample.com")]
        )
        .is_some());
        assert_eq!(
            check(
                "https://10.1.2.3:8443",
                &[("HTTPS_PROXY", p), ("no_proxy", "10.1.2.3")]
            ),
            None
        );
        // Loopback is always direct.
        for u in [
            "https://127.0.0.1:8443",
            "http://localhost:8000",
            "https://[::1]:1",
        ] {
            assert_eq!(
                check(u, &[("HTTPS_PROXY", p), ("http_proxy", p)]),
                None,
                "{u}"
            );
        }
    }
}
