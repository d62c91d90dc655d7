//! Default values more than one section of the model uses (serde's
//! `default = "..."` functions), so each is written once.
use std::time::Duration;

use crate::duration::Dur;

pub(super) fn one_f64() -> f64 {
    1.0
}
pub(super) fn one_u32() -> u32 {
    1
}
pub(super) fn default_grace() -> Dur {
    Dur(Duration::from_secs(30))
}
/// kube-apiserver's `--default-unreachable-toleration-seconds` (v1.31
/// plugin/pkg/admission/defaulttolerationseconds/admission.go).
pub(super) fn default_toleration() -> Dur {
    Dur(Duration::from_secs(300))
}
pub(super) fn d60() -> Dur {
    Dur(Duration::from_secs(60))
}
pub(super) fn d10() -> Dur {
    Dur(Duration::from_secs(10))
}
