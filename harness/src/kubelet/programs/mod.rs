//! Real programs as pod containers: what kubelet needs to start one
//! ([`ProgramSpec`], placeholders expanded per pod), the `svclab
//! container-run` shim that runs it in the pod netns in its own process
//! group with its output captured (`shim.rs`), the harness's handle on it
//! (`process.rs`), the nginx presets' generated configs (`nginx.rs`) and
//! nginx's access log read back per backend (`accesslog.rs`). Whatever a
//! program leaves behind in its pod netns when the pod goes is ended by PID
//! ([`kill_netns_processes`]), as `svclab clean` does after a crash.
use std::{
    net::Ipv4Addr,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

pub mod accesslog;
pub mod nginx;
mod process;
pub mod shim;

pub use process::POD_NETNS_ENV;

/// Most bytes of output kept per pod log (all containers of the pod); the
/// rest is dropped (counted in a last line), so a chatty program cannot
/// fill the disk.
pub const LOG_MAX: u64 = 4 << 20;

/// A program to run as a pod's container, placeholders already expanded.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgramSpec {
    /// argv[0] is the program.
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// stdout and stderr go here (appended, at most [`LOG_MAX`] bytes).
    pub log: PathBuf,
    /// A cgroup v2 the shim joins before it starts the program (a client
    /// pod's under socket-LB), so every process of the container is in it.
    pub cgroup: Option<PathBuf>,
}

/// What the placeholders of `command`/`env` stand for in one pod.
#[derive(Clone, Copy, Debug)]
pub struct Placeholders<'a> {
    pub pod: &'a str,
    pub pod_ip: Ipv4Addr,
    pub port: u16,
    pub run_dir: &'a Path,
}

impl Placeholders<'_> {
    /// `s` with `{pod}`, `{pod_ip}`, `{port}`, `{run_dir}` replaced; any
    /// other brace is left as written (shell snippets keep theirs).
    #[must_use]
    pub fn expand(&self, s: &str) -> String {
        s.replace("{pod}", self.pod)
            .replace("{pod_ip}", &self.pod_ip.to_string())
            .replace("{port}", &self.port.to_string())
            .replace("{run_dir}", &self.run_dir.display().to_string())
    }

    /// A suite's container as a program for this pod: every argument but
    /// the program and every env value expanded.
    #[must_use]
    pub fn program(&self, c: &svclab_suite::model::ContainerSpec, log: PathBuf) -> ProgramSpec {
        let argv = c
            .command
            .iter()
            .enumerate()
            .map(|(i, a)| if i == 0 { a.clone() } else { self.expand(a) })
            .collect();
        let env = c
            .env
            .iter()
            .map(|(k, v)| (k.clone(), self.expand(v)))
            .collect();
        ProgramSpec {
            argv,
            env,
            log,
            cgroup: None,
        }
    }
}

/// PIDs whose network namespace is the one with this (dev, inode), this
/// process excluded.
#[must_use]
pub fn pids_in_netns(dev: u64, ino: u64) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
                .filter(|pid| *pid != me)
                .filter(|pid| {
                    std::fs::metadata(format!("/proc/{pid}/ns/net"))
                        .map(|m| m.dev() == dev && m.ino() == ino)
                        .unwrap_or(false)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// SIGKILLs, by PID, every process left in the netns at `netns_path` (a
/// program that left its process group, e.g. by daemonizing); returns how
/// many there were.
pub fn kill_netns_processes(netns_path: &Path) -> usize {
    let Ok(m) = std::fs::metadata(netns_path) else {
        return 0;
    };
    let pids = pids_in_netns(m.dev(), m.ino());
    for pid in &pids {
        if let Ok(pid) = i32::try_from(*pid)
            && pid > 1
        {
            // A PID found in the pod's own netns; one already gone is fine.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    pids.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_expand_in_arguments_not_in_the_program_and_other_braces_stay() {
        let ph = Placeholders {
            pod: "web-3",
            pod_ip: Ipv4Addr::new(198, 18, 0, 7),
            port: 8080,
            run_dir: Path::new("/r/x"),
        };
        let c = svclab_suite::model::ContainerSpec {
            command: vec![
                "{pod}".into(),
                "--bind={pod_ip}:{port}".into(),
                "${HOME} {run_dir}/{pod}.txt {other}".into(),
            ],
            env: [("NAME".to_owned(), "{pod}@{pod_ip}".to_owned())].into(),
            port: 8080,
        };
        let p = ph.program(&c, PathBuf::from("/l"));
        assert_eq!(
            p.argv,
            [
                "{pod}",
                "--bind=198.18.0.7:8080",
                "${HOME} /r/x/web-3.txt {other}"
            ]
        );
        assert_eq!(p.env, [("NAME".to_owned(), "web-3@198.18.0.7".to_owned())]);
    }
}
