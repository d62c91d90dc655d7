//! A run's cgroup v2 tree ([`CgroupTree`]): socket-LB attaches its programs
//! to a cgroup, and the tasks whose sockets it translates must be in it.
//!
//! These machines mount cgroup v1 at `/sys/fs/cgroup` and have no unified
//! hierarchy, yet the v2 hierarchy exists in every kernel and every task is
//! in it (at `0::/…` in `/proc/self/cgroup`). A run mounts it at a path of
//! its own, `/run/svclab/<prefix>cgroup2`, and makes, under the harness's own
//! v2 cgroup, `<prefix>pods` with a child per node and a grandchild per
//! client pod, all **threaded** (cgroup-v2.rst, "Threads"). Threaded
//! cgroups take single threads: a client is a thread of the harness, and
//! the kernel only moves a thread between cgroups of the same threaded
//! domain (here the harness's home cgroup, whose type the kernel keeps).
//! Processes (a client pod's nginx) join through `cgroup.procs`.
//!
//! Nothing here touches a cgroup without the run prefix. Teardown removes
//! the cgroups leaf first, then unmounts and removes the mount point; a
//! cgroup that cannot be removed keeps the mount, so `svclab clean` still
//! finds it ([`leftover_mounts`], [`remove_leftover`]).
use std::{
    fs::File,
    io::{self, Write as _},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use nix::{
    mount::{MntFlags, MsFlags},
    sys::signal::{Signal, kill},
    unistd::Pid,
};

/// Where run-owned mounts live.
pub const MOUNT_BASE: &str = "/run/svclab";
/// Every name this crate creates starts with the run prefix, which starts
/// with this.
pub const NAME_PREFIX: &str = "svl-";
/// Suffix of a run's mount point (`<prefix>cgroup2`).
pub const MOUNT_SUFFIX: &str = "cgroup2";
/// Suffix of a run's top cgroup (`<prefix>pods`).
pub const RUN_SUFFIX: &str = "pods";
/// How long a removal waits for exiting tasks to leave a cgroup.
const RMDIR_PATIENCE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("invalid cgroup name {0:?}: use [A-Za-z0-9._-] and '/' between parts")]
    BadName(String),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "this machine has no cgroup v2 (no `cgroup2` in /proc/filesystems); socket-lb needs it"
    )]
    NoCgroup2,
}

pub type Result<T> = std::result::Result<T, CgroupError>;

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CgroupError + 'a {
    move |source| CgroupError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// Whether the kernel has cgroup v2, checked without creating anything.
pub fn check_machine() -> Result<()> {
    let fs = std::fs::read_to_string("/proc/filesystems")
        .map_err(io_err("read", Path::new("/proc/filesystems")))?;
    if fs
        .lines()
        .any(|l| l.split_whitespace().last() == Some("cgroup2"))
    {
        Ok(())
    } else {
        Err(CgroupError::NoCgroup2)
    }
}

/// The calling task's v2 cgroup path (`/` on these machines).
fn own_cgroup() -> Result<PathBuf> {
    let p = Path::new("/proc/thread-self/cgroup");
    let s = std::fs::read_to_string(p).map_err(io_err("read", p))?;
    let path = s
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/")
        .trim();
    Ok(PathBuf::from(path.trim_start_matches('/')))
}

fn valid_rel(rel: &str) -> bool {
    !rel.is_empty()
        && rel.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        })
}

/// A fresh mount of the v2 hierarchy.
fn mount_cgroup2(target: &Path) -> io::Result<()> {
    let t = cstr(target)?;
    nix::mount::mount(
        Some(c"none"),
        t.as_c_str(),
        Some(c"cgroup2"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&std::ffi::CStr>,
    )
    .map_err(io::Error::from)
}

/// MNT_DETACH so an open fd elsewhere does not keep the mount point busy.
fn umount(target: &Path) -> io::Result<()> {
    let t = cstr(target)?;
    nix::mount::umount2(t.as_c_str(), MntFlags::MNT_DETACH).map_err(io::Error::from)
}

fn cstr(p: &Path) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| io::ErrorKind::InvalidInput.into())
}

/// Makes `dir` a threaded cgroup.
fn make_threaded(dir: &Path) -> Result<()> {
    let t = dir.join("cgroup.type");
    std::fs::write(&t, "threaded").map_err(io_err("write threaded to", &t))
}

/// Removes the cgroup `dir`, waiting a little for tasks that are exiting.
fn rmdir_patiently(dir: &Path) -> io::Result<()> {
    let deadline = Instant::now() + RMDIR_PATIENCE;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// A run's cgroup v2 mount and the cgroups it made. Drop removes them
/// (logging what it cannot); [`CgroupTree::teardown`] reports it.
#[derive(Debug)]
pub struct CgroupTree {
    mount: PathBuf,
    /// The harness's own cgroup under the mount (the threaded domain).
    home: PathBuf,
    /// `<home>/<prefix>pods`.
    run: PathBuf,
    /// Cgroups made below `run`, in creation order (removed in reverse).
    made: Vec<PathBuf>,
    done: bool,
}

impl CgroupTree {
    /// Mounts the v2 hierarchy at `/run/svclab/<prefix>cgroup2` and makes
    /// the run's threaded cgroup `<prefix>pods` under the caller's own.
    pub fn create(prefix: &str) -> Result<Self> {
        if !prefix.starts_with(NAME_PREFIX) || !valid_rel(prefix) {
            return Err(CgroupError::BadName(prefix.to_owned()));
        }
        check_machine()?;
        let base = Path::new(MOUNT_BASE);
        std::fs::create_dir_all(base).map_err(io_err("create", base))?;
        let mount = base.join(format!("{prefix}{MOUNT_SUFFIX}"));
        std::fs::create_dir(&mount).map_err(io_err("create", &mount))?;
        if let Err(e) = mount_cgroup2(&mount) {
            let _ = std::fs::remove_dir(&mount);
            return Err(io_err("mount cgroup2 on", &mount)(e));
        }
        let home = mount.join(own_cgroup()?);
        let run = home.join(format!("{prefix}{RUN_SUFFIX}"));
        let mut tree = Self {
            mount,
            home,
            run: run.clone(),
            made: Vec::new(),
            done: false,
        };
        std::fs::create_dir(&run).map_err(io_err("create cgroup", &run))?;
        tree.made.push(run.clone());
        make_threaded(&run)?;
        Ok(tree)
    }

    /// The mount point.
    pub fn mount_point(&self) -> &Path {
        &self.mount
    }

    /// The directory of `rel` (`node0`, `node0/client-a`) under the run's
    /// cgroup.
    pub fn path(&self, rel: &str) -> Result<PathBuf> {
        if !valid_rel(rel) {
            return Err(CgroupError::BadName(rel.to_owned()));
        }
        Ok(self.run.join(rel))
    }

    /// Makes the threaded cgroup `rel` (its parent must exist); returns its
    /// directory.
    pub fn add(&mut self, rel: &str) -> Result<PathBuf> {
        let dir = self.path(rel)?;
        std::fs::create_dir(&dir).map_err(io_err("create cgroup", &dir))?;
        self.made.push(dir.clone());
        make_threaded(&dir)?;
        Ok(dir)
    }

    /// Removes the cgroup `rel` (empty by now, or about to be).
    pub fn remove(&mut self, rel: &str) -> Result<()> {
        let dir = self.path(rel)?;
        rmdir_patiently(&dir).map_err(io_err("remove cgroup", &dir))?;
        self.made.retain(|d| *d != dir);
        Ok(())
    }

    /// An open directory fd of `rel`, what a cgroup BPF attach takes.
    pub fn open(&self, rel: &str) -> Result<File> {
        let dir = self.path(rel)?;
        File::open(&dir).map_err(io_err("open cgroup", &dir))
    }

    /// Where a thread goes back to when it leaves (see [`join_thread`]).
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Removes every cgroup it made, then the mount; the first failure is
    /// returned after trying the rest. A cgroup that stays keeps the mount.
    pub fn teardown(mut self) -> Result<()> {
        self.remove_all()
    }

    fn remove_all(&mut self) -> Result<()> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let mut first = None;
        while let Some(d) = self.made.pop() {
            if let Err(e) = rmdir_patiently(&d) {
                first.get_or_insert(io_err("remove cgroup", &d)(e));
            }
        }
        if let Some(e) = first {
            // The mount stays: `svclab clean` finds the cgroups through it.
            return Err(e);
        }
        umount(&self.mount).map_err(io_err("unmount", &self.mount))?;
        std::fs::remove_dir(&self.mount).map_err(io_err("remove", &self.mount))
    }
}

impl Drop for CgroupTree {
    fn drop(&mut self) {
        if let Err(e) = self.remove_all() {
            log::error!("cgroup teardown: {e}");
        }
    }
}

/// The calling thread's membership of a cgroup; dropping it moves the
/// thread back to `home`, so the cgroup can be removed at once.
#[derive(Debug)]
pub struct ThreadMembership {
    home: PathBuf,
    tid: i32,
}

/// Moves the calling thread into the threaded cgroup `dir` (its sockets
/// created from now on belong to it). `home` is [`CgroupTree::home`].
pub fn join_thread(dir: &Path, home: &Path) -> Result<ThreadMembership> {
    let tid = nix::unistd::gettid().as_raw();
    write_id(&dir.join("cgroup.threads"), tid)?;
    Ok(ThreadMembership {
        home: home.to_owned(),
        tid,
    })
}

impl Drop for ThreadMembership {
    fn drop(&mut self) {
        if let Err(e) = write_id(&self.home.join("cgroup.threads"), self.tid) {
            log::warn!("moving thread {} back to its cgroup: {e}", self.tid);
        }
    }
}

/// Moves the calling process (every thread) into the cgroup `dir`; what a
/// container shim does before it starts the program.
pub fn join_process(dir: &Path) -> Result<()> {
    write_id(&dir.join("cgroup.procs"), 0)
}

fn write_id(file: &Path, id: i32) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .map_err(io_err("open", file))?;
    f.write_all(id.to_string().as_bytes())
        .map_err(io_err("write to", file))
}

/// Mount points of crashed runs' cgroup trees (`prefix`: `svl-` for all,
/// `svl-<run>-` for one), from `/proc/self/mountinfo`.
pub fn leftover_mounts(prefix: &str) -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in info.lines() {
        let mut parts = line.split(" - ");
        let (Some(head), Some(tail)) = (parts.next(), parts.next()) else {
            continue;
        };
        if tail.split_whitespace().next() != Some("cgroup2") {
            continue;
        }
        let Some(point) = head.split_whitespace().nth(4) else {
            continue;
        };
        let point = Path::new(point);
        let name = point
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if point.parent() == Some(Path::new(MOUNT_BASE))
            && name.starts_with(prefix)
            && name.ends_with(MOUNT_SUFFIX)
        {
            out.push(point.to_owned());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What [`remove_leftover`] found in one leftover tree.
#[derive(Debug, Default)]
pub struct Removed {
    pub cgroups: Vec<PathBuf>,
    /// Processes still in them, killed by PID.
    pub killed: Vec<i32>,
}

/// Removes the run cgroups (`<prefix>pods` and below) of the leftover tree
/// mounted at `mount`, ending any process still in them (SIGKILL, by PID),
/// then unmounts it and removes the mount point. Only cgroups whose name
/// starts with `prefix` are touched.
pub fn remove_leftover(mount: &Path, prefix: &str) -> Result<Removed> {
    let mut removed = Removed::default();
    let mut runs = Vec::new();
    find_runs(mount, prefix, &mut runs, 0);
    for run in runs {
        remove_tree(&run, &mut removed)?;
    }
    umount(mount).map_err(io_err("unmount", mount))?;
    std::fs::remove_dir(mount).map_err(io_err("remove", mount))?;
    Ok(removed)
}

/// Cgroups named `<prefix>…pods` below `dir` (not descending into them).
fn find_runs(dir: &Path, prefix: &str, out: &mut Vec<PathBuf>, depth: u32) {
    if depth > 32 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) && name.ends_with(RUN_SUFFIX) {
            out.push(e.path());
        } else {
            find_runs(&e.path(), prefix, out, depth + 1);
        }
    }
}

/// Removes `dir` and its children, leaves first, killing what is inside.
fn remove_tree(dir: &Path, removed: &mut Removed) -> Result<()> {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path(), removed)?;
            }
        }
    }
    let me = nix::unistd::getpid().as_raw();
    let threads = std::fs::read_to_string(dir.join("cgroup.threads")).unwrap_or_default();
    for tid in threads.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let pid = tgid(tid).unwrap_or(tid);
        if pid > 1 && pid != me && !removed.killed.contains(&pid) {
            // A PID found in this run's cgroup; one already gone is fine.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            removed.killed.push(pid);
        }
    }
    rmdir_patiently(dir).map_err(io_err("remove cgroup", dir))?;
    removed.cgroups.push(dir.to_owned());
    Ok(())
}

fn tgid(tid: i32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(valid_rel("node0/client-a"));
        assert!(valid_rel("svl-abc_1-"));
        for bad in ["", "/x", "a//b", "..", "a/../b", "a b", "a/"] {
            assert!(!valid_rel(bad), "{bad:?}");
        }
    }
}
