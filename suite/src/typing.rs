//! Turns serde_yaml / serde_path_to_error typing errors into a located
//! [`SuiteError`].
//!
//! serde's wording (`invalid type: integer \`-1\`, expected u32`) is rewritten
//! into the suite's own (`expected an integer 0..=2000, got -1`, from
//! [`expected_for`]), and the position comes from the [`PathIndex`] where
//! serde_yaml's mark is coarse. Syntax errors found by the index are restated
//! with libyaml's position and wording ([`prefer_libyaml`]).
use crate::{
    error::SuiteError,
    expected::expected_for,
    field_path::child,
    index::{Node, PathIndex, Pos},
    timeline::SECOND_ACTION,
};

/// The key inside the first backticks after `prefix`, if `msg` starts so.
fn key_after<'m>(msg: &'m str, prefix: &str) -> Option<&'m str> {
    msg.strip_prefix(prefix)?.split('`').next()
}

/// Converts a typing error into a located [`SuiteError::Type`].
pub(crate) fn from_typing(
    err: serde_path_to_error::Error<serde_yaml::Error>,
    index: &PathIndex,
) -> SuiteError {
    let path = match err.path().to_string() {
        p if p == "." => String::new(),
        p => p,
    };
    let inner = err.into_inner();
    let mark = inner.location().map(|l| Pos {
        line: l.line(),
        column: l.column(),
    });
    let message = plain_message(&inner.to_string(), mark, &path);
    let value_pos = |p: &str| {
        index
            .get(p)
            .map(|n| n.pos)
            .or(mark)
            .unwrap_or_else(|| index.locate(p))
    };

    let (field, pos, message) = if message.contains("more than one document") {
        let pos = index.second_document().or(mark).unwrap_or(Pos::START);
        (
            path,
            pos,
            "a suite file holds one YAML document; this starts a second".to_owned(),
        )
    } else if let Some(k) = key_after(&message, "missing field `") {
        // serde reports the mapping that lacks the key; point at the mapping.
        (
            child(&path, k),
            index.locate(&path),
            format!("missing required field `{k}`"),
        )
    } else if let Some(k) = key_after(&message, "duplicate field `") {
        let field = child(&path, k);
        let pos = index
            .duplicate(&field)
            .or(mark)
            .unwrap_or_else(|| index.locate(&path));
        (field, pos, format!("duplicate key `{k}`"))
    } else if message.starts_with("unknown field `") || message.starts_with(SECOND_ACTION) {
        // serde_path_to_error has already appended the offending key.
        let pos = index
            .get(&path)
            .and_then(|n| n.key)
            .or(mark)
            .unwrap_or_else(|| index.locate(&path));
        let message = with_field_hint(&message);
        (path, pos, message)
    } else {
        let got = index.get(&path).map(Node::describe);
        let message = value_message(&message, expected_for(&path), got);
        // At the root the index only knows where the document starts;
        // serde_yaml's mark is at least as precise there.
        let pos = if path.is_empty() {
            mark.unwrap_or_else(|| index.locate(""))
        } else {
            value_pos(&path)
        };
        (path, pos, message)
    };
    SuiteError::Type(index.diagnostic(pos, field, message))
}

/// A syntax error found by the index, restated with libyaml's position and
/// wording when serde_yaml (the reader that matters) rejects the text too:
/// libyaml points at the offending character and names where the enclosing
/// construct began. The field path stays the index's.
pub(crate) fn prefer_libyaml(err: SuiteError, text: &str) -> SuiteError {
    let SuiteError::Syntax(mut d) = err else {
        return err;
    };
    if let Err(e) = serde_yaml::from_str::<serde::de::IgnoredAny>(text)
        && let Some(l) = e.location()
    {
        let mark = Pos {
            line: l.line(),
            column: l.column(),
        };
        d.line = mark.line;
        d.column = mark.column;
        d.message = format!(
            "YAML syntax error: {}",
            plain_message(&e.to_string(), Some(mark), "")
        );
    }
    SuiteError::Syntax(d)
}

/// serde_yaml's message without its path prefix and position suffix (the
/// diagnostic carries both), and with inner positions as `line:column`.
fn plain_message(raw: &str, mark: Option<Pos>, path: &str) -> String {
    let mut owned = raw.to_owned();
    if let Some(m) = mark {
        // libyaml: "<problem> at line L column C[, <context> at line ...]".
        owned = owned.replacen(&format!(" at line {} column {}", m.line, m.column), "", 1);
    }
    let mut msg = owned.as_str();
    if let Some((prefix, rest)) = msg.split_once(": ")
        && !prefix.is_empty()
        && !prefix.contains(' ')
        && path.starts_with(prefix)
    {
        msg = rest;
    }
    rewrite_marks(msg)
}

/// `at line 3 column 5` → `at 3:5`.
fn rewrite_marks(msg: &str) -> String {
    let mut out = String::new();
    let mut rest = msg;
    while let Some(i) = rest.find("at line ") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + "at line ".len()..];
        let line: String = tail.chars().take_while(char::is_ascii_digit).collect();
        let after = &tail[line.len()..];
        if let Some(after) = after.strip_prefix(" column ") {
            let col: String = after.chars().take_while(char::is_ascii_digit).collect();
            if !line.is_empty() && !col.is_empty() {
                out.push_str(&format!("at {line}:{col}"));
                rest = &after[col.len()..];
                continue;
            }
        }
        out.push_str("at line ");
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// serde's "unknown field `x`, expected one of `a`, ..." with the nearest
/// field appended when `x` looks like a typo of one.
fn with_field_hint(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_owned();
    };
    let Some((field, list)) = rest.split_once('`') else {
        return message.to_owned();
    };
    format!(
        "{message}{}",
        crate::suggest::hint(field, crate::suggest::backticked(list))
    )
}

/// Rewrites serde's `invalid type/value/length` and `unknown variant`
/// messages as `expected <what>, got <value>`; others pass through.
fn value_message(msg: &str, expected: Option<&str>, got: Option<String>) -> String {
    let split = |body: &str| -> Option<(String, String)> {
        let i = body.rfind(", expected ")?;
        Some((
            body[..i].to_owned(),
            body[i + ", expected ".len()..].to_owned(),
        ))
    };
    let parsed = if let Some(body) = msg
        .strip_prefix("invalid type: ")
        .or_else(|| msg.strip_prefix("invalid value: "))
    {
        split(body).map(|(unexp, exp)| (unexpected_text(&unexp), exp))
    } else if let Some(body) = msg.strip_prefix("invalid length ") {
        split(body).map(|(n, exp)| (format!("a list of {n} items"), exp))
    } else if let Some(body) = msg.strip_prefix("unknown variant ") {
        // Variant lists are the most precise expectation: keep them, and
        // add the nearest variant, or the profile covering a release.
        return split(body).map_or_else(
            || msg.to_owned(),
            |(v, exp)| {
                let written = v.trim_matches('`');
                let hint = match crate::suggest::profile_for_release(written) {
                    Some(p) if exp.contains("`cilium-1.") => {
                        format!(" ({written} is covered by {p})")
                    }
                    _ => crate::suggest::hint(written, crate::suggest::backticked(&exp)),
                };
                format!("expected {exp}, got {v}{hint}")
            },
        );
    } else if msg == "invalid IPv4 address syntax" || msg == "invalid IP address syntax" {
        Some((String::new(), "an IPv4 address".to_owned()))
    } else {
        None
    };
    match parsed {
        Some((unexp, exp)) => {
            let what = expected.map_or_else(|| serde_expected(&exp), str::to_owned);
            let got = got.unwrap_or(unexp);
            if got.is_empty() {
                format!("expected {what}")
            } else {
                format!("expected {what}, got {got}")
            }
        }
        None => msg.to_owned(),
    }
}

/// serde's `expected` wording in suite terms.
fn serde_expected(exp: &str) -> String {
    let int = |max: &str| format!("an integer 0..={max}");
    match exp {
        "u8" => int("255"),
        "u16" => int("65535"),
        "u32" => int("4294967295"),
        "u64" => int("18446744073709551615"),
        "f64" | "f32" => "a number".to_owned(),
        "a sequence" => "a list".to_owned(),
        "a string" | "a borrowed string" => "a string".to_owned(),
        e if e.starts_with("struct ") || e == "a map" => "a mapping".to_owned(),
        e if e.starts_with("an array of length ") => {
            format!("a list of {} items", &e["an array of length ".len()..])
        }
        e if e.starts_with("sequence of ") => {
            format!(
                "a list of {}",
                &e["sequence of ".len()..].replace("elements", "items")
            )
        }
        e => e.to_owned(),
    }
}

/// serde's `Unexpected` wording, for values the index does not hold.
fn unexpected_text(u: &str) -> String {
    let tick = |s: &str| s.trim_matches('`').to_owned();
    match u {
        "map" => "a mapping".to_owned(),
        "sequence" => "a list".to_owned(),
        "unit value" => "null".to_owned(),
        u => ["integer ", "floating point ", "boolean ", "string "]
            .iter()
            .find_map(|p| u.strip_prefix(p))
            .map_or_else(|| u.to_owned(), tick),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_become_line_colon_column() {
        assert_eq!(
            rewrite_marks(
                "did not find expected key, while parsing a block mapping at line 3 column 5"
            ),
            "did not find expected key, while parsing a block mapping at 3:5"
        );
        assert_eq!(rewrite_marks("at line x"), "at line x");
    }

    #[test]
    fn serde_wording_is_rewritten() {
        assert_eq!(
            value_message(
                "invalid type: integer `-1`, expected u32",
                Some("an integer 0..=200"),
                Some("-1".into())
            ),
            "expected an integer 0..=200, got -1"
        );
        assert_eq!(
            value_message(
                "invalid type: string \"x\", expected struct Cluster",
                None,
                None
            ),
            "expected a mapping, got \"x\""
        );
        assert_eq!(
            value_message(
                "unknown variant `rand`, expected `random` or `maglev`",
                None,
                None
            ),
            "expected `random` or `maglev`, got `rand`"
        );
        assert_eq!(
            value_message("something else", None, None),
            "something else"
        );
    }
}
