//! The numbers behind the page's interactive charts (`html/interactive.rs`
//! serialises them into the page's `svclab-series` JSON block): per chart
//! its title, y axis, bucket start times and each series' value per
//! bucket, plus what every chart shares (x range, bucket length, timeline
//! markers, fault bands). The values come from the same views the SVG
//! charts draw (`share_view`, `lines_view`, `client_rates`,
//! `latency_lines`), so a hovered value is the plotted one.
//!
//! Interactive: the share chart (`share`), new connections (`new-conns`),
//! CT entries (`ct-entries`), client rate (`client-rate`) and latency
//! (`latency`). The others (fairness, rollouts, pod phases, probes,
//! restarts, replicas, accept queues, busy workers) stay SVG only.
use std::collections::BTreeMap;

use plotters::style::RGBColor;
use serde::Serialize;

use super::{
    ERROR_RED, Frame, INK,
    backends::{client_rates, fair_new_share, latency_lines},
    css, log_range, nice_max,
};

/// Everything the page's charts share, and each interactive chart by id
/// (the `chart-<id>` figure it upgrades).
#[derive(Debug, Serialize)]
pub struct PageSeries {
    /// The x axis every chart starts with (seconds since the run started).
    pub x: [f64; 2],
    pub bucket_s: f64,
    /// Timeline events drawn as markers on every chart.
    pub markers: Vec<Marker>,
    /// Network faults' [start, end] (shaded bands).
    pub faults: Vec<[f64; 2]>,
    pub charts: BTreeMap<&'static str, ChartSeries>,
}

#[derive(Debug, Serialize)]
pub struct Marker {
    pub t: f64,
    pub label: String,
}

/// One chart.
#[derive(Debug, Serialize)]
pub struct ChartSeries {
    pub title: String,
    /// The y axis' description.
    pub unit: String,
    /// The y axis' range.
    pub y: [f64; 2],
    /// Log-scale y axis.
    pub log: bool,
    /// Values shown as percentages (of 1).
    pub pct: bool,
    /// The right-hand axis (description, range), for series with `y2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y2: Option<(String, [f64; 2])>,
    /// Each bucket's start (s); series values are per bucket.
    pub t: Vec<f64>,
    pub series: Vec<Series>,
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Draw {
    /// A line through each bucket's middle.
    Line,
    /// Held flat across each bucket.
    Step,
    /// A stacked band across each bucket, on the bands before it.
    Band,
}

#[derive(Debug, Serialize)]
pub struct Series {
    pub name: String,
    /// Value per bucket; null where the chart has a gap.
    pub values: Vec<Option<f64>>,
    pub color: String,
    pub draw: Draw,
    pub width: u32,
    pub dash: bool,
    /// Plotted against the right-hand axis.
    pub y2: bool,
}

impl Series {
    fn new(name: impl Into<String>, values: Vec<Option<f64>>, color: RGBColor) -> Self {
        Self {
            name: name.into(),
            values,
            color: css(color),
            draw: Draw::Line,
            width: 2,
            dash: false,
            y2: false,
        }
    }
}

impl Frame<'_> {
    /// The interactive charts' data; no charts without buckets.
    pub fn page_series(&self) -> PageSeries {
        let rec = self.record;
        let mut charts = BTreeMap::new();
        if !rec.buckets.is_empty() {
            charts.insert("share", self.share_series());
            let bucket_s = rec.bucket_s.max(f64::MIN_POSITIVE);
            charts.insert(
                "new-conns",
                self.lines_series(
                    "New connections per backend (datapath)",
                    "new connections / s",
                    |b| b.new_conns as f64 / bucket_s,
                ),
            );
            charts.insert(
                "ct-entries",
                self.lines_series(
                    "Live service conntrack entries per backend",
                    "CT entries",
                    |b| b.ct_entries as f64,
                ),
            );
            charts.insert("client-rate", self.client_rate_series());
            charts.insert("latency", self.latency_series());
        }
        PageSeries {
            x: self.x,
            bucket_s: rec.bucket_s,
            markers: self
                .markers
                .iter()
                .map(|(t, label)| Marker {
                    t: *t,
                    label: (*label).to_string(),
                })
                .collect(),
            faults: rec.faults.iter().map(|f| [f.start_s, f.end_s]).collect(),
            charts,
        }
    }

    fn starts(&self) -> Vec<f64> {
        self.record.buckets.iter().map(|b| b.t_s).collect()
    }

    /// Each band's share per bucket (its top minus the one under it), then
    /// the new pods' share and fair share as steps while a new pod exists.
    fn share_series(&self) -> ChartSeries {
        let rec = self.record;
        let view = self.share_view();
        let mut series: Vec<Series> = view
            .bands
            .iter()
            .enumerate()
            .map(|(k, (_, label, color))| {
                let values = (0..rec.buckets.len())
                    .map(|i| {
                        let lower = if k == 0 { 0.0 } else { view.cum[k - 1][i] };
                        Some(view.cum[k][i] - lower)
                    })
                    .collect();
                Series {
                    draw: Draw::Band,
                    ..Series::new(label.clone(), values, *color)
                }
            })
            .collect();
        if let Some(top) = &view.new_top {
            let fair: Vec<Option<f64>> = rec
                .buckets
                .iter()
                .map(|bk| fair_new_share(rec, bk))
                .collect();
            let share = top.iter().zip(&fair).map(|(v, f)| f.map(|_| *v)).collect();
            series.push(Series {
                draw: Draw::Step,
                width: 3,
                ..Series::new("new pods' share", share, RGBColor(0, 0, 0))
            });
            series.push(Series {
                draw: Draw::Step,
                dash: true,
                ..Series::new("new pods' fair share", fair, RGBColor(0, 0, 0))
            });
        }
        ChartSeries {
            title: view.title,
            unit: format!("share of {} (%)", view.what),
            y: [0.0, 1.0],
            log: false,
            pct: true,
            y2: None,
            t: self.starts(),
            series,
        }
    }

    fn lines_series(
        &self,
        title: &str,
        unit: &str,
        value: impl Fn(&crate::record::BackendBucket) -> f64,
    ) -> ChartSeries {
        let view = self.lines_view(title, value);
        let mut series: Vec<Series> = view
            .lines
            .into_iter()
            .map(|(name, values)| {
                let color = self.color(&name);
                Series::new(name, values, color)
            })
            .collect();
        if let (Some(top), Some(others)) = (&view.top, &view.others) {
            series.push(Series {
                dash: true,
                ..Series::new(
                    format!("others ({}): mean", top.others.len()),
                    others.iter().map(|(_, s)| s.map(|s| s.mean)).collect(),
                    INK,
                )
            });
        }
        ChartSeries {
            title: view.title,
            unit: unit.to_string(),
            y: [0.0, view.y_max],
            log: false,
            pct: false,
            y2: None,
            t: self.starts(),
            series,
        }
    }

    fn client_rate_series(&self) -> ChartSeries {
        let [ok, err] = client_rates(self.record);
        let y = [0.0, nice_max(ok.iter().copied())];
        let y2 = [0.0, nice_max(err.iter().copied())];
        ChartSeries {
            title: "Client: successful responses and errors per second".into(),
            unit: "ok responses / s".into(),
            y,
            log: false,
            pct: false,
            y2: Some(("errors / s".into(), y2)),
            t: self.starts(),
            series: vec![
                Series::new("ok / s", ok.into_iter().map(Some).collect(), INK),
                Series {
                    y2: true,
                    ..Series::new("errors / s", err.into_iter().map(Some).collect(), ERROR_RED)
                },
            ],
        }
    }

    fn latency_series(&self) -> ChartSeries {
        let lines = latency_lines(self.record);
        let range = log_range(lines.iter().flat_map(|l| l.1.iter().flatten().copied()));
        ChartSeries {
            title: "Client latency per bucket (log scale)".into(),
            unit: "latency (ms)".into(),
            y: [range.start, range.end],
            log: true,
            pct: false,
            y2: None,
            t: self.starts(),
            series: lines
                .into_iter()
                .map(|(label, values, color, width)| Series {
                    width,
                    ..Series::new(format!("{label} (ms)"), values, color)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_values_are_each_backends_share_of_the_bucket() {
        let rec = crate::sample::incident_a(false);
        let page = Frame::new(&rec).page_series();
        let share = &page.charts["share"];
        let i = rec.buckets.len() / 2;
        let bucket = &rec.buckets[i];
        let total: u64 = bucket
            .backends
            .values()
            .map(|b| b.share_count(rec.share_basis))
            .sum();
        for s in share.series.iter().filter(|s| s.draw == Draw::Band) {
            let name = s.name.trim_end_matches(" (new)");
            let want = bucket
                .backends
                .get(name)
                .map_or(0, |b| b.share_count(rec.share_basis)) as f64
                / total as f64;
            let got = s.values[i].unwrap_or(f64::NAN);
            assert!((got - want).abs() < 1e-9, "{name}: {got} vs {want}");
        }
        assert_eq!(share.t.len(), rec.buckets.len());
        assert_eq!(
            page.charts.keys().copied().collect::<Vec<_>>(),
            ["client-rate", "ct-entries", "latency", "new-conns", "share"]
        );
        assert_eq!(
            page.markers.len(),
            rec.events.iter().filter(|e| e.timeline).count()
        );
    }

    #[test]
    fn no_buckets_no_charts() {
        let rec = crate::sample::empty_record();
        assert!(Frame::new(&rec).page_series().charts.is_empty());
    }
}
