//! The `regression` section: nightly thresholds, one per key figure.
use std::collections::BTreeMap;

use super::checker::Checker;
use crate::expected::REGRESSION_FIGURES;

pub(super) fn check(c: &mut Checker<'_>, regression: &BTreeMap<String, f64>) {
    for (figure, v) in regression {
        let p = format!("regression.{figure}");
        if !REGRESSION_FIGURES.contains(&figure.as_str()) {
            c.fail(
                &p,
                format!(
                    "unknown key figure `{figure}`{}; expected one of {}",
                    crate::suggest::hint(figure, REGRESSION_FIGURES.iter().copied()),
                    REGRESSION_FIGURES.join(", ")
                ),
            );
        }
        c.expect(
            v.is_finite() && *v > 0.0 && *v <= 100.0,
            &p,
            "a relative threshold in (0, 100]",
            v,
        );
    }
}
