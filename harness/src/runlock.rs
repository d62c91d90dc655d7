//! A run's liveness, for `svclab clean`: while a run lives (from before its
//! first kernel object until its teardown ends, `--hold` included) it holds
//! an exclusive flock(2) on `/run/svclab/svl-<run>-run.lock`. The kernel
//! drops the lock when the process dies, whatever killed it, so a run
//! whose lock can be taken is a crashed one and its leftovers may go; a
//! locked one is live and `svclab clean` leaves it alone.
use std::{
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use nix::{
    errno::Errno,
    fcntl::{Flock, FlockArg},
};

/// Where run locks (and socket-LB's cgroup mounts) live.
pub const RUN_DIR: &str = "/run/svclab";

/// The lock file of the run whose names start with `prefix` (`svl-<run>-`).
fn lock_path(prefix: &str) -> PathBuf {
    Path::new(RUN_DIR).join(format!("{prefix}run.lock"))
}

/// Held for a run's life; removes its file when dropped.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    _lock: Flock<File>,
}

impl RunLock {
    /// Takes the lock of the run named by `prefix`.
    pub fn acquire(prefix: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(RUN_DIR).with_context(|| format!("creating {RUN_DIR}"))?;
        let path = lock_path(prefix);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| e)
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(Self { path, _lock: lock })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Unlinked while still locked: a clean that opened it just now
        // sees it locked, one that comes later finds no file.
        if let Err(e) = std::fs::remove_file(&self.path) {
            eprintln!("svclab: removing {}: {e}", self.path.display());
        }
    }
}

/// Whether the run named by `prefix` is live: its lock file exists and
/// another process holds it.
#[must_use]
pub fn is_live(prefix: &str) -> bool {
    let Ok(file) = File::open(lock_path(prefix)) else {
        return false;
    };
    matches!(
        Flock::lock(file, FlockArg::LockSharedNonblock),
        Err((_, Errno::EWOULDBLOCK))
    )
}

/// Lock files of runs whose names start with `prefix` that no process
/// holds: what a run killed before its teardown (SIGKILL) leaves.
#[must_use]
pub fn stale_locks(prefix: &str) -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(RUN_DIR) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let run = name.strip_suffix("run.lock")?;
            (run.starts_with(prefix) && e.file_type().is_ok_and(|t| t.is_file()) && !is_live(run))
                .then(|| e.path())
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_live_and_a_dropped_one_is_gone() {
        // /run/svclab is root's.
        svclab_testsupport::require_root!();
        let prefix = format!("svl-tlock{}-", std::process::id());
        assert!(!is_live(&prefix), "no lock yet");
        let lock = RunLock::acquire(&prefix).expect("lock");
        assert!(is_live(&prefix), "held by this process's open file");
        assert!(stale_locks(&prefix).is_empty(), "a held lock is not stale");
        drop(lock);
        assert!(!is_live(&prefix));
        assert!(!lock_path(&prefix).exists(), "file removed");
        // A run killed before its teardown leaves the file, unlocked.
        std::fs::write(lock_path(&prefix), b"").expect("write");
        assert_eq!(stale_locks(&prefix), vec![lock_path(&prefix)]);
        assert!(stale_locks("svl-tother-").is_empty(), "by prefix only");
        std::fs::remove_file(lock_path(&prefix)).expect("remove");
    }
}
