//! svclab run records and reports: the run record the runner saves
//! (`run.json`), figures derived from it, the self-contained HTML page with
//! its SVG charts, and the JUnit XML for CI. Everything here is a pure
//! function of a [`RunRecord`], so any saved run can be re-rendered without
//! the kernel.
mod chart;
pub mod compare;
pub mod derive;
pub mod fmt;
pub mod html;
pub mod index;
pub mod junit;
pub mod record;
#[cfg(any(test, feature = "sample"))]
pub mod sample;
pub mod series;
pub mod write;

pub use derive::{ExpectationSpec, METRICS, Summary, evaluate, metric, shares, summarize};
pub use html::render;
pub use record::{RunRecord, SCHEMA_VERSION, Verdict};
pub use write::{ReportError, read_record, rerender, write_report};
