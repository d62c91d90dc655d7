//! Shared helpers of the datapath integration tests: the root gate and
//! small constructors.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::net::{Ipv4Addr, SocketAddrV4};

/// Returns false (after saying why) when the tests cannot touch the kernel:
/// plain `cargo test` as a user skips, `just test` runs as root.
pub fn have_root(test: &str) -> bool {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    // Straight to stderr: libtest captures eprintln! of passing tests.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "SKIPPED {}: needs root (BPF and netns); run `just test` as root\n",
            std::thread::current().name().unwrap_or(test)
        )
        .as_bytes(),
    );
    false
}

#[macro_export]
macro_rules! require_root {
    () => {
        if !support::have_root(module_path!()) {
            return;
        }
    };
}

pub fn sa(ip: [u8; 4], port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(ip), port)
}
pub mod topo;
