//! What the mapping stages share while they run: which fields of each
//! object they used, why the ones they saw do not map, and notes for the
//! suite's header. `unmapped` reads it at the end.
/// What the mapping stages share: which fields of each object they used,
/// the reasons for fields they saw and could not map, and notes for the
/// suite's header.
#[derive(Debug, Default)]
pub(crate) struct Context {
    /// (object index, path) of every field a stage mapped.
    pub(crate) used: std::collections::BTreeSet<(usize, String)>,
    /// (object index, path) → why it does not map.
    pub(crate) why: std::collections::BTreeMap<(usize, String), String>,
    /// Whole objects not mapped: object index → why.
    pub(crate) objects: std::collections::BTreeMap<usize, String>,
    /// (object index, path, why): losses on fields a stage did use (a
    /// selector that matches two workloads, LoadBalancer as NodePort).
    pub(crate) warnings: Vec<(usize, String, String)>,
    /// Header notes (how something was mapped, not a loss).
    pub(crate) notes: Vec<String>,
}

impl Context {
    /// Marks `path` of object `i` as mapped.
    pub(crate) fn used(&mut self, i: usize, path: impl Into<String>) {
        self.used.insert((i, path.into()));
    }
    /// Records why `path` of object `i` does not map.
    pub(crate) fn why(&mut self, i: usize, path: impl Into<String>, why: impl Into<String>) {
        self.why.insert((i, path.into()), why.into());
    }
    /// Records that object `i` is not mapped at all.
    pub(crate) fn object_note(&mut self, i: usize, why: &str) {
        self.objects.insert(i, why.to_owned());
    }
    /// Lists a loss on `path` of object `i` even though it was used.
    pub(crate) fn warn(&mut self, i: usize, path: impl Into<String>, why: impl Into<String>) {
        self.warnings.push((i, path.into(), why.into()));
    }
    pub(crate) fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }
}
