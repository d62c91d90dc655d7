//! The `expect` section: each expectation names a known metric, a window
//! inside the run and at least one finite bound.
use std::time::Duration;

use super::checker::Checker;
use crate::{
    expected::{BOUND, WINDOW},
    model::{EngineChoice, Expectation, METRICS, Suite},
};

const ENGINE_LABEL: &str = "an engine label: `ebpf`, `ebpf:<profile>` (e.g. `ebpf:cilium-1.11`) `kube-proxy-iptables`, `kube-proxy-nftables` or `socket-lb`";

/// The `matrix` section: known, distinct engine labels.
pub(super) fn matrix(c: &mut Checker<'_>, suite: &Suite) {
    let Some(m) = &suite.matrix else {
        return;
    };
    if m.engines.len() < 2 {
        c.fail(
            "matrix.engines",
            format!(
                "expected at least 2 engines to compare, got {}",
                m.engines.len()
            ),
        );
    }
    for (i, l) in m.engines.iter().enumerate() {
        let p = format!("matrix.engines[{i}]");
        match EngineChoice::parse(l) {
            None => c.fail(&p, format!("expected {ENGINE_LABEL}, got `{l}`")),
            Some(e)
                if m.engines[..i]
                    .iter()
                    .any(|x| EngineChoice::parse(x) == Some(e)) =>
            {
                c.fail(&p, format!("`{l}` is listed twice"));
            }
            Some(e) => {
                // A Service feature the engine's release lacks.
                let under = crate::engines::for_engine(suite, e);
                for (field, m) in
                    super::services::unsupported_features(&under.services, &under.datapath)
                {
                    c.fail(&p, format!("under `{l}`, {field}: {m}"));
                }
            }
        }
    }
}

/// `dur` is the suite duration, or [`Duration::MAX`] while it is invalid.
pub(super) fn check(c: &mut Checker<'_>, suite: &Suite, dur: Duration) {
    for (i, x) in suite.expect.iter().enumerate() {
        expectation(c, &format!("expect[{i}]"), x, suite, dur);
    }
}

fn expectation(c: &mut Checker<'_>, p: &str, x: &Expectation, suite: &Suite, dur: Duration) {
    if !METRICS.contains(&x.metric.as_str()) {
        c.fail(
            &format!("{p}.metric"),
            format!(
                "unknown metric `{}`{}; expected one of {}",
                x.metric,
                crate::suggest::hint(&x.metric, METRICS.iter().copied()),
                METRICS.join(", ")
            ),
        );
    }
    for (i, l) in x.engines.iter().enumerate() {
        if EngineChoice::parse(l).is_none() {
            c.fail(
                &format!("{p}.engines[{i}]"),
                format!("expected {ENGINE_LABEL}, got `{l}`"),
            );
        }
    }
    if let Some([from, to]) = x.window {
        let wp = format!("{p}.window");
        c.expect(from < to, &wp, WINDOW, format!("[{from}, {to}]"));
        c.expect(
            to.0 <= dur,
            &format!("{wp}[1]"),
            &format!("an end at most the suite duration {}", suite.duration),
            to,
        );
    }
    for (key, v) in [("min", x.min), ("max", x.max)] {
        if let Some(v) = v {
            c.expect(v.is_finite(), &format!("{p}.{key}"), BOUND, v);
        }
    }
    match (x.min, x.max) {
        (None, None) => c.fail(p, "expected at least one of `min` or `max`".to_owned()),
        (Some(lo), Some(hi)) if lo > hi => c.fail(
            &format!("{p}.max"),
            format!("expected max >= min ({lo}), got {hi}"),
        ),
        _ => {}
    }
}
