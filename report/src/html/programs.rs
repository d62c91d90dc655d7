//! The report's "Programs" section: what per-backend shares count, each
//! real program the run ran (command, where its output went, the generated
//! nginx.conf), and each client proxy's access log set against the
//! datapath's new connections per backend.
use std::fmt::Write as _;

use crate::{
    chart::topn::top_backends,
    fmt::{count, escape},
    record::RunRecord,
};

/// Renders the section; nothing for a run without real programs.
pub(super) fn programs(out: &mut String, rec: &RunRecord) {
    if rec.programs.is_empty() && rec.access_logs.is_empty() {
        return;
    }
    out.push_str("<h2 id=\"programs\">Programs</h2>\n");
    let _ = writeln!(
        out,
        "<p class=\"sub\">Per-backend shares count {}.</p>",
        escape(rec.share_basis.words())
    );
    if !rec.programs.is_empty() {
        out.push_str(
            "<table>\n<tr><th>who</th><th>runs</th><th>command</th><th>output</th></tr>\n",
        );
        for p in &rec.programs {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                escape(&p.owner),
                escape(&p.kind),
                escape(&p.command.join(" ")),
                escape(&p.logs)
            );
        }
        out.push_str("</table>\n");
    }
    for p in &rec.programs {
        if let (Some(path), Some(text)) = (&p.config_path, &p.config) {
            let _ = writeln!(
                out,
                "<h3>{} ({}): <code>{}</code></h3>\n<pre class=\"yaml\">{}</pre>",
                escape(&p.owner),
                escape(&p.kind),
                escape(path),
                escape(text)
            );
        }
    }
    for a in &rec.access_logs {
        let _ = writeln!(
            out,
            "<h3>Access log of client {} <code>{}</code></h3>\n<p class=\"sub\">{} requests, {} upstream attempts, {} answered 5xx, {} without a backend's X-Pod.</p>",
            escape(&a.client),
            escape(&a.path),
            count(a.requests),
            count(a.upstream_attempts),
            count(a.status_5xx),
            count(a.unattributed)
        );
        out.push_str(
            "<table>\n<tr><th>backend</th><th>requests (access log)</th><th>new connections (datapath)</th><th>difference</th></tr>\n",
        );
        // Many backends: the top ones, then one row for the others.
        let top = top_backends(rec);
        let mut rows: Vec<(String, u64, u64)> = Vec::new();
        for b in top
            .as_ref()
            .map_or_else(|| rec.backend_names(), |t| t.shown.clone())
        {
            let log = a.by_backend.get(&b).copied().unwrap_or(0);
            let dp = rec.datapath.backends.get(&b).map_or(0, |c| c.connections);
            rows.push((escape(&b), log, dp));
        }
        if let Some(t) = &top {
            let log = t.others.iter().filter_map(|b| a.by_backend.get(b)).sum();
            let dp = t
                .others
                .iter()
                .filter_map(|b| rec.datapath.backends.get(b))
                .map(|c| c.connections)
                .sum();
            rows.push((format!("others ({} backends)", t.others.len()), log, dp));
        }
        for (b, log, dp) in rows {
            let diff = if log.max(dp) == 0 {
                "–".to_owned()
            } else {
                format!(
                    "{:.2}%",
                    (dp as f64 - log as f64).abs() / log.max(dp) as f64 * 100.0
                )
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{diff}</td></tr>",
                b,
                count(log),
                count(dp)
            );
        }
        out.push_str("</table>\n");
    }
}
