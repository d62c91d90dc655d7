//! Field paths in the serde_path_to_error form (`deployments[0].server.port`,
//! the root is `""`): joining, parents and index-free patterns.
//!
//! The index, the typing-error translation and the expectation table all
//! name values by these paths, so the string rules live in one place.

/// Joins a key onto a field path.
pub(crate) fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The parent of a field path (`a.b[2].c` → `a.b[2]` → `a.b` → `a` → ``).
#[must_use]
pub(crate) fn parent_path(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

/// The path with its sequence indexes dropped (`deployments[3].nodes[0]` →
/// `deployments[].nodes[]`), so one rule covers every item of a list.
pub(crate) fn pattern(path: &str) -> String {
    let mut pattern = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                pattern.push('[');
            }
            ']' => {
                in_index = false;
                pattern.push(']');
            }
            _ if in_index => {}
            c => pattern.push(c),
        }
    }
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_paths() {
        assert_eq!(parent_path("a.b[2].c"), Some("a.b[2]"));
        assert_eq!(parent_path("a.b[2]"), Some("a.b"));
        assert_eq!(parent_path("a"), Some(""));
        assert_eq!(parent_path(""), None);
    }
}
