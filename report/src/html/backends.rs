//! The report's backends table: a row per backend (address, deployment,
//! node, lifetime, flags, responses and share, datapath selections, and
//! with pod telemetry its phase at the end and restarts). Above
//! [`crate::chart::topn::TOP_N_ABOVE`] backends: the busiest [`crate::chart::topn::TOP_N`] and
//! one row that sums the others, so a 1000-backend page stays small.
use std::{collections::BTreeMap, fmt::Write as _};

use plotters::style::RGBColor;

use crate::{
    chart::{
        backend_colors, css,
        pods::phase_color,
        topn::{others_css, top_backends, traffic_word},
    },
    derive::responses,
    fmt::{count, escape, opt_pct, secs},
    record::RunRecord,
};

pub(super) fn backends(out: &mut String, rec: &RunRecord) {
    let colors = backend_colors(rec);
    let whole = rec.whole_s();
    let counts = responses(rec, whole);
    let total: u64 = counts.values().sum();
    out.push_str(
        "<h2 id=\"backends\">Backends</h2>\n<table>\n<tr><th>pod</th><th>address</th><th>deployment</th><th>node</th>\
         <th>created (s)</th><th>removed (s)</th><th>flags</th><th>responses</th><th>share</th>\
         <th>datapath selections</th><th>reselections</th>",
    );
    let with_pods = !rec.pods.is_empty();
    if with_pods {
        out.push_str("<th>phase at the end</th><th>restarts</th>");
    }
    out.push_str("</tr>\n");
    let top = top_backends(rec);
    let names = top
        .as_ref()
        .map_or_else(|| rec.backend_names(), |t| t.shown.clone());
    for name in names {
        backend_row(out, rec, &colors, &counts, total, with_pods, &name);
    }
    if let Some(t) = &top {
        others_row(out, rec, &counts, total, with_pods, &t.others);
    }
    out.push_str("</table>\n");
    if let Some(t) = &top {
        let _ = writeln!(
            out,
            "<p class=\"sub\" id=\"backends-top\">The {}; the last row sums the other {}.</p>",
            t.words("backends", traffic_word(rec)),
            t.others.len()
        );
    }
}

/// One backend's row.
fn backend_row(
    out: &mut String,
    rec: &RunRecord,
    colors: &BTreeMap<String, RGBColor>,
    counts: &BTreeMap<String, u64>,
    total: u64,
    with_pods: bool,
    name: &str,
) {
    let name = name.to_string();
    let info = rec.backend(&name);
    let color = colors.get(&name).map_or("#888888".into(), |c| css(*c));
    let mut flags = String::new();
    if let Some(b) = info {
        for (on, class, word) in [
            (b.added_by_last_scale_up, "new", "new"),
            (b.killed, "killed", "killed"),
            (b.replacement, "replacement", "replacement"),
        ] {
            if on {
                let _ = write!(flags, "<span class=\"tag {class}\">{word}</span>");
            }
        }
    } else {
        flags.push_str("<span class=\"tag\">not in the backend list</span>");
    }
    let n = counts.get(&name).copied().unwrap_or(0);
    let dp = rec.datapath.backends.get(&name);
    let _ = writeln!(
        out,
        "<tr><td class=\"pod\"><span class=\"swatch\" style=\"background:{color}\"></span>{}</td><td>{}</td><td>{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{flags}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
        escape(&name),
        info.map_or(String::new(), |b| escape(&b.addr)),
        info.map_or(String::new(), |b| escape(&b.deployment)),
        info.map_or(String::new(), |b| b.node.to_string()),
        info.map_or(String::new(), |b| secs(b.created_s)),
        info.and_then(|b| b.removed_s).map_or("—".into(), secs),
        count(n),
        if total > 0 {
            opt_pct(Some(n as f64 / total as f64))
        } else {
            "—".into()
        },
        dp.map_or("—".into(), |d| count(d.selections)),
        dp.map_or("—".into(), |d| count(d.reselections)),
    );
    if with_pods {
        let pod = rec.pods.iter().find(|p| p.name == name);
        let phase = match pod {
            Some(p) if p.removed_s.is_some() => "gone".to_string(),
            Some(p) => p.phases.last().map_or("—".into(), |c| {
                format!(
                    "<span class=\"swatch\" style=\"background:{}\"></span>{}",
                    css(phase_color(c.phase)),
                    c.phase.word()
                )
            }),
            None => "—".into(),
        };
        let _ = write!(
            out,
            "<td>{phase}</td><td class=\"num\">{}</td>",
            pod.map_or("—".into(), |p| p.restarts.len().to_string())
        );
    }
    out.push_str("</tr>\n");
}

/// The aggregate of the backends a top-N table does not list.
fn others_row(
    out: &mut String,
    rec: &RunRecord,
    counts: &BTreeMap<String, u64>,
    total: u64,
    with_pods: bool,
    others: &[String],
) {
    let set: std::collections::BTreeSet<&str> = others.iter().map(String::as_str).collect();
    let infos: Vec<_> = rec
        .backends
        .iter()
        .filter(|b| set.contains(b.name.as_str()))
        .collect();
    let mut flags = String::new();
    for (n, class, word) in [
        (
            infos.iter().filter(|b| b.added_by_last_scale_up).count(),
            "new",
            "new",
        ),
        (
            infos.iter().filter(|b| b.killed).count(),
            "killed",
            "killed",
        ),
        (
            infos.iter().filter(|b| b.replacement).count(),
            "replacement",
            "replacement",
        ),
    ] {
        if n > 0 {
            let _ = write!(flags, "<span class=\"tag {class}\">{n} {word}</span>");
        }
    }
    let n: u64 = others.iter().filter_map(|o| counts.get(o)).sum();
    let dp: Vec<_> = others
        .iter()
        .filter_map(|o| rec.datapath.backends.get(o))
        .collect();
    let sum = |f: fn(&crate::record::BackendCounters) -> u64| {
        if dp.is_empty() {
            "—".to_string()
        } else {
            count(dp.iter().map(|d| f(d)).sum())
        }
    };
    let removed = infos.iter().filter(|b| b.removed_s.is_some()).count();
    let _ = write!(
        out,
        "<tr class=\"others\"><td class=\"pod\"><span class=\"swatch\" style=\"background:{}\"></span>others ({} backends)</td>\
         <td></td><td></td><td></td><td></td><td class=\"num\">{}</td><td>{flags}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
        others_css(),
        others.len(),
        if removed > 0 {
            format!("{removed} removed")
        } else {
            "—".into()
        },
        count(n),
        if total > 0 {
            opt_pct(Some(n as f64 / total as f64))
        } else {
            "—".into()
        },
        sum(|d| d.selections),
        sum(|d| d.reselections),
    );
    if with_pods {
        let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
        let mut restarts = 0;
        for p in rec.pods.iter().filter(|p| set.contains(p.name.as_str())) {
            let word = match (p.removed_s, p.phases.last()) {
                (Some(_), _) => "gone",
                (None, Some(c)) => c.phase.word(),
                (None, None) => "—",
            };
            *phases.entry(word).or_default() += 1;
            restarts += p.restarts.len();
        }
        let phases: Vec<String> = phases.iter().map(|(w, n)| format!("{n} {w}")).collect();
        let _ = write!(
            out,
            "<td>{}</td><td class=\"num\">{restarts}</td>",
            phases.join(", ")
        );
    }
    out.push_str("</tr>\n");
}
