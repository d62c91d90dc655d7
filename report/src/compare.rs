//! The comparison page `svclab compare` writes: one suite run under several
//! dataplane engines, side by side — per engine its verdict, every
//! expectation, the key figures and the per-backend share chart, all charts
//! on one shared time axis, so the difference is visible at a glance. Like
//! the run report, a pure function of saved run records; `compare.json`
//! ([`CompareSummary`]) lets the nightly index list the comparison.
use std::{fmt::Write as _, path::Path};

use serde::{Deserialize, Serialize};

use crate::{
    chart::Frame,
    fmt::{comparison, escape, expectation_window, num, window},
    index::key_figures,
    record::{RunRecord, Verdict},
    write::{HTML_FILE, ReportError, write_atomic},
};

/// `compare.json` in a comparison's folder.
pub const COMPARE_FILE: &str = "compare.json";

/// One engine's run of the comparison.
#[derive(Clone, Debug)]
pub struct CompareEntry {
    /// The engine label (`ebpf:cilium-1.11`, `kube-proxy-iptables`).
    pub label: String,
    /// The run's report page, relative to the comparison page.
    pub href: String,
    pub record: RunRecord,
}

/// What the index needs of a comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareSummary {
    pub suite: String,
    pub id: String,
    pub started_at: String,
    /// The comparison folder, relative to the reports folder.
    pub dir: String,
    pub engines: Vec<CompareEngine>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareEngine {
    pub label: String,
    pub verdict: Verdict,
    /// The run's report folder, relative to the reports folder.
    pub report_dir: String,
}

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0; color: #222; background: #fafafa; }
main { max-width: 1320px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 26px; margin: 8px 0 2px; }
h2 { font-size: 20px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #555; margin: 0 0 12px; }
table { border-collapse: collapse; background: #fff; font-size: 14px; margin: 4px 0 12px; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { font-weight: 800; color: #fff; padding: 2px 10px; border-radius: 6px; }
.verdict.pass { background: #1a7f37; } .verdict.fail { background: #c62828; }
.verdict.interrupted { background: #b26a00; } .verdict.error { background: #6a1b9a; }
.ok { color: #1a7f37; font-weight: 700; } .bad { color: #c62828; font-weight: 700; }
.chart { background: #fff; border: 1px solid #ddd; border-radius: 6px; margin: 8px 0; padding: 4px; }
.chart svg { display: block; width: 100%; height: auto; }
.engine { margin-bottom: 8px; }
footer { color: #888; font-size: 12px; margin-top: 32px; }
";

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Interrupted => "interrupted",
        Verdict::Error => "error",
    }
}

/// The comparison page of `suite` over `entries` (in the order run).
pub fn render_compare(suite: &str, description: &str, entries: &[CompareEntry]) -> String {
    let mut out = String::with_capacity(256 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>svclab compare · {s}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>svclab compare · {s}</h1>\n<p class=\"sub\">{}</p>\n",
        escape(description),
        s = escape(suite),
    );
    // One x axis for every chart: the longest run.
    let end = entries
        .iter()
        .map(|e| e.record.end_s().max(e.record.bucket_s))
        .fold(1.0, f64::max);
    summary_table(&mut out, entries);
    for e in entries {
        let r = &e.record;
        let _ = write!(
            out,
            "<h2 id=\"engine-{id}\">{l}</h2>\n<div class=\"engine\"><span class=\"verdict {c}\">{w}</span> \
             <a href=\"{h}\">full report</a> · {m}</div>\n",
            id = escape(&e.label.replace(':', "-")),
            l = escape(&e.label),
            c = verdict_class(r.verdict),
            w = r.verdict.word(),
            h = escape(&e.href),
            m = escape(&r.suite.datapath_mode),
        );
        if let Some(err) = &r.error {
            let _ = writeln!(out, "<p class=\"bad\">error: {}</p>", escape(err));
        }
        out.push_str("<table><tr><th>expectation</th><th>window</th><th>measured vs bound</th><th>result</th><th>the suite expects</th></tr>\n");
        for x in &r.expectations {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                escape(&x.metric),
                escape(&expectation_window(x)),
                escape(&comparison(x)),
                if x.pass { "ok" } else { "bad" },
                if x.pass { "PASS" } else { "FAIL" },
                escape(&x.note)
            );
        }
        out.push_str("</table>\n<table><tr>");
        let figs = key_figures(r);
        for k in figs.keys() {
            let _ = write!(out, "<th>{}</th>", escape(k));
        }
        out.push_str("</tr><tr>");
        for v in figs.values() {
            let _ = write!(out, "<td class=\"num\">{}</td>", num(*v));
        }
        out.push_str("</tr></table>\n");
        let frame = Frame::new(r).with_end(end);
        let _ = writeln!(out, "<div class=\"chart\">{}</div>", frame.share_chart());
    }
    out.push_str(
        "<footer>Rendered by svclab-report from each engine's run.json; every figure is \
         derived from a saved run record.</footer>\n</main>\n</body>\n</html>\n",
    );
    out
}

/// Engines as rows, each expectation (metric over window) as a column.
fn summary_table(out: &mut String, entries: &[CompareEntry]) {
    let mut cols: Vec<(String, [f64; 2])> = Vec::new();
    for e in entries {
        for x in &e.record.expectations {
            if !cols.iter().any(|(m, w)| *m == x.metric && *w == x.window_s) {
                cols.push((x.metric.clone(), x.window_s));
            }
        }
    }
    out.push_str("<table class=\"summary\"><tr><th>engine</th><th>verdict</th>");
    for (m, w) in &cols {
        let _ = write!(out, "<th>{}<br>{}</th>", escape(m), window(*w));
    }
    out.push_str("</tr>\n");
    for e in entries {
        let r = &e.record;
        let _ = write!(
            out,
            "<tr><td><a href=\"#engine-{}\">{}</a></td><td><span class=\"verdict {}\">{}</span></td>",
            escape(&e.label.replace(':', "-")),
            escape(&e.label),
            verdict_class(r.verdict),
            r.verdict.word()
        );
        for (m, w) in &cols {
            match r
                .expectations
                .iter()
                .find(|x| x.metric == *m && x.window_s == *w)
            {
                Some(x) => {
                    let _ = write!(
                        out,
                        "<td class=\"num {}\">{}</td>",
                        if x.pass { "ok" } else { "bad" },
                        escape(&comparison(x))
                    );
                }
                None => out.push_str("<td>—</td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// Writes the page and `compare.json` into `dir` (atomically each).
pub fn write_compare(dir: &Path, summary: &CompareSummary, html: &str) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        op: "creating comparison directory",
        path: dir.to_owned(),
        source,
    })?;
    let path = dir.join(COMPARE_FILE);
    let json = serde_json::to_string_pretty(summary).map_err(|source| ReportError::Serialize {
        path: path.clone(),
        source,
    })?;
    write_atomic(&path, json.as_bytes())?;
    write_atomic(&dir.join(HTML_FILE), html.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::incident_a;

    #[test]
    fn every_engine_gets_its_verdict_expectations_and_chart() {
        let a = incident_a(true);
        let b = incident_a(false);
        assert_eq!((a.verdict, b.verdict), (Verdict::Pass, Verdict::Fail));
        let html = render_compare(
            "ct-port-reuse-compare",
            "d",
            &[
                CompareEntry {
                    label: "ebpf:cilium-1.11".into(),
                    href: "../a/index.html".into(),
                    record: a,
                },
                CompareEntry {
                    label: "kube-proxy-iptables".into(),
                    href: "../b/index.html".into(),
                    record: b,
                },
            ],
        );
        assert!(html.contains("id=\"engine-ebpf-cilium-1.11\""));
        assert!(html.contains("id=\"engine-kube-proxy-iptables\""));
        assert_eq!(
            html.matches("<svg").count(),
            2,
            "one share chart per engine"
        );
        assert!(html.contains("verdict pass") && html.contains("verdict fail"));
        assert!(html.contains("href=\"../b/index.html\""));
    }

    /// Issue 30: a failed expectation's note is the suite's expectation,
    /// not a finding: its column says so.
    #[test]
    fn a_failed_expectations_note_is_labelled_as_what_the_suite_expects() {
        let b = incident_a(false);
        let failed = b
            .expectations
            .iter()
            .find(|e| !e.pass && !e.note.is_empty());
        let failed = failed.expect("incident A fails an expectation with a note");
        let html = render_compare(
            "s",
            "d",
            &[CompareEntry {
                label: "kube-proxy-iptables".into(),
                href: "../b/index.html".into(),
                record: b.clone(),
            }],
        );
        assert!(
            html.contains("<th>result</th><th>the suite expects</th>"),
            "{html}"
        );
        assert!(!html.contains("<th>note</th>"));
        let row = format!(
            "<td class=\"bad\">FAIL</td><td>{}</td></tr>",
            escape(&failed.note)
        );
        assert!(html.contains(&row), "{row}");
    }

    #[test]
    fn the_nightly_index_lists_comparisons() {
        let c = CompareSummary {
            suite: "ct-port-reuse-compare".into(),
            id: "compare-r1".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            dir: "ct-port-reuse-compare/compare-r1".into(),
            engines: vec![CompareEngine {
                label: "kube-proxy-iptables".into(),
                verdict: Verdict::Pass,
                report_dir: "ct-port-reuse-compare.kube-proxy-iptables/r2".into(),
            }],
        };
        let html = crate::index::render_index_with(&[], &[], &[], &[c], "t");
        assert!(html.contains("<h2>Comparisons</h2>"));
        assert!(html.contains("href=\"ct-port-reuse-compare/compare-r1/index.html\""));
        assert!(html.contains("href=\"ct-port-reuse-compare.kube-proxy-iptables/r2/index.html\""));
        assert!(
            crate::index::render_index(&[], &[], &[], "t")
                .find("Comparisons")
                .is_none()
        );
    }
}
