//! The report page: one self-contained HTML file (inline CSS, SVG and one
//! inline script, no external assets, works offline), rendered from a
//! [`RunRecord`] alone. Layout, top to bottom: the first screen (verdict,
//! each expectation's one-line result, the run's facts and links to its
//! files, a table of contents and the share chart — all above the fold at
//! 1400×900), what the suite shows, the other charts (sharing one time
//! axis), the summary (totals,
//! imbalance, pods, expectations, kubelet and autoscaler settings, mechanism
//! and datapath counters), the backends, real programs and their configs
//! (`programs.rs`), and the suite file as written.
//!
//! Runs with pod telemetry ([`RunRecord::pods`]) get a second group of
//! charts after the backend and datapath ones: pod phases and restarts (with
//! a table of restart reasons), probes, restarts over time, ready vs desired
//! replicas, accept queues and busy workers, then the client's success rate
//! and latency, so what the pods went through sits right above what clients
//! saw. Runs without it look as they always did.
//!
//! Runs of more than 20 backends or pods (`chart::topn::TOP_N_ABOVE`)
//! get top-N charts and tables instead of a line or row per backend, and a
//! fairness chart under the share chart (`chart/topn`); smaller runs render
//! exactly as before.
use std::fmt::Write as _;

mod backends;
mod programs;
mod rollouts;

use crate::{
    chart::{
        Frame, backend_colors, css,
        pods::{deployments, probe_kinds, top_pods},
        topn::top_backends,
    },
    derive::{metric, summarize},
    fmt::{comparison, count, escape, expectation_window, id_safe, num, opt_num, opt_pct, secs},
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
.headline { flex: 1 1 560px; font-size: 15px; }
ul.expect-lines { list-style: none; margin: 6px 0 0; padding: 0; font-size: 14px; }
ul.expect-lines li { margin: 2px 0; }
ul.expect-lines .win { color: #555; } ul.expect-lines .note { color: #666; }
nav.toc { margin: 10px 0 0; font-size: 14px; }
.ok { color: #1a7f37; font-weight: 700; } .bad { color: #c62828; font-weight: 700; }
.swatch { display: inline-block; width: 14px; height: 14px; border-radius: 3px; vertical-align: -2px; margin-right: 6px; }
.tag { display: inline-block; font-size: 12px; border-radius: 4px; padding: 0 6px; margin-right: 4px; background: #e8e8e8; }
.tag.new { background: #d7ebf7; } .tag.killed { background: #fbd9d3; } .tag.replacement { background: #efe0f0; }
.restart-reason { max-width: 720px; }
ul.settings { margin: 0; padding-left: 18px; }
td.pod { white-space: nowrap; }
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
    first_screen(&mut out, record);
    shows(&mut out, record);
    charts(&mut out, record);
    summary(&mut out, record);
    backends::backends(&mut out, record);
    programs::programs(&mut out, record);
    timeline(&mut out, record);
    datapath::settings(&mut out, record);
    suite_file(&mut out, record);
    let _ = write!(
        out,
        "<footer>Rendered by svclab-report from run.json (schema {}); every figure is derived from the saved \
         run record.</footer>\n</main>\n</body>\n</html>\n",
        record.schema
    );
    out
}

/// Expectation lines shown on the first screen; the rest are a link away.
const FIRST_SCREEN_EXPECTATIONS: usize = 8;

/// The first screen at 1400×900: the verdict with each expectation's
/// one-line result (measured value, bound, window), the run's facts and
/// links to its files, the table of contents, and the suite's main chart
/// (each backend's share over time).
fn first_screen(out: &mut String, rec: &RunRecord) {
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
        "<h1>{}</h1>\n<p class=\"sub\">{}</p>\n<section class=\"banner\" id=\"verdict\">\n\
         <div class=\"verdict {class}\">{}</div>\n<div class=\"headline\"><div><a href=\"#expectations\">{}</a></div>",
        escape(&rec.suite.name),
        escape(&rec.suite.description),
        rec.verdict.word(),
        escape(&explain),
    );
    // Failed ones first, then the rest, in the suite's order.
    let mut lines: Vec<&crate::record::ExpectationResult> =
        rec.expectations.iter().filter(|e| !e.pass).collect();
    lines.extend(rec.expectations.iter().filter(|e| e.pass));
    if !lines.is_empty() {
        out.push_str("<ul class=\"expect-lines\">");
        for e in lines.iter().take(FIRST_SCREEN_EXPECTATIONS) {
            let (word, class) = if e.pass {
                ("PASS", "ok")
            } else {
                ("FAIL", "bad")
            };
            let _ = write!(
                out,
                "<li><span class=\"{class}\">{word}</span> <code>{}</code> {} <span class=\"win\">over {}</span>",
                escape(&e.metric),
                escape(&comparison(e)),
                escape(&expectation_window(e)),
            );
            if !e.note.is_empty() {
                // Labelled as what the suite expects (issue 30): a failed
                // bound never reads as a finding.
                let _ = write!(
                    out,
                    " <span class=\"note\">— expected: {}</span>",
                    escape(&e.note)
                );
            }
            out.push_str("</li>");
        }
        if lines.len() > FIRST_SCREEN_EXPECTATIONS {
            let _ = write!(
                out,
                "<li><a href=\"#expectations\">{} more</a></li>",
                lines.len() - FIRST_SCREEN_EXPECTATIONS
            );
        }
        out.push_str("</ul>");
    }
    if rec.interrupted {
        let _ = write!(
            out,
            "<div style=\"margin-top:6px\"><span class=\"flag\">INTERRUPTED</span> ran {} s of {} s planned</div>",
            secs(rec.elapsed_s),
            secs(rec.duration_s)
        );
    }
    out.push_str("</div>\n<dl class=\"facts\">");
    let facts = [
        ("run", escape(&rec.run_id)),
        ("started", escape(&rec.started_at)),
        (
            "ran",
            format!(
                "{} s of {} s, buckets of {} s",
                secs(rec.elapsed_s),
                secs(rec.duration_s),
                secs(rec.bucket_s)
            ),
        ),
        ("datapath", escape(&rec.suite.datapath_mode)),
        (
            "suite",
            format!(
                "<a href=\"#suite\"><code>{}</code></a>",
                escape(&rec.suite.path)
            ),
        ),
        (
            "files",
            "<a href=\"run.json\">run.json</a> · <a href=\"series.csv\">series.csv</a> · \
             <a href=\"run.log\">run.log</a>"
                .to_owned(),
        ),
    ];
    for (k, v) in facts {
        let _ = write!(out, "<dt>{k}</dt><dd>{v}</dd>");
    }
    out.push_str("</dl>\n</section>\n");
    if let Some(err) = &rec.error {
        let _ = writeln!(
            out,
            "<div class=\"error-box\"><strong>Error:</strong> {}</div>",
            escape(err)
        );
    }
    toc(out, rec);
    if !rec.buckets.is_empty() {
        figure(out, "share", &Frame::new(rec).share_chart());
    }
}

/// The page's sections, in order, as one line of links.
fn toc(out: &mut String, rec: &RunRecord) {
    let mut items: Vec<(&str, &str)> = Vec::new();
    if !rec.suite.header.trim().is_empty() {
        items.push(("shows", "What this shows"));
    }
    items.push(("charts", "Over time"));
    items.push(("summary", "Summary"));
    items.push(("expectations", "Expectations"));
    items.push(("backends", "Backends"));
    if !(rec.programs.is_empty() && rec.access_logs.is_empty()) {
        items.push(("programs", "Programs"));
    }
    if !rec.events.is_empty() {
        items.push(("timeline", "Events"));
    }
    if !rec.suite.datapath.is_empty() {
        items.push(("datapath", "Datapath"));
    }
    items.push(("suite", "Suite file"));
    out.push_str("<nav class=\"toc\">");
    for (i, (id, label)) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(" · ");
        }
        let _ = write!(out, "<a href=\"#{id}\">{label}</a>");
    }
    out.push_str("</nav>\n");
}

fn shows(out: &mut String, rec: &RunRecord) {
    if rec.suite.header.trim().is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<h2 id=\"shows\">What this shows</h2>\n<p class=\"shows\">{}</p>",
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
    // The share chart is on the first screen.
    // Many backends: the spread of shares across all of them.
    if top_backends(rec).is_some() {
        figure(out, "fairness", &frame.fairness_chart());
    }
    for (id, svg) in [
        ("new-conns", frame.new_conns_chart()),
        ("ct-entries", frame.ct_chart()),
    ] {
        figure(out, id, &svg);
    }
    rollouts::figures(out, rec, &frame);
    if !rec.pods.is_empty() {
        out.push_str("<h3 id=\"pod-charts\">Pods, probes and clients</h3>\n");
        figure(out, "pod-phases", &frame.pod_phase_chart());
        restart_table(out, rec);
        // Only the probe kinds that ran (a kind with no probe in any bucket
        // gets no chart).
        let mut kinds = probe_kinds(rec);
        kinds.retain(|k| {
            rec.buckets
                .iter()
                .flat_map(|b| b.pods.values())
                .any(|p| p.probes.get(k).is_some_and(|pb| pb.count() > 0))
        });
        for kind in &kinds {
            figure(
                out,
                &format!("probes-{}", id_safe(kind)),
                &frame.probe_outcome_chart(kind),
            );
        }
        if !kinds.is_empty() {
            figure(out, "probe-latency", &frame.probe_latency_chart());
        }
        if rec.pods.iter().any(|p| !p.restarts.is_empty()) {
            figure(out, "restarts", &frame.restarts_chart());
        }
        for d in deployments(rec) {
            figure(
                out,
                &format!("ready-{}", id_safe(&d)),
                &frame.ready_chart(&d),
            );
        }
        // Accept queues and busy workers only when some pod reported them.
        let reported = |f: fn(&crate::record::PodBucket) -> bool| {
            rec.buckets.iter().flat_map(|b| b.pods.values()).any(f)
        };
        if reported(|p| p.accept_queue_max > 0 || p.accept_queue_mean > 0.0) {
            figure(out, "accept-queue", &frame.accept_queue_chart());
        }
        if reported(|p| p.busy_max > 0 || p.busy_mean > 0.0) {
            figure(out, "busy-workers", &frame.busy_chart());
        }
    }
    figure(out, "client-rate", &frame.client_rate_chart());
    figure(out, "latency", &frame.latency_chart());
    // The interactive versions of the share, backend and client charts
    // (`interactive.rs`): they upgrade those figures wherever they are.
    out.push_str(&interactive::scripts(rec));
}

fn figure(out: &mut String, id: &str, svg: &str) {
    let _ = writeln!(
        out,
        "<figure class=\"chart\" id=\"chart-{id}\" style=\"margin:12px 0\">\n{svg}\n</figure>"
    );
}

/// Every container restart, in time order, under the phase chart (the
/// markers' tooltips carry the same reasons).
fn restart_table(out: &mut String, rec: &RunRecord) {
    let mut restarts: Vec<(&str, &crate::record::Restart)> = rec
        .pods
        .iter()
        .flat_map(|p| p.restarts.iter().map(move |r| (p.name.as_str(), r)))
        .collect();
    if restarts.is_empty() {
        out.push_str("<p id=\"restart-table\">No container restarts.</p>\n");
        return;
    }
    // Many pods: the restarts of the pods the phase chart shows.
    let all = restarts.len();
    let top = top_pods(rec, rec.end_s().max(rec.bucket_s).max(1.0));
    if let Some(t) = &top {
        restarts.retain(|(pod, _)| t.shown.iter().any(|s| s == pod));
    }
    restarts.sort_by(|a, b| a.1.t_s.total_cmp(&b.1.t_s).then(a.0.cmp(b.0)));
    let shown = restarts.len();
    let colors = backend_colors(rec);
    out.push_str(
        "<table id=\"restart-table\">\n<tr><th>t (s)</th><th>pod</th><th>restart count</th><th>reason</th></tr>\n",
    );
    for (pod, r) in restarts {
        let color = colors.get(pod).map_or("#888888".into(), |c| css(*c));
        let _ = writeln!(
            out,
            "<tr class=\"restart\"><td class=\"num\">{}</td><td class=\"pod\"><span class=\"swatch\" style=\"background:{color}\"></span>{}</td>\
             <td class=\"num\">{}</td><td class=\"restart-reason\">{}</td></tr>",
            secs(r.t_s),
            escape(pod),
            r.count,
            escape(&r.reason)
        );
    }
    if top.is_some() && all > shown {
        let _ = writeln!(
            out,
            "<tr class=\"others\"><td></td><td>other pods</td><td class=\"num\">{}</td>\
             <td>more restarts (the restarts chart counts them all)</td></tr>",
            all - shown
        );
    }
    out.push_str("</table>\n");
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
    row(out, "error rate", &opt_pct(s.error_rate));
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
        &format!("{}–{} s", secs(from), secs(to)),
    );
    row(
        out,
        "max / min responses",
        &match s.max_min_ratio {
            Some(r) if r.is_infinite() => "unbounded: a backend got none".to_owned(),
            r => opt_num(r),
        },
    );
    row(out, "coefficient of variation", &opt_num(s.cv));
    row(out, "Jain's fairness index", &opt_num(s.jain_index));
    row(
        out,
        "last scale-up at",
        &s.last_scale_up_s
            .map_or("none".into(), |t| format!("{} s", secs(t))),
    );
    row(
        out,
        "new-backend share after it",
        &opt_pct(s.new_backend_share),
    );
    row(
        out,
        "… relative to a fair share",
        &opt_num(s.new_backend_fair_ratio),
    );
    row(
        out,
        "time to recover (error rate &lt; 1%)",
        &match (s.last_timeline_event_s, s.time_to_recover_s) {
            (None, _) => "no timeline event".into(),
            (Some(t), None) => format!("not recovered after the event at {} s", secs(t)),
            (Some(t), Some(d)) => format!("{} s after the event at {} s", secs(d), secs(t)),
        },
    );
    out.push_str("</table>\n<p class=\"sub\" style=\"max-width:420px;font-size:13px\">Max/min, CV and Jain count \
        responses of the backends alive through the window; 1.0 Jain is perfectly even.</p>\n</div>\n");
    if !rec.pods.is_empty() {
        pods_summary(out, rec, &s);
    }
    out.push_str("</div>\n");
    rollouts::summary(out, rec);
    faults::summary(out, rec);
    kubelet(out, rec);

    out.push_str("<h3 id=\"expectations\">Expectations</h3>\n");
    if rec.expectations.is_empty() {
        out.push_str("<p>The suite sets no expectations.</p>\n");
    } else {
        out.push_str(
            "<table>\n<tr><th>result</th><th>expectation</th><th>the suite expects</th></tr>\n",
        );
        for e in &rec.expectations {
            let result = if e.pass {
                "<span class=\"ok\">PASS</span>"
            } else {
                "<span class=\"bad\">FAIL</span>"
            };
            // The verdict line's words, with the metric as code and the
            // note in its own column, headed as what the suite expects (it
            // is shown for a pass too: it says why the bound is there, and
            // never reads as a finding on a failure).
            let _ = writeln!(
                out,
                "<tr class=\"expectation\"><td>{result}</td><td><code>{}</code> {} over {}</td><td>{}</td></tr>",
                escape(&e.metric),
                escape(&comparison(e)),
                escape(&expectation_window(e)),
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
            let _ = writeln!(
                out,
                "<tr><th><code>{}</code></th><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(k),
                num(*v),
                escape(crate::derive::mechanism::explain(k))
            );
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

/// The pods column of the summary: restarts (by reason), the fewest ready
/// pods, the autoscalers' range and the probe and accept-queue figures.
fn pods_summary(out: &mut String, rec: &RunRecord, s: &crate::derive::Summary) {
    let whole = rec.whole_s();
    out.push_str("<div>\n<h3>Pods</h3>\n<table>\n");
    row(out, "pods", &rec.pods.len().to_string());
    row(out, "container restarts", &count(s.restarts));
    for (reason, n) in &s.restarts_by_reason {
        row(out, &format!("&nbsp;&nbsp;{}", escape(reason)), &count(*n));
    }
    row(
        out,
        "fewest ready pods",
        &s.min_ready.map_or("not recorded".into(), |(n, t)| {
            format!("{n} (bucket at {} s)", num(t))
        }),
    );
    for (deployment, [lo, hi]) in &s.hpa_desired {
        row(
            out,
            &format!("autoscaler desired ({})", escape(deployment)),
            &if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}–{hi}")
            },
        );
    }
    for (label, name) in [
        ("failed readiness probes", "readiness_failures"),
        ("failed liveness probes", "liveness_failures"),
    ] {
        row(out, label, &opt_num(metric(rec, name, whole)));
    }
    row(
        out,
        "fullest accept queue (of backlog)",
        &opt_pct(metric(rec, "accept_queue_fill", whole)),
    );
    out.push_str(
        "</table>\n<p class=\"sub\" style=\"max-width:420px;font-size:13px\">Restart reasons are grouped \
         by kind (the text before its first colon); the table under the pod chart has them in full. \
         Failed probes count failures and timeouts.</p>\n</div>\n",
    );
}

/// The kubelet and autoscaler settings the run applied, so a reader knows
/// the clocks (shown when the record has pods or settings).
fn kubelet(out: &mut String, rec: &RunRecord) {
    let k = &rec.kubelet;
    if rec.pods.is_empty() && *k == crate::record::KubeletInfo::default() {
        return;
    }
    out.push_str(
        "<h3 id=\"kubelet\">Kubelet &amp; autoscaler settings</h3>\n<table class=\"kubelet\">\n",
    );
    let scale = if k.time_scale > 0.0 && k.time_scale.is_finite() {
        if k.time_scale == 1.0 {
            "1 (Kubernetes' own constants)".to_string()
        } else {
            format!(
                "{}: kubelet and autoscaler constants are Kubernetes' × {} ({}× faster)",
                num(k.time_scale),
                num(k.time_scale),
                num(1.0 / k.time_scale)
            )
        }
    } else {
        "not recorded".to_string()
    };
    row(out, "time scale", &escape(&scale));
    for (label, lines) in [
        ("constants", &k.constants),
        ("probes", &k.probes),
        ("autoscalers", &k.autoscalers),
    ] {
        let value = if lines.is_empty() {
            "none".to_string()
        } else {
            let items: String = lines
                .iter()
                .map(|l| format!("<li>{}</li>", escape(l)))
                .collect();
            format!("<ul class=\"settings\">{items}</ul>")
        };
        row(out, label, &value);
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
            secs(e.t_s),
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

mod datapath;
mod faults;
mod interactive;
#[cfg(test)]
mod tests;
