//! `PathIndex`: where each value of a suite file sits, by field path.
//!
//! serde_yaml keeps no spans once a value is typed, yet a validation error must
//! point at the offending value. This module re-reads the text as YAML events
//! (yaml-rust2, which marks every event) and maps each field path
//! (`deployments[0].server.port`) to the line:column of its value and of its
//! key. It is also the first reader of the file, so it reports YAML syntax
//! errors with the path of the collection being read when the error hit,
//! and it refuses, before serde_yaml reads anything, what no suite needs:
//! nesting deeper than [`MAX_DEPTH`] and YAML tags.
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use yaml_rust2::{
    parser::{Event, Parser, Tag},
    scanner::{Marker, TScalarStyle},
};

use crate::{
    error::{Diagnostic, SuiteError},
    field_path::{child, parent_path},
};

/// The deepest nesting of lists and mappings a suite may use. A suite needs
/// fewer than 10 levels (`deployments[0].probes.readiness.http.headers[0]`
/// is 7); the bound keeps a hostile file from costing memory or time with
/// its depth, and stops it before serde_yaml (whose own limit is 128)
/// reads it.
pub const MAX_DEPTH: usize = 64;

/// Why the index could not be built.
pub(crate) enum BuildError {
    /// yaml-rust2 found the text malformed (libyaml may word it better).
    Yaml(Diagnostic),
    /// Well-formed YAML that a suite may not use (too deep, tagged).
    Refused(SuiteError),
}

/// A 1-based line and column in the suite text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    /// The start of the file: where errors about the whole document point.
    pub const START: Pos = Pos { line: 1, column: 1 };

    fn from_marker(m: &Marker) -> Self {
        // yaml-rust2 lines are 1-based, columns 0-based.
        Pos {
            line: m.line().max(1),
            column: m.col() + 1,
        }
    }
}

/// What kind of YAML node sits at a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A scalar with its text as written; `plain` is false for quoted or
    /// block scalars.
    Scalar {
        text: String,
        plain: bool,
    },
    /// A sequence with its item count.
    Sequence(usize),
    Mapping,
    /// `*anchor`: the value lives elsewhere.
    Alias,
}

/// One value of the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Where the value starts (for a block mapping: its first key).
    pub pos: Pos,
    /// Where its key is, for a mapping entry.
    pub key: Option<Pos>,
    pub kind: NodeKind,
}

impl Node {
    /// The value as an error message quotes it after `got`.
    #[must_use]
    pub fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Scalar { text, plain } => {
                if *plain && text.is_empty() {
                    "nothing (null)".to_owned()
                } else if *plain && (text == "~" || text == "null") {
                    "null".to_owned()
                } else if *plain && text.parse::<f64>().is_ok() {
                    text.clone()
                } else {
                    format!("{text:?}")
                }
            }
            NodeKind::Sequence(1) => "a list of 1 item".to_owned(),
            NodeKind::Sequence(n) => format!("a list of {n} items"),
            NodeKind::Mapping => "a mapping".to_owned(),
            NodeKind::Alias => "an alias".to_owned(),
        }
    }
}

/// Field path → position of the value (and key) in one suite file.
///
/// Paths use the serde_path_to_error form: `a.b[2].c`; the root is `""`.
/// Only the first YAML document is indexed (serde_yaml rejects others).
#[derive(Clone, Debug, Default)]
pub struct PathIndex {
    file: PathBuf,
    nodes: HashMap<String, Node>,
    /// Second occurrence of a repeated mapping key, by path.
    duplicates: HashMap<String, Pos>,
    /// Where a second YAML document starts, if the file has one.
    second_document: Option<Pos>,
}

enum Frame {
    Map {
        path: String,
        key: Option<(String, Pos)>,
        seen_key: bool,
    },
    Seq {
        path: String,
        next: usize,
    },
    /// A collection used as a mapping key: skipped, depth counted.
    Skip(usize),
}

impl PathIndex {
    /// Indexes `text`, or reports its first YAML syntax error, nesting
    /// deeper than [`MAX_DEPTH`] or tag.
    pub fn build(text: &str, file: &Path) -> Result<Self, SuiteError> {
        Self::read(text, file).map_err(|e| match e {
            BuildError::Yaml(d) => SuiteError::Syntax(d),
            BuildError::Refused(e) => e,
        })
    }

    /// The field being read where `text` ends: the last value it starts,
    /// or the collection open when it breaks off mid-construct. It locates
    /// a problem the YAML readers cannot see (a bad byte) given the text
    /// before it.
    pub(crate) fn field_at_end(text: &str) -> String {
        match Self::read(text, Path::new("")) {
            Ok(ix) => ix
                .nodes
                .iter()
                .max_by_key(|(path, n)| (n.pos, path.len()))
                .map(|(path, _)| path.clone())
                .unwrap_or_default(),
            Err(BuildError::Yaml(d)) => d.field,
            Err(BuildError::Refused(e)) => {
                e.diagnostic().map(|d| d.field.clone()).unwrap_or_default()
            }
        }
    }

    /// [`Self::build`], telling yaml-rust2's syntax errors apart.
    pub(crate) fn read(text: &str, file: &Path) -> Result<Self, BuildError> {
        let mut index = PathIndex {
            file: file.to_owned(),
            ..PathIndex::default()
        };
        let mut stack: Vec<Frame> = Vec::new();
        // Open lists and mappings, counting those `stack` skips (keys).
        let mut depth = 0usize;
        let mut parser = Parser::new_from_str(text);
        let mut done = false;
        loop {
            let (event, mark) = match parser.next_token() {
                Ok(x) => x,
                Err(e) => {
                    let pos = Pos::from_marker(e.marker());
                    // yaml-rust2's scanner reads ahead (a `[` may start a
                    // key) and stops at 255 open flow collections: the
                    // same bound, hit before the parser's events show it.
                    if e.info() == "recursion limit exceeded" {
                        return Err(too_deep(&index, pos, current_path(&stack)));
                    }
                    return Err(BuildError::Yaml(index.diagnostic(
                        pos,
                        current_path(&stack),
                        format!("YAML syntax error: {}", e.info()),
                    )));
                }
            };
            let pos = Pos::from_marker(&mark);
            if !done {
                if let Event::Scalar(_, _, _, Some(tag))
                | Event::SequenceStart(_, Some(tag))
                | Event::MappingStart(_, Some(tag)) = &event
                {
                    // The event is marked at the value after the tag (for a
                    // block collection, on a later line): point at the tag.
                    let at = tag_start(text, mark.index()).unwrap_or(pos);
                    return Err(BuildError::Refused(SuiteError::Type(index.diagnostic(
                        at,
                        next_path(&stack),
                        format!(
                            "YAML tags are not supported (found {}); write the value without a tag, its type comes from the field",
                            show_tag(tag)
                        ),
                    ))));
                }
                if matches!(event, Event::SequenceStart(..) | Event::MappingStart(..)) {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(too_deep(&index, pos, next_path(&stack)));
                    }
                } else if matches!(event, Event::SequenceEnd | Event::MappingEnd) {
                    depth = depth.saturating_sub(1);
                }
            }
            match event {
                Event::StreamEnd => break,
                Event::DocumentEnd => done = true,
                Event::DocumentStart if done => {
                    index.second_document.get_or_insert(pos);
                }
                _ if done => {}
                Event::Nothing | Event::StreamStart | Event::DocumentStart => {}
                Event::Scalar(text, style, _, _) => {
                    let plain = style == TScalarStyle::Plain;
                    index.node(&mut stack, pos, NodeKind::Scalar { text, plain });
                }
                Event::Alias(_) => {
                    index.node(&mut stack, pos, NodeKind::Alias);
                }
                Event::MappingStart(..) => {
                    if let Some(path) = index.node(&mut stack, pos, NodeKind::Mapping) {
                        stack.push(Frame::Map {
                            path,
                            key: None,
                            seen_key: false,
                        });
                    } else {
                        bump_skip(&mut stack);
                    }
                }
                Event::SequenceStart(..) => {
                    if let Some(path) = index.node(&mut stack, pos, NodeKind::Sequence(0)) {
                        stack.push(Frame::Seq { path, next: 0 });
                    } else {
                        bump_skip(&mut stack);
                    }
                }
                Event::MappingEnd | Event::SequenceEnd => match stack.pop() {
                    Some(Frame::Skip(depth)) if depth > 1 => stack.push(Frame::Skip(depth - 1)),
                    Some(Frame::Seq { path, next }) => {
                        if let Some(n) = index.nodes.get_mut(&path) {
                            n.kind = NodeKind::Sequence(next);
                        }
                    }
                    _ => {}
                },
            }
        }
        Ok(index)
    }

    /// Records one node; returns its path when the node opens a collection
    /// whose children should be indexed (`None`: it is being skipped).
    fn node(&mut self, stack: &mut Vec<Frame>, pos: Pos, kind: NodeKind) -> Option<String> {
        let is_collection = matches!(kind, NodeKind::Mapping | NodeKind::Sequence(_));
        let (path, key) = match stack.last_mut() {
            None => (String::new(), None),
            Some(Frame::Skip(_)) => return None,
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                (p, None)
            }
            Some(Frame::Map {
                path,
                key: key @ None,
                seen_key,
            }) => {
                let parent = path.clone();
                let first = !*seen_key;
                *seen_key = true;
                let name = match &kind {
                    NodeKind::Scalar { text, .. } => text.clone(),
                    _ => "?".to_owned(),
                };
                *key = Some((name, pos));
                // A block mapping's start mark lies after its first key; the
                // first key is where a reader sees the mapping begin.
                if first
                    && let Some(n) = self.nodes.get_mut(&parent)
                    && pos < n.pos
                {
                    n.pos = pos;
                }
                if is_collection {
                    stack.push(Frame::Skip(0));
                }
                return None;
            }
            Some(Frame::Map { path, key, .. }) => {
                let (name, key_pos) = key.take().unwrap_or_else(|| ("?".to_owned(), pos));
                (child(path, &name), Some(key_pos))
            }
        };
        // `key:` with nothing after it: the parser marks the next token,
        // often on a later line; the key is where the reader should look.
        let pos = match (&kind, key) {
            (NodeKind::Scalar { text, plain: true }, Some(k)) if text.is_empty() => k,
            _ => pos,
        };
        if self.nodes.contains_key(&path) {
            self.duplicates
                .entry(path.clone())
                .or_insert(key.unwrap_or(pos));
        } else {
            self.nodes.insert(path.clone(), Node { pos, key, kind });
        }
        is_collection.then_some(path)
    }

    /// A diagnostic at `pos` in this index's file.
    pub(crate) fn diagnostic(
        &self,
        pos: Pos,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
            field: field.into(),
            message: message.into(),
        }
    }

    /// The file this index was built from.
    #[must_use]
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Where a second YAML document starts (a suite file holds one).
    #[must_use]
    pub fn second_document(&self) -> Option<Pos> {
        self.second_document
    }

    /// The node at exactly `path`.
    #[must_use]
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Where the second occurrence of a repeated key is.
    #[must_use]
    pub fn duplicate(&self, path: &str) -> Option<Pos> {
        self.duplicates.get(path).copied()
    }

    /// Position of the value at `path`, else of its nearest indexed ancestor
    /// (a defaulted field points at the mapping that omits it).
    #[must_use]
    pub fn locate(&self, path: &str) -> Pos {
        let mut p = Some(path);
        while let Some(cur) = p {
            if let Some(n) = self.nodes.get(cur) {
                return n.pos;
            }
            p = parent_path(cur);
        }
        Pos::START
    }

    /// Position of the key of `path` if it has one, else as [`Self::locate`].
    #[must_use]
    pub fn locate_key(&self, path: &str) -> Pos {
        match self.nodes.get(path) {
            Some(Node { key: Some(k), .. }) => *k,
            _ => self.locate(path),
        }
    }
}

/// A collection key was opened: its own nesting is skipped too.
fn bump_skip(stack: &mut [Frame]) {
    if let Some(Frame::Skip(depth)) = stack.last_mut() {
        *depth += 1;
    }
}

/// Nesting deeper than [`MAX_DEPTH`], found at `pos` on `field`.
fn too_deep(index: &PathIndex, pos: Pos, field: String) -> BuildError {
    BuildError::Refused(SuiteError::Syntax(index.diagnostic(
        pos,
        field,
        format!(
            "lists and mappings nested deeper than {MAX_DEPTH} levels; a suite needs fewer than 10"
        ),
    )))
}

/// Where the tag before character `index` of `text` starts: the last `!`
/// before it, back to the whitespace or flow indicator that opens the tag
/// token (`!!str`, `!e!x`, `!<tag:x>`).
fn tag_start(text: &str, index: usize) -> Option<Pos> {
    let before: Vec<char> = text.chars().take(index).collect();
    let bang = before.iter().rposition(|&c| c == '!')?;
    let start = before[..bang]
        .iter()
        .rposition(|&c| c.is_whitespace() || matches!(c, '[' | '{' | ','))
        .map_or(0, |i| i + 1);
    let prefix: String = before[..start].iter().collect();
    let (line, column) = crate::position::end_position(&prefix);
    Some(Pos { line, column })
}

/// A tag as written: `!!str` for the YAML core schema's, else handle and
/// suffix (`!custom`, `!<tag:x>`).
fn show_tag(tag: &Tag) -> String {
    if tag.handle == "tag:yaml.org,2002:" {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

/// The path the next node read will have: a list's next item, a mapping's
/// value (a key is reported at its mapping).
fn next_path(stack: &[Frame]) -> String {
    match stack.last() {
        Some(Frame::Seq { path, next }) => format!("{path}[{next}]"),
        _ => current_path(stack),
    }
}

/// The innermost path being read, for syntax errors.
fn current_path(stack: &[Frame]) -> String {
    for frame in stack.iter().rev() {
        match frame {
            Frame::Skip(_) => {}
            Frame::Seq { path, .. } => return path.clone(),
            Frame::Map {
                path,
                key: Some((k, _)),
                ..
            } => return child(path, k),
            Frame::Map { path, .. } => return path.clone(),
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(text: &str) -> PathIndex {
        PathIndex::build(text, Path::new("t.yaml")).expect("valid YAML")
    }

    #[test]
    fn block_and_flow_positions() {
        let ix = index("a: 1\nb:\n  c: [x, {d: 2}]\nlist:\n  - k: v\n    j: w\n");
        assert_eq!(ix.locate("a"), Pos { line: 1, column: 4 });
        assert_eq!(ix.locate_key("a"), Pos { line: 1, column: 1 });
        assert_eq!(ix.locate("b"), Pos { line: 3, column: 3 });
        assert_eq!(ix.locate("b.c"), Pos { line: 3, column: 6 });
        assert_eq!(
            ix.locate("b.c[1]"),
            Pos {
                line: 3,
                column: 10
            }
        );
        assert_eq!(
            ix.locate("b.c[1].d"),
            Pos {
                line: 3,
                column: 14
            }
        );
        assert_eq!(ix.locate("list[0]"), Pos { line: 5, column: 5 });
        assert_eq!(ix.locate("list[0].j"), Pos { line: 6, column: 8 });
        assert_eq!(ix.get("b.c").map(|n| &n.kind), Some(&NodeKind::Sequence(2)));
    }

    #[test]
    fn missing_paths_fall_back_to_ancestors() {
        let ix = index("a:\n  b: 1\n");
        assert_eq!(ix.locate("a.zz[3].y"), Pos { line: 2, column: 3 });
        assert_eq!(ix.locate("nothing"), Pos { line: 1, column: 1 });
    }

    #[test]
    fn complex_keys_are_skipped_and_duplicates_recorded() {
        let ix = index("? [a, b]\n: 1\nx: 1\nx: 2\n");
        assert_eq!(ix.locate("x"), Pos { line: 3, column: 4 });
        assert_eq!(ix.duplicate("x"), Some(Pos { line: 4, column: 1 }));
        assert!(ix.get("?").is_some());
    }

    #[test]
    fn syntax_error_names_the_path() {
        let e = PathIndex::build("a:\n  b: [1, 2\n", Path::new("t.yaml")).expect_err("unclosed");
        let d = e.diagnostic().expect("located");
        assert_eq!(d.field, "a.b");
        assert!(d.message.starts_with("YAML syntax error"), "{d}");
    }
}
