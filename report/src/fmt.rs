//! Text for people and for markup, in one place: HTML and XML escaping and
//! element ids, the number formats of the report, the index page and chart
//! axes, the verdict line of an expectation ([`verdict_line`], the one text
//! the terminal, the report and the JUnit file all show), and RFC 3339 times
//! (the run's start stamp, and ordering nights by the instant they name).
//! Every page and chart formats through here, so the modules that draw never
//! import each other for a helper.
//!
//! Some formatters look alike but differ on purpose (a table's `num` keeps
//! about four significant digits, an axis' [`axis_num`] three; [`count`]
//! takes a counter, [`figure_count`] a key figure that may be ∞): each is
//! named for where it is used.
use std::cmp::Ordering;

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::record::ExpectationResult;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A character XML 1.0 cannot carry at all, not even as a character
/// reference (C0 controls other than tab, LF and CR; U+FFFE, U+FFFF).
fn xml_forbidden(c: char) -> bool {
    matches!(c, '\0'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// Escapes text for XML element content; characters XML cannot carry
/// become U+FFFD (a run's error text is free-form).
pub(crate) fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if xml_forbidden(c) => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for a double- or single-quoted XML attribute value. Tab,
/// LF and CR become character references: a parser turns them into spaces
/// when they appear literally (XML 1.0 section 3.3.3, attribute-value
/// normalization), and a multi-line error message should read back whole.
pub(crate) fn xml_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if xml_forbidden(c) => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `s` with every character other than ASCII letters, digits, `-` and `_`
/// replaced by `_`, for an element id (a chart's, a suite row's anchor).
pub(crate) fn id_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A figure for a table: ∞ for infinity, about four significant digits.
pub(crate) fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        }
    } else if v == v.round() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// `v` with `digits` significant digits (at least 1), trailing zeros
/// dropped; whole digits are never rounded away (412345.6 → "412346"), and
/// magnitudes below 1e-6 or from 1e15 use an exponent. ∞ and NaN as [`num`].
pub(crate) fn sig(v: f64, digits: usize) -> String {
    let digits = digits.max(1);
    if !v.is_finite() {
        return num(v);
    }
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor();
    if !(-6.0..15.0).contains(&magnitude) {
        return format!("{v:.prec$e}", prec = digits - 1);
    }
    // magnitude is in -6..15, so the cast is exact.
    let decimals = (digits as i64 - 1 - magnitude as i64).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Significant digits of a verdict line: four, or as many more as it takes
/// for the measured value to read differently from every bound it differs
/// from (so a failure never reads "0.1 > 0.1").
fn verdict_digits(measured: f64, bounds: &[f64]) -> usize {
    let mut digits = 4;
    while digits < 17
        && bounds
            .iter()
            .any(|&b| b != measured && sig(b, digits) == sig(measured, digits))
    {
        digits += 1;
    }
    digits
}

/// A time of the run in seconds for people: to 0.1 s, a whole second
/// without its `.0` (`20`, `13.3`; a 20.000187 s timestamp reads `20`).
pub fn secs(v: f64) -> String {
    if !v.is_finite() {
        return num(v);
    }
    let s = format!("{v:.1}");
    match s.strip_suffix(".0") {
        Some("-0") => "0".to_owned(),
        Some(whole) => whole.to_owned(),
        None => s,
    }
}

/// An expectation's window for people: `0–15 s`, `2.5–7.5 s`.
pub fn window(w: [f64; 2]) -> String {
    format!("{}–{} s", secs(w[0]), secs(w[1]))
}

/// An expectation's window, and the span its buckets cover when an edge
/// falls inside a bucket: `13.3–21 s (whole buckets: 14–21 s)`.
pub fn expectation_window(e: &ExpectationResult) -> String {
    match e.covered_s {
        Some(c) => format!("{} (whole buckets: {})", window(e.window_s), window(c)),
        None => window(e.window_s),
    }
}

/// An expectation named by its metric and window, `error_rate over 0–15 s`
/// (a JUnit test case's name).
pub fn expectation_name(e: &ExpectationResult) -> String {
    format!("{} over {}", e.metric, window(e.window_s))
}

/// How the measured value stands against the bounds: `0.0005 ≤ 0.02`,
/// `412 ≥ 100`, `0.2 ≤ 0.5 ≤ 0.8`, and for a failure the bound it crossed
/// (`0.9 > 0.8`); `n/a (no data)` when the metric is undefined.
pub fn comparison(e: &ExpectationResult) -> String {
    let Some(m) = e.measured else {
        return "n/a (no data)".into();
    };
    if m.is_nan() {
        return "NaN (not a number)".into();
    }
    let bounds: Vec<f64> = [e.min, e.max].into_iter().flatten().collect();
    let d = verdict_digits(m, &bounds);
    let ms = sig(m, d);
    match (e.min, e.max) {
        (None, None) => format!("{ms} (any value)"),
        (Some(lo), _) if m < lo => format!("{ms} < {}", sig(lo, d)),
        (_, Some(hi)) if m > hi => format!("{ms} > {}", sig(hi, d)),
        (Some(lo), None) => format!("{ms} ≥ {}", sig(lo, d)),
        (None, Some(hi)) => format!("{ms} ≤ {}", sig(hi, d)),
        (Some(lo), Some(hi)) => format!("{} ≤ {ms} ≤ {}", sig(lo, d), sig(hi, d)),
    }
}

/// An expectation's check without the verdict word or note:
/// `error_rate 0.0005 ≤ 0.02 over 0–15 s`.
pub fn expectation_check(e: &ExpectationResult) -> String {
    format!(
        "{} {} over {}",
        e.metric,
        comparison(e),
        expectation_window(e)
    )
}

/// The line people read for an expectation, on the terminal, in the report
/// and as a JUnit failure message: `PASS error_rate 0.0005 ≤ 0.02 over 0–15 s`,
/// `FAIL new_backend_share 0.31 > 0.1 over 30–60 s (expected: the 3 added
/// backends stay nearly idle)`. The suite's note says what the suite
/// expects and why, not what was measured: a failure shows it labelled as
/// the expectation, so a failed bound never reads as a finding (issue 30).
pub fn verdict_line(e: &ExpectationResult) -> String {
    let word = if e.pass { "PASS" } else { "FAIL" };
    let mut line = format!("{word} {}", expectation_check(e));
    if !e.pass && !e.note.is_empty() {
        line.push_str(" (expected: ");
        line.push_str(&e.note);
        line.push(')');
    }
    line
}

/// [`num`], or "undefined".
pub(crate) fn opt_num(v: Option<f64>) -> String {
    v.map_or("undefined".into(), num)
}

/// A fraction as a percentage with two decimals, or "undefined".
pub(crate) fn opt_pct(v: Option<f64>) -> String {
    v.map_or("undefined".into(), |v| format!("{:.2}%", v * 100.0))
}

/// Integer with thin-space thousands separators.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

/// `v` with `decimals` decimals, or ∞.
pub(crate) fn fixed(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        num(v)
    }
}

/// A key figure's fraction as a percentage; "<0.01%" rather than a
/// misleading 0.00%.
pub(crate) fn figure_pct(v: f64) -> String {
    if v > 0.0 && v < 0.0001 {
        "<0.01%".into()
    } else if v.is_finite() {
        format!("{:.2}%", v * 100.0)
    } else {
        num(v)
    }
}

/// A key figure that is a whole number, with thin-space thousands
/// separators ([`num`] for anything else).
pub(crate) fn figure_count(v: f64) -> String {
    if !v.is_finite() || v.fract() != 0.0 || v.abs() >= 1e15 {
        return num(v);
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::from(if v < 0.0 { "-" } else { "" });
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

/// A relative change as a percentage ("+35%", "∞").
pub(crate) fn change_pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.0}%", v * 100.0)
    } else {
        "∞".into()
    }
}

/// Compact axis number: integers without decimals, otherwise up to 3
/// significant digits.
pub(crate) fn axis_num(v: f64) -> String {
    if v == v.round() && v.abs() < 1e9 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// [`axis_num`] as a label formatter.
pub(crate) fn axis_label(v: &f64) -> String {
    axis_num(*v)
}

/// Integer tick labels only (counts): fractional ticks are left blank.
pub(crate) fn count_tick(v: &f64) -> String {
    if v.fract() == 0.0 {
        axis_num(*v)
    } else {
        String::new()
    }
}

/// The current UTC time as RFC 3339 in whole seconds,
/// `YYYY-MM-DDTHH:MM:SSZ` (a run's `started_at`).
pub fn rfc3339_now() -> String {
    let now = OffsetDateTime::now_utc();
    // Whole seconds: the well-known format writes a fraction only when
    // there is one.
    let now = now.replace_nanosecond(0).unwrap_or(now);
    // Formatting fails only for years past 9999; the epoch then, as for a
    // clock set before it.
    now.format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Seconds since 1970-01-01T00:00:00Z and nanoseconds of an RFC 3339 time
/// (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, `t`/space accepted for `T`,
/// fraction digits past the ninth ignored); None when `s` is not one.
pub fn rfc3339_instant(s: &str) -> Option<(i64, u32)> {
    // `time` takes any character between date and time; RFC 3339 names
    // `T`, and allows `t` and (section 5.6) a space.
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    Some((t.unix_timestamp(), t.nanosecond()))
}

/// Orders RFC 3339 times (the nights of the nightly index) by the instant
/// they name when both parse (so offsets and fractions compare correctly),
/// else as strings.
pub(crate) fn cmp_nights(a: &str, b: &str) -> Ordering {
    match (rfc3339_instant(a), rfc3339_instant(b)) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        _ => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_for_people() {
        assert_eq!(num(f64::INFINITY), "∞");
        assert_eq!(secs(20.000_187_835), "20");
        assert_eq!(secs(13.333), "13.3");
        assert_eq!(secs(2.25), "2.2");
        assert_eq!(secs(-0.01), "0");
        assert_eq!(num(0.123456), "0.1235");
        assert_eq!(num(60.0), "60");
        assert_eq!(count(1234567), "1\u{2009}234\u{2009}567");
        assert_eq!(opt_pct(Some(0.5)), "50.00%");
        assert_eq!(opt_num(None), "undefined");
    }

    fn exp(
        metric: &str,
        window_s: [f64; 2],
        min: Option<f64>,
        max: Option<f64>,
        measured: Option<f64>,
    ) -> ExpectationResult {
        let pass = measured.is_some_and(|m| {
            !m.is_nan() && min.is_none_or(|lo| m >= lo) && max.is_none_or(|hi| m <= hi)
        });
        ExpectationResult {
            metric: metric.into(),
            window_s,
            min,
            max,
            measured,
            pass,
            note: "the 3 added backends stay nearly idle".into(),
            covered_s: None,
        }
    }

    #[test]
    fn verdict_line_max_only() {
        let e = exp("error_rate", [0.0, 15.0], None, Some(0.02), Some(0.0005));
        assert_eq!(
            verdict_line(&e),
            "PASS error_rate 0.0005 ≤ 0.02 over 0–15 s"
        );
        let e = exp(
            "new_backend_share",
            [30.0, 60.0],
            None,
            Some(0.1),
            Some(0.31),
        );
        assert_eq!(
            verdict_line(&e),
            "FAIL new_backend_share 0.31 > 0.1 over 30–60 s (expected: the 3 added backends stay nearly idle)"
        );
    }

    #[test]
    fn verdict_line_min_only() {
        let e = exp("ok_rate", [0.0, 60.0], Some(100.0), None, Some(412.0));
        assert_eq!(verdict_line(&e), "PASS ok_rate 412 ≥ 100 over 0–60 s");
        let e = exp("ok_rate", [0.0, 60.0], Some(100.0), None, Some(49.8765));
        assert!(
            verdict_line(&e).starts_with("FAIL ok_rate 49.88 < 100 over 0–60 s ("),
            "{}",
            verdict_line(&e)
        );
    }

    #[test]
    fn verdict_line_both_bounds_names_the_side_that_failed() {
        let both = |m| exp("x", [2.5, 7.5], Some(0.2), Some(0.8), Some(m));
        assert_eq!(
            verdict_line(&both(0.5)),
            "PASS x 0.2 ≤ 0.5 ≤ 0.8 over 2.5–7.5 s"
        );
        let low = verdict_line(&both(0.1));
        assert!(
            low.starts_with("FAIL x 0.1 < 0.2 over 2.5–7.5 s ("),
            "{low}"
        );
        let high = verdict_line(&both(0.9));
        assert!(
            high.starts_with("FAIL x 0.9 > 0.8 over 2.5–7.5 s ("),
            "{high}"
        );
    }

    #[test]
    fn verdict_line_without_data_or_bounds() {
        let e = exp("new_backend_share", [0.0, 60.0], None, Some(0.1), None);
        assert_eq!(
            verdict_line(&e),
            "FAIL new_backend_share n/a (no data) over 0–60 s (expected: the 3 added backends stay nearly idle)"
        );
        let e = exp("x", [0.0, 60.0], None, Some(0.1), Some(f64::NAN));
        assert!(verdict_line(&e).starts_with("FAIL x NaN (not a number) over"));
        let e = exp("x", [0.0, 60.0], None, None, Some(3.0));
        assert_eq!(verdict_line(&e), "PASS x 3 (any value) over 0–60 s");
        let e = exp(
            "max_min_ratio",
            [0.0, 60.0],
            None,
            Some(3.0),
            Some(f64::INFINITY),
        );
        assert!(verdict_line(&e).starts_with("FAIL max_min_ratio ∞ > 3 over"));
    }

    /// Issue 30: a window edge inside a bucket says which buckets it took.
    #[test]
    fn verdict_line_names_the_whole_buckets_a_window_took() {
        let mut e = exp("errors", [13.33, 21.0], None, Some(0.0), Some(0.0));
        e.covered_s = Some([14.0, 21.0]);
        assert_eq!(
            verdict_line(&e),
            "PASS errors 0 ≤ 0 over 13.3–21 s (whole buckets: 14–21 s)"
        );
    }

    #[test]
    fn verdict_line_shows_the_note_on_failure_only() {
        let pass = exp("error_rate", [0.0, 15.0], None, Some(0.02), Some(0.01));
        assert!(!verdict_line(&pass).contains("idle"));
        let fail = exp("error_rate", [0.0, 15.0], None, Some(0.02), Some(0.03));
        assert!(
            verdict_line(&fail).ends_with(" (expected: the 3 added backends stay nearly idle)")
        );
        let quiet = ExpectationResult {
            note: String::new(),
            ..fail
        };
        assert_eq!(
            verdict_line(&quiet),
            "FAIL error_rate 0.03 > 0.02 over 0–15 s"
        );
    }

    #[test]
    fn verdict_numbers_never_read_equal_when_they_differ() {
        let e = exp("x", [0.0, 1.0], None, Some(0.1), Some(0.100_04));
        assert_eq!(comparison(&e), "0.10004 > 0.1");
        let e = exp("x", [0.0, 1.0], None, Some(0.1), Some(0.1));
        assert_eq!(comparison(&e), "0.1 ≤ 0.1");
        assert_eq!(expectation_name(&e), "x over 0–1 s");
    }

    #[test]
    fn significant_digits() {
        assert_eq!(sig(0.0005, 4), "0.0005");
        assert_eq!(sig(0.123456, 4), "0.1235");
        assert_eq!(sig(412.0, 4), "412");
        assert_eq!(sig(412_345.6, 4), "412346");
        assert_eq!(sig(-2.5, 4), "-2.5");
        assert_eq!(sig(0.0, 4), "0");
        assert_eq!(sig(9.99996, 4), "10");
        assert_eq!(sig(1.5e-9, 3), "1.50e-9");
        assert_eq!(sig(f64::NEG_INFINITY, 4), "−∞");
    }

    #[test]
    fn xml_escapes_markup_quotes_and_unencodable_characters() {
        assert_eq!(xml_text("a<b>&c\"'\n"), "a&lt;b&gt;&amp;c\"'\n");
        assert_eq!(
            xml_attr("a<b>&c\"'\t\n\r"),
            "a&lt;b&gt;&amp;c&quot;&apos;&#9;&#10;&#13;"
        );
        assert_eq!(
            xml_text("x\u{0}y\u{1b}z\u{ffff}"),
            "x\u{fffd}y\u{fffd}z\u{fffd}"
        );
        assert_eq!(xml_attr("\u{7}"), "\u{fffd}");
        assert_eq!(xml_attr("0–15 s ≤ ∞"), "0–15 s ≤ ∞");
    }

    #[test]
    fn axis_numbers_are_compact() {
        assert_eq!(axis_num(20.0), "20");
        assert_eq!(axis_num(0.25), "0.25");
        assert_eq!(axis_num(12.5), "12.5");
    }

    #[test]
    fn rfc3339_instants_order_by_time() {
        assert_eq!(rfc3339_instant("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            rfc3339_instant("2026-01-01T12:00:00Z"),
            Some((1_767_268_800, 0))
        );
        assert_eq!(
            rfc3339_instant("2026-01-01T14:00:00+02:00"),
            rfc3339_instant("2026-01-01T12:00:00Z")
        );
        assert_eq!(
            rfc3339_instant("2026-01-01T12:00:00.25Z"),
            Some((1_767_268_800, 250_000_000))
        );
        assert_eq!(rfc3339_instant("yesterday"), None);
        assert_eq!(rfc3339_instant("2026-01-01T12:00:00"), None);
        // A fraction is later than none, although '.' sorts before 'Z'.
        assert_eq!(
            cmp_nights("2026-01-01T12:00:00.5Z", "2026-01-01T12:00:00Z"),
            Ordering::Greater
        );
        assert_eq!(
            cmp_nights("2026-01-01T13:00:00+02:00", "2026-01-01T12:00:00Z"),
            Ordering::Less
        );
    }

    #[test]
    fn rfc3339_separators_case_and_long_fractions() {
        let noon = Some((1_767_268_800, 0));
        assert_eq!(rfc3339_instant("2026-01-01t12:00:00z"), noon);
        assert_eq!(rfc3339_instant("2026-01-01 12:00:00Z"), noon);
        assert_eq!(rfc3339_instant("2026-01-01_12:00:00Z"), None);
        assert_eq!(
            rfc3339_instant("2026-01-01T12:00:00.1234567891Z"),
            Some((1_767_268_800, 123_456_789))
        );
    }

    #[test]
    fn now_is_whole_seconds_utc() {
        let now = rfc3339_now();
        assert_eq!(now.len(), "2026-12-01T20:28:40Z".len(), "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
        let (secs, nanos) = rfc3339_instant(&now).unwrap_or_else(|| panic!("{now} parses"));
        assert_eq!(nanos, 0);
        assert!(secs > 1_767_268_800, "{now} after 2026-01-01");
    }
}
