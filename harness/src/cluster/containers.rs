//! What a backend pod's container runs, from its deployment: nothing extra
//! for svclab's pod server; for `container`, the suite's argv with the
//! pod's placeholders expanded; for `nginx`, a generated config in the run
//! folder and nginx on it. The first pod of each deployment is recorded
//! for the report (its command, log, config).
use std::net::Ipv4Addr;

use anyhow::Context as _;
use svclab_suite::model::{Deployment, Workload};

use super::state::Cluster;
use crate::kubelet::programs::{Placeholders, ProgramSpec, nginx};

impl Cluster {
    /// The program pod `pod` (at `ip`) of `d` runs; None: the pod server.
    pub(super) fn program_for(
        &mut self,
        d: &Deployment,
        pod: &str,
        ip: Ipv4Addr,
    ) -> anyhow::Result<Option<ProgramSpec>> {
        let (program, kind, conf) = match d.workload() {
            Workload::PodServer(_) => return Ok(None),
            Workload::Container(c) => {
                let run_dir = self.run_dir()?;
                let ph = Placeholders {
                    pod,
                    pod_ip: ip,
                    port: c.port,
                    run_dir: &run_dir,
                };
                (ph.program(c, self.pod_log(pod)?), "container", None)
            }
            Workload::Nginx(n) => {
                let bin = svclab_suite::nginx_binary()
                    .context("nginx is not installed (./just setup)")?;
                let conf = nginx::server_conf(&bin, &self.run_dir()?, pod, n, self.pod_log(pod)?)?;
                (conf.program.clone(), "nginx", Some(conf))
            }
        };
        let owner = format!("deployment {}", d.name);
        let logs = format!("pods/{}-<n>.log", d.name);
        self.note_program(owner, kind, &program.argv, conf.as_ref(), logs);
        Ok(Some(program))
    }
}
