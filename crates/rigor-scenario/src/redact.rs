//! Keeps passwords written in URLs out of reports, results and messages.
//!
//! A scenario may name a server as `redis://user:secret@host:6379/0`, and
//! that text travels: into the results (the scenario source, the target's
//! configuration), into error messages and into every report. Everything
//! that prints such text passes it through [`redact_credentials`] first.

/// Replaces the password of every URL in `text` with `***`.
///
/// - `scheme://user:pass@host` becomes `scheme://user:***@host`, and
///   `scheme://:pass@host` becomes `scheme://:***@host`; a user without a
///   password (`scheme://user@host`) is left alone.
/// - The userinfo ends at the last `@` of the authority (which ends at the
///   first `/`, `?` or `#`), so an `@` in a path or query is not taken for
///   one; but `host:port` whose "port" is not a number, followed by an `@`
///   later in the URL, is taken for a password holding a `/` and redacted.
/// - Query parameters `pass=` and `password=` (the redis crate's form for
///   `redis+unix:///path?pass=...`) are redacted too.
/// - A URL ends at whitespace, a quote, `<`, `>`, a backtick or a control
///   character, so several URLs in one text are each redacted.
pub fn redact_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find("://") {
        let sep = search + found;
        let scheme_start = text[..sep]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || "+-.".contains(*c))
            .last()
            .map(|(i, _)| i);
        let body_start = sep + 3;
        let body_len = text[body_start..]
            .find(url_end)
            .unwrap_or(text.len() - body_start);
        let body = &text[body_start..body_start + body_len];
        search = body_start + body_len;
        if scheme_start.is_none() {
            continue;
        }
        let redacted = redact_url_body(body);
        if redacted != body {
            out.push_str(&text[copied..body_start]);
            out.push_str(&redacted);
            copied = body_start + body_len;
        }
    }
    out.push_str(&text[copied..]);
    out
}

fn url_end(c: char) -> bool {
    c.is_whitespace() || c.is_control() || "\"'<>`".contains(c)
}

/// Redacts the part of a URL after `scheme://`.
fn redact_url_body(body: &str) -> String {
    let authority_len = body.find(['/', '?', '#']).unwrap_or(body.len());
    let authority = &body[..authority_len];
    let at = authority.rfind('@').or_else(|| {
        // `user:pa/ss@host`: "host:port" with a port that is not a number,
        // and an `@` further on: the password holds a `/`, `?` or `#`.
        let port = match authority.strip_prefix('[') {
            Some(v6) => v6.split_once("]:").map(|(_, p)| p),
            None => authority.split_once(':').map(|(_, p)| p),
        }?;
        if port.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        body.find('@')
    });
    let mut out = String::with_capacity(body.len());
    let rest = match at {
        Some(at) => {
            let userinfo = &body[..at];
            match userinfo.split_once(':') {
                Some((user, pass)) if !pass.is_empty() => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                _ => out.push_str(userinfo),
            }
            &body[at..]
        }
        None => body,
    };
    match rest.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let (query, fragment) = match query.split_once('#') {
                Some((q, f)) => (q, Some(f)),
                None => (query, None),
            };
            for (i, param) in query.split('&').enumerate() {
                if i > 0 {
                    out.push('&');
                }
                match param.split_once('=') {
                    Some((key, value))
                        if !value.is_empty()
                            && (key.eq_ignore_ascii_case("pass")
                                || key.eq_ignore_ascii_case("password")) =>
                    {
                        out.push_str(key);
                        out.push_str("=***");
                    }
                    _ => out.push_str(param),
                }
            }
            if let Some(f) = fragment {
                out.push('#');
                out.push_str(f);
            }
        }
        None => out.push_str(rest),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_credentials as r;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            r("redis://user:secret@127.0.0.1:6379/0"),
            "redis://user:***@127.0.0.1:6379/0"
        );
        assert_eq!(
            r("rediss://:secret@cache.example:6380"),
            "rediss://:***@cache.example:6380"
        );
        assert_eq!(
            r("http://admin:hunter2@opa:8181/v1/data"),
            "http://admin:***@opa:8181/v1/data"
        );
        assert_eq!(
            r("https://a:b@example.com?q=1#x"),
            "https://a:***@example.com?q=1#x"
        );
        // An `@` in the password (unencoded): the last `@` of the authority ends it.
        assert_eq!(r("redis://:p@ss@host:1"), "redis://:***@host:1");
        // A `/` in the password.
        assert_eq!(r("redis://u:pa/ss@host"), "redis://u:***@host");
        // IPv6 hosts.
        assert_eq!(r("redis://u:p@[::1]:6379"), "redis://u:***@[::1]:6379");
        assert_eq!(r("redis://[::1]:6379/0"), "redis://[::1]:6379/0");
    }

    #[test]
    fn urls_without_passwords_are_unchanged() {
        for text in [
            "redis://127.0.0.1:6379/0",
            "redis://user@host:6379",
            "redis://user:@host",
            "http://example.com/users/@me",
            "https://example.com/a/b@c:d/e",
            "http://host:8181?next=a:b@c",
            "mailto:someone@example.com",
            "no url here: a:b@c",
            "unix:///tmp/redis.sock",
            "redis+unix:///var/run/redis.sock?db=2",
            "",
            "://a:b@c",
        ] {
            assert_eq!(r(text), text);
        }
    }

    #[test]
    fn unix_socket_passwords_in_the_query() {
        assert_eq!(
            r("redis+unix:///tmp/r.sock?db=1&pass=secret&user=u"),
            "redis+unix:///tmp/r.sock?db=1&pass=***&user=u"
        );
        assert_eq!(
            r("unix:///tmp/r.sock?password=s#frag"),
            "unix:///tmp/r.sock?password=***#frag"
        );
    }

    #[test]
    fn every_url_in_a_text() {
        let yaml = "targets:\n  - {id: a, kind: redis, url: \"redis://:one@h1:6379\"}\n  - {id: b, kind: redis, url: redis://u:two@h2}\n# see http://docs/x@y and https://x:three@h3/p";
        assert_eq!(
            r(yaml),
            "targets:\n  - {id: a, kind: redis, url: \"redis://:***@h1:6379\"}\n  - {id: b, kind: redis, url: redis://u:***@h2}\n# see http://docs/x@y and https://x:***@h3/p"
        );
        assert_eq!(
            r("target `r`: `url` `redis://:pw@h` is not reachable (redis://a:b@c)"),
            "target `r`: `url` `redis://:***@h` is not reachable (redis://a:***@c)"
        );
        assert_eq!(
            r("${REDIS_URL:-redis://:pw@127.0.0.1:6379}"),
            "${REDIS_URL:-redis://:***@127.0.0.1:6379}"
        );
    }

    #[test]
    fn unicode_and_odd_text_do_not_panic() {
        assert_eq!(r("x://ü:ö@ä"), "x://ü:***@ä");
        assert_eq!(r("é://ü:ö@ä"), "é://ü:ö@ä", "a scheme is ASCII");
        assert_eq!(r("a://"), "a://");
        assert_eq!(r("a://:@"), "a://:@");
        assert_eq!(r(":// :// a://b:c@"), ":// :// a://b:***@");
        assert_eq!(r("x://a:b@c\u{0}y://d:e@f"), "x://a:***@c\u{0}y://d:***@f");
    }
}
