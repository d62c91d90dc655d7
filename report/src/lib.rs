//! svclab run records and reports.
pub mod record;
