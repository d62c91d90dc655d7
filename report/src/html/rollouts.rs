//! The report's rolling-update parts: per rollout its old-vs-new
//! ReplicaSet chart and the client errors by kind under it (charts), and
//! in the summary each rollout's figures and the pods that got SIGTERM
//! with the connections the datapath still sent them afterwards.
use std::fmt::Write as _;

use super::figure;
use crate::{
    chart::Frame,
    derive::{metric, rollouts::rollout_end},
    fmt::{escape, secs},
    record::RunRecord,
};

/// The charts: one per rollout, then the errors by kind.
pub(super) fn figures(out: &mut String, rec: &RunRecord, frame: &Frame<'_>) {
    if rec.rollouts.is_empty() {
        return;
    }
    out.push_str("<h3 id=\"rollout-charts\">Rolling updates</h3>\n");
    for (i, r) in rec.rollouts.iter().enumerate() {
        figure(out, &format!("rollout-{i}"), &frame.rollout_chart(r));
    }
    figure(out, "error-kinds", &frame.error_kinds_chart());
}

/// The summary tables: rollouts, then traffic after SIGTERM per pod.
pub(super) fn summary(out: &mut String, rec: &RunRecord) {
    let termed: Vec<_> = rec
        .backends
        .iter()
        .filter(|b| b.sigterm_s.is_some())
        .collect();
    if rec.rollouts.is_empty() && termed.is_empty() {
        return;
    }
    if !rec.rollouts.is_empty() {
        out.push_str("<h3 id=\"rollouts\">Rollouts</h3>\n<table>\n<tr><th>deployment</th><th>revision</th><th>strategy</th><th>start</th><th>complete after</th><th>errors during it</th></tr>\n");
        for r in &rec.rollouts {
            let errors = metric(
                rec,
                "errors_during_rollout",
                [r.start_s, rollout_end(rec, r) + 1e-9],
            )
            .map_or("n/a".to_owned(), |e| format!("{e:.0}"));
            let took = r.complete_s.map_or("not complete".to_owned(), |c| {
                format!("{} s", secs(c - r.start_s))
            });
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2} s</td><td>{took}</td><td>{errors}</td></tr>",
                escape(&r.deployment),
                r.revision,
                escape(&r.strategy),
                r.start_s
            );
        }
        out.push_str("</table>\n");
    }
    if !termed.is_empty() {
        out.push_str("<h3 id=\"after-sigterm\">Traffic after SIGTERM</h3>\n<p class=\"sub\">New connections the datapath still sent each pod after kubelet sent it SIGTERM (endpoint propagation lag).</p>\n<table>\n<tr><th>pod</th><th>revision</th><th>SIGTERM at</th><th>removed at</th><th>new connections after SIGTERM</th></tr>\n");
        for b in termed {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{:.2} s</td><td>{}</td><td>{}</td></tr>",
                escape(&b.name),
                b.revision,
                b.sigterm_s.unwrap_or_default(),
                b.removed_s
                    .map_or("—".to_owned(), |r| format!("{} s", secs(r))),
                b.conns_after_sigterm
            );
        }
        out.push_str("</table>\n");
    }
}
