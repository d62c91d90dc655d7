//! The rolling-update charts on the shared time axis: per rollout, the old
//! and new ReplicaSets' desired replicas (the Deployment controller's
//! steps), ready pods and terminating pods; and the client errors per
//! second by kind (refused, reset, timeout, 5xx, ...) to line up with it.
use std::collections::{BTreeMap, BTreeSet};

use plotters::prelude::*;

use super::{
    ERROR_RED, Frame, GREY, Geometry, INK, LegendEntry, PALETTE, Segments, Swatch, nice_max,
    pods::{AMBER, READY_GREEN},
};
use crate::{
    derive::phase_spans,
    fmt::{axis_num, count_tick},
    record::{PodPhase, RolloutRecord},
};

/// One line: label, points, colour, width, dashed.
type Line<'a> = (&'a str, Vec<(f64, f64)>, RGBColor, u32, bool);

/// Samples per second for the pod counts (phase changes are exact times).
const SAMPLES_PER_S: f64 = 10.0;

impl Frame<'_> {
    /// Old vs new ReplicaSet of one rollout: desired (dashed), ready
    /// (solid) and terminating (thin) pods over time.
    pub fn rollout_chart(&self, r: &RolloutRecord) -> String {
        let rec = self.record;
        let [x0, x1] = self.x;
        let revision: BTreeMap<&str, u32> = rec
            .backends
            .iter()
            .filter(|b| b.deployment == r.deployment)
            .map(|b| (b.name.as_str(), b.revision))
            .collect();
        let spans: Vec<(bool, Vec<crate::derive::PhaseSpan>)> = rec
            .pods
            .iter()
            .filter_map(|p| {
                let rev = revision.get(p.name.as_str())?;
                Some((*rev >= r.revision, phase_spans(p, rec.duration_s)))
            })
            .collect();
        let n = ((x1 - x0) * SAMPLES_PER_S).ceil().max(1.0) as usize;
        // The last sample just inside the axis: spans end at the run's end.
        let at = |i: usize| (x0 + (x1 - x0) * i as f64 / n as f64).min(x1 - 1e-6);
        let count = |new: bool, phase: PodPhase, t: f64| {
            spans
                .iter()
                .filter(|(is_new, _)| *is_new == new)
                .filter(|(_, s)| {
                    s.iter()
                        .any(|s| s.phase == phase && s.from <= t && t < s.to)
                })
                .count() as f64
        };
        let line = |new: bool, phase: PodPhase| -> Vec<(f64, f64)> {
            (0..=n).map(|i| (at(i), count(new, phase, at(i)))).collect()
        };
        // Desired: the steps, held until the next one.
        let desired = |pick: fn(&(f64, u32, u32)) -> u32| -> Vec<(f64, f64)> {
            let mut pts = Vec::new();
            let mut last = None;
            for s in &r.steps {
                if let Some(v) = last {
                    pts.push((s.0, v));
                }
                let v = f64::from(pick(s));
                pts.push((s.0, v));
                last = Some(v);
            }
            if let Some(v) = last {
                pts.push((x1, v));
            }
            pts
        };
        let series: [Line<'_>; 6] = [
            ("old: desired", desired(|s| s.1), GREY, 2, true),
            ("new: desired", desired(|s| s.2), INK, 2, true),
            (
                "old: ready",
                line(false, PodPhase::Ready),
                PALETTE[0],
                3,
                false,
            ),
            (
                "new: ready",
                line(true, PodPhase::Ready),
                READY_GREEN,
                3,
                false,
            ),
            (
                "old: terminating",
                line(false, PodPhase::Terminating),
                AMBER,
                2,
                false,
            ),
            (
                "new: terminating",
                line(true, PodPhase::Terminating),
                ERROR_RED,
                1,
                false,
            ),
        ];
        let y_max = nice_max(series.iter().flat_map(|s| s.1.iter().map(|p| p.1 + 1.0))).ceil();
        let legend: Vec<LegendEntry> = series
            .iter()
            .map(|(label, _, color, w, dashed)| LegendEntry {
                label: (*label).to_string(),
                color: *color,
                swatch: if *dashed {
                    Swatch::Dashed
                } else {
                    Swatch::Line(*w)
                },
            })
            .collect();
        let title = format!(
            "Rollout of {} to revision {} ({}): old vs new ReplicaSet",
            r.deployment, r.revision, r.strategy
        );
        self.svg(304 + self.marker_h(), &legend, |area| {
            let mut chart = self
                .builder(area, &title, false)?
                .build_cartesian_2d(x0..x1, 0.0..y_max)?;
            self.time_mesh(&mut chart)
                .y_desc("pods")
                .y_label_formatter(&count_tick)
                .draw()?;
            for (_, pts, color, w, dashed) in &series {
                let style = color.stroke_width(*w);
                if *dashed {
                    chart.draw_series(DashedLineSeries::new(pts.iter().copied(), 10, 6, style))?;
                } else {
                    chart.draw_series(LineSeries::new(pts.iter().copied(), style))?;
                }
            }
            Ok(Geometry::of(&chart, self.x))
        })
    }

    /// Client errors per second by kind, one line per kind that occurred.
    pub fn error_kinds_chart(&self) -> String {
        let rec = self.record;
        let per_s = 1.0 / rec.bucket_s.max(f64::MIN_POSITIVE);
        let mid = rec.bucket_s / 2.0;
        let kinds: BTreeSet<&str> = rec
            .buckets
            .iter()
            .flat_map(|b| b.client.errors.keys().map(String::as_str))
            .collect();
        let series: Vec<(&str, Segments)> = kinds
            .iter()
            .map(|k| {
                let pts = rec
                    .buckets
                    .iter()
                    .map(|b| {
                        let n = b.client.errors.get(*k).copied().unwrap_or(0);
                        (b.t_s + mid, n as f64 * per_s)
                    })
                    .collect();
                (*k, vec![pts])
            })
            .collect();
        let y_max = nice_max(
            series
                .iter()
                .flat_map(|(_, s)| s.iter().flatten().map(|p| p.1)),
        );
        let color = |i: usize| PALETTE[i % PALETTE.len()];
        let legend: Vec<LegendEntry> = series
            .iter()
            .enumerate()
            .map(|(i, (k, _))| LegendEntry {
                label: (*k).to_string(),
                color: color(i),
                swatch: Swatch::Line(2),
            })
            .collect();
        self.svg(254 + self.marker_h(), &legend, |area| {
            let mut chart = self
                .builder(area, "Client errors per second by kind", false)?
                .build_cartesian_2d(self.x[0]..self.x[1], 0.0..y_max)?;
            self.time_mesh(&mut chart)
                .y_desc("errors / s")
                .y_label_formatter(&|v| axis_num(*v))
                .draw()?;
            for (i, (_, segs)) in series.iter().enumerate() {
                for seg in segs {
                    chart.draw_series(LineSeries::new(
                        seg.iter().copied(),
                        color(i).stroke_width(2),
                    ))?;
                }
            }
            Ok(Geometry::of(&chart, self.x))
        })
    }
}
