//! Processes of a run, for leak checks: every live (not zombie) process
//! whose command line or environment mentions the run — its netns prefix
//! `svl-<run>-` (pod servers and container shims by their arguments,
//! programs by the `SVCLAB_POD_NETNS` variable they inherit) or its run id
//! (nginx rewrites its environment for its process title, but its master's
//! title keeps the run folder) — and every live process of a given name
//! started since an instant (nginx's workers, whose title is only
//! "nginx: worker process").
use std::time::{Duration, Instant};

/// Live processes of run `run_id`: (pid, command line).
#[must_use]
pub fn run_processes(run_id: &str) -> Vec<(u32, String)> {
    let needle = format!("svl-{run_id}-");
    live(|_, cmd, env| cmd.contains(&needle) || cmd.contains(run_id) || env.contains(&needle))
}

/// Seconds since boot, as `/proc/<pid>/stat` start times count.
#[must_use]
pub fn uptime_now() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Live processes named `comm` (e.g. "nginx") started at or after
/// `since` (from [`uptime_now`]).
#[must_use]
pub fn named_since(comm: &str, since: f64) -> Vec<(u32, String)> {
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(-1)
        .max(1) as f64;
    live(|stat, cmd, _| {
        let Some((head, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let name = head.split_once('(').map_or("", |(_, n)| n);
        // Field 22 (starttime) is the 20th after the state's field 3.
        let start = rest
            .split_whitespace()
            .nth(19)
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |t| t / hz);
        name == comm && start + 0.5 >= since && !cmd.is_empty()
    })
}

/// [`named_since`], less those in the root netns or in a named netns that
/// still exists (a live run's, this test's or another's): what is left is
/// a process of a namespace already deleted — one that outlived its run.
/// Unlike [`named_since`] this holds while other tests run beside this one.
#[must_use]
pub fn orphans_named_since(comm: &str, since: f64) -> Vec<(u32, String)> {
    use std::os::unix::fs::MetadataExt as _;
    let ino = |p: &std::path::Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let mut live_netns: Vec<(u64, u64)> = std::fs::read_dir("/run/netns")
        .map(|d| d.flatten().filter_map(|e| ino(&e.path())).collect())
        .unwrap_or_default();
    live_netns.extend(ino(std::path::Path::new("/proc/1/ns/net")));
    named_since(comm, since)
        .into_iter()
        .filter(|(pid, _)| {
            ino(std::path::Path::new(&format!("/proc/{pid}/ns/net")))
                .is_some_and(|n| !live_netns.contains(&n))
        })
        .collect()
}

/// Live processes for which `pick(stat, cmdline, environ)` holds.
fn live(pick: impl Fn(&str, &str, &str) -> bool) -> Vec<(u32, String)> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
                .filter(|pid| *pid != me)
                .filter_map(|pid| {
                    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                    // "pid (comm) S ...": the state follows the last ')'.
                    let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
                    if state == 'Z' || state == 'X' {
                        return None;
                    }
                    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                    let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
                    let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                    pick(&stat, &cmd, &String::from_utf8_lossy(&env)).then_some((pid, cmd))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits up to `limit` until `f` finds nothing; returns what is left.
#[must_use]
pub fn wait_none(limit: Duration, f: impl Fn() -> Vec<(u32, String)>) -> Vec<(u32, String)> {
    let deadline = Instant::now() + limit;
    loop {
        let left = f();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits up to `limit` for run `run_id` to have no live process; returns
/// what is left.
#[must_use]
pub fn wait_no_run_processes(run_id: &str, limit: Duration) -> Vec<(u32, String)> {
    wait_none(limit, || run_processes(run_id))
}
