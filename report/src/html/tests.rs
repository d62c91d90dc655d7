//! Unit tests of the run report page: what it shows for the sample
//! incidents, self-containment, escaping of user text.
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
    assert!(html.contains("profile: cilium-1.11"), "suite YAML");
    assert!(
        html.contains("cilium-1.11: random selection, legacy CT reuse"),
        "datapath mode"
    );
    assert!(
        html.contains("<h2 id=\"datapath\">Datapath</h2>")
            && html.contains("<th>profile</th><td>cilium-1.11 (Cilium v1.11.x)</td><td>suite</td>"),
        "effective datapath values"
    );
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
    // Scripts: only the inline chart data and interaction layer.
    assert_eq!(html.matches("<script").count(), 2, "two inline scripts");
    assert!(
        html.contains("<script type=\"application/json\" id=\"svclab-series\">")
            && html.contains("<script id=\"svclab-interactive\">")
            && !html.contains("<script src"),
        "inline scripts only"
    );
    assert!(
        !html.contains("<img") && !html.contains("<link"),
        "no external assets"
    );
}

#[test]
fn incident_a_has_no_pod_section() {
    let html = render(&incident_a(false));
    for absent in [
        "chart-pod-phases",
        "restart-table",
        "Kubelet &amp; autoscaler",
        "<h3>Pods</h3>",
        "phase at the end",
    ] {
        assert!(!html.contains(absent), "{absent} in a run without pods");
    }
}

#[test]
fn liveness_cascade_shows_pods_probes_and_replicas() {
    let rec = crate::sample::liveness_cascade();
    let html = render(&rec);
    let ids = [
        "share",
        "new-conns",
        "ct-entries",
        "pod-phases",
        "probes-startup",
        "probes-readiness",
        "probes-liveness",
        "probe-latency",
        "restarts",
        "ready-web",
        "accept-queue",
        "busy-workers",
        "client-rate",
        "latency",
    ];
    // Every chart, in this order: the client's charts close the pod section.
    let positions: Vec<usize> = ids
        .iter()
        .map(|id| {
            html.find(&format!("id=\"chart-{id}\""))
                .unwrap_or_else(|| panic!("chart {id} missing"))
        })
        .collect();
    assert!(positions.is_sorted(), "chart order {positions:?}");
    let svgs = html.matches("<svg").count();
    assert_eq!(svgs, ids.len(), "one svg per chart, none duplicated");
    // The spike is a marker on every chart, plus its row in the events
    // table and its entry in the interactive charts' data.
    assert_eq!(
        html.matches("spike nginx 600 → 1500 req/s for 30s").count(),
        svgs + 2
    );
    // The restart table under the phase chart: one row per restart, in
    // time order, reasons in full.
    let restarts: usize = rec.pods.iter().map(|p| p.restarts.len()).sum();
    assert_eq!(html.matches("<tr class=\"restart\">").count(), restarts);
    let table = &html[html.find("id=\"restart-table\"").unwrap_or(0)..];
    assert!(
        table.find("web-1").unwrap_or(usize::MAX) < table.find("web-3").unwrap_or(0),
        "first restart (web-1 at 23.4 s) first"
    );
    assert!(html.contains("startup probe failed: timeout after 1s (http GET :8080/healthz)"));
    // Summary: restarts by kind, fewest ready pods and when, the HPA's range.
    assert!(html.contains("<tr><th>container restarts</th><td>11</td></tr>"));
    assert!(html.contains("<tr><th>&nbsp;&nbsp;liveness probe failed</th><td>10</td></tr>"));
    assert!(html.contains("<tr><th>fewest ready pods</th><td>1 (bucket at 42 s)</td></tr>"));
    assert!(html.contains("<tr><th>autoscaler desired (web)</th><td>3–4</td></tr>"));
    // Kubelet settings, stating the time scale.
    assert!(html.contains("Kubelet &amp; autoscaler settings"));
    assert!(html.contains("<tr><th>time scale</th><td>0.1: kubelet and autoscaler constants"));
    assert!(html.contains("web liveness: http GET :8080/healthz, period 1s"));
    assert!(html.contains("<th>phase at the end</th>"));
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
        // Five charts plus the events table and the interactive charts' data.
        assert_eq!(html.matches(d).count(), 7, "{d}");
    }
}

#[test]
fn fixed_run_passes() {
    let html = render(&incident_a(true));
    assert!(html.contains("verdict pass") && html.contains(">PASS<"));
    assert!(html.contains("profile: cilium-1.12"));
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
fn expectations_read_as_verdict_lines() {
    let rec = incident_a(false);
    let html = render(&rec);
    let failed: Vec<_> = rec.expectations.iter().filter(|e| !e.pass).collect();
    assert!(!failed.is_empty(), "incident A fails an expectation");
    // The first screen: every expectation's one-line result, failed ones
    // first, above the share chart.
    let chart = html.find("id=\"chart-share\"").expect("share chart");
    let mut last = 0;
    let mut order: Vec<_> = failed.clone();
    order.extend(rec.expectations.iter().filter(|e| e.pass));
    for e in order {
        let word = if e.pass { "ok\">PASS" } else { "bad\">FAIL" };
        let line = format!(
            "<li><span class=\"{word}</span> <code>{}</code> {} <span class=\"win\">over {}</span>",
            escape(&e.metric),
            escape(&crate::fmt::comparison(e)),
            escape(&crate::fmt::expectation_window(e))
        );
        let at = html
            .find(&line)
            .unwrap_or_else(|| panic!("first screen shows {line}"));
        assert!(at > last && at < chart, "{line} in order, above the chart");
        last = at;
        if !e.note.is_empty() {
            assert!(html[at..].contains(&format!("— expected: {}</span></li>", escape(&e.note))));
        }
    }
    for e in &rec.expectations {
        let cell = format!(
            "<td><code>{}</code> {} over {}</td>",
            escape(&e.metric),
            escape(&crate::fmt::comparison(e)),
            escape(&crate::fmt::expectation_window(e))
        );
        assert!(html.contains(&cell), "table row {cell}");
    }
    assert!(!html.contains("Some("), "no Debug option text");
    // Issue 30: the note is labelled as the expectation, in the banner
    // and in the table.
    for e in failed.iter().filter(|e| !e.note.is_empty()) {
        assert!(
            crate::fmt::verdict_line(e).ends_with(&format!("(expected: {})", e.note)),
            "{}",
            crate::fmt::verdict_line(e)
        );
    }
    assert!(html.contains("<th>expectation</th><th>the suite expects</th>"));
}

#[test]
fn programs_section_shows_configs_access_logs_and_the_share_basis() {
    use crate::record::{AccessLogTotals, ProgramInfo, ShareBasis};
    let mut rec = incident_a(false);
    assert!(
        !render(&rec).contains("id=\"programs\""),
        "no programs, no section"
    );
    rec.programs.push(ProgramInfo {
        owner: "client nginx".into(),
        kind: "nginx proxy".into(),
        command: vec!["/usr/sbin/nginx".into(), "-c".into(), "x.conf".into()],
        config_path: Some("nginx/client-nginx.conf".into()),
        config: Some("upstream web {\n    server 198.19.0.10:80;\n}\n<script>".into()),
        logs: "pods/client-nginx.log".into(),
    });
    let name = rec.backend_names()[0].clone();
    let dp = rec
        .datapath
        .backends
        .get(&name)
        .map_or(0, |b| b.connections);
    rec.access_logs.push(AccessLogTotals {
        client: "nginx".into(),
        path: "nginx/client-nginx.access.log".into(),
        requests: dp,
        by_backend: [(name.clone(), dp)].into(),
        ..AccessLogTotals::default()
    });
    let html = render(&rec);
    assert!(html.contains("id=\"programs\""));
    assert!(
        html.contains("server 198.19.0.10:80;"),
        "the generated config"
    );
    assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
    assert!(html.contains("responses clients received, by the X-Pod header"));
    assert!(html.contains("requests (access log)"));
    rec.share_basis = ShareBasis::Connections;
    let html = render(&rec);
    assert!(html.contains("Share of new connections (datapath) per backend"));
}
