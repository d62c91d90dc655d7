//! nginx's access log (format [`super::nginx::LOG_FORMAT`]) read back after
//! a run: requests per backend by the upstream's `X-Pod` response header
//! (nginx itself only knows the VIP it connected to: the DNAT to a backend
//! is invisible to it), and upstream attempts (every address in
//! `$upstream_addr`, retries included).
use std::{collections::BTreeMap, io::BufRead as _, path::Path};

/// What one access log says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessLog {
    /// Lines (requests nginx finished).
    pub requests: u64,
    /// Requests per backend pod (the final upstream's X-Pod).
    pub by_backend: BTreeMap<String, u64>,
    /// Requests whose upstream named no pod (failed, or a program without X-Pod).
    pub unattributed: u64,
    /// Upstream connection attempts: addresses in `$upstream_addr`.
    pub upstream_attempts: u64,
    /// Requests nginx answered with a 5xx.
    pub status_5xx: u64,
}

/// Parses one line; None for a line that is not in the format.
fn line(acc: &mut AccessLog, l: &str) -> Option<()> {
    let f: Vec<&str> = l.split('|').collect();
    let [_msec, status, _rt, addrs, _ust, _ct, pod] = f.as_slice() else {
        return None;
    };
    acc.requests += 1;
    if status.starts_with('5') {
        acc.status_5xx += 1;
    }
    // "a, b" for retries, "a : b" across internal redirects, "-" for none.
    acc.upstream_attempts += addrs
        .split([',', ':'])
        .filter(|a| a.trim().contains('.'))
        .count() as u64;
    let pod = pod.trim();
    if pod.is_empty() || pod == "-" {
        acc.unattributed += 1;
    } else {
        *acc.by_backend.entry(pod.to_owned()).or_default() += 1;
    }
    Some(())
}

/// Reads the log at `path` (missing: empty).
#[must_use]
pub fn read(path: &Path) -> AccessLog {
    let mut acc = AccessLog::default();
    if let Ok(f) = std::fs::File::open(path) {
        for l in std::io::BufReader::new(f).lines().map_while(Result::ok) {
            let _ = line(&mut acc, &l);
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_backends_by_x_pod_and_attempts_by_upstream_addr() {
        let mut a = AccessLog::default();
        for l in [
            "1.000|200|0.001|198.19.0.10:80|200|0.000|web-0",
            "1.001|200|0.002|198.19.0.10:80, 198.19.0.10:80|502, 200|0.000, 0.001|web-1",
            "1.002|502|0.001|198.19.0.10:80|502|-|-",
            "garbage",
        ] {
            let _ = line(&mut a, l);
        }
        assert_eq!(a.requests, 3);
        assert_eq!(a.by_backend["web-0"], 1);
        assert_eq!(a.by_backend["web-1"], 1);
        assert_eq!(a.unattributed, 1);
        assert_eq!(a.upstream_attempts, 4);
        assert_eq!(a.status_5xx, 1);
    }
}
