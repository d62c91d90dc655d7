//! Every mistake of a suite file in one pass, bounded: what `svclab
//! validate` prints. Typing stops at the first error serde meets, so after
//! one the offending key is taken out of the document (as a
//! `serde_yaml::Value`) and typing runs again, until the document types or
//! an error cannot be stepped over (a missing required field, a duplicate
//! key, a second document, or a required field that was taken out). The
//! typed suite is then checked by every semantic rule, which already
//! collect all their findings. Positions always come from the original
//! text's index.
use std::path::Path;

use serde_yaml::Value;

use crate::{
    error::SuiteError,
    index::{self, PathIndex},
    model::Suite,
    read, typing, validate,
};

/// At most this many errors are reported for one file.
pub const MAX_ERRORS: usize = 20;

/// One step of a field path: a mapping key or a sequence index.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `deployments[0].server.port` → Key(deployments), Index(0), Key(server), Key(port).
fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        while let Some(close) = rest.find(']') {
            if let Ok(i) = rest[1..close].parse() {
                out.push(Step::Index(i));
            }
            rest = &rest[close + 1..];
        }
    }
    out
}

/// Takes the entry at `path` out of `doc`; false if there is none. With
/// `rename_to`, a mapping entry is moved to that key instead (a misspelt
/// field read as the one it was meant to be), unless the key is taken.
fn take_out(doc: &mut Value, path: &str, rename_to: Option<&str>) -> bool {
    let steps = steps(path);
    let Some((last, parents)) = steps.split_last() else {
        return false;
    };
    let mut cur = doc;
    for s in parents {
        let next = match (s, cur) {
            (Step::Key(k), Value::Mapping(m)) => m.get_mut(*k),
            (Step::Index(i), Value::Sequence(v)) => v.get_mut(*i),
            (Step::Key(k), Value::Tagged(t)) => match &mut t.value {
                Value::Mapping(m) => m.get_mut(*k),
                _ => None,
            },
            _ => None,
        };
        let Some(n) = next else { return false };
        cur = n;
    }
    match (last, cur) {
        (Step::Key(k), Value::Mapping(m)) => match m.remove(*k) {
            Some(v) => {
                if let Some(to) = rename_to
                    && !m.contains_key(to)
                {
                    m.insert(Value::String(to.to_owned()), v);
                }
                true
            }
            None => false,
        },
        (Step::Index(i), Value::Sequence(v)) if *i < v.len() => {
            v.remove(*i);
            true
        }
        _ => false,
    }
}

/// Whether serde can go on past this error once its key is taken out: not
/// at a list item (taking it out would renumber the items after it, and
/// their errors would name the wrong item), not for what cannot be taken
/// out (a missing field, a duplicate key, a second document).
fn removable(err: &SuiteError) -> bool {
    err.diagnostic().is_some_and(|d| {
        !d.field.is_empty()
            && !d.field.ends_with(']')
            && !d.message.starts_with("missing required field")
            && !d.message.starts_with("duplicate key")
            && !d
                .message
                .starts_with("a suite file holds one YAML document")
    })
}

/// Values other rules are checked against: one taken out falls back to its
/// default, and the rules would report values that are fine against the
/// one the file meant. No semantic pass after taking one out.
const FOUNDATIONS: [&str; 5] = [
    "duration",
    "bucket",
    "cluster",
    "cluster.nodes",
    "kubelet.time_scale",
];

/// The mapping that holds `field` (`a.b[0].c` → `a.b[0]`).
fn parent_of(field: &str) -> &str {
    field.rfind('.').map_or("", |i| &field[..i])
}

/// Every error of suite `text` (read from `path`), in document order, at
/// most [`MAX_ERRORS`]; empty when the suite is valid.
#[must_use]
pub fn diagnose(text: &str, path: &Path) -> Vec<SuiteError> {
    if let Err(e) = read::check_chars(text, path) {
        return vec![e];
    }
    let index = match PathIndex::read(text, path) {
        Ok(i) => i,
        Err(index::BuildError::Yaml(d)) => {
            return vec![typing::prefer_libyaml(SuiteError::Syntax(d), text)];
        }
        Err(index::BuildError::Refused(e)) => return vec![e],
    };
    // The first typing error from the text itself (serde_yaml's own marks).
    let de = serde_yaml::Deserializer::from_str(text);
    let first = match serde_path_to_error::deserialize::<_, Suite>(de) {
        Ok(suite) => return semantic(&suite, &index, path, Vec::new()),
        Err(e) => typing::from_typing(e, &index),
    };
    let mut errors = vec![first];
    let Ok(mut doc) = serde_yaml::from_str::<Value>(text) else {
        return errors;
    };
    let mut taken_out: Vec<String> = Vec::new();
    // Fields a misspelt key was read as: an error there is the same mistake.
    let mut renamed: Vec<String> = Vec::new();
    while errors.len() < MAX_ERRORS {
        let last = errors.last().expect("one error at least");
        let field = last
            .diagnostic()
            .map(|d| d.field.clone())
            .unwrap_or_default();
        // A misspelt field is read as the one it was meant to be, so the
        // missing required field it stood for is not a second mistake.
        let meant = last.diagnostic().and_then(|d| {
            let rest = d.message.split("(did you mean `").nth(1)?;
            rest.split('`').next().map(str::to_owned)
        });
        let unknown_field = last
            .diagnostic()
            .is_some_and(|d| d.message.starts_with("unknown field"));
        let rename = meant.as_deref().filter(|_| unknown_field);
        if !removable(last) || !take_out(&mut doc, &field, rename) {
            return sorted(errors);
        }
        if let Some(to) = rename {
            let parent = parent_of(&field);
            renamed.push(if parent.is_empty() {
                to.to_owned()
            } else {
                format!("{parent}.{to}")
            });
        }
        taken_out.push(field);
        // Typing again; errors under a renamed field are the typo's.
        let next = loop {
            match serde_path_to_error::deserialize::<_, Suite>(doc.clone()) {
                Ok(suite) => break Ok(suite),
                Err(e) => {
                    let e = typing::from_typing(e, &index);
                    let at = e.diagnostic().map(|d| d.field.clone()).unwrap_or_default();
                    let under = |r: &String| {
                        at == *r
                            || at.starts_with(&format!("{r}."))
                            || at.starts_with(&format!("{r}["))
                    };
                    // The whole renamed field goes (the doc shrinks: this ends).
                    if let Some(r) = renamed.iter().find(|r| under(r)).cloned()
                        && take_out(&mut doc, &r, None)
                    {
                        continue;
                    }
                    break Err(e);
                }
            }
        };
        match next {
            Ok(suite) => {
                if taken_out.iter().any(|f| FOUNDATIONS.contains(&f.as_str())) {
                    return sorted(errors);
                }
                return semantic(&suite, &index, path, errors);
            }
            Err(e) => {
                // A required field this pass took out: not a new mistake.
                let ours = e.diagnostic().is_some_and(|d| {
                    d.message.starts_with("missing required field") && taken_out.contains(&d.field)
                });
                if ours {
                    return sorted(errors);
                }
                errors.push(e);
            }
        }
    }
    sorted(errors)
}

/// `errors` plus the semantic findings on the typed `suite` (the file stem
/// as its name when it gives none, as [`crate::parse`] does).
fn semantic(
    suite: &Suite,
    index: &PathIndex,
    path: &Path,
    mut errors: Vec<SuiteError>,
) -> Vec<SuiteError> {
    let mut suite = suite.clone();
    if suite.name.is_empty() {
        suite.name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    errors.extend(
        validate::check(&suite, index)
            .into_iter()
            .map(SuiteError::Invalid),
    );
    sorted(errors)
}

fn sorted(mut errors: Vec<SuiteError>) -> Vec<SuiteError> {
    errors.sort_by_key(|e| e.diagnostic().map(|d| (d.line, d.column)));
    errors.truncate(MAX_ERRORS);
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_step_through_keys_and_indexes() {
        let mut v: Value =
            serde_yaml::from_str("a: [ {b: 1, c: 2}, {b: 3} ]\nd: {e: [1, 2]}\n").expect("yaml");
        assert!(take_out(&mut v, "a[0].c", None));
        assert!(take_out(&mut v, "d.e[1]", None));
        assert!(!take_out(&mut v, "a[5].b", None));
        assert!(!take_out(&mut v, "zzz", None));
        assert!(take_out(&mut v, "a[1].b", Some("x")));
        assert_eq!(
            serde_yaml::to_string(&v).expect("yaml"),
            "a:\n- b: 1\n- x: 3\nd:\n  e:\n  - 1\n"
        );
    }
}
