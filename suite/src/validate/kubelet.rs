//! The `kubelet` section: the time scale of kubelet's and the HPA's clocks.
use super::checker::Checker;
use crate::{expected::TIME_SCALE, model::KubeletSpec};

/// Checks `kubelet`; returns the time scale when it is valid. Like the
/// suite duration: scaled checks wait for a valid scale.
pub(super) fn check(c: &mut Checker<'_>, kubelet: &KubeletSpec) -> Option<f64> {
    let ts = kubelet.time_scale;
    let scale_ok = (0.01..=1.0).contains(&ts);
    c.expect(scale_ok, "kubelet.time_scale", TIME_SCALE, ts);
    scale_ok.then_some(ts)
}
