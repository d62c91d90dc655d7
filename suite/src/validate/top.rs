//! The suite's top-level fields: `name`, `duration` and `bucket`.
use std::time::Duration;

use super::{
    checker::{Checker, HOUR},
    text::is_suite_name,
};
use crate::{
    expected::{BUCKET, DURATION, PROPAGATION_DELAY, SUITE_NAME},
    model::Suite,
};

/// Checks the top-level fields; returns the suite duration when it is
/// valid. Checks against the suite duration wait for it to be valid: a bad
/// `duration` is one error, not one per field compared with it.
pub(super) fn check(c: &mut Checker<'_>, suite: &Suite) -> Option<Duration> {
    let dur = suite.duration.0;
    c.expect(
        is_suite_name(&suite.name),
        "name",
        SUITE_NAME,
        format!("{:?}", suite.name),
    );
    let dur_ok = !dur.is_zero() && dur <= HOUR;
    c.expect(dur_ok, "duration", DURATION, suite.duration);
    let dur = if dur_ok { dur } else { Duration::MAX };
    c.expect(
        suite.bucket.0 >= Duration::from_millis(100) && suite.bucket.0 <= dur,
        "bucket",
        BUCKET,
        suite.bucket,
    );
    c.expect(
        suite.endpoints.propagation_delay.0 <= Duration::from_secs(60),
        "endpoints.propagation_delay",
        PROPAGATION_DELAY,
        suite.endpoints.propagation_delay,
    );
    dur_ok.then_some(dur)
}
