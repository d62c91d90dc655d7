//! The nightly index page, `reports/index.html`: a summary line, the
//! regressions, one row per suite (verdict badge, key figures, sparkline,
//! link to its report) and a legend of the columns ([`render_index`]), saved
//! atomically by [`write_index`].
use std::{
    cmp::Ordering,
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    path::{Component, Path},
};

use super::{
    history::{NightEntry, SuiteOutcome, key_figures},
    regressions::{Regression, RegressionKind, Severity},
    sparkline::{Point, main_figure, night_points, sparkline},
};
use crate::{
    compare::CompareSummary,
    fmt::{cmp_nights, escape, figure_count, figure_pct, fixed, id_safe},
    record::{RunRecord, Verdict},
    write::{HTML_FILE, ReportError},
};

/// Renders the overview page: a summary line, the regressions, then one row
/// per suite (sorted by name) with its verdict, key figures, a sparkline of
/// its main figure over past nights and tonight, and a link to its report.
/// `history` may or may not already hold tonight's entries.
pub fn render_index(
    outcomes: &[SuiteOutcome],
    history: &[NightEntry],
    regressions: &[Regression],
    title: &str,
) -> String {
    render_index_with(outcomes, history, regressions, &[], title)
}

/// [`render_index`] with a section listing tonight's comparisons
/// (`svclab compare` / suites with a `matrix`): each engine's verdict
/// linking to its report, and the comparison page.
pub fn render_index_with(
    outcomes: &[SuiteOutcome],
    history: &[NightEntry],
    regressions: &[Regression],
    compares: &[CompareSummary],
    title: &str,
) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
        escape(title),
        escape(title)
    );
    let mut sorted: Vec<&SuiteOutcome> = outcomes.iter().collect();
    sorted.sort_by(|a, b| {
        a.suite().cmp(b.suite()).then_with(|| match (a, b) {
            (SuiteOutcome::Ran { record: x, .. }, SuiteOutcome::Ran { record: y, .. }) => {
                cmp_nights(&x.started_at, &y.started_at)
            }
            _ => Ordering::Equal,
        })
    });
    summary_line(&mut out, &sorted);
    regressions_section(&mut out, regressions);
    compares_section(&mut out, compares);
    suites_table(&mut out, &sorted, history, regressions);
    legend(&mut out);
    out.push_str(
        "<footer>Rendered by svclab-report from the nightly's run records and history; \
         every figure is derived from a saved run.json.</footer>\n</main>\n</body>\n</html>\n",
    );
    out
}

/// Writes `reports_dir/index.html` atomically (temporary file, fsync,
/// rename, fsync of the folder), creating the folder if needed.
pub fn write_index(reports_dir: &Path, html: &str) -> Result<(), ReportError> {
    fs::create_dir_all(reports_dir).map_err(|source| ReportError::Io {
        op: "creating reports folder",
        path: reports_dir.to_owned(),
        source,
    })?;
    crate::write::write_atomic(&reports_dir.join(HTML_FILE), html.as_bytes())
}

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0; color: #222; background: #fafafa; }
main { max-width: 1360px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 26px; margin: 8px 0 6px; }
h2 { font-size: 20px; margin: 28px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.summary { font-size: 17px; margin: 4px 0 2px; }
.summary b { font-variant-numeric: tabular-nums; }
.sub { color: #555; margin: 2px 0 12px; font-size: 14px; }
.badge { display: inline-block; min-width: 6.5em; text-align: center; font-weight: 800; font-size: 13px; letter-spacing: 0.04em; padding: 3px 8px; border-radius: 5px; border: 2px solid transparent; }
.badge.pass { background: #0072b2; color: #fff; }
.badge.fail { background: #d55e00; color: #fff; }
.badge.interrupted { background: #fff; color: #7a4f00; border-color: #e69f00; border-style: dashed; }
.badge.error { background: #cc79a7; color: #000; }
.badge.broken { background: #000; color: #fff; }
.badge.critical { background: #d55e00; color: #fff; min-width: 6em; }
.badge.warning { background: #f0e442; color: #000; min-width: 6em; }
ul.regressions { list-style: none; padding: 0; margin: 0; }
ul.regressions li { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 6px 10px; margin: 4px 0; }
p.none { background: #fff; border: 1px solid #ddd; border-left: 4px solid #0072b2; padding: 8px 12px; margin: 0; }
table { border-collapse: collapse; background: #fff; font-size: 14px; width: 100%; }
th, td { border: 1px solid #ddd; padding: 5px 8px; text-align: left; vertical-align: middle; }
th { background: #f0f0f0; font-size: 13px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.regressed { background: #fbe3d3; font-weight: 700; }
td.suite { white-space: nowrap; } td.suite a { font-weight: 700; }
td.undef { color: #999; text-align: center; white-space: nowrap; }
.broken-error { white-space: pre-wrap; font-family: ui-monospace, 'DejaVu Sans Mono', monospace; font-size: 12px; background: #f4f4f4; border-left: 4px solid #000; padding: 6px 8px; margin: 0; }
.spark { display: block; }
.spark-cap { color: #666; font-size: 11px; white-space: nowrap; }
dl.legend { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; font-size: 13px; color: #444; }
dl.legend dt { font-weight: 700; } dl.legend dd { margin: 0; }
footer { color: #888; font-size: 12px; margin-top: 32px; }
";

/// A figure's column: key, header (HTML), formatter.
type Column = (&'static str, &'static str, fn(f64) -> String);

/// The columns of the figures, in order.
const COLUMNS: &[Column] = &[
    ("duration_s", "duration", |v| format!("{} s", fixed(v, 1))),
    ("imbalance", "imbalance<br>max/min", |v| fixed(v, 2)),
    ("new_backend_share", "new-backend<br>share", figure_pct),
    ("jain", "Jain", |v| fixed(v, 3)),
    ("p99_ms", "p99<br>(worst s)", |v| {
        format!("{} ms", fixed(v, 2))
    }),
    ("errors", "errors", figure_count),
    ("error_rate", "error<br>rate", figure_pct),
    ("min_ready", "min<br>ready", figure_count),
    ("restarts", "restarts", figure_count),
];

fn summary_line(out: &mut String, outcomes: &[&SuiteOutcome]) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut starts: Vec<&str> = Vec::new();
    for o in outcomes {
        let key = match o {
            SuiteOutcome::Ran { record, .. } => {
                starts.push(&record.started_at);
                match record.verdict {
                    Verdict::Pass => "passed",
                    Verdict::Fail => "failed",
                    Verdict::Interrupted => "interrupted",
                    Verdict::Error => "errored",
                }
            }
            SuiteOutcome::Broken { .. } => "broken",
        };
        *counts.entry(key).or_default() += 1;
    }
    let n = |k: &str| counts.get(k).copied().unwrap_or(0);
    let mut parts = vec![
        format!("<b>{}</b> passed", n("passed")),
        format!("<b>{}</b> failed", n("failed")),
    ];
    for k in ["interrupted", "errored"] {
        if n(k) > 0 {
            parts.push(format!("<b>{}</b> {k}", n(k)));
        }
    }
    parts.push(format!("<b>{}</b> broken", n("broken")));
    let _ = writeln!(
        out,
        "<p class=\"summary\" id=\"summary\"><b>{}</b> suite{}: {}</p>",
        outcomes.len(),
        if outcomes.len() == 1 { "" } else { "s" },
        parts.join(", ")
    );
    starts.sort_by(|a, b| cmp_nights(a, b));
    match (starts.first(), starts.last()) {
        (Some(a), Some(b)) if a != b => {
            let _ = writeln!(
                out,
                "<p class=\"sub\">Tonight's runs started {} … {}.</p>",
                escape(a),
                escape(b)
            );
        }
        (Some(a), _) => {
            let _ = writeln!(
                out,
                "<p class=\"sub\">Tonight's run started {}.</p>",
                escape(a)
            );
        }
        _ => {}
    }
}

fn regressions_section(out: &mut String, regressions: &[Regression]) {
    out.push_str("<h2 id=\"regressions\">Regressions since the previous night</h2>\n");
    if regressions.is_empty() {
        out.push_str("<p class=\"none\">No regressions.</p>\n");
        return;
    }
    let mut sorted: Vec<&Regression> = regressions.iter().collect();
    sorted.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.suite.cmp(&b.suite)));
    out.push_str("<ul class=\"regressions\">\n");
    for r in sorted {
        let class = match r.severity {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        };
        let _ = writeln!(
            out,
            "<li class=\"regression\"><span class=\"badge {class}\">{}</span> \
             <a href=\"#suite-{}\"><b>{}</b></a>: {}</li>",
            r.severity.word(),
            escape(&id_safe(&r.suite)),
            escape(&r.suite),
            escape(&r.what)
        );
    }
    out.push_str("</ul>\n");
}

fn suites_table(
    out: &mut String,
    outcomes: &[&SuiteOutcome],
    history: &[NightEntry],
    regressions: &[Regression],
) {
    out.push_str("<h2 id=\"suites\">Suites</h2>\n");
    if outcomes.is_empty() {
        out.push_str("<p>No suites ran.</p>\n");
        return;
    }
    out.push_str("<table>\n<tr><th>suite</th><th>verdict</th>");
    for (_, header, _) in COLUMNS {
        let _ = write!(out, "<th>{header}</th>");
    }
    out.push_str("<th>trend over nights</th><th>report</th></tr>\n");
    for outcome in outcomes {
        let suite = outcome.suite();
        let past: Vec<&NightEntry> = history.iter().filter(|e| e.suite == suite).collect();
        let _ = write!(
            out,
            "<tr class=\"suite-row\" id=\"suite-{}\"><td class=\"suite\">",
            escape(&id_safe(suite))
        );
        match outcome {
            SuiteOutcome::Ran { record, report_dir } => {
                let link = report_link(record, report_dir);
                let _ = write!(
                    out,
                    "<a href=\"{}\">{}</a></td><td>{}</td>",
                    escape(&link),
                    escape(suite),
                    badge(verdict_class(record.verdict), record.verdict.word())
                );
                let figures = key_figures(record);
                for (key, _, fmt) in COLUMNS {
                    let regressed = regressions.iter().any(|r| {
                        r.suite == suite
                            && matches!(&r.kind, RegressionKind::Figure { figure, .. } if figure == key)
                    });
                    match figures.get(*key) {
                        Some(v) if regressed => {
                            let _ = write!(
                                out,
                                "<td class=\"num regressed\" title=\"worse than the previous night\">▲ {}</td>",
                                escape(&fmt(*v))
                            );
                        }
                        Some(v) => {
                            let _ = write!(out, "<td class=\"num\">{}</td>", escape(&fmt(*v)));
                        }
                        None => out.push_str(
                            "<td class=\"undef\" title=\"undefined for this run\">—</td>",
                        ),
                    }
                }
                let main = main_figure(record.last_scale_up_s().is_some());
                let mut points = night_points(&past, main.0, Some(&record.started_at));
                points.push(Point {
                    night: record.started_at.clone(),
                    value: figures.get(main.0).copied(),
                    verdict: Some(record.verdict),
                    tonight: true,
                });
                let _ = writeln!(
                    out,
                    "<td>{}</td><td><a href=\"{}\">report</a></td></tr>",
                    sparkline(main, &points),
                    escape(&link)
                );
            }
            SuiteOutcome::Broken { path, error, .. } => {
                // Load errors usually start with the file's name already.
                let text = if error.contains(path.as_str()) {
                    error.clone()
                } else {
                    format!("{path}: {error}")
                };
                let _ = write!(
                    out,
                    "{}</td><td>{}</td><td colspan=\"{}\"><pre class=\"broken-error\">{}</pre></td>",
                    escape(suite),
                    badge("broken", "BROKEN"),
                    COLUMNS.len(),
                    escape(&text)
                );
                let last = past.iter().max_by(|a, b| cmp_nights(&a.night, &b.night));
                let main =
                    main_figure(last.is_some_and(|e| e.figures.contains_key("new_backend_share")));
                let mut points = night_points(&past, main.0, None);
                points.push(Point {
                    night: "tonight".into(),
                    value: None,
                    verdict: None,
                    tonight: true,
                });
                let _ = writeln!(
                    out,
                    "<td>{}</td><td class=\"undef\">no report</td></tr>",
                    sparkline(main, &points)
                );
            }
        }
    }
    out.push_str("</table>\n");
}

fn legend(out: &mut String) {
    out.push_str(
        "<h2 id=\"figures\">What the columns mean</h2>\n<dl class=\"legend\">\n\
         <dt>duration</dt><dd>seconds the run actually ran (shorter when interrupted)</dd>\n\
         <dt>imbalance</dt><dd>max / min responses over the backends alive through the window from the last scale-up \
         to the end (the whole run without one); ∞ when one of them served nothing; 1 is even</dd>\n\
         <dt>new-backend share</dt><dd>share of responses from the pods the last scale-up added, from it to the end \
         (only with a scale-up; not judged, its meaning depends on the suite)</dd>\n\
         <dt>Jain</dt><dd>Jain's fairness index over the same backends and window: 1 is perfectly even, \
         1/n one backend taking everything</dd>\n\
         <dt>p99</dt><dd>the worst one-bucket p99 latency of the run</dd>\n\
         <dt>errors, error rate</dt><dd>client errors of every kind, and their share of requests sent</dd>\n\
         <dt>min ready</dt><dd>the fewest ready pods in any time bucket (for runs recorded without pod \
         telemetry, the fewest backends alive through any bucket)</dd>\n\
         <dt>restarts</dt><dd>container restarts of every pod over the run (not judged: a probe-cascade suite \
         expects them)</dd>\n\
         <dt>trend</dt><dd>the suite's main figure (new-backend share when it scales up, else imbalance) over past \
         nights and tonight (ringed); round dots passed, squares did not pass, triangles at the top are ∞</dd>\n\
         <dt>▲</dt><dd>worse than the previous night by more than the suite's threshold (20% unless the suite \
         sets one)</dd>\n</dl>\n",
    );
}

/// One row per comparison: the suite, each engine's verdict (linking to
/// its report) and the comparison page.
fn compares_section(out: &mut String, compares: &[CompareSummary]) {
    if compares.is_empty() {
        return;
    }
    out.push_str("<h2>Comparisons</h2>\n<table class=\"compares\">\n<tr><th>suite</th><th>engines</th><th>page</th></tr>\n");
    for c in compares {
        let engines: Vec<String> = c
            .engines
            .iter()
            .map(|e| {
                format!(
                    "<a href=\"{}/index.html\">{}</a> {}",
                    escape(&e.report_dir),
                    escape(&e.label),
                    badge(verdict_class(e.verdict), e.verdict.word())
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td><a href=\"{}/index.html\">comparison</a></td></tr>",
            escape(&c.suite),
            engines.join(" · "),
            escape(&c.dir)
        );
    }
    out.push_str("</table>\n");
}

fn badge(class: &str, word: &str) -> String {
    format!("<span class=\"badge {class}\">{word}</span>")
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Interrupted => "interrupted",
        Verdict::Error => "error",
    }
}

/// `report_dir/index.html` with `/` separators when `report_dir` is a plain
/// relative path, else `<suite>/<run-id>/index.html`.
fn report_link(record: &RunRecord, report_dir: &Path) -> String {
    let relative: Option<Vec<String>> = report_dir
        .components()
        .map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let mut parts = match relative {
        Some(p) if !p.is_empty() => p,
        _ => vec![record.suite.name.clone(), record.run_id.clone()],
    };
    parts.push(HTML_FILE.into());
    parts
        .iter()
        .map(|p| percent_encode(p))
        .collect::<Vec<_>>()
        .join("/")
}

/// Percent-encodes what a relative URL path segment cannot hold as is.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_and_encoded() {
        let rec = crate::sample::incident_a(false);
        assert_eq!(
            report_link(&rec, Path::new("ct-reuse-legacy/20260101-120000-a3f9")),
            "ct-reuse-legacy/20260101-120000-a3f9/index.html"
        );
        assert_eq!(
            report_link(&rec, Path::new("/abs/elsewhere")),
            "ct-reuse-legacy/20260101-120000-a3f9/index.html"
        );
        assert_eq!(
            report_link(&rec, Path::new("a b/r#1")),
            "a%20b/r%231/index.html"
        );
    }
}
