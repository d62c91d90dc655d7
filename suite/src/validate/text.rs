//! What a well-formed string looks like: DNS labels, suite names, HTTP
//! request paths, header names and values.
//!
//! Pure predicates; the rules that call them say what was expected.

/// An HTTP/1.1 request target we can put on the request line as is.
pub(super) fn is_http_path(s: &str) -> bool {
    s.starts_with('/') && s.len() <= 1024 && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// RFC 9110 `token` (a field name): 1 or more tchar.
pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// RFC 9110 §5.5: CR, LF and NUL in a field value are invalid (and would
/// split or cut the request).
pub(super) fn is_header_value(s: &str) -> bool {
    !s.contains(['\r', '\n', '\0'])
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, 1..=40 chars.
pub(super) fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=40).contains(&b.len())
        && b.first().is_some_and(edge)
        && b.last().is_some_and(edge)
        && b.iter().all(|c| edge(c) || *c == b'-')
}

/// Suite names become report directory names: no separators, no dot files.
pub(super) fn is_suite_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && !s.starts_with(['.', '-'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for ok in ["a", "web", "web-1", "0", "a-b-c"] {
            assert!(is_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "Web", "a_b", "a.b", &"a".repeat(41)] {
            assert!(!is_label(bad), "{bad}");
        }
    }

    #[test]
    fn http_tokens_paths_and_values() {
        for ok in ["Host", "X-Probe", "x_y.z", "!#$%&'*+-.^_`|~09"] {
            assert!(is_token(ok), "{ok}");
        }
        for bad in ["", "X Probe", "X:Y", "X\tY", "Ä", "(x)", "a/b"] {
            assert!(!is_token(bad), "{bad}");
        }
        for ok in ["/", "/healthz", "/ready?full=1&x=%20"] {
            assert!(is_http_path(ok), "{ok}");
        }
        let long = format!("/{}", "a".repeat(1024));
        for bad in ["", "healthz", "/a b", "/a\tb", "/a\u{7f}", &long] {
            assert!(!is_http_path(bad), "{bad:?}");
        }
        assert!(is_header_value("text/plain; q=0.9, */*"));
        for bad in ["a\rb", "a\nb", "a\0b"] {
            assert!(!is_header_value(bad), "{bad:?}");
        }
    }
}
