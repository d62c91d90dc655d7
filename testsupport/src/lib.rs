//! What svclab's kernel tests (datapath, topology, harness) share, so no
//! test file repeats it: the root gate that skips a test with a printed
//! reason (plain `cargo test` as a user; `just test` runs as root), the
//! one-test-at-a-time lock for tests that time things or share two cores,
//! unique run prefixes, and (in [`topo`]) a one-node topology guard, a tiny
//! pod HTTP server and the leak checks; in [`procs`], the processes of a run
//! (real programs included) for leak checks; in [`bench`], the goal table
//! `just bench` prints.
pub mod bench;
pub mod procs;
pub mod topo;

use std::{
    net::{Ipv4Addr, SocketAddrV4},
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicU32, Ordering},
    },
};

/// True as root; otherwise prints why `test` is skipped and returns false.
/// The line goes straight to stderr (libtest captures `eprintln!` of
/// passing tests) and starts with `SKIPPED `, which `just test` counts.
///
/// `SVCLAB_SKIP_ROOT_TESTS=1` skips them even as root (`just check`, the
/// inner loop that creates no kernel state).
pub fn have_root(test: &str) -> bool {
    let skip = std::env::var_os("SVCLAB_SKIP_ROOT_TESTS").is_some_and(|v| v == "1");
    if svclab_topology::is_root() && !skip {
        return true;
    }
    // libtest names each test's thread after the test.
    let name = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or(test)
        .to_owned();
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        if skip {
            format!("SKIPPED {name}: kernel test (SVCLAB_SKIP_ROOT_TESTS=1); `just test` runs it\n")
        } else {
            format!("SKIPPED {name}: needs root (netns, eBPF); run `just test` as root\n")
        }
        .as_bytes(),
    );
    false
}

/// Returns from the calling test (after saying why) unless root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::have_root(module_path!()) {
            return;
        }
    };
}

/// Holds the calling test's turn: tests that build clusters or measure
/// time run one at a time within a test binary (a panicked holder does
/// not block the others).
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A run prefix unique to this process and call (`svl-t<pid>x<n><tag>-`),
/// so tests and `svclab clean` can tell their namespaces apart.
pub fn unique_prefix(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "svl-t{}x{}{tag}-",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `ip:port` as a socket address.
pub fn sa(ip: [u8; 4], port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(ip), port)
}
