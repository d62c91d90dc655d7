//! Synthetic run records for tests, the `sample` example and demos of the
//! report without a kernel: incident A (scale 3 → 6 under
//! connection-per-request load with reused source ports) and incident B (a
//! traffic spike that turns a strict liveness probe into a restart
//! cascade), and a run of many backends (the report at scale). The numbers are made up but keep the record's invariants
//! (bucket order, names, counters that add up, phases that agree with the
//! per-bucket figures); they come from a fixed seed, so output is
//! reproducible.
//!
//! Test fixtures: built only for the crate's own tests and with the
//! `sample` feature (the `sample` example, integration tests, other crates'
//! tests).
mod base;
mod cascade;
mod cascade_pods;
mod incident_a;
mod many;

pub use base::empty_record;
pub use cascade::{SPIKE_AT_S, SPIKE_END_S, liveness_cascade};
pub use incident_a::{SCALE_AT_S, incident_a};
pub use many::{MANY_BUCKETS, MANY_SCALE_AT_S, many_backends};
