//! Load: the nginx-like client (open- or closed-loop, connection per
//! request or keep-alive, kernel or pooled source ports) and the one
//! aggregator its immutable per-request records flow into.
pub mod aggregator;
pub mod client;
mod errors;
