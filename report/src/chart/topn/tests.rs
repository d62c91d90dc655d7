//! Unit tests of the top-N views: the selection, that the aggregates cover
//! every backend, and that a 1000-backend page stays small and draws no
//! chart with a line per backend.
use std::collections::BTreeSet;

use super::*;
use crate::{
    html::render,
    sample::{MANY_SCALE_AT_S, many_backends},
};

/// Largest page for 1000 backends (60 buckets, pod telemetry); measured
/// 466 KB (5.4 MB before the top-N views).
const PAGE_BOUND: usize = 1_000_000;

/// Largest single chart of that page (measured: 50 KB).
const CHART_BOUND: usize = 100_000;

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("b{i}")).collect()
}

/// Distinct `web-<n>` pod names in `text`.
fn pod_names(text: &str) -> BTreeSet<String> {
    text.match_indices("web-")
        .map(|(i, _)| {
            let digits: String = text[i + 4..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            format!("web-{digits}")
        })
        .filter(|n| n.len() > 4)
        .collect()
}

#[test]
fn top_n_only_above_the_threshold_ranked_by_key_then_order() {
    assert_eq!(TopN::rank(names(TOP_N_ABOVE), |_| 1.0), None);
    let all = names(TOP_N_ABOVE + 1);
    // b20 busiest, then b19, ...; b0..b3 tie at 0 and keep their order.
    let key = |n: &str| n[1..].parse::<f64>().map_or(0.0, |v| (v - 3.0).max(0.0));
    let top = TopN::rank(all.clone(), key).expect("above the threshold");
    assert_eq!(top.shown.len(), TOP_N);
    assert_eq!(top.shown[0], "b20");
    assert_eq!(top.shown[TOP_N - 1], format!("b{}", 20 - (TOP_N - 1)));
    assert_eq!(top.others.len(), all.len() - TOP_N);
    assert_eq!(&top.others[..4], ["b0", "b1", "b2", "b3"]);
    let mut union: Vec<String> = top.shown.iter().chain(&top.others).cloned().collect();
    union.sort();
    let mut sorted = all;
    sorted.sort();
    assert_eq!(union, sorted, "every name exactly once");
    assert_eq!(
        top.words("backends", "responses"),
        "top 12 of 21 backends by responses"
    );
}

#[test]
fn top_backends_are_the_busiest_over_the_run() {
    let rec = many_backends(1000);
    let top = top_backends(&rec).expect("1000 backends");
    let traffic = responses(&rec, rec.whole_s());
    let least_shown = top.shown.iter().map(|n| traffic[n]).min().unwrap();
    let most_other = top.others.iter().map(|n| traffic[n]).max().unwrap();
    assert!(least_shown >= most_other, "{least_shown} < {most_other}");
    assert!(top_backends(&many_backends(TOP_N_ABOVE)).is_none());
}

#[test]
fn others_and_top_add_up_to_every_backend_in_every_bucket() {
    let rec = many_backends(1000);
    let top = top_backends(&rec).unwrap();
    let infos = infos(&rec);
    let value = |bk: &Bucket, n: &str| {
        let alive = infos
            .get(n)
            .is_none_or(|i| alive_in_bucket(i, bk, rec.bucket_s));
        let v = bk.backends.get(n).map_or(0.0, |b| b.new_conns as f64);
        (alive || v > 0.0).then_some(v)
    };
    let spread = others_spread(&rec, &top.others, value);
    assert_eq!(spread.len(), rec.buckets.len());
    for (bk, (t, s)) in rec.buckets.iter().zip(&spread) {
        assert_eq!(*t, bk.t_s + rec.bucket_s / 2.0);
        let s = s.expect("others alive in every bucket");
        let total: u64 = bk.backends.values().map(|b| b.new_conns).sum();
        let shown: f64 = top.shown.iter().filter_map(|n| value(bk, n)).sum();
        let others = s.mean * s.count as f64;
        assert!(
            (shown + others - total as f64).abs() < 1e-6,
            "bucket {}: {shown} + {others} != {total}",
            bk.t_s
        );
        let alive = rec
            .backends
            .iter()
            .filter(|b| b.created_s <= bk.t_s)
            .count();
        assert_eq!(
            s.count + top.shown.iter().filter(|n| value(bk, n).is_some()).count(),
            alive
        );
        assert!(s.min <= s.mean && s.mean <= s.max);
    }
}

#[test]
fn share_bands_stack_to_the_whole_and_new_share_counts_every_new_pod() {
    let rec = many_backends(1000);
    let top = top_backends(&rec).unwrap();
    let bands = ShareBands::of(&rec, &top);
    assert_eq!(bands.order.len(), TOP_N);
    assert_eq!(bands.cum.len(), TOP_N + 1);
    let new_top = bands.new_top.as_ref().expect("new pods");
    let window = [MANY_SCALE_AT_S, rec.end_s()];
    for (i, bk) in rec.buckets.iter().enumerate() {
        let total: u64 = bk.backends.values().map(|b| b.responses).sum();
        let shown: u64 = top
            .shown
            .iter()
            .filter_map(|n| bk.backends.get(n))
            .map(|b| b.responses)
            .sum();
        // The others' band is everything the shown bands are not.
        let others_band = bands.cum[TOP_N][i] - bands.cum[TOP_N - 1][i];
        let others: u64 = total - shown;
        assert!((others_band - others as f64 / total as f64).abs() < 1e-9);
        assert!((bands.cum[TOP_N][i] - 1.0).abs() < 1e-12);
        for k in 1..=TOP_N {
            assert!(bands.cum[k][i] >= bands.cum[k - 1][i], "bands are stacked");
        }
        let new: u64 = rec
            .backends
            .iter()
            .filter(|b| b.added_by_last_scale_up)
            .filter_map(|b| bk.backends.get(&b.name))
            .map(|b| b.responses)
            .sum();
        assert!((new_top[i] - new as f64 / total as f64).abs() < 1e-9);
        if bk.t_s < window[0] {
            assert_eq!(new_top[i], 0.0);
        }
    }
}

#[test]
fn fair_ratios_average_one_over_the_backends_alive() {
    let rec = many_backends(1000);
    for (bk, ratios) in rec.buckets.iter().zip(fair_ratios(&rec)) {
        let ratios = ratios.expect("traffic in every bucket");
        let alive = rec
            .backends
            .iter()
            .filter(|b| b.created_s <= bk.t_s)
            .count();
        assert_eq!(ratios.len(), alive);
        let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
        assert!((mean - 1.0).abs() < 1e-9, "mean {mean}");
    }
    let mut odd = [3.0, 1.0, 2.0];
    assert_eq!(median(&mut odd), 2.0);
    let mut even = [4.0, 1.0, 3.0, 2.0];
    assert_eq!(median(&mut even), 2.0);
}

#[test]
fn a_thousand_backends_render_small_with_top_n_charts_and_tables() {
    let rec = many_backends(1000);
    let html = render(&rec);
    assert!(
        html.len() < PAGE_BOUND,
        "page {} bytes, bound {PAGE_BOUND}",
        html.len()
    );
    let figures: Vec<&str> = html
        .split("<figure class=\"chart\"")
        .skip(1)
        .map(|f| f.split("</figure>").next().unwrap())
        .collect();
    assert!(figures.len() >= 12, "{} charts", figures.len());
    for fig in &figures {
        let id = fig.split('"').nth(1).unwrap_or("");
        assert!(fig.len() < CHART_BOUND, "{id}: {} bytes", fig.len());
        // No chart names more pods than a top-N view shows.
        let named = pod_names(fig);
        assert!(named.len() <= TOP_N, "{id} names {} pods", named.len());
        // A line per backend would be ~1000 polylines.
        let lines = fig.matches("<polyline").count() + fig.matches("<path").count();
        assert!(lines < 400, "{id}: {lines} lines");
    }
    for (id, words) in [
        ("chart-share", "top 12 of 1000 backends by responses"),
        ("chart-new-conns", "top 12 of 1000 backends by responses"),
        ("chart-ct-entries", "top 12 of 1000 backends by responses"),
        ("chart-pod-phases", "top 12 of 1000 pods by restarts"),
        ("chart-accept-queue", "top 12 of 1000 pods by highest value"),
        ("chart-busy-workers", "top 12 of 1000 pods by highest value"),
        ("chart-fairness", "Fairness across all 1000 backends"),
    ] {
        let fig = figures
            .iter()
            .find(|f| f.contains(&format!("id=\"{id}\"")))
            .unwrap_or_else(|| panic!("no {id}"));
        assert!(fig.contains(words), "{id} says {words}");
    }
    assert!(html.contains("others (988 backends)"));
    // Every legend entry of the top-N charts is drawn (none cut to "+K more").
    assert!(
        !html.contains(" more (see the table)"),
        "a legend overflows"
    );
    // Backends table and access-log table: the top rows plus one others row.
    let table = html.split("<h2 id=\"backends\">").nth(1).unwrap();
    let table = table.split("</table>").next().unwrap();
    assert_eq!(
        table.matches("<tr>").count(),
        1 + TOP_N,
        "header + top rows"
    );
    assert_eq!(table.matches("<tr class=\"others\">").count(), 1);
    assert!(table.contains("250 new"), "the others' flags are counted");
    assert!(html.contains("id=\"backends-top\""));
    let log = html.split("<h3>Access log of client c").nth(1).unwrap();
    let log = log.split("</table>").next().unwrap();
    assert_eq!(
        log.matches("<tr>").count(),
        1 + TOP_N + 1,
        "header, top rows, others"
    );
    assert!(log.contains("<tr><td>others (988 backends)</td>"));
    let summed: u64 = rec.access_logs[0].by_backend.values().sum();
    assert_eq!(summed, rec.access_logs[0].requests);
    // The whole page names a bounded set of pods.
    let named = pod_names(&html);
    assert!(named.len() <= 5 * TOP_N, "{} pods named", named.len());
}

#[test]
fn at_the_threshold_every_backend_has_its_line_and_row() {
    let rec = many_backends(TOP_N_ABOVE);
    let html = render(&rec);
    assert!(!html.contains("chart-fairness") && !html.contains("top 12 of"));
    assert!(!html.contains("class=\"others\""));
    for b in &rec.backends {
        assert!(
            html.contains(&format!("{}</td>", b.name)),
            "row of {}",
            b.name
        );
    }
    let above = render(&many_backends(TOP_N_ABOVE + 1));
    assert!(above.contains("chart-fairness") && above.contains("top 12 of 21 backends"));
}
