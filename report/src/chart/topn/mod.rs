//! Top-N views for runs with many backends (issue 15: 1000 backends). Above
//! [`TOP_N_ABOVE`] backends (or pods), a chart that would draw a line or a
//! band per backend draws the [`TOP_N`] busiest as lines and the rest as one
//! aggregate ("others (K backends)"), and says so in its title; the share
//! chart gets a companion chart of fairness across all backends (per bucket
//! the lowest, median and highest share relative to a fair share). The
//! tables use the same selection (`html/backends.rs`). At or under the
//! threshold nothing here is used and the page is what it always was.
use std::collections::BTreeMap;

use plotters::prelude::*;

use super::{DrawResult, Frame, Geometry, INK, LegendEntry, Swatch, nice_max, steps};
use crate::{
    derive::responses,
    fmt::axis_num,
    record::{BackendInfo, Bucket, RunRecord},
};

/// Views switch to top-N when a run has more backends (pods) than this.
pub const TOP_N_ABOVE: usize = 20;

/// Backends (pods) a top-N view shows one by one.
pub const TOP_N: usize = 12;

/// Height (before the marker rows) of a top-N lines chart: room in its
/// legend for [`TOP_N`] lines, the others' two entries and a limit line.
pub const TOP_N_CHART_H: u32 = 404;

/// The aggregate's band (lowest to highest), drawn under the lines.
const BAND: RGBColor = RGBColor(0xD9, 0xD9, 0xD9);

/// The others' band in the share chart and the tables' swatch.
pub(super) const OTHERS: RGBColor = RGBColor(0x99, 0x99, 0x99);

/// Which names a top-N view shows one by one, and the rest.
#[derive(Clone, Debug, PartialEq)]
pub struct TopN {
    /// The [`TOP_N`] first by the ranking, in ranking order.
    pub shown: Vec<String>,
    /// Everything else, in the order given.
    pub others: Vec<String>,
}

impl TopN {
    /// The [`TOP_N`] names with the highest `key` (ties: the given order),
    /// or None when there are no more than [`TOP_N_ABOVE`] names.
    pub fn rank(names: Vec<String>, key: impl Fn(&str) -> f64) -> Option<Self> {
        if names.len() <= TOP_N_ABOVE {
            return None;
        }
        let mut order: Vec<(usize, f64)> =
            names.iter().enumerate().map(|(i, n)| (i, key(n))).collect();
        order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let top: std::collections::BTreeSet<usize> =
            order.iter().take(TOP_N).map(|(i, _)| *i).collect();
        let shown = order
            .iter()
            .take(TOP_N)
            .map(|(i, _)| names[*i].clone())
            .collect();
        let others = names
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !top.contains(i))
            .map(|(_, n)| n)
            .collect();
        Some(Self { shown, others })
    }

    /// "top 12 of 1000 backends by responses".
    pub fn words(&self, what: &str, by: &str) -> String {
        format!(
            "top {} of {} {what} by {by}",
            self.shown.len(),
            self.shown.len() + self.others.len()
        )
    }
}

/// The busiest backends over the whole run (by what shares count), when
/// the run has more than [`TOP_N_ABOVE`].
pub fn top_backends(rec: &RunRecord) -> Option<TopN> {
    let names = rec.backend_names();
    if names.len() <= TOP_N_ABOVE {
        return None;
    }
    let traffic = responses(rec, rec.whole_s());
    TopN::rank(names, |n| traffic.get(n).copied().unwrap_or(0) as f64)
}

/// What shares count, in a word for titles.
pub fn traffic_word(rec: &RunRecord) -> &'static str {
    match rec.share_basis {
        crate::record::ShareBasis::Responses => "responses",
        crate::record::ShareBasis::Connections => "new connections",
    }
}

/// The aggregate of the names a top-N view does not show, in one bucket:
/// the mean, lowest and highest of their values (those with a value).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub count: usize,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: impl Iterator<Item = f64>) -> Option<Self> {
        let (mut count, mut sum, mut min, mut max) = (0, 0.0, f64::INFINITY, f64::NEG_INFINITY);
        for v in values {
            count += 1;
            sum += v;
            min = min.min(v);
            max = max.max(v);
        }
        (count > 0).then(|| Self {
            count,
            mean: sum / count as f64,
            min,
            max,
        })
    }
}

/// A median of non-empty `values` (the lower middle for an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[(values.len() - 1) / 2]
}

/// Each backend's info by name (the first, as [`RunRecord::backend`]).
pub(super) fn infos(rec: &RunRecord) -> BTreeMap<&str, &BackendInfo> {
    let mut out = BTreeMap::new();
    for b in &rec.backends {
        out.entry(b.name.as_str()).or_insert(b);
    }
    out
}

pub(super) fn alive_in_bucket(info: &BackendInfo, bucket: &Bucket, bucket_s: f64) -> bool {
    info.alive_in([bucket.t_s, bucket.t_s + bucket_s])
}

/// Per bucket: each backend alive in it (or serving in it) and its share
/// relative to a fair share (share × backends alive); None when the bucket
/// saw no traffic.
pub fn fair_ratios(rec: &RunRecord) -> Vec<Option<Vec<f64>>> {
    let names = rec.backend_names();
    let infos = infos(rec);
    rec.buckets
        .iter()
        .map(|bk| {
            let counts: Vec<u64> = names
                .iter()
                .filter_map(|n| {
                    let v = bk
                        .backends
                        .get(n)
                        .map_or(0, |b| b.share_count(rec.share_basis));
                    let alive = infos
                        .get(n.as_str())
                        .is_none_or(|i| alive_in_bucket(i, bk, rec.bucket_s));
                    (alive || v > 0).then_some(v)
                })
                .collect();
            let total: u64 = counts.iter().sum();
            (total > 0).then(|| {
                let fair = 1.0 / counts.len() as f64;
                counts
                    .iter()
                    .map(|c| *c as f64 / total as f64 / fair)
                    .collect()
            })
        })
        .collect()
}

/// The bands of a top-N share chart.
pub(super) struct ShareBands {
    /// The shown backends, new ones first (at the bottom).
    pub order: Vec<String>,
    /// `cum[k][i]`: top of band k in bucket i (0 in a bucket without
    /// traffic); the last band, past `order`, is the others' (1).
    pub cum: Vec<Vec<f64>>,
    /// Share of every new backend (shown or not) per bucket; None without
    /// new backends.
    pub new_top: Option<Vec<f64>>,
}

impl ShareBands {
    pub fn of(rec: &RunRecord, top: &TopN) -> Self {
        let infos = infos(rec);
        let is_new = |n: &str| infos.get(n).is_some_and(|b| b.added_by_last_scale_up);
        let mut order: Vec<&String> = top.shown.iter().filter(|n| is_new(n)).collect();
        order.extend(top.shown.iter().filter(|n| !is_new(n)));
        let new_names: Vec<&String> = top
            .shown
            .iter()
            .chain(&top.others)
            .filter(|n| is_new(n))
            .collect();
        let count = |bk: &Bucket, n: &str| {
            bk.backends
                .get(n)
                .map_or(0, |b| b.share_count(rec.share_basis))
        };
        // cum[k][i]: top of band k in bucket i; the last band is the others'.
        let mut cum: Vec<Vec<f64>> = vec![vec![0.0; rec.buckets.len()]; order.len() + 1];
        let mut new_top = vec![0.0; rec.buckets.len()];
        for (i, bucket) in rec.buckets.iter().enumerate() {
            let total: u64 = bucket
                .backends
                .values()
                .map(|b| b.share_count(rec.share_basis))
                .sum();
            if total == 0 {
                continue;
            }
            let mut acc = 0;
            for (k, name) in order.iter().enumerate() {
                acc += count(bucket, name);
                cum[k][i] = acc as f64 / total as f64;
            }
            cum[order.len()][i] = 1.0;
            new_top[i] =
                new_names.iter().map(|n| count(bucket, n)).sum::<u64>() as f64 / total as f64;
        }
        let order = order.into_iter().cloned().collect();
        let new_top = (!new_names.is_empty()).then_some(new_top);
        Self {
            order,
            cum,
            new_top,
        }
    }
}

impl Frame<'_> {
    /// Draws the others' aggregate: a band from the lowest to the highest
    /// value and the mean as a dashed line, per bucket (at the bucket's
    /// middle, like the lines).
    pub(super) fn draw_others(
        &self,
        chart: &mut ChartContext<
            '_,
            SVGBackend<'_>,
            Cartesian2d<
                plotters::coord::types::RangedCoordf64,
                plotters::coord::types::RangedCoordf64,
            >,
        >,
        spread: &[(f64, Option<Spread>)],
    ) -> DrawResult<()> {
        // Bands and mean, split where the others have no value.
        let mut run: Vec<(f64, Spread)> = Vec::new();
        let mut runs: Vec<Vec<(f64, Spread)>> = Vec::new();
        for (t, s) in spread {
            match s {
                Some(s) => run.push((*t, *s)),
                None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
                None => {}
            }
        }
        if !run.is_empty() {
            runs.push(run);
        }
        for run in &runs {
            let mut points: Vec<(f64, f64)> = run.iter().map(|(t, s)| (*t, s.max)).collect();
            points.extend(run.iter().rev().map(|(t, s)| (*t, s.min)));
            chart.draw_series(std::iter::once(Polygon::new(points, BAND.filled())))?;
            chart.draw_series(DashedLineSeries::new(
                run.iter().map(|(t, s)| (*t, s.mean)),
                7,
                4,
                INK.mix(0.8).stroke_width(2),
            ))?;
        }
        Ok(())
    }

    /// Legend entries for the others' aggregate.
    pub(super) fn others_legend(&self, count: usize) -> [LegendEntry; 2] {
        [
            LegendEntry {
                // The legend cuts labels at 26 characters; the title names `what`.
                label: format!("others ({count}): mean"),
                color: INK,
                swatch: Swatch::Dashed,
            },
            LegendEntry {
                label: "others: lowest–highest".into(),
                color: BAND,
                swatch: Swatch::Area,
            },
        ]
    }

    /// Fairness across every backend (top-N runs only): per bucket the
    /// lowest, median and highest share of a backend relative to its fair
    /// share (1 = exactly fair), over the backends alive in the bucket.
    pub fn fairness_chart(&self) -> String {
        let rec = self.record;
        let b = rec.bucket_s;
        let ratios = fair_ratios(rec);
        let pick = |f: &dyn Fn(&mut Vec<f64>) -> f64| {
            steps(
                rec.buckets
                    .iter()
                    .zip(&ratios)
                    .map(|(bk, r)| (bk.t_s, r.as_ref().map(|r| f(&mut r.clone())))),
                b,
            )
        };
        let min = pick(&|r| r.iter().copied().fold(f64::INFINITY, f64::min));
        let p50 = pick(&|r| median(r));
        let max = pick(&|r| r.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        let y_max = nice_max(max.iter().flatten().map(|p| p.1)).max(2.0);
        let n = rec.backend_names().len();
        let legend = [
            LegendEntry {
                label: "highest".into(),
                color: super::ERROR_RED,
                swatch: Swatch::Line(2),
            },
            LegendEntry {
                label: "median".into(),
                color: INK,
                swatch: Swatch::Line(3),
            },
            LegendEntry {
                label: "lowest".into(),
                color: super::PALETTE[0],
                swatch: Swatch::Line(2),
            },
            LegendEntry {
                label: "lowest–highest".into(),
                color: BAND,
                swatch: Swatch::Area,
            },
            LegendEntry {
                label: "fair share (1)".into(),
                color: INK,
                swatch: Swatch::Dashed,
            },
        ];
        let title = format!(
            "Fairness across all {n} backends: {} share ÷ fair share per bucket",
            traffic_word(rec)
        );
        self.svg(304 + self.marker_h(), &legend, |area| {
            let mut chart = self
                .builder(area, &title, false)?
                .build_cartesian_2d(self.x[0]..self.x[1], 0.0..y_max)?;
            self.time_mesh(&mut chart)
                .y_desc("share ÷ fair share")
                .y_label_formatter(&|v| axis_num(*v))
                .draw()?;
            for (lo, hi) in min.iter().zip(&max) {
                let mut points = hi.clone();
                points.extend(lo.iter().rev());
                chart.draw_series(std::iter::once(Polygon::new(points, BAND.filled())))?;
            }
            chart.draw_series(DashedLineSeries::new(
                [(self.x[0], 1.0), (self.x[1], 1.0)],
                8,
                5,
                INK.stroke_width(2),
            ))?;
            for (segs, color, w) in [
                (&max, super::ERROR_RED, 2),
                (&min, super::PALETTE[0], 2),
                (&p50, INK, 3),
            ] {
                for seg in segs {
                    chart
                        .draw_series(LineSeries::new(seg.iter().copied(), color.stroke_width(w)))?;
                }
            }
            Ok(Geometry::of(&chart, self.x))
        })
    }
}

/// Used by the lines charts: (bucket middle, spread of the others' values).
pub(super) fn others_spread(
    rec: &RunRecord,
    others: &[String],
    value: impl Fn(&Bucket, &str) -> Option<f64>,
) -> Vec<(f64, Option<Spread>)> {
    let mid = rec.bucket_s / 2.0;
    rec.buckets
        .iter()
        .map(|bk| {
            (
                bk.t_s + mid,
                Spread::of(others.iter().filter_map(|n| value(bk, n))),
            )
        })
        .collect()
}

/// The others' colour in the tables.
pub fn others_css() -> String {
    super::css(OTHERS)
}

#[cfg(test)]
mod tests;
