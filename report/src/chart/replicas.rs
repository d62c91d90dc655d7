//! The pod charts that count over time: container restarts so far, a
//! deployment's ready vs desired replicas (with the autoscaler's metric),
//! accept queues against the backlog and busy workers against the worker
//! count. Like the other pod charts they draw through the parent's
//! [`Frame`] and line up under the rest.
use std::collections::{BTreeMap, BTreeSet};

use plotters::{element::DashedPathElement, prelude::*};

use super::{
    ERROR_RED, FONT, Frame, GREY, Geometry, INK, LegendEntry, PALETTE, Segments, Swatch, nice_max,
    pods::{PURPLE, READY_GREEN},
    segments, steps, text_width,
    topn::{TOP_N_ABOVE, TOP_N_CHART_H, TopN, others_spread},
};
use crate::{
    fmt::{axis_num, count_tick},
    record::PodBucket,
};

/// One line of the replicas chart.
struct ReplicaLine {
    label: &'static str,
    segs: Segments,
    color: RGBColor,
    width: u32,
    /// Dash and gap lengths; None for a solid line.
    dash: Option<(u32, u32)>,
}

impl Frame<'_> {
    /// Container restarts so far, all pods (thick), and per pod that
    /// restarted (thin, in its colour), as steps at the restart times.
    pub fn restarts_chart(&self) -> String {
        let rec = self.record;
        let [x0, x1] = self.x;
        let step_line = |times: &mut Vec<f64>| {
            times.sort_by(f64::total_cmp);
            let mut points = vec![(x0, 0.0)];
            for (n, t) in times.iter().enumerate() {
                let t = t.clamp(x0, x1);
                points.push((t, n as f64));
                points.push((t, n as f64 + 1.0));
            }
            points.push((x1, times.len() as f64));
            points
        };
        let mut all: Vec<f64> = rec
            .pods
            .iter()
            .flat_map(|p| &p.restarts)
            .map(|r| r.t_s)
            .collect();
        let total = step_line(&mut all);
        let mut restarted: Vec<&crate::record::PodRecord> =
            rec.pods.iter().filter(|p| !p.restarts.is_empty()).collect();
        // Many restarted pods: lines for those that restarted most (the
        // total line counts them all).
        let top = TopN::rank(restarted.iter().map(|p| p.name.clone()).collect(), |n| {
            restarted
                .iter()
                .find(|p| p.name == n)
                .map_or(0.0, |p| p.restarts.len() as f64)
        });
        if let Some(t) = &top {
            restarted.retain(|p| t.shown.contains(&p.name));
        }
        let per_pod: Vec<(&str, Segments)> = restarted
            .iter()
            .map(|p| {
                let mut times: Vec<f64> = p.restarts.iter().map(|r| r.t_s).collect();
                (p.name.as_str(), vec![step_line(&mut times)])
            })
            .collect();
        let title = match &top {
            Some(t) => format!(
                "Container restarts so far (all pods; lines for the {})",
                t.words("restarted pods", "restarts")
            ),
            None => "Container restarts so far".to_string(),
        };
        let y_max = nice_max(std::iter::once(all.len() as f64)).ceil();
        let mut legend = vec![LegendEntry {
            label: "all pods".into(),
            color: INK,
            swatch: Swatch::Line(3),
        }];
        legend.extend(per_pod.iter().map(|(name, _)| LegendEntry {
            label: (*name).to_string(),
            color: self.color(name),
            swatch: Swatch::Line(2),
        }));
        // Many pods: taller, so up to [`super::topn::TOP_N`] lines' legend fits.
        let plot_h = if rec.pods.len() > TOP_N_ABOVE {
            TOP_N_CHART_H - 50
        } else {
            254
        };
        self.svg(plot_h + self.marker_h(), &legend, |area| {
            let mut chart = self
                .builder(area, &title, false)?
                .build_cartesian_2d(x0..x1, 0.0..y_max)?;
            self.time_mesh(&mut chart)
                .y_desc("restarts")
                .y_label_formatter(&count_tick)
                .draw()?;
            self.draw_lines(&mut chart, &per_pod)?;
            chart.draw_series(LineSeries::new(total, INK.stroke_width(3)))?;
            Ok(Geometry::of(&chart, self.x))
        })
    }

    /// One deployment's replicas per bucket: ready at the bucket's end,
    /// the fewest ready during it, pods that exist, desired, and the
    /// autoscaler's desired count (when one drives it) with its metric on
    /// the right axis.
    pub fn ready_chart(&self, deployment: &str) -> String {
        let rec = self.record;
        let b = rec.bucket_s;
        let pick = |f: fn(&crate::record::DeploymentBucket) -> Option<f64>| {
            steps(
                rec.buckets
                    .iter()
                    .map(|bk| (bk.t_s, bk.deployments.get(deployment).and_then(f))),
                b,
            )
        };
        // Desired and the autoscaler's desired often coincide: dashes of
        // different lengths keep both visible. Ready is drawn over the
        // fewest ready, so the latter shows only where it dips below.
        let line = |label, segs, color, width, dash| ReplicaLine {
            label,
            segs,
            color,
            width,
            dash,
        };
        let lines = [
            line(
                "desired",
                pick(|d| Some(f64::from(d.desired))),
                INK,
                2,
                Some((10, 6)),
            ),
            line(
                "autoscaler's desired",
                pick(|d| d.hpa_desired.map(f64::from)),
                PURPLE,
                3,
                Some((3, 4)),
            ),
            line("pods", pick(|d| Some(f64::from(d.pods))), GREY, 1, None),
            line(
                "fewest ready in bucket",
                pick(|d| Some(f64::from(d.ready_min))),
                ERROR_RED,
                2,
                None,
            ),
            line(
                "ready (bucket end)",
                pick(|d| Some(f64::from(d.ready))),
                READY_GREEN,
                3,
                None,
            ),
        ];
        let metric: Segments = segments(rec.buckets.iter().map(|bk| {
            (
                bk.t_s + b / 2.0,
                bk.deployments.get(deployment).and_then(|d| d.hpa_metric),
            )
        }));
        let has_metric = !metric.is_empty();
        let y_max = nice_max(
            lines
                .iter()
                .flat_map(|l| l.segs.iter().flatten())
                .map(|p| p.1 + 1.0),
        )
        .ceil();
        let metric_max = nice_max(metric.iter().flatten().map(|p| p.1));
        let mut legend: Vec<LegendEntry> = lines
            .iter()
            .filter(|l| !l.segs.is_empty())
            .map(|l| LegendEntry {
                label: l.label.to_string(),
                color: l.color,
                swatch: if l.dash.is_some() {
                    Swatch::Dashed
                } else {
                    Swatch::Line(l.width)
                },
            })
            .collect();
        if has_metric {
            legend.push(LegendEntry {
                label: "autoscaler metric (right)".into(),
                color: PALETTE[4],
                swatch: Swatch::Line(2),
            });
        }
        let title = format!("Deployment {deployment}: ready vs desired replicas");
        self.svg(304 + self.marker_h(), &legend, |area| {
            let mut chart = self
                .builder(area, &title, has_metric)?
                .build_cartesian_2d(self.x[0]..self.x[1], 0.0..y_max)?
                .set_secondary_coord(self.x[0]..self.x[1], 0.0..metric_max);
            self.time_mesh(&mut chart)
                .y_desc("replicas")
                .y_label_formatter(&count_tick)
                .draw()?;
            if has_metric {
                chart
                    .configure_secondary_axes()
                    .y_desc("metric (per-pod average)")
                    .y_label_formatter(&|v| axis_num(*v))
                    .axis_desc_style((FONT, 17))
                    .label_style((FONT, 15))
                    .draw()?;
                for seg in &metric {
                    chart.draw_secondary_series(LineSeries::new(
                        seg.iter().copied(),
                        PALETTE[4].stroke_width(2),
                    ))?;
                }
            }
            for l in &lines {
                let style = l.color.stroke_width(l.width);
                for seg in &l.segs {
                    if let Some((dash, gap)) = l.dash {
                        chart.draw_series(DashedLineSeries::new(
                            seg.iter().copied(),
                            dash,
                            gap,
                            style,
                        ))?;
                    } else {
                        chart.draw_series(LineSeries::new(seg.iter().copied(), style))?;
                    }
                }
            }
            Ok(Geometry::of(&chart, self.x))
        })
    }

    /// Accept-queue depth per pod (highest per bucket) against the listen
    /// backlog: once the queue reaches it the kernel drops SYNs, and TCP
    /// probes start failing.
    pub fn accept_queue_chart(&self) -> String {
        let rec = self.record;
        let mut backlogs: BTreeSet<u32> = rec
            .buckets
            .iter()
            .flat_map(|b| b.pods.values())
            .map(|p| p.backlog)
            .collect();
        backlogs.extend(rec.pods.iter().map(|p| p.backlog));
        backlogs.remove(&0);
        self.pod_lines_chart(
            "Accept queue per pod (highest per bucket) vs listen backlog",
            "accept queue (connections)",
            |p| (p.backlog > 0).then_some(f64::from(p.accept_queue_max)),
            &backlogs,
            "backlog",
        )
    }

    /// Busy workers per pod (highest per bucket) against its worker count.
    pub fn busy_chart(&self) -> String {
        let rec = self.record;
        let mut workers: BTreeSet<u32> = rec.pods.iter().map(|p| p.workers).collect();
        workers.remove(&0);
        self.pod_lines_chart(
            "Busy workers per pod (highest per bucket) vs workers",
            "busy workers",
            |p| Some(f64::from(p.busy_max)),
            &workers,
            "workers",
        )
    }

    /// A line per pod of `value` (a gap where the pod has no figure) and a
    /// dashed, labelled horizontal line at each of `limits`.
    fn pod_lines_chart(
        &self,
        title: &str,
        y_desc: &str,
        value: impl Fn(&PodBucket) -> Option<f64>,
        limits: &BTreeSet<u32>,
        limit_word: &str,
    ) -> String {
        let rec = self.record;
        let mid = rec.bucket_s / 2.0;
        let mut series: Vec<(&str, Segments)> = rec
            .pods
            .iter()
            .map(|pod| {
                let points = rec
                    .buckets
                    .iter()
                    .map(|b| (b.t_s + mid, b.pods.get(&pod.name).and_then(&value)));
                (pod.name.as_str(), segments(points))
            })
            .collect();
        // Many pods: the top ones by their highest value, the rest as one band.
        let peak = |segs: &Segments| segs.iter().flatten().map(|p| p.1).fold(0.0, f64::max);
        let peaks: BTreeMap<&str, f64> = series.iter().map(|(n, s)| (*n, peak(s))).collect();
        let top = TopN::rank(rec.pods.iter().map(|p| p.name.clone()).collect(), |n| {
            peaks.get(n).copied().unwrap_or(0.0)
        });
        let others = top.as_ref().map(|t| {
            series.retain(|(n, _)| t.shown.iter().any(|s| s == n));
            series.sort_by_key(|(n, _)| t.shown.iter().position(|s| s == n));
            others_spread(rec, &t.others, |b, n| b.pods.get(n).and_then(&value))
        });
        let y_max = nice_max(
            series
                .iter()
                .flat_map(|(_, s)| s.iter().flatten())
                .map(|p| p.1)
                .chain(limits.iter().map(|l| f64::from(*l)))
                .chain(
                    others
                        .iter()
                        .flatten()
                        .filter_map(|(_, s)| s.map(|s| s.max)),
                ),
        )
        .ceil();
        let mut legend: Vec<LegendEntry> = series
            .iter()
            .map(|(name, _)| LegendEntry {
                label: (*name).to_string(),
                color: self.color(name),
                swatch: Swatch::Line(2),
            })
            .collect();
        if let Some(t) = &top {
            legend.extend(self.others_legend(t.others.len()));
        }
        let title = match &top {
            Some(t) => format!("{title} ({})", t.words("pods", "highest value")),
            None => title.to_string(),
        };
        if !limits.is_empty() {
            legend.push(LegendEntry {
                label: limit_word.to_string(),
                color: INK,
                swatch: Swatch::Dashed,
            });
        }
        // A top-N chart is taller, so its legend (the lines and the others) fits.
        let plot_h = if top.is_some() { TOP_N_CHART_H } else { 304 };
        self.svg(plot_h + self.marker_h(), &legend, |area| {
            let mut chart = self
                .builder(area, &title, false)?
                .build_cartesian_2d(self.x[0]..self.x[1], 0.0..y_max)?;
            self.time_mesh(&mut chart)
                .y_desc(y_desc)
                .y_label_formatter(&count_tick)
                .draw()?;
            if let Some(others) = &others {
                self.draw_others(&mut chart, others)?;
            }
            self.draw_lines(&mut chart, &series)?;
            let g = Geometry::of(&chart, self.x);
            let style = TextStyle::from((FONT, 15).into_font())
                .color(&INK)
                .pos(super::Pos::new(super::HPos::Left, super::VPos::Bottom));
            for limit in limits {
                let (_, y) = chart.backend_coord(&(self.x[0], f64::from(*limit)));
                area.draw(&DashedPathElement::new(
                    vec![(g.left, y), (g.right, y)],
                    8,
                    5,
                    INK.stroke_width(2),
                ))?;
                let label = format!("{limit_word} {limit}");
                let x = g.left + 6;
                area.draw(&Rectangle::new(
                    [(x - 2, y - 19), (x + text_width(&label, 15) + 4, y - 3)],
                    WHITE.mix(0.8).filled(),
                ))?;
                area.draw(&Text::new(label, (x, y - 3), style.clone()))?;
            }
            Ok(g)
        })
    }
}
