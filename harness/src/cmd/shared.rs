//! What the subcommands share: the root check, the SIGINT/SIGTERM flag a
//! run stops on, and the suite-folder and report-folder checks done before
//! any kernel state exists.
use std::{
    path::{Path, PathBuf},
    sync::{Arc, atomic::AtomicBool},
};

use anyhow::Context as _;

/// False (after saying why) when not root: runs create network namespaces
/// and load eBPF programs.
pub(crate) fn require_root(what: &str) -> bool {
    if svclab_topology::is_root() {
        return true;
    }
    eprintln!(
        "{what} needs root: it creates network namespaces and loads eBPF programs (try: sudo -E just run <suite>)"
    );
    false
}

/// A flag SIGINT and SIGTERM set, so a run stops, tears down and reports.
pub(crate) fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    Ok(stop)
}

/// Suite files (`*.yaml`, `*.yml`) in `dir`, sorted, optionally only those
/// whose file name contains `filter`.
pub fn suite_files(dir: &Path, filter: Option<&str>) -> anyhow::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading suite folder {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .filter(|p| {
            filter.is_none_or(|f| {
                p.file_stem()
                    .is_some_and(|s| s.to_string_lossy().contains(f))
            })
        })
        .collect();
    v.sort();
    Ok(v)
}

/// Fails early, before any suite runs, when reports cannot be written.
pub fn check_writable(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let probe = out.join(format!(".svclab-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"ok").with_context(|| format!("{} is not writable", out.display()))?;
    std::fs::remove_file(&probe).with_context(|| format!("removing {}", probe.display()))?;
    Ok(())
}

/// Prints the warnings about `loaded`'s expectation windows as it will run
/// at `time_scale` (an edge inside a bucket), before any run starts.
pub(crate) fn warn_windows(loaded: &svclab_suite::LoadedSuite, time_scale: f64) {
    for w in crate::runner::window_warnings(&loaded.suite, time_scale) {
        eprintln!("{}: warning: {w}", loaded.path.display());
    }
}

/// Prints every warning about `loaded` (its rules, positioned, then its
/// windows at `time_scale`); true when there was one.
pub(crate) fn print_warnings(loaded: &svclab_suite::LoadedSuite, time_scale: f64) -> bool {
    let rules = svclab_suite::warnings(loaded);
    for d in &rules {
        eprintln!(
            "{}:{}:{}: warning: {}: {}",
            d.file.display(),
            d.line,
            d.column,
            d.field,
            d.message
        );
    }
    let windows = crate::runner::window_warnings(&loaded.suite, time_scale);
    for w in &windows {
        eprintln!("{}: warning: {w}", loaded.path.display());
    }
    !rules.is_empty() || !windows.is_empty()
}

/// Loads a suite argument as `run` takes it ([`suite_path`]); a name that
/// is neither a file nor a shipped suite gets the nearest shipped suite's
/// name as a hint. The error is the message to print.
pub(crate) fn load_suite(p: &Path) -> Result<svclab_suite::LoadedSuite, String> {
    let path = suite_path(p);
    svclab_suite::load(&path).map_err(|e| {
        let mut msg = e.to_string();
        if !path.exists()
            && p.extension().is_none()
            && p.components().count() == 1
            && let Ok(names) = suite_files(Path::new("suites"), None)
        {
            let stems: Vec<String> = names
                .iter()
                .filter_map(|f| f.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .collect();
            let word = p.to_string_lossy();
            msg.push_str(&svclab_suite::suggest::hint(
                &word,
                stems.iter().map(String::as_str),
            ));
        }
        msg
    })
}

/// A suite argument as given, or `suites/<name>.yaml` when it is a bare
/// suite name (`just run probe-liveness-cascade`).
pub(crate) fn suite_path(p: &Path) -> PathBuf {
    if !p.exists() && p.extension().is_none() && p.components().count() == 1 {
        let candidate = Path::new("suites").join(p).with_extension("yaml");
        if candidate.exists() {
            return candidate;
        }
    }
    p.to_owned()
}
