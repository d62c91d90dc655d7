//! `Dur`: durations written as `250ms`, `30s`, `1.5m`, `6h`.
//!
//! Parsing is exact decimal arithmetic, not floating point (`0.3s` would
//! otherwise become 299.999999ms), and a duration must be a whole number of
//! milliseconds, so that [`Display`](fmt::Display) writes back a string that
//! parses to the same value.
use std::{fmt, str::FromStr, time::Duration};

use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{self, Visitor},
};

/// A duration written as `<number><unit>` with unit ms, s, m or h
/// (`1.5s` allowed). Serialises back to the same form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub Duration);

/// The longest duration a suite can write (the validator bounds most fields
/// far lower; this only keeps the arithmetic in range).
const MAX_MS: u128 = 30 * 24 * 3_600_000;

/// What `expected …` says about a malformed duration.
pub(crate) const EXPECTED: &str = "a duration like 250ms, 30s, 1.5m or 6h";

impl Dur {
    /// A duration of `ms` milliseconds.
    #[must_use]
    pub const fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    /// A duration of `s` seconds.
    #[must_use]
    pub const fn from_secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }

    /// The value as a [`Duration`].
    #[must_use]
    pub const fn as_duration(self) -> Duration {
        self.0
    }
}

impl From<Duration> for Dur {
    fn from(d: Duration) -> Self {
        Self(d)
    }
}

impl From<Dur> for Duration {
    fn from(d: Dur) -> Self {
        d.0
    }
}

impl FromStr for Dur {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let expected = || format!("expected {EXPECTED}, got {s:?}");
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let unit_ms: u128 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "" if !num.is_empty() && num.len() == t.len() => {
                return Err(format!("{}; add a unit: ms, s, m or h", expected()));
            }
            _ => return Err(expected()),
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty() || (num.contains('.') && frac.is_empty()) || frac.contains('.') {
            return Err(expected());
        }
        let out_of_range = || format!("duration {s:?} is out of range (at most 30 days)");
        if int.len() > 12 || frac.len() > 9 {
            return Err(if int.len() > 12 {
                out_of_range()
            } else {
                format!("duration {s:?} is more precise than a millisecond")
            });
        }
        // Both parts are ASCII digits of bounded length, so these parses and
        // the arithmetic below cannot overflow a u128.
        let int: u128 = int.parse().map_err(|_| expected())?;
        let frac_val: u128 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| expected())?
        };
        let denom = 10u128.pow(u32::try_from(frac.len()).map_err(|_| expected())?);
        let scaled = (int * denom + frac_val) * unit_ms;
        if !scaled.is_multiple_of(denom) {
            return Err(format!("duration {s:?} is more precise than a millisecond"));
        }
        let ms = scaled / denom;
        if ms > MAX_MS {
            return Err(out_of_range());
        }
        let ms = u64::try_from(ms).map_err(|_| out_of_range())?;
        Ok(Dur::from_millis(ms))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(3_600_000) && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Parses inside `visit_str`, so serde_yaml marks a bad duration at the
/// scalar itself rather than at the enclosing mapping.
struct DurVisitor;

impl Visitor<'_> for DurVisitor {
    type Value = Dur;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
        v.parse().map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(DurVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_fractions_are_exact() {
        let d: Dur = "0.3s".parse().expect("0.3s parses");
        assert_eq!(d, Dur::from_millis(300));
        assert_eq!(d.to_string(), "300ms");
        let d: Dur = "1.5m".parse().expect("1.5m parses");
        assert_eq!(d, Dur::from_secs(90));
    }

    #[test]
    fn sub_millisecond_is_rejected() {
        let e = "1.5ms".parse::<Dur>().expect_err("1.5ms is too precise");
        assert!(e.contains("more precise than a millisecond"), "{e}");
    }

    #[test]
    fn out_of_range_is_rejected() {
        let e = "721h".parse::<Dur>().expect_err("721h is over 30 days");
        assert!(e.contains("out of range"), "{e}");
        let e = "99999999999999999999h"
            .parse::<Dur>()
            .expect_err("huge value");
        assert!(e.contains("out of range"), "{e}");
    }
}
