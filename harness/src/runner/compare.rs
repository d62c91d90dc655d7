//! One suite under several dataplane engines, one after another (the box
//! has two cores; parallel runs would measure each other), and the
//! comparison page next to the individual reports: each engine's run is
//! `<out>/<suite>.<engine>/<run-id>/`, the page `<out>/<suite>/compare-<id>/`.
use std::path::Path;

use anyhow::Context as _;
use svclab_report::compare::{
    CompareEngine, CompareEntry, CompareSummary, render_compare, write_compare,
};
use svclab_suite::{LoadedSuite, engines::for_engine, model::EngineChoice};

use super::{RunOptions, RunOutcome, new_run_id, run_suite};

/// Every engine's run and the comparison.
pub struct CompareOutcome {
    pub runs: Vec<(EngineChoice, RunOutcome)>,
    pub summary: CompareSummary,
    /// The comparison page.
    pub page: std::path::PathBuf,
}

/// Parses engine labels (from `--engines` or the suite's `matrix`).
pub fn parse_engines(labels: &[String]) -> Result<Vec<EngineChoice>, String> {
    labels
        .iter()
        .map(|l| {
            EngineChoice::parse(l.trim()).ok_or_else(|| {
                const LABELS: [&str; 9] = [
                    "ebpf",
                    "ebpf:cilium-1.11",
                    "ebpf:cilium-1.12",
                    "ebpf:cilium-1.15",
                    "ebpf:cilium-1.15.8",
                    "ebpf:cilium-1.16",
                    "kube-proxy-iptables",
                    "kube-proxy-nftables",
                    "socket-lb",
                ];
                let label = l.trim();
                // `ebpf:cilium-1.13`: the profile covering that release.
                let hint = match label
                    .strip_prefix("ebpf:")
                    .and_then(svclab_suite::suggest::profile_for_release)
                {
                    Some(p) => format!(" ({label} is covered by {})", p.replacen('`', "`ebpf:", 1)),
                    None => svclab_suite::suggest::hint(label, LABELS),
                };
                format!(
                    "unknown engine `{l}`{hint}: expected `ebpf`, `ebpf:<profile>` (e.g. ebpf:cilium-1.11), `kube-proxy-iptables`, `kube-proxy-nftables` or `socket-lb`"
                )
            })
        })
        .collect()
}

/// Before anything runs: every engine exists on this machine and the
/// kubelet time scale holds for each variant.
pub fn preflight_all(
    loaded: &LoadedSuite,
    engines: &[EngineChoice],
    time_scale: f64,
) -> Result<(), String> {
    for e in engines {
        super::preflight(&for_engine(&loaded.suite, *e), time_scale)
            .map_err(|m| format!("{}: {m}", e.label()))?;
    }
    Ok(())
}

/// `path` below `base`; run folders are absolute ([`super::run_suite`]),
/// so `base` is made absolute too.
fn rel(path: &Path, base: &Path) -> String {
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    path.strip_prefix(&base)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Runs `loaded` under each engine, then writes the comparison page.
pub fn run_compare(
    loaded: &LoadedSuite,
    engines: &[EngineChoice],
    opts: &RunOptions,
) -> anyhow::Result<CompareOutcome> {
    let started_at = svclab_report::fmt::rfc3339_now();
    let mut runs = Vec::new();
    for e in engines {
        if opts.stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let variant = LoadedSuite {
            suite: for_engine(&loaded.suite, *e),
            path: loaded.path.clone(),
            text: loaded.text.clone(),
            header: loaded.header.clone(),
        };
        let o = run_suite(&variant, opts)
            .with_context(|| format!("running {} under {}", loaded.suite.name, e.label()))?;
        runs.push((*e, o));
    }
    let id = format!("compare-{}", new_run_id());
    let dir = opts.out.join(&loaded.suite.name).join(&id);
    let entries: Vec<CompareEntry> = runs
        .iter()
        .map(|(e, o)| CompareEntry {
            label: e.label(),
            href: format!("../../{}/index.html", rel(&o.dir, &opts.out)),
            record: o.record.clone(),
        })
        .collect();
    let summary = CompareSummary {
        suite: loaded.suite.name.clone(),
        id: id.clone(),
        started_at,
        dir: rel(&dir, &opts.out),
        engines: runs
            .iter()
            .map(|(e, o)| CompareEngine {
                label: e.label(),
                verdict: o.verdict,
                report_dir: rel(&o.dir, &opts.out),
            })
            .collect(),
    };
    let html = render_compare(&loaded.suite.name, &loaded.suite.description, &entries);
    write_compare(&dir, &summary, &html)
        .with_context(|| format!("writing the comparison to {}", dir.display()))?;
    Ok(CompareOutcome {
        runs,
        summary,
        page: dir.join("index.html"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_engine_gets_the_nearest_label() {
        let e = parse_engines(&["ebpf".into(), "kube-proxy-nftable".into()]).expect_err("bad");
        assert!(e.contains("(did you mean `kube-proxy-nftables`?)"), "{e}");
        let e = parse_engines(&["ebpf:cilium-1.1".into()]).expect_err("bad");
        assert!(e.contains("did you mean `ebpf:cilium-1.11`"), "{e}");
        let e = parse_engines(&["ebpf:cilium-1.13".into()]).expect_err("bad");
        assert!(e.contains("covered by `ebpf:cilium-1.12`"), "{e}");
        assert_eq!(parse_engines(&["socket-lb".into()]).map(|v| v.len()), Ok(1));
    }
}
