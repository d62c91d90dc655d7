//! Pod termination as kubelet does it (kubernetes v1.31
//! pkg/kubelet/kuberuntime/kuberuntime_container.go killContainer and
//! executePreStopHook, ≈ lines 780-910): the pod is marked terminating
//! (its endpoint becomes `ready=false, serving, terminating`), the preStop
//! hook runs (`exec` in the pod, `http_get` from the node, `sleep`) bounded
//! by the grace period; then SIGTERM with what is left of the grace, but
//! never less than minimumGracePeriodInSeconds = 2 s (kuberuntime_manager.go:84:
//! "a minimal shutdown window for avoiding unnecessary SIGKILLs"); SIGKILL
//! when that runs out. The pod's netns goes when its container has ended.
//! Non-blocking: [`Cluster::terminations_tick`] advances every termination
//! each control pass, so many pods terminate at once, as in Kubernetes.
use std::{
    io::{Read as _, Write as _},
    net::{SocketAddrV4, TcpStream},
    time::Duration,
};

use svclab_suite::model::PreStop;

use super::{
    inflight::{Hook, HookTarget, Stage, Termination},
    state::Cluster,
};

/// kuberuntime_manager.go minimumGracePeriodInSeconds (scaled like kubelet).
const MIN_GRACE: Duration = Duration::from_secs(2);

/// Starts the hook: sleep is scaled like kubelet's clock, exec and
/// http_get run on a thread bounded by the grace (executePreStopHook's
/// timeout).
fn start_hook(
    h: &PreStop,
    t: &HookTarget,
    now: Duration,
    scale: f64,
    grace: Duration,
) -> (Hook, String) {
    if let Some(s) = h.sleep {
        let d = s.0.mul_f64(scale);
        return (
            Hook::Sleep(now + d),
            format!("sleep {:.2}s", d.as_secs_f64()),
        );
    }
    if let Some(e) = &h.exec {
        let (ns, cmd) = (t.pod_netns.clone(), e.command.clone());
        let what = format!("exec {cmd:?}");
        let th = std::thread::spawn(move || {
            let (outcome, detail) =
                crate::kubelet::probe::handlers::exec_blocking(&ns, &cmd, grace);
            format!("{} {detail}", outcome.name())
        });
        return (Hook::Thread(th), what);
    }
    let g = h
        .http_get
        .clone()
        .unwrap_or(svclab_suite::model::HttpGetAction {
            path: "/".to_owned(),
            port: None,
            headers: Vec::new(),
        });
    let addr = SocketAddrV4::new(*t.addr.ip(), g.port.unwrap_or(t.addr.port()));
    let what = format!("http_get {addr}{}", g.path);
    let node = t.node_netns.clone();
    let th = std::thread::spawn(move || {
        let r = svclab_datapath::NetnsRef::open(&node)
            .map_err(anyhow::Error::from)
            .and_then(|ns| {
                ns.run(|| http_get(addr, &g, grace))
                    .map_err(anyhow::Error::from)
            });
        match r {
            Ok(Ok(status)) => format!("HTTP {status}"),
            Ok(Err(e)) => format!("failed: {e}"),
            Err(e) => format!("failed: {e:#}"),
        }
    });
    (Hook::Thread(th), what)
}

/// A blocking GET (kubelet's preStop httpGet from the node), its status line.
fn http_get(
    addr: SocketAddrV4,
    g: &svclab_suite::model::HttpGetAction,
    timeout: Duration,
) -> std::io::Result<String> {
    let t = timeout.max(Duration::from_millis(10));
    let mut s = TcpStream::connect_timeout(&addr.into(), t)?;
    s.set_read_timeout(Some(t))?;
    let mut req = format!(
        "GET {} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-lifecycle/1.31\r\nConnection: close\r\n",
        g.path
    );
    for h in &g.headers {
        req.push_str(&format!("{}: {}\r\n", h.name, h.value));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    Ok(text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("no response")
        .to_owned())
}

impl Cluster {
    /// Begins terminating `name`: terminating endpoint, preStop or SIGTERM.
    pub(super) fn start_termination(&mut self, name: &str, now_s: f64) -> anyhow::Result<()> {
        let now = self.now();
        let scale = self.kube_scale;
        let Some(p) = self.pods.get_mut(name) else {
            return Ok(());
        };
        let changes = p.kubelet.begin_delete(now);
        let grace = p.kubelet.spec.grace;
        let deployment = p.deployment.clone();
        let target = HookTarget {
            pod_netns: p.kubelet.spec.netns_path.clone(),
            node_netns: self
                .topo
                .as_ref()
                .map(|t| t.node_netns_path(p.node))
                .unwrap_or_default(),
            addr: SocketAddrV4::new(p.ip, p.kubelet.spec.port),
        };
        let hook = self
            .deployments
            .get(&deployment)
            .and_then(|d| d.spec.lifecycle.pre_stop.clone());
        self.apply_changes(name, changes, now_s);
        self.sync_endpoints()?;
        let stage = match hook {
            // killContainer: only "if there is enough time to run it".
            Some(h) if !grace.is_zero() => {
                let (hook, what) = start_hook(&h, &target, now, scale, grace);
                self.event(now_s, "pre_stop", format!("{name} preStop {what}"), false);
                Stage::PreStop { hook, what }
            }
            _ => self.send_term(name, now, grace, now_s),
        };
        self.terminations.push(Termination {
            pod: name.to_owned(),
            started: now,
            grace,
            stage,
        });
        Ok(())
    }

    /// SIGTERM with `left` of the grace (at least the minimum window).
    fn send_term(&mut self, name: &str, now: Duration, left: Duration, now_s: f64) -> Stage {
        let window = left.max(MIN_GRACE.mul_f64(self.kube_scale));
        if let Some(p) = self.pods.get_mut(name) {
            p.kubelet.signal_term();
            let info = p.info;
            self.backends[info].sigterm_s = Some(now_s);
            if let Ok(addr) = self.backends[info].addr.parse::<SocketAddrV4>() {
                let base = self.syns_of(addr);
                self.sigterm_syns
                    .insert(name.to_owned(), (info, addr, base));
            }
        }
        self.event(
            now_s,
            "sigterm",
            format!("{name} SIGTERM (SIGKILL in {:.2}s)", window.as_secs_f64()),
            false,
        );
        Stage::Stopping {
            at: now,
            kill_at: now + window,
        }
    }

    /// Advances every termination: hooks that finished or ran out of
    /// grace lead to SIGTERM; containers that exited, or whose window is
    /// over (SIGKILL), are removed with their pod.
    pub fn terminations_tick(&mut self) -> anyhow::Result<()> {
        let now = self.now();
        let now_s = self.record_s(now);
        let mut i = 0;
        while i < self.terminations.len() {
            let (pod, started, grace) = {
                let t = &self.terminations[i];
                (t.pod.clone(), t.started, t.grace)
            };
            let gone = match &mut self.terminations[i].stage {
                Stage::PreStop { hook, what } => {
                    let done = match hook {
                        Hook::Sleep(until) => (now >= *until).then(|| "done".to_owned()),
                        Hook::Thread(th) => th.is_finished().then(|| "finished".to_owned()),
                    };
                    let out_of_time = now >= started + grace;
                    if done.is_some() || out_of_time {
                        let what = what.clone();
                        let result = match std::mem::replace(hook, Hook::Sleep(now)) {
                            Hook::Thread(th) if th.is_finished() => {
                                th.join().unwrap_or_else(|_| "panicked".to_owned())
                            }
                            // executePreStopHook abandons a hook still
                            // running at the grace ("PreStop hook not
                            // completed in grace period").
                            Hook::Thread(_) => "not completed in grace period".to_owned(),
                            Hook::Sleep(_) if out_of_time && done.is_none() => {
                                "not completed in grace period".to_owned()
                            }
                            Hook::Sleep(_) => "done".to_owned(),
                        };
                        self.event(
                            now_s,
                            "pre_stop_done",
                            format!(
                                "{pod} preStop {what}: {result} after {:.2}s",
                                (now - started).as_secs_f64()
                            ),
                            false,
                        );
                        let left = grace.saturating_sub(now - started);
                        let st = self.send_term(&pod, now, left, now_s);
                        self.terminations[i].stage = st;
                    }
                    false
                }
                Stage::Stopping { at, kill_at } => {
                    let (at, kill_at) = (*at, *kill_at);
                    match self.pods.get_mut(&pod) {
                        None => true,
                        Some(p) => {
                            if let Some(how) = p.kubelet.exit_status() {
                                let after = (now - at).as_secs_f64();
                                self.event(
                                    now_s,
                                    "container_exited",
                                    format!("{pod} exited ({how}) {after:.2}s after SIGTERM"),
                                    false,
                                );
                                true
                            } else if now >= kill_at {
                                self.event(
                                    now_s,
                                    "sigkill",
                                    format!("{pod} SIGKILL: still running at the end of the grace"),
                                    false,
                                );
                                true
                            } else {
                                false
                            }
                        }
                    }
                }
            };
            if gone {
                self.terminations.remove(i);
                self.note_conns_after_sigterm(&pod);
                self.remove(&pod, now_s)?;
                self.sync_endpoints()?;
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    /// Whether any pod is still terminating.
    pub fn terminating(&self) -> usize {
        self.terminations.len()
    }

    /// New connections the datapath sent to `addr` so far (all nodes).
    fn syns_of(&self, addr: SocketAddrV4) -> u64 {
        self.nodes
            .iter()
            .filter_map(|n| n.dataplane.counters().ok())
            .filter_map(|c| c.backends.get(&addr).map(|b| b.syns))
            .sum()
    }

    /// Records the connections the datapath sent `name` since its SIGTERM
    /// (called when it goes, when the datapath drops it and at the end:
    /// the counter lives only while the datapath lists the backend).
    pub(super) fn note_conns_after_sigterm(&mut self, name: &str) {
        let Some(&(info, addr, base)) = self.sigterm_syns.get(name) else {
            return;
        };
        let now = self.syns_of(addr);
        let b = &mut self.backends[info];
        b.conns_after_sigterm = b.conns_after_sigterm.max(now.saturating_sub(base));
    }

    /// [`Self::note_conns_after_sigterm`] for every pod that got SIGTERM.
    pub fn note_all_conns_after_sigterm(&mut self) {
        let names: Vec<String> = self.sigterm_syns.keys().cloned().collect();
        for n in names {
            self.note_conns_after_sigterm(&n);
        }
    }
}
