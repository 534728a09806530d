//! Where requests go: the server's URL split for the measured client, and
//! each request written whole from the input's JSON text.

use std::sync::Arc;
use std::time::Duration;

use rigor_scenario::plan::Inputs;

/// What the requests carry: the plan's inputs, each as `{"input": ...}`,
/// or one body as given (a decision check).
#[derive(Debug, Clone)]
pub(super) enum Bodies {
    /// Request `i` carries input `i` (`{}` when there are none).
    Inputs(Arc<Inputs>),
    /// Every request carries this body.
    One(Arc<Vec<u8>>),
}

/// `{"input":`, before an input's text in a request body.
const INPUT_OPEN: &[u8] = b"{\"input\":";

impl Bodies {
    /// How many different requests there are.
    pub(super) fn len(&self) -> usize {
        match self {
            Bodies::Inputs(inputs) => inputs.len().max(1),
            Bodies::One(_) => 1,
        }
    }

    /// Writes request `index` whole into `out` (cleared first): the
    /// endpoint's head, the length, the body. The same bytes as serialising
    /// `{"input": <document>}`, since the plan's text is serde_json's; a
    /// copy of about the request's size, tens of ns against a request's
    /// tens of us, where preparing every request before timing held twice
    /// the inputs' size in memory.
    #[inline]
    pub(super) fn write(
        &self,
        endpoint: &Endpoint,
        metrics: bool,
        index: usize,
        out: &mut Vec<u8>,
    ) {
        use std::io::Write;
        out.clear();
        out.extend_from_slice(if metrics {
            &endpoint.head_metrics
        } else {
            &endpoint.head_plain
        });
        match self {
            Bodies::Inputs(inputs) if !inputs.is_empty() => {
                let text = inputs.text(index.min(inputs.len() - 1)).as_bytes();
                // Writing into a Vec cannot fail.
                let _ = write!(out, "{}\r\n\r\n", INPUT_OPEN.len() + text.len() + 1);
                out.extend_from_slice(INPUT_OPEN);
                out.extend_from_slice(text);
                out.push(b'}');
            }
            Bodies::Inputs(_) => out.extend_from_slice(b"2\r\n\r\n{}"),
            Bodies::One(body) => {
                let _ = write!(out, "{}\r\n\r\n", body.len());
                out.extend_from_slice(body);
            }
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
    /// On average one request in this many asks for the server's timings.
    pub(super) metrics_every: u64,
    /// A request's head up to the `Content-Length` value, to `path`.
    pub(super) head_plain: Vec<u8>,
    /// The same to `path?metrics=true`.
    pub(super) head_metrics: Vec<u8>,
}

/// `POST path HTTP/1.1` and the headers, up to the `Content-Length` value.
pub(super) fn head(authority: &str, path: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: "
    )
    .into_bytes()
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

    #[test]
    fn requests_are_written_as_prepared_ones_were() {
        let endpoint = Endpoint {
            authority: "opa:80".into(),
            path: "/v1/data/a/b".into(),
            url: "http://opa".into(),
            timeout: Duration::from_secs(1),
            server_metrics: true,
            metrics_every: 16,
            head_plain: head("opa:80", "/v1/data/a/b"),
            head_metrics: head("opa:80", "/v1/data/a/b?metrics=true"),
        };
        let mut inputs = Inputs::new();
        let source = inputs.source("x", rigor_scenario::plan::Numbering::Line);
        let doc = serde_json::json!({"user": "alice", "n": [1, 2]});
        inputs.push(source, 1, &doc, None);
        let body = serde_json::json!({ "input": doc }).to_string();
        let mut out = Vec::new();
        Bodies::Inputs(Arc::new(inputs)).write(&endpoint, true, 0, &mut out);
        let expected = format!(
            "POST /v1/data/a/b?metrics=true HTTP/1.1\r\nHost: opa:80\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(String::from_utf8(out.clone()).unwrap(), expected);
        Bodies::Inputs(Arc::new(Inputs::new())).write(&endpoint, false, 3, &mut out);
        assert!(String::from_utf8(out)
            .unwrap()
            .ends_with("Content-Length: 2\r\n\r\n{}"));
    }
}
