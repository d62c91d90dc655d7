//! The report's SVG charts, drawn with plotters' SVG backend into strings.
//!
//! Every chart has the same width, plot margins and label areas (including a
//! right-hand axis area that only the client chart uses), so their x axes
//! (seconds of the run) line up when stacked on the page. Timeline events are
//! drawn as labelled vertical markers on every chart; the legend sits in a
//! column to the right of the plot so it never covers data. Text is emitted
//! as SVG `<text>` (plotters' built-in estimate, no font files), so the
//! charts need no system fonts. This module owns the shared frame (layout,
//! palette, markers, legend) and the series helpers; the backend and client
//! charts are in `backends`, the pod charts in [`pods`] (phases, probes) and
//! `replicas` (restarts, replicas, accept queues, busy workers); [`series`]
//! has the numbers of the charts the page makes interactive.
use std::{collections::BTreeMap, ops::Range};

use plotters::{
    chart::MeshStyle,
    coord::{Shift, ranged1d::ValueFormatter, types::RangedCoordf64},
    drawing::DrawingAreaErrorKind,
    element::DashedPathElement,
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use crate::{
    fmt::{axis_label, axis_num, escape},
    record::RunRecord,
};

mod backends;
pub(crate) mod pods;
mod replicas;
mod rollout;
pub mod series;
pub(crate) mod topn;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

type DrawResult<T> = Result<T, DrawingAreaErrorKind<std::io::Error>>;

/// Continuous runs of (x, y) points; a gap in the data starts a new run.
type Segments = Vec<Vec<(f64, f64)>>;

const WIDTH: u32 = 1300;

const LEGEND_W: u32 = 230;

const Y_LABEL_W: u32 = 80;

const Y2_LABEL_W: u32 = 70;

const X_LABEL_H: u32 = 48;

/// Most rows of timeline-marker labels above each plot (one per marker up
/// to this), and their height.
const MARKER_ROWS: usize = 3;

const MARKER_ROW_H: i32 = 18;

/// Room for the chart's title above the marker labels.
const TITLE_H: u32 = 30;

const FONT: &str = "sans-serif";

/// Okabe & Ito's colour-blind-safe palette, black last and yellow late (it
/// is faint as a line on white). Backends take colours in creation order,
/// cycling past eight.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0xF0, 0xE4, 0x42), // yellow
    RGBColor(0x00, 0x00, 0x00), // black
];

const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);

const GREY: RGBColor = RGBColor(0x88, 0x88, 0x88);

const ERROR_RED: RGBColor = RGBColor(0xB2, 0x18, 0x2B);
/// Network-fault bands (drawn translucent).
const FAULT_BAND: RGBColor = RGBColor(0xE6, 0x8A, 0x00);

/// The colour of each backend, by name, the same in every chart and table:
/// backends in [`RunRecord::backend_names`] order, then any pod of
/// [`RunRecord::pods`] that never was a backend.
pub fn backend_colors(record: &RunRecord) -> BTreeMap<String, RGBColor> {
    let mut names = record.backend_names();
    for pod in &record.pods {
        if !names.contains(&pod.name) {
            names.push(pod.name.clone());
        }
    }
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| (name, PALETTE[i % PALETTE.len()]))
        .collect()
}

/// `#rrggbb` for HTML.
pub fn css(color: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", color.0, color.1, color.2)
}

/// How a legend entry's swatch looks.
#[derive(Clone, Copy)]
enum Swatch {
    Area,
    Line(u32),
    Dashed,
    /// A restart marker: a tick under a small downward triangle.
    Marker,
}

struct LegendEntry {
    label: String,
    color: RGBColor,
    swatch: Swatch,
}

/// Pixel box of the plotting area, and the x range it maps.
struct Geometry {
    left: i32,
    right: i32,
    top: i32,
    bottom: i32,
    x0: f64,
    x1: f64,
}

impl Geometry {
    fn of<Y: Ranged<ValueType = f64>>(
        chart: &ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, Y>>,
        x: [f64; 2],
    ) -> Self {
        let y = chart.y_range();
        let (left, bottom) = chart.backend_coord(&(x[0], y.start));
        let (right, top) = chart.backend_coord(&(x[1], y.end));
        Self {
            left,
            right,
            top: top.min(bottom),
            bottom: top.max(bottom),
            x0: x[0],
            x1: x[1],
        }
    }

    fn px(&self, t: f64) -> i32 {
        let span = self.x1 - self.x0;
        if span <= 0.0 {
            return self.left;
        }
        self.left + ((t - self.x0) / span * f64::from(self.right - self.left)).round() as i32
    }
}

/// What every chart shares: the x range and the timeline markers.
pub struct Frame<'r> {
    record: &'r RunRecord,
    x: [f64; 2],
    markers: Vec<(f64, &'r str)>,
    /// Label rows in use: one per marker, at most [`MARKER_ROWS`]; every
    /// chart of a page reserves the same, so plots stay aligned.
    marker_rows: usize,
    colors: BTreeMap<String, RGBColor>,
}

impl<'r> Frame<'r> {
    pub fn new(record: &'r RunRecord) -> Self {
        let end = record.end_s().max(record.bucket_s).max(1.0);
        let mut markers: Vec<(f64, &str)> = record
            .events
            .iter()
            .filter(|e| e.timeline)
            .map(|e| (e.t_s, e.detail.as_str()))
            .collect();
        markers.sort_by(|a, b| a.0.total_cmp(&b.0));
        Self {
            record,
            x: [0.0, end],
            marker_rows: markers.len().clamp(1, MARKER_ROWS),
            markers,
            colors: backend_colors(record),
        }
    }

    /// The same frame with its x axis running to `end` seconds (at least
    /// the run's own end), so charts of several runs line up.
    pub fn with_end(mut self, end: f64) -> Self {
        self.x[1] = self.x[1].max(end);
        self
    }

    /// Room between the title and the plot for the marker labels.
    fn marker_h(&self) -> u32 {
        self.marker_rows as u32 * MARKER_ROW_H as u32 + 6
    }

    fn color(&self, name: &str) -> RGBColor {
        self.colors.get(name).copied().unwrap_or(GREY)
    }

    fn x_desc(&self) -> String {
        format!(
            "time since run start (s); buckets of {} s",
            axis_num(self.record.bucket_s)
        )
    }

    /// Draws one chart: `plot` draws axes and data in the plot column and
    /// reports the plot's pixel box; markers and legend are added around it.
    /// A drawing error becomes a short HTML note instead of the chart.
    fn svg(
        &self,
        height: u32,
        legend: &[LegendEntry],
        plot: impl FnOnce(&Area<'_>) -> DrawResult<Geometry>,
    ) -> String {
        let mut buf = String::new();
        let result = (|| -> DrawResult<()> {
            let root = SVGBackend::with_string(&mut buf, (WIDTH, height)).into_drawing_area();
            root.fill(&WHITE)?;
            let (plot_area, legend_area) = root.split_horizontally(WIDTH - LEGEND_W);
            let geometry = plot(&plot_area)?;
            self.draw_markers(&root, &geometry)?;
            draw_legend(&legend_area, legend, geometry.top)?;
            root.present()
        })();
        match result {
            Ok(()) => buf,
            Err(e) => format!(
                "<p class=\"chart-error\">chart could not be drawn: {}</p>",
                escape(&e.to_string())
            ),
        }
    }

    /// The mesh every time chart shares: seconds on x (compact labels), the
    /// house label sizes and a faint grid. The caller adds its y axis (its
    /// description, label format and any override) and draws.
    fn time_mesh<'a, 'b, 'm, Y>(
        &self,
        chart: &'m mut ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>,
    ) -> MeshStyle<'a, 'm, RangedCoordf64, Y, SVGBackend<'b>>
    where
        Y: Ranged + ValueFormatter<Y::ValueType>,
    {
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(self.x_desc())
            .x_label_formatter(&axis_label)
            .axis_desc_style((FONT, 17))
            .label_style((FONT, 15))
            .light_line_style(BLACK.mix(0.05));
        mesh
    }

    /// Chart builder with the shared layout. The title is drawn here, above
    /// the marker-label rows (plotters' caption would sit between them and
    /// the plot). Only a chart with a right-hand axis gets a right label
    /// area; the others get the same width as margin, so x axes align.
    fn builder<'a, 'b>(
        &self,
        area: &'a Area<'b>,
        title: &str,
        right_axis: bool,
    ) -> DrawResult<ChartBuilder<'a, 'b, SVGBackend<'b>>> {
        let style = TextStyle::from((FONT, 22).into_font().style(FontStyle::Bold)).color(&INK);
        area.draw(&Text::new(
            title.to_string(),
            (Y_LABEL_W as i32 + 6, 8),
            style.pos(Pos::new(HPos::Left, VPos::Top)),
        ))?;
        let mut builder = ChartBuilder::on(area);
        builder
            .margin_top(TITLE_H + self.marker_h())
            .margin_left(6)
            .x_label_area_size(X_LABEL_H)
            .y_label_area_size(Y_LABEL_W);
        if right_axis {
            builder.margin_right(6).right_y_label_area_size(Y2_LABEL_W);
        } else {
            builder.margin_right(6 + Y2_LABEL_W);
        }
        Ok(builder)
    }

    /// Each network fault as a band, then each timeline event: a dashed
    /// vertical line through the plot and its label above the plot. Labels go in the lowest of [`MARKER_ROWS`] rows
    /// where they fit; when none has room at the marker, the label is pushed
    /// right in the least-full row and joined to its marker by a leader line.
    fn draw_markers(&self, root: &Area<'_>, g: &Geometry) -> DrawResult<()> {
        let style = TextStyle::from((FONT, 16).into_font())
            .color(&INK)
            .pos(Pos::new(HPos::Left, VPos::Bottom));
        // Each network fault: a shaded band over the time it was in force,
        // under the markers (its start is one of them).
        for f in &self.record.faults {
            let (x0, x1) = (g.px(f.start_s).max(g.left), g.px(f.end_s).min(g.right));
            if x1 > x0 {
                root.draw(&Rectangle::new(
                    [(x0, g.top), (x1, g.bottom)],
                    FAULT_BAND.mix(0.14).filled(),
                ))?;
            }
        }
        let mut row_end = [i32::MIN; MARKER_ROWS];
        let rows = self.marker_rows;
        let limit = g.right + Y2_LABEL_W as i32;
        for (t, label) in &self.markers {
            let x = g.px(*t);
            if x < g.left || x > g.right {
                continue;
            }
            root.draw(&DashedPathElement::new(
                vec![(x, g.top), (x, g.bottom)],
                6,
                4,
                INK.stroke_width(2),
            ))?;
            let width = text_width(label, 16);
            let row = (0..rows)
                .find(|r| row_end[*r] <= x)
                .or_else(|| (0..rows).min_by_key(|r| row_end[*r]))
                .unwrap_or(0);
            let y = g.top - 5 - MARKER_ROW_H * row as i32;
            let mut tx = (x + 4).max(row_end[row]);
            if tx + width > limit {
                // No room to the right: end the label at the marker instead.
                tx = (x - 4 - width).max(0);
            }
            // A pushed label's leader runs along the plot's top edge, below
            // every label row, then up to the label.
            let leader = if tx > x + 4 {
                vec![
                    (x, g.top),
                    (x, g.top - 2),
                    (tx - 2, g.top - 2),
                    (tx - 2, y - 6),
                ]
            } else {
                vec![(x, g.top), (x, y - 6)]
            };
            root.draw(&PathElement::new(leader, INK.stroke_width(1)))?;
            root.draw(&Text::new(label.to_string(), (tx, y), style.clone()))?;
            row_end[row] = row_end[row].max(tx + width + 12);
        }
        Ok(())
    }

    /// Each named series as lines of width 2 in that backend's (pod's)
    /// colour.
    fn draw_lines(
        &self,
        chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
        series: &[(impl AsRef<str>, Segments)],
    ) -> DrawResult<()> {
        for (name, segs) in series {
            let style = self.color(name.as_ref()).stroke_width(2);
            for seg in segs {
                chart.draw_series(LineSeries::new(seg.iter().copied(), style))?;
            }
        }
        Ok(())
    }

    fn backend_legend(&self) -> Vec<LegendEntry> {
        self.named_legend(&self.record.backend_names(), Swatch::Line(2))
    }

    /// A legend entry per backend (pod) of `names`, "(new)" after those
    /// added by the last scale-up.
    fn named_legend(&self, names: &[String], swatch: Swatch) -> Vec<LegendEntry> {
        names
            .iter()
            .map(|n| {
                let new = self
                    .record
                    .backend(n)
                    .is_some_and(|b| b.added_by_last_scale_up);
                LegendEntry {
                    label: if new { format!("{n} (new)") } else { n.clone() },
                    color: self.color(n),
                    swatch,
                }
            })
            .collect()
    }
}

fn draw_legend(area: &Area<'_>, entries: &[LegendEntry], top: i32) -> DrawResult<()> {
    let row_h = 22;
    let (_, h) = area.dim_in_pixel();
    let rows = ((h as i32 - top - 8) / row_h).max(1) as usize;
    let (shown, more) = if entries.len() > rows {
        (rows - 1, entries.len() - (rows - 1))
    } else {
        (entries.len(), 0)
    };
    let style = TextStyle::from((FONT, 16).into_font())
        .color(&INK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, e) in entries.iter().take(shown).enumerate() {
        let y = top + 4 + row_h * i as i32 + row_h / 2;
        match e.swatch {
            Swatch::Area => area.draw(&Rectangle::new(
                [(14, y - 6), (40, y + 6)],
                e.color.filled(),
            ))?,
            Swatch::Line(w) => area.draw(&PathElement::new(
                vec![(14, y), (40, y)],
                e.color.stroke_width(w),
            ))?,
            Swatch::Dashed => area.draw(&DashedPathElement::new(
                vec![(14, y), (40, y)],
                6,
                4,
                e.color.stroke_width(2),
            ))?,
            Swatch::Marker => {
                area.draw(&PathElement::new(
                    vec![(27, y - 3), (27, y + 9)],
                    e.color.stroke_width(2),
                ))?;
                area.draw(&Polygon::new(
                    vec![(21, y - 8), (33, y - 8), (27, y)],
                    e.color.filled(),
                ))?;
            }
        }
        area.draw(&Text::new(truncate(&e.label, 26), (48, y), style.clone()))?;
    }
    if more > 0 {
        let y = top + 4 + row_h * shown as i32 + row_h / 2;
        area.draw(&Text::new(
            format!("+{more} more (see the table)"),
            (14, y),
            style,
        ))?;
    }
    Ok(())
}

/// Splits points with gaps (None) into continuous segments.
fn segments(points: impl Iterator<Item = (f64, Option<f64>)>) -> Segments {
    let mut out: Segments = Vec::new();
    let mut current = Vec::new();
    for (x, y) in points {
        match y {
            Some(y) => current.push((x, y)),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Like [`segments`], but each bucket's value is held flat across the bucket.
fn steps(points: impl Iterator<Item = (f64, Option<f64>)>, bucket_s: f64) -> Segments {
    segments(points)
        .into_iter()
        .map(|seg| {
            seg.into_iter()
                .flat_map(|(t, v)| [(t, v), (t + bucket_s, v)])
                .collect()
        })
        .collect()
}

/// An axis maximum a bit above the data, at least 1.
fn nice_max(values: impl Iterator<Item = f64>) -> f64 {
    let max = values.filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
    (max * 1.1).max(1.0)
}

/// A log axis' range: whole decades around `values`, at least one decade
/// (0.1 to 10 without any value).
fn log_range(values: impl Iterator<Item = f64> + Clone) -> Range<f64> {
    let lo = values
        .clone()
        .reduce(f64::min)
        .map_or(0.1, |v| decade_floor(v.max(0.001)));
    let hi = values
        .reduce(f64::max)
        .map_or(10.0, |v| decade_ceil(v.max(lo * 10.0)));
    lo..hi
}

fn decade_floor(v: f64) -> f64 {
    10f64.powf(v.log10().floor())
}

fn decade_ceil(v: f64) -> f64 {
    10f64.powf(v.log10().ceil())
}

/// Rough rendered width of `text` drawn at plotters size `size` (the SVG
/// backend writes `font-size` = size / 1.24; an average sans-serif glyph is
/// about half an em wide). The browser lays the text out for real; this only
/// keeps labels apart and boxes around them.
fn text_width(text: &str, size: i32) -> i32 {
    text.chars().count() as i32 * size * 42 / 100
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::BackendInfo;

    #[test]
    fn segments_split_at_gaps() {
        let pts = [
            (0.0, Some(1.0)),
            (1.0, None),
            (2.0, Some(2.0)),
            (3.0, Some(3.0)),
            (4.0, None),
        ];
        assert_eq!(
            segments(pts.into_iter()),
            vec![vec![(0.0, 1.0)], vec![(2.0, 2.0), (3.0, 3.0)]]
        );
    }

    #[test]
    fn colours_follow_creation_order_and_cycle() {
        let mut rec = crate::sample::incident_a(false);
        let extra: Vec<BackendInfo> = (6..10)
            .map(|i| BackendInfo {
                name: format!("web-{i}"),
                ..rec.backends[0].clone()
            })
            .collect();
        rec.backends.extend(extra);
        let colors = backend_colors(&rec);
        assert_eq!(colors.get("web-0"), Some(&PALETTE[0]));
        assert_eq!(colors.get("web-5"), Some(&PALETTE[5]));
        assert_eq!(colors.get("web-8"), Some(&PALETTE[0]));
    }
}
