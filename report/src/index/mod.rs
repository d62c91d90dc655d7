//! The nightly overview: `reports/index.html`, the page people open first,
//! and the history that lets it compare tonight with previous nights.
//!
//! The nightly job runs every suite, then hands this module one
//! [`SuiteOutcome`] per suite file. From them it derives a few key figures
//! per run ([`key_figures`]), keeps them as one small [`NightEntry`] file per
//! suite and night under `history/<suite>/` ([`append_history`],
//! [`load_history`]; a whole `run.json` per night would make history grow by
//! megabytes), flags regressions against the previous night
//! ([`regressions`]) and renders one self-contained page ([`render_index`]:
//! inline CSS and SVG, no scripts, no external assets, works offline), which
//! [`write_index`] saves atomically. Like the run report, everything here is
//! a pure function of saved data, except the two file functions.
//!
//! By stage: `history` (outcomes, key figures, history files),
//! `regressions` (tonight against the previous night), `sparkline` and
//! `page` (the HTML). The public items are re-exported here.
mod history;
mod page;
mod regressions;
mod sparkline;

pub use history::{
    HISTORY_DIR, History, KEY_FIGURES, NightEntry, SuiteOutcome, Worse, append_history,
    key_figures, load_history, load_history_checked,
};
pub use page::{render_index, render_index_with, write_index};
pub use regressions::{DEFAULT_THRESHOLD, Regression, RegressionKind, Severity, regressions};
pub use sparkline::SPARKLINE_NIGHTS;
