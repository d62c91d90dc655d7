//! The index page's sparklines: a suite's main figure over past nights
//! and tonight as a small inline SVG (circles for passing nights, squares
//! for the others, a ring around tonight, triangles at the top for ∞).
use std::{cmp::Ordering, fmt::Write as _};

use super::history::NightEntry;
use crate::{
    fmt::{cmp_nights, escape, figure_pct, fixed},
    record::Verdict,
};

/// How many past nights a sparkline shows at most (tonight comes on top).
pub const SPARKLINE_NIGHTS: usize = 30;

/// What a sparkline follows: key, label, the natural floor of its axis (a
/// share starts at 0, a max/min ratio at 1, so small wobbles are not blown
/// up to the full height) and its formatter.
pub(super) type MainFigure = (&'static str, &'static str, f64, fn(f64) -> String);

/// A suite's main figure: `new_backend_share` when it scales up, else
/// `imbalance`.
pub(super) fn main_figure(scales_up: bool) -> MainFigure {
    if scales_up {
        ("new_backend_share", "new-backend share", 0.0, figure_pct)
    } else {
        ("imbalance", "imbalance", 1.0, |v| fixed(v, 2))
    }
}

/// One night in a sparkline.
pub(super) struct Point {
    pub(super) night: String,
    pub(super) value: Option<f64>,
    /// None for a broken night.
    pub(super) verdict: Option<Verdict>,
    pub(super) tonight: bool,
}

/// The last [`SPARKLINE_NIGHTS`] of `past` (sorted oldest first), leaving
/// out tonight's own entry (same start) and anything later.
pub(super) fn night_points(
    past: &[&NightEntry],
    figure: &str,
    tonight: Option<&str>,
) -> Vec<Point> {
    let mut nights: Vec<&NightEntry> = past
        .iter()
        .copied()
        .filter(|e| tonight.is_none_or(|t| cmp_nights(&e.night, t) == Ordering::Less))
        .collect();
    nights.sort_by(|a, b| cmp_nights(&a.night, &b.night));
    let skip = nights.len().saturating_sub(SPARKLINE_NIGHTS);
    nights
        .into_iter()
        .skip(skip)
        .map(|e| Point {
            night: e.night.clone(),
            value: e.figures.get(figure).copied(),
            verdict: Some(e.verdict),
            tonight: false,
        })
        .collect()
}

const SPARK_W: f64 = 170.0;

const SPARK_H: f64 = 38.0;

const SPARK_PAD: f64 = 6.0;

const SPARK_LINE: &str = "#0072b2";

const SPARK_BAD: &str = "#d55e00";

/// A small SVG line of `points` (oldest left, tonight right): circles for
/// passing nights, squares for the others, a ring around tonight, triangles
/// at the top for ∞, nothing for a night without the figure.
pub(super) fn sparkline((figure, label, floor, fmt): MainFigure, points: &[Point]) -> String {
    let finite: Vec<f64> = points
        .iter()
        .filter_map(|p| p.value)
        .filter(|v| v.is_finite())
        .collect();
    let lo = finite
        .iter()
        .copied()
        .reduce(f64::min)
        .map(|v| v.min(floor));
    let hi = finite.iter().copied().reduce(f64::max);
    let n = points.len();
    let x = |i: usize| {
        if n <= 1 {
            SPARK_W / 2.0
        } else {
            SPARK_PAD + (SPARK_W - 2.0 * SPARK_PAD) * i as f64 / (n - 1) as f64
        }
    };
    // ∞ sits at the top edge; finite values below it.
    let top = SPARK_PAD + 4.0;
    let bottom = SPARK_H - SPARK_PAD;
    let y = |v: f64| match (lo, hi) {
        (Some(lo), Some(hi)) if hi > lo => bottom - (bottom - top) * (v - lo) / (hi - lo),
        _ => (top + bottom) / 2.0,
    };
    let mut svg = format!(
        "<svg class=\"spark\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{SPARK_W}\" height=\"{SPARK_H}\" \
         viewBox=\"0 0 {SPARK_W} {SPARK_H}\" role=\"img\" aria-label=\"{} over {} nights\">",
        escape(figure),
        n
    );
    let _ = write!(
        svg,
        "<rect x=\"0.5\" y=\"0.5\" width=\"{}\" height=\"{}\" fill=\"#fff\" stroke=\"#e4e4e4\"/>",
        SPARK_W - 1.0,
        SPARK_H - 1.0
    );
    // The line breaks at nights without a finite value.
    let mut segment: Vec<String> = Vec::new();
    let flush = |segment: &mut Vec<String>, svg: &mut String| {
        if segment.len() > 1 {
            let _ = write!(
                svg,
                "<polyline fill=\"none\" stroke=\"{SPARK_LINE}\" stroke-width=\"1.5\" \
                 stroke-linejoin=\"round\" points=\"{}\"/>",
                segment.join(" ")
            );
        }
        segment.clear();
    };
    for (i, p) in points.iter().enumerate() {
        match p.value {
            Some(v) if v.is_finite() => segment.push(format!("{:.1},{:.1}", x(i), y(v))),
            _ => flush(&mut segment, &mut svg),
        }
    }
    flush(&mut segment, &mut svg);
    for (i, p) in points.iter().enumerate() {
        let cx = x(i);
        let verdict = p.verdict.map_or("BROKEN", |v| v.word());
        let value_text = match p.value {
            Some(v) => fmt(v),
            None => "no value".into(),
        };
        let title = format!(
            "<title>{}{}: {} {}</title>",
            if p.tonight { "tonight " } else { "" },
            escape(&p.night),
            escape(&value_text),
            verdict
        );
        let passed = p.verdict == Some(Verdict::Pass);
        let color = if passed { SPARK_LINE } else { SPARK_BAD };
        let mark = match p.value {
            Some(v) if v.is_finite() => {
                let cy = y(v);
                if passed {
                    format!(
                        "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"2.2\" fill=\"{color}\">{title}</circle>"
                    )
                } else {
                    format!(
                        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"5.6\" height=\"5.6\" fill=\"{color}\">{title}</rect>",
                        cx - 2.8,
                        cy - 2.8
                    )
                }
            }
            Some(v) if v > 0.0 => format!(
                "<path d=\"M{:.1},{:.1} L{:.1},{:.1} L{:.1},{:.1} Z\" fill=\"{color}\">{title}</path>",
                cx,
                SPARK_PAD - 3.0,
                cx - 3.5,
                SPARK_PAD + 3.0,
                cx + 3.5,
                SPARK_PAD + 3.0
            ),
            // No value (a broken night, or the figure undefined): a grey tick
            // on the baseline so the night is still visible.
            _ => format!(
                "<line x1=\"{cx:.1}\" y1=\"{:.1}\" x2=\"{cx:.1}\" y2=\"{:.1}\" stroke=\"{}\" stroke-width=\"2\">{title}</line>",
                bottom - 3.0,
                bottom + 3.0,
                if p.verdict.is_none() { "#000" } else { "#999" }
            ),
        };
        svg.push_str(&mark);
        if p.tonight {
            let cy = match p.value {
                Some(v) if v.is_finite() => y(v),
                Some(v) if v > 0.0 => SPARK_PAD,
                _ => bottom,
            };
            let _ = write!(
                svg,
                "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"5\" fill=\"none\" stroke=\"#000\" stroke-width=\"1.2\"/>"
            );
        }
    }
    svg.push_str("</svg>");
    let range = match (lo, hi) {
        (Some(lo), Some(hi)) if hi > lo => format!(" · axis {}–{}", fmt(lo), fmt(hi)),
        _ => String::new(),
    };
    format!(
        "{svg}<div class=\"spark-cap\">{} · {} night{}{}</div>",
        escape(label),
        n,
        if n == 1 { "" } else { "s" },
        escape(&range)
    )
}
