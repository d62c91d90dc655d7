//! Text for people and for markup, in one place: HTML escaping and element
//! ids, the number formats of the report, the index page and chart axes,
//! and RFC 3339 times (the run's start stamp, and ordering nights by the
//! instant they name). Every page and chart formats through here, so the
//! modules that draw never import each other for a helper.
//!
//! Some formatters look alike but differ on purpose (a table's `num` keeps
//! about four significant digits, an axis' [`axis_num`] three; [`count`]
//! takes a counter, [`figure_count`] a key figure that may be ∞): each is
//! named for where it is used.
use std::cmp::Ordering;

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

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
        assert_eq!(num(0.123456), "0.1235");
        assert_eq!(num(60.0), "60");
        assert_eq!(count(1234567), "1\u{2009}234\u{2009}567");
        assert_eq!(opt_pct(Some(0.5)), "50.00%");
        assert_eq!(opt_num(None), "undefined");
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
