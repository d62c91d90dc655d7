//! The run record's host block: this svclab's version and the git commit it
//! was built from (`build.rs`), and the machine's kernel release, host name,
//! CPUs and memory, so runs from different machines can be told apart.
use nix::{
    sys::utsname::uname,
    unistd::{SysconfVar, sysconf},
};
use svclab_report::record::HostInfo;

/// The commit `build.rs` found ("unknown" outside a git checkout).
const GIT_COMMIT: &str = env!("SVCLAB_GIT_COMMIT");

/// This machine and build, as far as each figure can be read (what cannot
/// is empty or None; a run never fails over it).
pub(super) fn host_info() -> HostInfo {
    let (kernel, hostname) = uname().map_or_else(
        |_| (String::new(), String::new()),
        |u| {
            (
                u.release().to_string_lossy().into_owned(),
                u.nodename().to_string_lossy().into_owned(),
            )
        },
    );
    HostInfo {
        svclab_version: env!("CARGO_PKG_VERSION").to_owned(),
        git_commit: GIT_COMMIT.to_owned(),
        kernel,
        hostname,
        cpus_online: sysconf(SysconfVar::_NPROCESSORS_ONLN)
            .ok()
            .flatten()
            .and_then(|n| u32::try_from(n).ok()),
        cpus_available: std::thread::available_parallelism()
            .ok()
            .and_then(|n| u32::try_from(n.get()).ok()),
        memory_bytes: std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| mem_total_bytes(&t)),
    }
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes (the kernel writes kB,
/// meaning KiB).
fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    let rest = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    let mut words = rest.split_whitespace();
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_in_bytes() {
        let text = "MemFree:         1000 kB\nMemTotal:       16318764 kB\nSwapTotal: 0 kB\n";
        assert_eq!(mem_total_bytes(text), Some(16_318_764 * 1024));
        assert_eq!(mem_total_bytes("MemTotal: 42\n"), Some(42));
        for bad in [
            "",
            "MemFree: 1 kB\n",
            "MemTotal: lots kB\n",
            "MemTotal: 1 MB\n",
        ] {
            assert_eq!(mem_total_bytes(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn host_info_describes_this_machine_and_build() {
        let h = host_info();
        assert_eq!(h.svclab_version, env!("CARGO_PKG_VERSION"));
        assert!(
            h.git_commit == "unknown"
                || (h.git_commit.len() == 12
                    && h.git_commit.bytes().all(|b| b.is_ascii_hexdigit()))
                || std::env::var_os("SVCLAB_GIT_COMMIT").is_some(),
            "{}",
            h.git_commit
        );
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        assert_eq!(h.kernel, release.trim());
        assert!(!h.hostname.is_empty());
        let (online, available) = (h.cpus_online.unwrap_or(0), h.cpus_available.unwrap_or(0));
        assert!(online >= 1 && available >= 1, "{h:?}");
        assert!(h.memory_bytes.is_some_and(|m| m > 1 << 20), "{h:?}");
    }
}
