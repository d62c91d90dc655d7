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
        let rec = self.record;
        if let Some(top) = top_backends(rec) {
            return self.share_chart_top(&top);
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

        let legend: Vec<LegendEntry> = order
            .iter()
            .map(|n| LegendEntry {
                label: if is_new(n) {
                    format!("{n} (new)")
                } else {
                    (*n).clone()
                },
                color: self.color(n),
                swatch: Swatch::Area,
            })
            .collect();
        let colors: Vec<RGBColor> = order.iter().map(|n| self.color(n)).collect();
        let new_top = (new_count > 0).then(|| cum[new_count - 1].clone());
        let what = match rec.share_basis {
            crate::record::ShareBasis::Responses => "responses",
            crate::record::ShareBasis::Connections => "new connections (datapath)",
        };
        let title = format!("Share of {what} per backend (stacked; new pods at the bottom)");
        self.stacked_share(&title, what, legend, &colors, &cum, new_top.as_deref())
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
        let series: Vec<(String, Segments)> = names
            .into_iter()
            .map(|name| {
                let points = rec
                    .buckets
                    .iter()
                    .map(|bk| (bk.t_s + mid, point(bk, &name)));
                let segs = segments(points);
                (name, segs)
            })
            .collect();
        let others = top
            .as_ref()
            .map(|t| others_spread(rec, &t.others, |bk, n| point(bk, n)));
        let y_max = nice_max(
            series
                .iter()
                .flat_map(|(_, s)| s.iter().flatten())
                .map(|p| p.1)
                .chain(
                    others
                        .iter()
                        .flatten()
                        .filter_map(|(_, s)| s.map(|s| s.max)),
                ),
        );
        let (legend, title) = match &top {
            None => (self.backend_legend(), title.to_string()),
            Some(t) => {
                let mut legend = self.named_legend(&t.shown, Swatch::Line(2));
                legend.extend(self.others_legend(t.others.len()));
                let title = format!("{title} ({})", t.words("backends", traffic_word(rec)));
                (legend, title)
            }
        };
        // A top-N chart is taller, so its legend (the lines and the others) fits.
        let plot_h = if top.is_some() { TOP_N_CHART_H } else { 304 };
        self.svg(plot_h + self.marker_h(), &legend, |area| {
            let mut chart = self
                .builder(area, &title, false)?
                .build_cartesian_2d(self.x[0]..self.x[1], 0.0..y_max)?;
            self.time_mesh(&mut chart)
                .y_desc(y_desc)
                .y_label_formatter(&|v| axis_num(*v))
                .draw()?;
            if let Some(others) = &others {
                self.draw_others(&mut chart, others)?;
            }
            self.draw_lines(&mut chart, &series)?;
            Ok(Geometry::of(&chart, self.x))
        })
    }

    /// Client throughput: ok/s on the left axis, errors/s (all kinds) on the
    /// right axis, so a handful of errors is not flattened against thousands
    /// of successes.
    pub fn client_rate_chart(&self) -> String {
        let rec = self.record;
        let per_s = 1.0 / rec.bucket_s.max(f64::MIN_POSITIVE);
        let mid = rec.bucket_s / 2.0;
        let ok: Vec<(f64, f64)> = rec
            .buckets
            .iter()
            .map(|b| (b.t_s + mid, b.client.ok as f64 * per_s))
            .collect();
        let err: Vec<(f64, f64)> = rec
            .buckets
            .iter()
            .map(|b| (b.t_s + mid, b.client.error_count() as f64 * per_s))
            .collect();
        let ok_max = nice_max(ok.iter().map(|p| p.1));
        let err_max = nice_max(err.iter().map(|p| p.1));
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
        let pick = |f: fn(&Bucket) -> f64| {
            segments(rec.buckets.iter().map(|b| {
                let ended = b.client.ok + b.client.error_count() > 0;
                let v = f(b);
                (
                    b.t_s + mid,
                    (ended && v > 0.0 && v.is_finite()).then_some(v),
                )
            }))
        };
        let lines = [
            ("p50", pick(|b| b.client.p50_ms), GREY, 2),
            ("p99", pick(|b| b.client.p99_ms), INK, 2),
            ("max", pick(|b| b.client.max_ms), ERROR_RED, 1),
        ];
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
