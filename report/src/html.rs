//! The report page: one self-contained HTML file (inline CSS and SVG, no
//! scripts, no external assets, works offline), rendered from a
//! [`RunRecord`] alone. Layout, top to bottom: verdict banner, what the suite
//! shows, the charts (sharing one time axis), the summary (totals,
//! imbalance, expectations, mechanism and datapath counters), the backends,
//! and the suite file as written.
use std::fmt::Write as _;

use crate::{
    chart::{Frame, backend_colors, css},
    derive::{responses, summarize},
    record::{RunRecord, Verdict},
};

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0; color: #222; background: #fafafa; }
main { max-width: 1320px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 26px; margin: 8px 0 2px; }
h2 { font-size: 20px; margin: 32px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 20px 0 8px; }
.sub { color: #555; margin: 0 0 12px; }
.banner { display: flex; align-items: center; gap: 24px; flex-wrap: wrap; background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 14px 20px; }
.verdict { font-size: 40px; font-weight: 800; letter-spacing: 0.04em; color: #fff; padding: 6px 22px; border-radius: 8px; }
.verdict.pass { background: #1a7f37; } .verdict.fail { background: #c62828; }
.verdict.interrupted { background: #b26a00; } .verdict.error { background: #6a1b9a; }
.flag { display: inline-block; font-weight: 700; color: #b26a00; border: 2px solid #b26a00; border-radius: 6px; padding: 2px 8px; }
.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; font-size: 14px; }
.facts dt { color: #666; } .facts dd { margin: 0; }
.error-box { background: #fdecea; border: 1px solid #c62828; border-radius: 6px; padding: 8px 12px; margin-top: 12px; white-space: pre-wrap; }
.shows { white-space: pre-wrap; background: #fff; border-left: 4px solid #0072b2; padding: 10px 14px; margin: 0; }
.chart { background: #fff; border: 1px solid #ddd; border-radius: 6px; margin: 12px 0; padding: 4px; }
.chart svg { display: block; width: 100%; height: auto; }
.chart-error { color: #c62828; }
table { border-collapse: collapse; background: #fff; font-size: 14px; margin: 4px 0 12px; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #1a7f37; font-weight: 700; } .bad { color: #c62828; font-weight: 700; }
.swatch { display: inline-block; width: 14px; height: 14px; border-radius: 3px; vertical-align: -2px; margin-right: 6px; }
.tag { display: inline-block; font-size: 12px; border-radius: 4px; padding: 0 6px; margin-right: 4px; background: #e8e8e8; }
.tag.new { background: #d7ebf7; } .tag.killed { background: #fbd9d3; } .tag.replacement { background: #efe0f0; }
.cols { display: flex; gap: 32px; flex-wrap: wrap; align-items: flex-start; }
pre.yaml { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 12px; overflow-x: auto; font-size: 13px; }
footer { color: #888; font-size: 12px; margin-top: 32px; }
";

/// Renders the whole page.
pub fn render(record: &RunRecord) -> String {
    let mut out = String::with_capacity(256 * 1024);
    let title = format!("svclab · {} · {}", record.suite.name, record.run_id);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        escape(&title)
    );
    banner(&mut out, record);
    shows(&mut out, record);
    charts(&mut out, record);
    summary(&mut out, record);
    backends(&mut out, record);
    timeline(&mut out, record);
    suite_file(&mut out, record);
    let _ = write!(
        out,
        "<footer>Rendered by svclab-report from run.json (schema {}); every figure is derived from the saved \
         run record.</footer>\n</main>\n</body>\n</html>\n",
        record.schema
    );
    out
}

fn banner(out: &mut String, rec: &RunRecord) {
    let failed = rec.expectations.iter().filter(|e| !e.pass).count();
    let explain = match rec.verdict {
        Verdict::Pass => format!("all {} expectations held", rec.expectations.len()),
        Verdict::Fail => format!("{failed} of {} expectations failed", rec.expectations.len()),
        Verdict::Interrupted => format!(
            "stopped early; {} of {} expectations held over what ran",
            rec.expectations.len() - failed,
            rec.expectations.len()
        ),
        Verdict::Error => "the run failed with an error".to_string(),
    };
    let class = match rec.verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Interrupted => "interrupted",
        Verdict::Error => "error",
    };
    let _ = write!(
        out,
        "<h1>{}</h1>\n<p class=\"sub\">{}</p>\n<section class=\"banner\">\n\
         <div class=\"verdict {class}\">{}</div>\n<div><div><a href=\"#expectations\">{}</a></div>",
        escape(&rec.suite.name),
        escape(&rec.suite.description),
        rec.verdict.word(),
        escape(&explain),
    );
    if rec.interrupted {
        let _ = write!(
            out,
            "<div style=\"margin-top:6px\"><span class=\"flag\">INTERRUPTED</span> ran {} s of {} s planned</div>",
            num(rec.elapsed_s),
            num(rec.duration_s)
        );
    }
    out.push_str("</div>\n<dl class=\"facts\">");
    let facts = [
        ("run", rec.run_id.clone()),
        ("started", rec.started_at.clone()),
        (
            "ran",
            format!(
                "{} s of {} s planned, buckets of {} s",
                num(rec.elapsed_s),
                num(rec.duration_s),
                num(rec.bucket_s)
            ),
        ),
        ("datapath", rec.suite.datapath_mode.clone()),
        ("suite file", rec.suite.path.clone()),
        ("seed", rec.seed.to_string()),
    ];
    for (k, v) in facts {
        let _ = write!(out, "<dt>{k}</dt><dd>{}</dd>", escape(&v));
    }
    out.push_str("</dl>\n</section>\n");
    if let Some(err) = &rec.error {
        let _ = writeln!(
            out,
            "<div class=\"error-box\"><strong>Error:</strong> {}</div>",
            escape(err)
        );
    }
}

fn shows(out: &mut String, rec: &RunRecord) {
    if rec.suite.header.trim().is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<h2>What this shows</h2>\n<p class=\"shows\">{}</p>",
        escape(rec.suite.header.trim())
    );
}

fn charts(out: &mut String, rec: &RunRecord) {
    let frame = Frame::new(rec);
    out.push_str("<h2 id=\"charts\">Over time</h2>\n");
    if rec.buckets.is_empty() {
        out.push_str("<p>No time buckets were recorded.</p>\n");
        return;
    }
    let charts = [
        ("share", frame.share_chart()),
        ("new-conns", frame.new_conns_chart()),
        ("ct-entries", frame.ct_chart()),
        ("client-rate", frame.client_rate_chart()),
        ("latency", frame.latency_chart()),
    ];
    for (id, svg) in charts {
        let _ = writeln!(
            out,
            "<figure class=\"chart\" id=\"chart-{id}\" style=\"margin:12px 0\">\n{svg}\n</figure>"
        );
    }
}

fn summary(out: &mut String, rec: &RunRecord) {
    let s = summarize(rec);
    out.push_str(
        "<h2 id=\"summary\">Summary</h2>\n<div class=\"cols\">\n<div>\n<h3>Run</h3>\n<table>\n",
    );
    let verdict_class = if rec.verdict == Verdict::Pass {
        "ok"
    } else {
        "bad"
    };
    row(
        out,
        "verdict",
        &format!(
            "<span class=\"{verdict_class}\">{}</span>",
            rec.verdict.word()
        ),
    );
    row(
        out,
        "interrupted",
        if rec.interrupted {
            "<span class=\"bad\">yes</span>"
        } else {
            "no"
        },
    );
    row(out, "datapath mode", &escape(&rec.suite.datapath_mode));
    row(out, "requests sent", &count(s.sent));
    row(out, "ok responses", &count(s.ok));
    row(out, "errors", &count(s.errors));
    for (kind, n) in &s.errors_by_kind {
        row(out, &format!("&nbsp;&nbsp;{}", escape(kind)), &count(*n));
    }
    row(out, "error rate", &pct(s.error_rate));
    row(
        out,
        "responses attributed to a backend",
        &count(s.responses),
    );
    out.push_str("</table>\n</div>\n<div>\n<h3>Balance</h3>\n<table>\n");
    let [from, to] = s.imbalance_window_s;
    row(
        out,
        "window for the figures below",
        &format!("{}–{} s", num(from), num(to)),
    );
    row(out, "max / min responses", &opt(s.max_min_ratio));
    row(out, "coefficient of variation", &opt(s.cv));
    row(out, "Jain's fairness index", &opt(s.jain_index));
    row(
        out,
        "last scale-up at",
        &s.last_scale_up_s
            .map_or("none".into(), |t| format!("{} s", num(t))),
    );
    row(out, "new-backend share after it", &pct(s.new_backend_share));
    row(
        out,
        "… relative to a fair share",
        &opt(s.new_backend_fair_ratio),
    );
    row(
        out,
        "time to recover (error rate &lt; 1%)",
        &match (s.last_timeline_event_s, s.time_to_recover_s) {
            (None, _) => "no timeline event".into(),
            (Some(t), None) => format!("not recovered after the event at {} s", num(t)),
            (Some(t), Some(d)) => format!("{} s after the event at {} s", num(d), num(t)),
        },
    );
    out.push_str("</table>\n<p class=\"sub\" style=\"max-width:420px;font-size:13px\">Max/min, CV and Jain count \
        responses of the backends alive through the window; 1.0 Jain is perfectly even.</p>\n</div>\n</div>\n");

    out.push_str("<h3 id=\"expectations\">Expectations</h3>\n");
    if rec.expectations.is_empty() {
        out.push_str("<p>The suite sets no expectations.</p>\n");
    } else {
        out.push_str(
            "<table>\n<tr><th>metric</th><th>window (s)</th><th>bound</th><th>measured</th><th>result</th><th>note</th></tr>\n",
        );
        for e in &rec.expectations {
            let bound = match (e.min, e.max) {
                (Some(lo), Some(hi)) => format!("{} ≤ x ≤ {}", num(lo), num(hi)),
                (Some(lo), None) => format!("≥ {}", num(lo)),
                (None, Some(hi)) => format!("≤ {}", num(hi)),
                (None, None) => "any defined value".into(),
            };
            let result = if e.pass {
                "<span class=\"ok\">PASS</span>"
            } else {
                "<span class=\"bad\">FAIL</span>"
            };
            let _ = writeln!(
                out,
                "<tr class=\"expectation\"><td><code>{}</code></td><td>{}–{}</td><td>{}</td><td class=\"num\">{}</td>\
                 <td>{result}</td><td>{}</td></tr>",
                escape(&e.metric),
                num(e.window_s[0]),
                num(e.window_s[1]),
                escape(&bound),
                e.measured.map_or("undefined".into(), num),
                escape(&e.note)
            );
        }
        out.push_str("</table>\n");
    }

    out.push_str("<div class=\"cols\">\n<div>\n<h3>Mechanism</h3>\n");
    if rec.mechanism.is_empty() {
        out.push_str("<p>None recorded.</p>\n");
    } else {
        out.push_str("<table>\n");
        for (k, v) in &rec.mechanism {
            row(out, &format!("<code>{}</code>", escape(k)), &num(*v));
        }
        out.push_str("</table>\n");
    }
    out.push_str("</div>\n<div>\n<h3>Datapath reasons (summed over nodes)</h3>\n");
    if rec.datapath.reasons.is_empty() {
        out.push_str("<p>None recorded.</p>\n");
    } else {
        out.push_str("<table>\n");
        for (k, v) in &rec.datapath.reasons {
            row(out, &format!("<code>{}</code>", escape(k)), &count(*v));
        }
        out.push_str("</table>\n");
    }
    out.push_str("</div>\n</div>\n");
}

fn backends(out: &mut String, rec: &RunRecord) {
    let colors = backend_colors(rec);
    let whole = [
        rec.buckets.first().map_or(0.0, |b| b.t_s.min(0.0)),
        rec.end_s(),
    ];
    let counts = responses(rec, whole);
    let total: u64 = counts.values().sum();
    out.push_str(
        "<h2 id=\"backends\">Backends</h2>\n<table>\n<tr><th>pod</th><th>address</th><th>deployment</th><th>node</th>\
         <th>created (s)</th><th>removed (s)</th><th>flags</th><th>responses</th><th>share</th>\
         <th>datapath selections</th><th>reselections</th></tr>\n",
    );
    for name in rec.backend_names() {
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
            "<tr><td><span class=\"swatch\" style=\"background:{color}\"></span>{}</td><td>{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{flags}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&name),
            info.map_or(String::new(), |b| escape(&b.addr)),
            info.map_or(String::new(), |b| escape(&b.deployment)),
            info.map_or(String::new(), |b| b.node.to_string()),
            info.map_or(String::new(), |b| num(b.created_s)),
            info.and_then(|b| b.removed_s).map_or("—".into(), num),
            count(n),
            if total > 0 {
                pct(Some(n as f64 / total as f64))
            } else {
                "—".into()
            },
            dp.map_or("—".into(), |d| count(d.selections)),
            dp.map_or("—".into(), |d| count(d.reselections)),
        );
    }
    out.push_str("</table>\n");
}

fn timeline(out: &mut String, rec: &RunRecord) {
    if rec.events.is_empty() {
        return;
    }
    out.push_str(
        "<h2 id=\"timeline\">Events</h2>\n<table>\n<tr><th>t (s)</th><th>kind</th><th>detail</th>\
         <th>marker on the charts</th></tr>\n",
    );
    let mut events: Vec<_> = rec.events.iter().collect();
    events.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    for e in events {
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            num(e.t_s),
            escape(&e.kind),
            escape(&e.detail),
            if e.timeline { "yes" } else { "" }
        );
    }
    out.push_str("</table>\n");
}

fn suite_file(out: &mut String, rec: &RunRecord) {
    let _ = writeln!(
        out,
        "<h2 id=\"suite\">Suite file <code>{}</code></h2>\n<pre class=\"yaml\">{}</pre>",
        escape(&rec.suite.path),
        escape(&rec.suite.yaml)
    );
}

fn row(out: &mut String, key_html: &str, value_html: &str) {
    let _ = writeln!(out, "<tr><th>{key_html}</th><td>{value_html}</td></tr>");
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A figure for a table: ∞ for infinity, about four significant digits.
pub(crate) fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        }
    } else if v == v.round() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or("undefined".into(), num)
}

fn pct(v: Option<f64>) -> String {
    v.map_or("undefined".into(), |v| format!("{:.2}%", v * 100.0))
}

/// Integer with thin-space thousands separators.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::incident_a;

    #[test]
    fn renders_incident_a_self_contained() {
        let rec = incident_a(false);
        let html = render(&rec);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(html.matches("<svg").count(), 5, "five inline charts");
        assert!(!html.contains("<?xml"), "no XML declaration inside HTML");
        for name in [
            "web-0",
            "web-1",
            "web-2",
            "web-3 (new)",
            "web-4 (new)",
            "web-5 (new)",
        ] {
            assert!(html.contains(name), "legend entry {name}");
        }
        assert!(html.contains("scale web 3 → 6"), "marker label");
        assert!(
            html.contains("new pods&#39; share") || html.contains("new pods' share"),
            "new-share line legend"
        );
        assert_eq!(
            html.matches("<tr class=\"expectation\">").count(),
            rec.expectations.len()
        );
        assert!(html.contains("<code>new_backend_fair_ratio</code>"));
        assert!(html.contains("verdict fail") && html.contains(">FAIL<"));
        assert!(
            html.contains("Incident A: service conntrack pins"),
            "suite header"
        );
        assert!(html.contains("ct_reuse: legacy"), "suite YAML");
        assert!(html.contains("random, legacy CT reuse"), "datapath mode");
        assert!(html.contains("ct-reopen"), "datapath reasons");
        assert!(
            html.contains("reused_ports_kept_backend_after_scale_up"),
            "mechanism"
        );
        let stripped = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(
            !stripped.contains("http://") && !stripped.contains("https://"),
            "external URL in the page"
        );
        assert!(!html.contains("<script"), "no scripts");
        assert!(
            !html.contains("<img") && !html.contains("<link"),
            "no external assets"
        );
    }

    #[test]
    fn crowded_timeline_keeps_every_label() {
        let mut rec = incident_a(false);
        let details = ["flush CT on every node", "kill web ×1", "delete pod web-2"];
        for (i, d) in details.iter().enumerate() {
            rec.events.push(crate::record::Event {
                t_s: 20.5 + 0.5 * i as f64,
                kind: "kill".into(),
                detail: (*d).into(),
                timeline: true,
            });
        }
        let html = render(&rec);
        for d in details.iter().chain(["scale web 3 → 6"].iter()) {
            // Five charts plus the events table.
            assert_eq!(html.matches(d).count(), 6, "{d}");
        }
    }

    #[test]
    fn fixed_run_passes() {
        let html = render(&incident_a(true));
        assert!(html.contains("verdict pass") && html.contains(">PASS<"));
        assert!(html.contains("ct_reuse: close-rebalance"));
    }

    #[test]
    fn user_text_is_escaped() {
        let mut rec = incident_a(false);
        rec.suite.yaml = "a: <b>&\"x\"</b>".into();
        rec.suite.header = "<script>alert(1)</script>".into();
        rec.events[1].detail = "scale <web>".into();
        rec.error = Some("boom <here>".into());
        rec.verdict = Verdict::Error;
        let html = render(&rec);
        assert!(html.contains("a: &lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;"));
        assert!(!html.contains("<script>"));
        assert!(
            !html.contains("scale <web>"),
            "marker labels are escaped by the SVG backend"
        );
        assert!(html.contains("boom &lt;here&gt;") && html.contains("verdict error"));
    }

    #[test]
    fn empty_record_renders() {
        let mut rec = crate::sample::empty_record();
        rec.verdict = Verdict::Interrupted;
        rec.interrupted = true;
        let html = render(&rec);
        assert!(html.contains("No time buckets were recorded"));
        assert!(html.contains("INTERRUPTED"));
    }

    #[test]
    fn numbers_format_for_people() {
        assert_eq!(num(f64::INFINITY), "∞");
        assert_eq!(num(0.123456), "0.1235");
        assert_eq!(num(60.0), "60");
        assert_eq!(count(1234567), "1\u{2009}234\u{2009}567");
        assert_eq!(pct(Some(0.5)), "50.00%");
        assert_eq!(opt(None), "undefined");
    }
}
