//! Where requests go: the server's URL split for the measured client, and
//! each input's whole request prepared before timing.

use std::time::Duration;

use crate::http1;

/// One input's request, whole, without and with `?metrics=true`.
#[derive(Debug)]
pub(super) struct Prepared {
    pub(super) plain: Vec<u8>,
    pub(super) metrics: Vec<u8>,
}

impl Prepared {
    pub(super) fn new(endpoint: &Endpoint, body: &[u8]) -> Self {
        Prepared {
            plain: http1::post(&endpoint.authority, &endpoint.path, body),
            metrics: http1::post(&endpoint.authority, &endpoint.metrics_path, body),
        }
    }
}

/// Where and how the measured requests go.
#[derive(Debug)]
pub(super) struct Endpoint {
    /// `host:port` to connect to.
    pub(super) authority: String,
    /// Request path, e.g. `/v1/data/rbac/allow`.
    pub(super) path: String,
    /// Base URL as written (expanded), for messages.
    pub(super) url: String,
    pub(super) timeout: Duration,
    /// Requests ask for the server's own timings (`?metrics=true`).
    pub(super) server_metrics: bool,
    /// `path` with `?metrics=true`.
    pub(super) metrics_path: String,
    /// On average one request in this many asks for the server's timings.
    pub(super) metrics_every: u64,
}

/// Splits `http://host:port/base` into `(host:port, /base)`.
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = match url.strip_prefix("http://") {
        Some(r) => r,
        None if url.starts_with("https://") => {
            return Err(format!(
                "`{url}`: https is not supported on the measured path yet; point rigor at the server's plain-HTTP port"
            ))
        }
        None => return Err(format!("`{url}` is not an http:// URL")),
    };
    let (authority, base) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, base.to_string()))
}

/// `data.a.b` -> `a/b`.
pub(crate) fn query_path(query: &str) -> String {
    query.trim_start_matches("data.").replace('.', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths() {
        assert_eq!(
            parse_url("http://127.0.0.1:8181").unwrap(),
            ("127.0.0.1:8181".into(), "".into())
        );
        assert_eq!(
            parse_url("http://opa/base/").unwrap(),
            ("opa:80".into(), "/base".into())
        );
        assert!(parse_url("https://x").unwrap_err().contains("https"));
        assert!(parse_url("ftp://x").is_err());
        assert_eq!(query_path("data.rbac.allow"), "rbac/allow");
    }
}
