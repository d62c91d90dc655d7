//! A suite under one dataplane engine: the one place that turns a suite
//! into its run under an engine of its matrix ([`for_engine`]: engine and
//! profile set, the name suffixed, the expectations of other engines
//! dropped), and the expectations a suite keeps when run by itself.
use crate::model::{EngineChoice, EngineSpec, Suite};

/// The engine a suite runs under by itself: its engine, and for eBPF its
/// profile.
pub fn own_engine(suite: &Suite) -> EngineChoice {
    EngineChoice {
        engine: suite.datapath.engine,
        profile: (suite.datapath.engine == EngineSpec::Ebpf).then_some(suite.datapath.profile),
    }
}

/// The file-safe form of a label, for names and folders (`:` → `-`).
pub fn label_slug(label: &str) -> String {
    label.replace(':', "-")
}

/// `suite` as run under `choice` by `svclab compare`: named
/// `<suite>.<label>`, the engine (and profile) set, only the expectations
/// that apply to it.
pub fn for_engine(suite: &Suite, choice: EngineChoice) -> Suite {
    let mut s = suite.clone();
    s.name = format!("{}.{}", suite.name, label_slug(&choice.label()));
    s.datapath.engine = choice.engine;
    if let Some(p) = choice.profile {
        s.datapath.profile = p;
    }
    s.expect.retain(|e| choice.matches(&e.engines));
    s.matrix = None;
    s
}

/// The expectations a suite applies when run by itself (`svclab run`).
pub fn own_expectations(suite: &mut Suite) {
    let own = own_engine(suite);
    suite.expect.retain(|e| own.matches(&e.engines));
}
