//! The backend and client charts: share of responses per backend
//! (stacked, new pods at the bottom), new connections and conntrack entries
//! per backend, client throughput and latency. They draw through the
//! parent's [`Frame`], so every chart shares its x geometry and markers.
use plotters::{
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use super::{
    ERROR_RED, FONT, Frame, GREY, Geometry, INK, LegendEntry, Segments, Swatch, log_range,
    nice_max, segments, steps, text_width,
    topn::{TOP_N_CHART_H, alive_in_bucket, others_spread, top_backends, traffic_word},
};
use crate::{
    fmt::axis_num,
    record::{BackendInfo, Bucket, RunRecord},
};

impl Frame<'_> {
    /// Per-backend share of responses, stacked. The backends added by the
    /// last scale-up are stacked at the bottom, so the top of their band
    /// (drawn as a thick black line) reads directly as their share on the y
    /// axis, next to a dashed line at their fair share.
    pub fn share_chart(&self) -> String {
        let view = self.share_view();
        let legend: Vec<LegendEntry> = view
            .bands
            .iter()
            .map(|(_, label, color)| LegendEntry {
                label: label.clone(),
                color: *color,
                swatch: Swatch::Area,
            })
            .collect();
        let colors: Vec<RGBColor> = view.bands.iter().map(|b| b.2).collect();
        self.stacked_share(
            &view.title,
            view.what,
            legend,
            &colors,
            &view.cum,
            view.new_top.as_deref(),
        )
    }

    /// What the share chart stacks (the SVG chart and the page's
    /// interactive chart both draw this): above [`super::topn::TOP_N_ABOVE`]
    /// backends the top-N bands and the others' band (`topn`).
    pub(super) fn share_view(&self) -> ShareView {
        let rec = self.record;
        let what = match rec.share_basis {
            crate::record::ShareBasis::Responses => "responses",
            crate::record::ShareBasis::Connections => "new connections (datapath)",
        };
        let band = |n: &String| {
            let label = self.named_legend(std::slice::from_ref(n), Swatch::Area)[0]
                .label
                .clone();
            (n.clone(), label, self.color(n))
        };
        if let Some(top) = top_backends(rec) {
            let bands = super::topn::ShareBands::of(rec, &top);
            let mut list: Vec<(String, String, RGBColor)> = bands.order.iter().map(band).collect();
            list.push((
                "others".into(),
                format!("others ({} backends)", top.others.len()),
                super::topn::OTHERS,
            ));
            return ShareView {
                title: format!(
                    "Share of {what} per backend (stacked; {}; others in grey)",
                    top.words("backends", traffic_word(rec))
                ),
                what,
                bands: list,
                cum: bands.cum,
                new_top: bands.new_top,
            };
        }
        let names = rec.backend_names();
        let is_new = |n: &str| rec.backend(n).is_some_and(|b| b.added_by_last_scale_up);
        let mut order: Vec<&String> = names.iter().filter(|n| is_new(n)).collect();
        order.extend(names.iter().filter(|n| !is_new(n)));
        let new_count = names.iter().filter(|n| is_new(n)).count();

        // cum[k][i]: top of backend order[k]'s band in bucket i.
        let mut cum: Vec<Vec<f64>> = vec![vec![0.0; rec.buckets.len()]; order.len()];
        for (i, bucket) in rec.buckets.iter().enumerate() {
            let total: u64 = bucket
                .backends
                .values()
                .map(|b| b.share_count(rec.share_basis))
                .sum();
            let mut acc = 0.0;
            for (k, name) in order.iter().enumerate() {
                if total > 0 {
                    acc += bucket
                        .backends
                        .get(*name)
                        .map_or(0, |b| b.share_count(rec.share_basis))
                        as f64
                        / total as f64;
                }
                cum[k][i] = acc;
            }
        }
        let new_top = (new_count > 0).then(|| cum[new_count - 1].clone());
        ShareView {
            title: format!("Share of {what} per backend (stacked; new pods at the bottom)"),
            what,
            bands: order.into_iter().map(band).collect(),
            cum,
            new_top,
        }
    }

    /// Draws a stacked share chart: `cum[k][i]` is the top of band k (in
    /// `colors[k]`) in bucket i; `new_top`, when there are new pods, their
    /// share per bucket (drawn thick, next to their fair share).
    pub(super) fn stacked_share(
        &self,
        title: &str,
        what: &str,
        mut legend: Vec<LegendEntry>,
        colors: &[RGBColor],
        cum: &[Vec<f64>],
        new_top: Option<&[f64]>,
    ) -> String {
        let rec = self.record;
        if new_top.is_some() {
            legend.push(LegendEntry {
                label: "new pods' share".into(),
                color: BLACK,
                swatch: Swatch::Line(3),
            });
            legend.push(LegendEntry {
                label: "new pods' fair share".into(),
                color: BLACK,
                swatch: Swatch::Dashed,
            });
        }
        let y_desc = format!("share of {what} (%)");
        self.svg(404 + self.marker_h(), &legend, |area| {
            let mut chart = self
                .builder(area, title, false)?
                .build_cartesian_2d(self.x[0]..self.x[1], 0.0..1.0)?;
            self.time_mesh(&mut chart)
                .y_desc(y_desc.as_str())
                .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
                .light_line_style(WHITE.mix(0.0))
                .draw()?;
            let b = rec.bucket_s;
            for (k, color) in colors.iter().enumerate() {
                let mut points: Vec<(f64, f64)> = Vec::with_capacity(rec.buckets.len() * 4);
                for (i, bucket) in rec.buckets.iter().enumerate() {
                    points.push((bucket.t_s, cum[k][i]));
                    points.push((bucket.t_s + b, cum[k][i]));
                }
                for (i, bucket) in rec.buckets.iter().enumerate().rev() {
                    let lower = if k == 0 { 0.0 } else { cum[k - 1][i] };
                    points.push((bucket.t_s + b, lower));
                    points.push((bucket.t_s, lower));
                }
                chart.draw_series(std::iter::once(Polygon::new(points, color.filled())))?;
            }
            // Light horizontal grid on top of the bands, so levels can be read.
            for level in [0.25, 0.5, 0.75] {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(self.x[0], level), (self.x[1], level)],
                    WHITE.mix(0.6).stroke_width(1),
                )))?;
            }
            let geometry = Geometry::of(&chart, self.x);
            if let Some(top) = new_top {
                let fair: Vec<Option<f64>> = rec
                    .buckets
                    .iter()
                    .map(|bk| fair_new_share(rec, bk))
                    .collect();
                // Only while a new pod exists: before that the share is 0 by definition.
                let line = steps(
                    rec.buckets
                        .iter()
                        .zip(top.iter().zip(&fair))
                        .map(|(bk, (v, f))| (bk.t_s, f.map(|_| *v))),
                    b,
                );
                for segment in line {
                    chart.draw_series(LineSeries::new(segment, BLACK.stroke_width(3)))?;
                }
                for segment in steps(rec.buckets.iter().zip(&fair).map(|(bk, f)| (bk.t_s, *f)), b) {
                    chart.draw_series(DashedLineSeries::new(
                        segment,
                        8,
                        5,
                        BLACK.stroke_width(2),
                    ))?;
                }
                // Spell the figure out next to the line's end.
                let summary = crate::derive::summarize(rec);
                if let (Some(share), Some(Some(fair_end)), Some(last)) =
                    (summary.new_backend_share, fair.last(), top.last())
                {
                    let label = format!(
                        "new pods: {:.1}% of responses since the scale-up (fair share {:.0}%)",
                        share * 100.0,
                        fair_end * 100.0
                    );
                    let (_, py) = chart.backend_coord(&(self.x[1], *last));
                    let y = if py - 30 < geometry.top {
                        py + 8
                    } else {
                        py - 30
                    };
                    let w = text_width(&label, 17) + 14;
                    let x = geometry.right - 8;
                    area.draw(&Rectangle::new([(x - w, y), (x, y + 21)], WHITE.filled()))?;
                    area.draw(&Rectangle::new(
                        [(x - w, y), (x, y + 21)],
                        INK.stroke_width(1),
                    ))?;
                    let style = TextStyle::from((FONT, 17).into_font().style(FontStyle::Bold))
                        .color(&INK)
                        .pos(Pos::new(HPos::Right, VPos::Center));
                    area.draw(&Text::new(label, (x - 6, y + 11), style))?;
                }
            }
            Ok(geometry)
        })
    }

    /// New connections per backend per second (datapath selections and
    /// reselections).
    pub fn new_conns_chart(&self) -> String {
        self.backend_lines_chart(
            "New connections per backend (datapath)",
            "new connections / s",
            |b| b.new_conns as f64 / self.record.bucket_s.max(f64::MIN_POSITIVE),
        )
    }

    /// Live service CT entries per backend at each bucket's end.
    pub fn ct_chart(&self) -> String {
        self.backend_lines_chart(
            "Live service conntrack entries per backend",
            "CT entries",
            |b| b.ct_entries as f64,
        )
    }

    /// A line per backend of `value`; above [`super::topn::TOP_N_ABOVE`] backends, the
    /// busiest [`super::topn::TOP_N`] as lines and the others as one band
    /// (lowest to highest) with their mean.
    fn backend_lines_chart(
        &self,
        title: &str,
        y_desc: &str,
        value: impl Fn(&crate::record::BackendBucket) -> f64,
    ) -> String {
        let rec = self.record;
        let mid = rec.bucket_s / 2.0;
        let view = self.lines_view(title, value);
        let series: Vec<(&String, Segments)> = view
            .lines
            .iter()
            .map(|(name, values)| {
                let points = rec
                    .buckets
                    .iter()
                    .zip(values)
                    .map(|(bk, v)| (bk.t_s + mid, *v));
                (name, segments(points))
            })
            .collect();
        let legend = match &view.top {
            None => self.backend_legend(),
            Some(t) => {
                let mut legend = self.named_legend(&t.shown, Swatch::Line(2));
                legend.extend(self.others_legend(t.others.len()));
                legend
            }
        };
        // A top-N chart is taller, so its legend (the lines and the others) fits.
        let plot_h = if view.top.is_some() {
            TOP_N_CHART_H
        } else {
            304
        };
        self.svg(plot_h + self.marker_h(), &legend, |area| {
            let mut chart = self
                .builder(area, &view.title, false)?
                .build_cartesian_2d(self.x[0]..self.x[1], 0.0..view.y_max)?;
            self.time_mesh(&mut chart)
                .y_desc(y_desc)
                .y_label_formatter(&|v| axis_num(*v))
                .draw()?;
            if let Some(others) = &view.others {
                self.draw_others(&mut chart, others)?;
            }
            self.draw_lines(&mut chart, &series)?;
            Ok(Geometry::of(&chart, self.x))
        })
    }

    /// What a per-backend lines chart draws (the SVG chart and the page's
    /// interactive chart both draw this): each shown backend's value per
    /// bucket (None where it has none), the others' spread in top-N runs,
    /// the title and the y axis' top.
    pub(super) fn lines_view(
        &self,
        title: &str,
        value: impl Fn(&crate::record::BackendBucket) -> f64,
    ) -> LinesView {
        let rec = self.record;
        let top = top_backends(rec);
        let infos = super::topn::infos(rec);
        // A backend's value in a bucket: shown while it is an endpoint, or
        // whenever it has one.
        let point = |bk: &Bucket, name: &str| {
            let alive = infos
                .get(name)
                .is_none_or(|i| alive_in_bucket(i, bk, rec.bucket_s));
            let v = bk.backends.get(name).map_or(0.0, &value);
            (alive || v > 0.0).then_some(v)
        };
        let names = top
            .as_ref()
            .map_or_else(|| rec.backend_names(), |t| t.shown.clone());
        let lines: Vec<(String, Vec<Option<f64>>)> = names
            .into_iter()
            .map(|name| {
                let values = rec.buckets.iter().map(|bk| point(bk, &name)).collect();
                (name, values)
            })
            .collect();
        let others = top
            .as_ref()
            .map(|t| others_spread(rec, &t.others, |bk, n| point(bk, n)));
        let y_max = nice_max(
            lines
                .iter()
                .flat_map(|(_, v)| v.iter().flatten().copied())
                .chain(
                    others
                        .iter()
                        .flatten()
                        .filter_map(|(_, s)| s.map(|s| s.max)),
                ),
        );
        let title = match &top {
            None => title.to_string(),
            Some(t) => format!("{title} ({})", t.words("backends", traffic_word(rec))),
        };
        LinesView {
            title,
            lines,
            others,
            top,
            y_max,
        }
    }

    /// Client throughput: ok/s on the left axis, errors/s (all kinds) on the
    /// right axis, so a handful of errors is not flattened against thousands
    /// of successes.
    pub fn client_rate_chart(&self) -> String {
        let rec = self.record;
        let mid = rec.bucket_s / 2.0;
        let [ok, err] = client_rates(rec);
        let ok_max = nice_max(ok.iter().copied());
        let err_max = nice_max(err.iter().copied());
        let at_mid = |values: Vec<f64>| -> Vec<(f64, f64)> {
            rec.buckets
                .iter()
                .zip(values)
                .map(|(b, v)| (b.t_s + mid, v))
                .collect()
        };
        let (ok, err) = (at_mid(ok), at_mid(err));
        let legend = [
            LegendEntry {
                label: "ok / s (left axis)".into(),
                color: INK,
                swatch: Swatch::Line(2),
            },
            LegendEntry {
                label: "errors / s (right axis)".into(),
                color: ERROR_RED,
                swatch: Swatch::Line(2),
            },
        ];
        self.svg(304 + self.marker_h(), &legend, |area| {
            let mut chart = self
                .builder(
                    area,
                    "Client: successful responses and errors per second",
                    true,
                )?
                .build_cartesian_2d(self.x[0]..self.x[1], 0.0..ok_max)?
                .set_secondary_coord(self.x[0]..self.x[1], 0.0..err_max);
            self.time_mesh(&mut chart)
                .y_desc("ok responses / s")
                .y_label_formatter(&|v| axis_num(*v))
                .draw()?;
            chart
                .configure_secondary_axes()
                .y_desc("errors / s")
                .y_label_formatter(&|v| axis_num(*v))
                .axis_desc_style((FONT, 17).into_font().color(&ERROR_RED))
                .label_style((FONT, 15).into_font().color(&ERROR_RED))
                .draw()?;
            chart.draw_series(LineSeries::new(ok.iter().copied(), INK.stroke_width(2)))?;
            chart.draw_secondary_series(LineSeries::new(
                err.iter().copied(),
                ERROR_RED.stroke_width(2),
            ))?;
            Ok(Geometry::of(&chart, self.x))
        })
    }

    /// Client latency p50/p99/max per bucket, log scale (p50 under a
    /// millisecond and a max at the timeout fit on one chart). Buckets in
    /// which no request ended are gaps.
    pub fn latency_chart(&self) -> String {
        let rec = self.record;
        let mid = rec.bucket_s / 2.0;
        let lines = latency_lines(rec).map(|(label, values, color, w)| {
            let segs = segments(
                rec.buckets
                    .iter()
                    .zip(values)
                    .map(|(b, v)| (b.t_s + mid, v)),
            );
            (label, segs, color, w)
        });
        let y_range = log_range(lines.iter().flat_map(|l| l.1.iter().flatten()).map(|p| p.1));
        let legend: Vec<LegendEntry> = lines
            .iter()
            .map(|(label, _, color, w)| LegendEntry {
                label: format!("{label} (ms)"),
                color: *color,
                swatch: Swatch::Line(*w),
            })
            .collect();
        self.svg(304 + self.marker_h(), &legend, |area| {
            let mut chart = self
                .builder(area, "Client latency per bucket (log scale)", false)?
                .build_cartesian_2d(self.x[0]..self.x[1], y_range.log_scale())?;
            self.time_mesh(&mut chart)
                .y_desc("latency (ms)")
                .y_label_formatter(&|v| axis_num(*v))
                .draw()?;
            for (_, segs, color, w) in &lines {
                for seg in segs {
                    chart.draw_series(LineSeries::new(
                        seg.iter().copied(),
                        color.stroke_width(*w),
                    ))?;
                }
            }
            Ok(Geometry::of(&chart, self.x))
        })
    }
}

/// Fair share of the new backends in a bucket: new alive / all alive; None
/// while no new backend is alive.
pub(super) fn fair_new_share(rec: &RunRecord, bucket: &Bucket) -> Option<f64> {
    let alive: Vec<&BackendInfo> = rec
        .backends
        .iter()
        .filter(|b| alive_in_bucket(b, bucket, rec.bucket_s))
        .collect();
    let new = alive.iter().filter(|b| b.added_by_last_scale_up).count();
    (new > 0).then(|| new as f64 / alive.len() as f64)
}

/// Client ok responses and errors (all kinds) per second, per bucket.
pub(super) fn client_rates(rec: &RunRecord) -> [Vec<f64>; 2] {
    let per_s = 1.0 / rec.bucket_s.max(f64::MIN_POSITIVE);
    [
        rec.buckets
            .iter()
            .map(|b| b.client.ok as f64 * per_s)
            .collect(),
        rec.buckets
            .iter()
            .map(|b| b.client.error_count() as f64 * per_s)
            .collect(),
    ]
}

/// One client latency line: label, value per bucket (None in a bucket in
/// which no request ended, or without a positive figure), colour, width.
pub(super) type LatencyLine = (&'static str, Vec<Option<f64>>, RGBColor, u32);

/// The latency chart's p50, p99 and max lines.
pub(super) fn latency_lines(rec: &RunRecord) -> [LatencyLine; 3] {
    let pick = |f: fn(&Bucket) -> f64| -> Vec<Option<f64>> {
        rec.buckets
            .iter()
            .map(|b| {
                let ended = b.client.ok + b.client.error_count() > 0;
                let v = f(b);
                (ended && v > 0.0 && v.is_finite()).then_some(v)
            })
            .collect()
    };
    [
        ("p50", pick(|b| b.client.p50_ms), GREY, 2),
        ("p99", pick(|b| b.client.p99_ms), INK, 2),
        ("max", pick(|b| b.client.max_ms), ERROR_RED, 1),
    ]
}

/// What the share chart stacks, bottom band first.
pub(super) struct ShareView {
    pub title: String,
    /// What shares count, in words ("responses").
    pub what: &'static str,
    /// Per band: the backend's name ("others" for the top-N aggregate),
    /// its legend label and colour.
    pub bands: Vec<(String, String, RGBColor)>,
    /// `cum[k][i]`: top of band k in bucket i.
    pub cum: Vec<Vec<f64>>,
    /// The new pods' share per bucket; None without new pods.
    pub new_top: Option<Vec<f64>>,
}

/// What a per-backend lines chart draws.
pub(super) struct LinesView {
    pub title: String,
    /// Each shown backend's value per bucket.
    pub lines: Vec<(String, Vec<Option<f64>>)>,
    /// Top-N runs: the others' spread per bucket (at the bucket's middle).
    pub others: Option<Vec<(f64, Option<super::topn::Spread>)>>,
    pub top: Option<super::topn::TopN>,
    pub y_max: f64,
}
