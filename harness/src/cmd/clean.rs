//! `svclab clean`: finds what crashed runs left behind from the kernel's own
//! state (named netns under /run/netns carrying the `svl-` prefix), ends the
//! processes living in them by PID, and deletes the namespaces; then
//! socket-LB's cgroup v2 trees (`/run/svclab/svl-*cgroup2` mounts and their
//! `svl-*pods` cgroups, `svclab_cgroup`). Anything without the prefix is
//! never touched, and neither is a live run's: one whose harness still
//! holds its run lock (`crate::runlock`); the lock files crashed runs left
//! go too.
use std::{
    ffi::CString,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

use nix::{
    errno::Errno,
    mount::{MntFlags, umount2},
    sys::signal::{Signal, kill},
    unistd::Pid,
};

/// Every netns a run creates starts with this.
pub const PREFIX: &str = "svl-";
const NETNS_DIR: &str = "/run/netns";

#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    #[error("invalid run id {0:?}: use letters, digits and '_' only")]
    BadRunId(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A leftover namespace and the PIDs inside it.
#[derive(Debug)]
pub struct Leftover {
    pub netns: String,
    pub pids: Vec<u32>,
}

/// Namespaces of crashed runs (`run` limits to one run id).
pub fn find(run: Option<&str>) -> Result<Vec<Leftover>, CleanError> {
    if let Some(r) = run
        && (r.is_empty() || !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(CleanError::BadRunId(r.into()));
    }
    let prefix = match run {
        Some(r) => format!("{PREFIX}{r}-"),
        None => PREFIX.to_owned(),
    };
    let dir = match std::fs::read_dir(NETNS_DIR) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CleanError::Io {
                op: "read",
                path: NETNS_DIR.into(),
                source,
            });
        }
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&prefix) {
            continue;
        }
        let pids = match std::fs::metadata(entry.path()) {
            Ok(m) => crate::kubelet::programs::pids_in_netns(m.dev(), m.ino()),
            Err(_) => Vec::new(),
        };
        out.push(Leftover { netns: name, pids });
    }
    out.sort_by(|a, b| a.netns.cmp(&b.netns));
    Ok(out)
}

/// The run prefix (`svl-<run>-`) a name starts with.
fn run_prefix(name: &str) -> Option<String> {
    let rest = name.strip_prefix(PREFIX)?;
    let (run, _) = rest.split_once('-')?;
    (!run.is_empty()).then(|| format!("{PREFIX}{run}-"))
}

/// Kills the leftover's processes (SIGKILL, by PID) and deletes its netns
/// the way `ip netns del` does: unmount the bind mount, remove the file.
pub fn remove(l: &Leftover) -> Result<(), CleanError> {
    for pid in &l.pids {
        let pid = i32::try_from(*pid).unwrap_or(0);
        if pid > 1 {
            // A specific PID found in this netns; one already gone is fine.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    let path = Path::new(NETNS_DIR).join(&l.netns);
    let c = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| CleanError::Io {
        op: "path",
        path: path.clone(),
        source: std::io::ErrorKind::InvalidInput.into(),
    })?;
    // MNT_DETACH so a busy namespace still unmounts; EINVAL: not mounted.
    match umount2(c.as_c_str(), MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) => {}
        Err(e) => {
            return Err(CleanError::Io {
                op: "umount",
                path,
                source: e.into(),
            });
        }
    }
    std::fs::remove_file(&path).map_err(|source| CleanError::Io {
        op: "remove",
        path,
        source,
    })
}

/// Temporary files of killed report writers in the run folders under
/// `reports` (`<reports>/<suite>/<run>/`), only `run`'s when given.
pub fn stale_report_temps(reports: &Path, run: Option<&str>) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(suites) = std::fs::read_dir(reports) else {
        return found;
    };
    for suite in suites
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
    {
        let Ok(runs) = std::fs::read_dir(suite.path()) else {
            continue;
        };
        for r in runs
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        {
            if run.is_some_and(|id| r.file_name().to_string_lossy() != id) {
                continue;
            }
            if let Ok(stale) = svclab_report::write::stale_temps(&r.path()) {
                found.extend(stale);
            }
        }
    }
    found.sort();
    found
}

/// The command: lists (`--dry-run`) or removes every leftover of `run` (or
/// of every crashed run): namespaces with their processes, and temporary
/// files in the run folders; a bad run id is bad input (exit 2).
pub fn run(
    run: Option<&str>,
    dry_run: bool,
    reports: &Path,
) -> anyhow::Result<std::process::ExitCode> {
    use anyhow::Context as _;
    let leftovers = match find(run) {
        Err(e @ CleanError::BadRunId(_)) => {
            eprintln!("svclab: {e}");
            return Ok(std::process::ExitCode::from(2));
        }
        other => other?,
    };
    let temps = stale_report_temps(reports, run);
    let prefix = match run {
        Some(r) => format!("{PREFIX}{r}-"),
        None => PREFIX.to_owned(),
    };
    // After the netns pass: a client pod's nginx in a cgroup was killed
    // with its namespace.
    let mut cgroup_mounts = svclab_cgroup::leftover_mounts(&prefix);
    // A live run (its harness holds the run's lock) is not a leftover;
    // each run's lock is tried once, however many namespaces it has.
    let mut runs: std::collections::BTreeMap<String, bool> = std::collections::BTreeMap::new();
    let mut is_live = |name: &str| {
        run_prefix(name).is_some_and(|p| {
            *runs
                .entry(p)
                .or_insert_with_key(|p| crate::runlock::is_live(p))
        })
    };
    let leftovers: Vec<Leftover> = leftovers
        .into_iter()
        .filter(|l| !is_live(&l.netns))
        .collect();
    cgroup_mounts.retain(|m| !m.file_name().is_some_and(|n| is_live(&n.to_string_lossy())));
    for (p, _) in runs.iter().filter(|(_, live)| **live) {
        println!("skipping {p}*: a live run (its harness holds its run lock)");
    }
    let locks = crate::runlock::stale_locks(&prefix);
    if leftovers.is_empty() && temps.is_empty() && cgroup_mounts.is_empty() && locks.is_empty() {
        println!("nothing to clean");
    }
    let verb = if dry_run { "would remove" } else { "removing" };
    for l in &leftovers {
        println!(
            "{verb} netns {} ({} processes: {:?})",
            l.netns,
            l.pids.len(),
            l.pids
        );
        if !dry_run {
            remove(l).with_context(|| format!("cleaning {}", l.netns))?;
        }
    }
    for m in &cgroup_mounts {
        println!(
            "{verb} cgroup tree {} (and its {prefix}* cgroups)",
            m.display()
        );
        if !dry_run {
            let r = svclab_cgroup::remove_leftover(m, &prefix)
                .with_context(|| format!("cleaning {}", m.display()))?;
            for c in &r.cgroups {
                println!("  removed cgroup {}", c.display());
            }
            if !r.killed.is_empty() {
                println!("  killed {:?}", r.killed);
            }
        }
    }
    for p in locks.iter().chain(&temps) {
        println!("{verb} {}", p.display());
        if !dry_run {
            std::fs::remove_file(p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
