//! The pod charts of incident-B style runs (records with
//! [`RunRecord::pods`]): phases and restarts per pod, probe outcomes and
//! latencies, and the pod colours and lists the page shares (the charts
//! that count over time are in the sibling `replicas`). They use the
//! parent module's [`Frame`], so they share the other charts' width, x
//! geometry and timeline markers and line up under them on the page.
//!
//! plotters' SVG backend cannot attach a `<title>` (a browser tooltip) to a
//! shape, so the restart markers, which need one for their reason, are
//! written as plain SVG and appended to the chart's markup.

use std::{collections::BTreeSet, fmt::Write as _};

use plotters::prelude::*;

use super::{
    ERROR_RED, FONT, Frame, GREY, Geometry, INK, LegendEntry, PALETTE, Segments, Swatch, X_LABEL_H,
    Y_LABEL_W, nice_max, segments,
};

use crate::{
    derive::{PROBE_KINDS, phase_spans},
    fmt::{axis_num, count_tick, escape, num},
    record::{PodPhase, PodRecord, ProbeBucket, RunRecord},
};

use super::topn::TopN;

/// Height of one pod's row in the phase chart.
const ROW_H: u32 = 30;

/// The bar inside a row, as fractions of the row from its bottom.
const BAR: [f64; 2] = [0.2, 0.8];

pub(super) const READY_GREEN: RGBColor = RGBColor(0x1B, 0x9E, 0x4B);

pub(super) const AMBER: RGBColor = RGBColor(0xE6, 0x9F, 0x00);

pub(super) const PURPLE: RGBColor = RGBColor(0x6A, 0x3D, 0x9A);

/// The colour of each pod phase, the same in the chart, its legend and the
/// tables: pending grey, running light blue, ready green, not ready amber,
/// terminating red, back-off dark purple.
pub fn phase_color(phase: PodPhase) -> RGBColor {
    match phase {
        PodPhase::Pending => RGBColor(0xBD, 0xBD, 0xBD),
        PodPhase::Running => RGBColor(0x9E, 0xCA, 0xE9),
        PodPhase::Ready => READY_GREEN,
        PodPhase::NotReady => AMBER,
        PodPhase::Terminating => RGBColor(0xD7, 0x30, 0x27),
        PodPhase::BackOff => RGBColor(0x3F, 0x00, 0x7D),
    }
}

/// Colour of each probe kind's lines in the latency chart.
fn probe_kind_color(kind: &str) -> RGBColor {
    match kind {
        "startup" => GREY,
        "readiness" => PALETTE[0],
        "liveness" => PALETTE[3],
        _ => PALETTE[5],
    }
}

/// Probe kinds that occur in the record: kubelet's order first, then any
/// other kind by name.
pub fn probe_kinds(record: &RunRecord) -> Vec<String> {
    let seen: BTreeSet<&str> = record
        .buckets
        .iter()
        .flat_map(|b| b.pods.values())
        .flat_map(|p| p.probes.keys())
        .map(String::as_str)
        .collect();
    let mut kinds: Vec<String> = PROBE_KINDS
        .iter()
        .filter(|k| seen.contains(**k))
        .map(|k| (*k).to_string())
        .collect();
    kinds.extend(
        seen.iter()
            .filter(|k| !PROBE_KINDS.contains(k))
            .map(|k| (*k).to_string()),
    );
    kinds
}

/// Deployments that have per-bucket figures, by name.
pub fn deployments(record: &RunRecord) -> Vec<String> {
    let names: BTreeSet<&String> = record
        .buckets
        .iter()
        .flat_map(|b| b.deployments.keys())
        .collect();
    names.into_iter().cloned().collect()
}

/// Appends `extra` (SVG elements) inside the chart's `<svg>`; a chart that
/// could not be drawn (an HTML note, no `</svg>`) is returned as is.
fn inject(mut svg: String, extra: &str) -> String {
    if let Some(i) = svg.rfind("</svg>") {
        svg.insert_str(i, extra);
    }
    svg
}

/// One stacked layer of the probe-outcome chart: label, colour, count.
type OutcomeLayer = (&'static str, RGBColor, fn(&ProbeBucket) -> u32);

impl Frame<'_> {
    /// One row per pod (creation order), a bar coloured by its phase over
    /// time, and a marker at each container restart with the restart count
    /// (its reason in the marker's tooltip).
    pub fn pod_phase_chart(&self) -> String {
        let rec = self.record;
        let top = top_pods(rec, self.x[1]);
        let pods: Vec<&PodRecord> = match &top {
            Some(t) => rec
                .pods
                .iter()
                .filter(|p| t.shown.contains(&p.name))
                .collect(),
            None => rec.pods.iter().collect(),
        };
        let rows = pods.len().max(1);
        let mut legend: Vec<LegendEntry> = PodPhase::ALL
            .iter()
            .map(|p| LegendEntry {
                label: p.word().to_string(),
                color: phase_color(*p),
                swatch: Swatch::Area,
            })
            .collect();
        legend.push(LegendEntry {
            label: "restart (count)".into(),
            color: INK,
            swatch: Swatch::Marker,
        });
        // The plot is tall enough for the rows and for the legend beside it.
        let plot_h = (rows as u32 * ROW_H).max(legend.len() as u32 * 22 + 12);
        let height = super::TITLE_H + self.marker_h() + plot_h + X_LABEL_H + 12;
        let title = match &top {
            Some(t) => format!(
                "Pod phases and container restarts ({}; the ready chart counts every pod)",
                t.words("pods", "restarts, then time not ready")
            ),
            None => "Pod phases and container restarts".to_string(),
        };
        let mut overlay = String::new();
        let svg = self.svg(height, &legend, |area| {
            let mut chart = self
                .builder(area, &title, false)?
                .build_cartesian_2d(self.x[0]..self.x[1], 0.0..rows as f64)?;
            self.time_mesh(&mut chart)
                .y_labels(0)
                .disable_y_mesh()
                .draw()?;
            // Row i from the top.
            let row_y = |i: usize| (rows - 1 - i) as f64;
            for (i, pod) in pods.iter().enumerate() {
                let y = row_y(i);
                // Phases from before the run's clock started (pods created
                // while the run set up) are cut at the axis.
                for span in phase_spans(pod, self.x[1]) {
                    let from = span.from.max(self.x[0]);
                    if span.to <= from {
                        continue;
                    }
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(from, y + BAR[0]), (span.to, y + BAR[1])],
                        phase_color(span.phase).filled(),
                    )))?;
                }
            }
            let g = Geometry::of(&chart, self.x);
            let name_style = TextStyle::from((FONT, 15).into_font())
                .color(&INK)
                .pos(super::Pos::new(super::HPos::Right, super::VPos::Center));
            for (i, pod) in pods.iter().enumerate() {
                let (_, mid) = chart.backend_coord(&(self.x[0], row_y(i) + 0.5));
                let name = fit(&pod.name, Y_LABEL_W as i32 - 12, 15);
                area.draw(&Text::new(name, (g.left - 6, mid), name_style.clone()))?;
                let (_, top) = chart.backend_coord(&(self.x[0], row_y(i) + BAR[1]));
                let (_, bottom) = chart.backend_coord(&(self.x[0], row_y(i) + BAR[0]));
                for r in &pod.restarts {
                    let x = g.px(r.t_s);
                    if x < g.left || x > g.right {
                        continue;
                    }
                    let _ = write!(
                        overlay,
                        "<g class=\"restart-marker\"><title>{} restart {} at {} s: {}</title>\
                         <line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#000\" stroke-width=\"2\"/>\
                         <path d=\"M{} {} L{} {} L{x} {} Z\" fill=\"#000\" stroke=\"#fff\" stroke-width=\"1\"/>\
                         <text x=\"{}\" y=\"{}\" font-family=\"sans-serif\" font-size=\"13\" font-weight=\"700\" \
                         fill=\"#000\" stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">{}</text></g>",
                        escape(&pod.name),
                        r.count,
                        num(r.t_s),
                        escape(&r.reason),
                        top - 1,
                        bottom + 1,
                        x - 6,
                        top - 6,
                        x + 6,
                        top - 6,
                        top + 4,
                        x + 4,
                        bottom - 2,
                        r.count,
                    );
                }
            }
            Ok(g)
        });
        inject(svg, &overlay)
    }

    /// Outcomes of the `kind` probes that ended in each bucket, summed over
    /// pods and stacked: timeouts at the bottom, then failures, then
    /// successes, so the failures read directly off the axis.
    pub fn probe_outcome_chart(&self, kind: &str) -> String {
        let rec = self.record;
        let totals: Vec<(f64, ProbeBucket)> = rec
            .buckets
            .iter()
            .map(|b| {
                let mut sum = ProbeBucket::default();
                for p in b.pods.values().filter_map(|p| p.probes.get(kind)) {
                    sum.success += p.success;
                    sum.failure += p.failure;
                    sum.timeout += p.timeout;
                }
                (b.t_s, sum)
            })
            .collect();
        let y_max = nice_max(totals.iter().map(|(_, p)| f64::from(p.count()))).ceil();
        let layers: [OutcomeLayer; 3] = [
            ("timeout", ERROR_RED, |p| p.timeout),
            ("failure", AMBER, |p| p.failure),
            ("success", READY_GREEN, |p| p.success),
        ];
        let legend: Vec<LegendEntry> = layers
            .iter()
            .rev()
            .map(|(label, color, _)| LegendEntry {
                label: (*label).to_string(),
                color: *color,
                swatch: Swatch::Area,
            })
            .collect();
        let title = format!(
            "{} probes: outcomes per bucket (all pods, stacked)",
            capitalise(kind)
        );
        let b = rec.bucket_s;
        self.svg(254 + self.marker_h(), &legend, |area| {
            let mut chart = self
                .builder(area, &title, false)?
                .build_cartesian_2d(self.x[0]..self.x[1], 0.0..y_max)?;
            self.time_mesh(&mut chart)
                .y_desc("probes")
                .y_label_formatter(&count_tick)
                .draw()?;
            for (t, p) in &totals {
                let mut base = 0.0;
                for (_, color, value) in &layers {
                    let v = f64::from(value(p));
                    if v > 0.0 {
                        chart.draw_series(std::iter::once(Rectangle::new(
                            [(t + 0.1 * b, base), (t + 0.9 * b, base + v)],
                            color.filled(),
                        )))?;
                    }
                    base += v;
                }
            }
            Ok(Geometry::of(&chart, self.x))
        })
    }

    /// Probe latency per kind: the mean (weighted by probes, solid) and the
    /// highest (dashed) over pods, log scale.
    pub fn probe_latency_chart(&self) -> String {
        let rec = self.record;
        let mid = rec.bucket_s / 2.0;
        let kinds = probe_kinds(rec);
        let shown = |v: Option<f64>| v.filter(|v| *v > 0.0 && v.is_finite());
        let series: Vec<(String, Segments, Segments)> = kinds
            .iter()
            .map(|kind| {
                let (mut mean, mut max) = (Vec::new(), Vec::new());
                for b in &rec.buckets {
                    let probes: Vec<&ProbeBucket> = b
                        .pods
                        .values()
                        .filter_map(|p| p.probes.get(kind))
                        .filter(|p| p.count() > 0)
                        .collect();
                    let n: u32 = probes.iter().map(|p| p.count()).sum();
                    let weighted = (n > 0).then(|| {
                        probes
                            .iter()
                            .map(|p| p.latency_ms_mean * f64::from(p.count()))
                            .sum::<f64>()
                            / f64::from(n)
                    });
                    let highest = probes.iter().map(|p| p.latency_ms_max).reduce(f64::max);
                    mean.push((b.t_s + mid, shown(weighted)));
                    max.push((b.t_s + mid, shown(highest)));
                }
                (
                    kind.clone(),
                    segments(mean.into_iter()),
                    segments(max.into_iter()),
                )
            })
            .collect();
        let y_range = super::log_range(
            series
                .iter()
                .flat_map(|(_, a, b)| a.iter().chain(b.iter()).flatten())
                .map(|p| p.1),
        );
        let mut legend = Vec::new();
        for kind in &kinds {
            legend.push(LegendEntry {
                label: format!("{kind} mean"),
                color: probe_kind_color(kind),
                swatch: Swatch::Line(2),
            });
            legend.push(LegendEntry {
                label: format!("{kind} max"),
                color: probe_kind_color(kind),
                swatch: Swatch::Dashed,
            });
        }
        self.svg(304 + self.marker_h(), &legend, |area| {
            let mut chart = self
                .builder(area, "Probe latency per kind (log scale, all pods)", false)?
                .build_cartesian_2d(self.x[0]..self.x[1], y_range.log_scale())?;
            self.time_mesh(&mut chart)
                .y_desc("probe latency (ms)")
                .y_label_formatter(&|v| axis_num(*v))
                .draw()?;
            for (kind, mean, max) in &series {
                let color = probe_kind_color(kind);
                for seg in mean {
                    chart
                        .draw_series(LineSeries::new(seg.iter().copied(), color.stroke_width(2)))?;
                    // A lone bucket (a startup probe, say) draws no line: a dot.
                    if let [point] = seg.as_slice() {
                        chart.draw_series(std::iter::once(Circle::new(
                            *point,
                            3,
                            color.filled(),
                        )))?;
                    }
                }
                for seg in max {
                    chart.draw_series(DashedLineSeries::new(
                        seg.iter().copied(),
                        6,
                        4,
                        color.stroke_width(1),
                    ))?;
                }
            }
            Ok(Geometry::of(&chart, self.x))
        })
    }
}

/// Above [`super::topn::TOP_N_ABOVE`] pods, the pods the phase chart and
/// the restart table show: most restarts first, then most time not ready
/// (pending, running, not ready, terminating, back-off) before `end_s`.
pub(crate) fn top_pods(rec: &RunRecord, end_s: f64) -> Option<TopN> {
    if rec.pods.len() <= super::topn::TOP_N_ABOVE {
        return None;
    }
    let key: std::collections::BTreeMap<&str, f64> = rec
        .pods
        .iter()
        .map(|p| {
            let not_ready: f64 = phase_spans(p, end_s)
                .iter()
                .filter(|s| s.phase != PodPhase::Ready)
                .map(|s| s.to - s.from)
                .sum();
            // Restarts count first: not-ready time is bounded by the run.
            let weight = end_s.abs().max(1.0) * 2.0;
            (
                p.name.as_str(),
                p.restarts.len() as f64 * weight + not_ready,
            )
        })
        .collect();
    TopN::rank(rec.pods.iter().map(|p| p.name.clone()).collect(), |n| {
        key.get(n).copied().unwrap_or(0.0)
    })
}

/// `s` cut (with an ellipsis) to about `width` pixels at `size`.
fn fit(s: &str, width: i32, size: i32) -> String {
    let per_char = (size * 42 / 100).max(1);
    super::truncate(s, (width / per_char).max(2) as usize)
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::liveness_cascade;

    /// Each `<text>` element's x attribute and trimmed content.
    fn texts(svg: &str) -> Vec<(String, String)> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| {
                let x = t.split("x=\"").nth(1)?.split('"').next()?;
                let content = t.split_once('>')?.1.split("</text>").next()?;
                Some((x.to_string(), content.trim().to_string()))
            })
            .collect()
    }

    #[test]
    fn phase_chart_has_a_marker_with_its_reason_per_restart() {
        let rec = liveness_cascade();
        let svg = Frame::new(&rec).pod_phase_chart();
        let restarts: usize = rec.pods.iter().map(|p| p.restarts.len()).sum();
        assert!(restarts > 0);
        assert_eq!(svg.matches("class=\"restart-marker\"").count(), restarts);
        assert!(svg.contains("web-1 restart 2 at 31 s: liveness probe failed"));
        assert!(svg.trim_end().ends_with("</svg>"), "markers inside the svg");
        for phase in PodPhase::ALL {
            assert!(svg.contains(phase.word()), "legend entry {}", phase.word());
        }
        let labels = texts(&svg);
        for pod in &rec.pods {
            assert!(
                labels.iter().any(|(_, t)| *t == pod.name),
                "row label {}",
                pod.name
            );
        }
        // Every phase's colour is drawn (as a bar or a legend swatch).
        let back_off = super::super::css(phase_color(PodPhase::BackOff));
        assert!(svg.contains(&back_off) || svg.contains(&back_off.to_uppercase()));
    }

    #[test]
    fn pod_charts_share_the_x_geometry_of_the_other_charts() {
        let rec = liveness_cascade();
        let frame = Frame::new(&rec);
        // The x axis' tick labels sit at the same pixel columns.
        let ticks = |svg: &str| -> Vec<String> {
            texts(svg)
                .into_iter()
                .filter(|(_, t)| t == "20" || t == "40" || t == "60")
                .map(|(x, t)| format!("{t}@{x}"))
                .collect()
        };
        let reference = ticks(&frame.share_chart());
        assert!(!reference.is_empty());
        for svg in [
            frame.pod_phase_chart(),
            frame.restarts_chart(),
            frame.accept_queue_chart(),
            frame.busy_chart(),
            frame.probe_outcome_chart("liveness"),
            frame.probe_latency_chart(),
        ] {
            let t = ticks(&svg);
            assert!(
                reference.iter().all(|x| t.contains(x)),
                "x ticks {t:?} vs {reference:?}"
            );
        }
    }

    #[test]
    fn kinds_in_kubelet_order_and_limits_labelled() {
        let rec = liveness_cascade();
        assert_eq!(probe_kinds(&rec), ["startup", "readiness", "liveness"]);
        assert_eq!(deployments(&rec), ["web"]);
        let frame = Frame::new(&rec);
        assert!(frame.accept_queue_chart().contains("backlog 64"));
        assert!(frame.busy_chart().contains("workers 4"));
        let ready = frame.ready_chart("web");
        assert!(
            ready.contains("autoscaler&apos;s desired")
                || ready.contains("autoscaler's desired")
                || ready.contains("autoscaler&#39;s desired")
        );
        assert!(ready.contains("metric (per-pod average)"));
    }

    #[test]
    fn overlay_goes_inside_the_svg_only() {
        assert_eq!(inject("<svg></svg>\n".into(), "<g/>"), "<svg><g/></svg>\n");
        assert_eq!(inject("<p>error</p>".into(), "<g/>"), "<p>error</p>");
    }
}
