//! Stage 3 of a run, on every path: end every pod process, unload the
//! dataplanes and delete every namespace, keeping what the cluster knew
//! (backends, events, pod records) for the record; remove the state file;
//! mark the run interrupted when a signal stopped it.
use std::sync::atomic::Ordering;

use svclab_report::record as rec;

use super::{Gathered, RunCtx};
use crate::cluster::{Cluster, state_file};

/// Tears the cluster down (if setup got that far); a teardown failure
/// becomes the run's error unless it already has one.
pub(super) fn teardown(ctx: &RunCtx<'_>, cluster: Option<Cluster>, g: &mut Gathered) {
    if let Some(e) = &g.error {
        tracing::error!("run error: {e}");
    }
    tracing::info!("teardown");
    ctx.progress.set_prefix("teardown");
    if g.error.is_some() {
        g.interrupted |= ctx.opts.stop.load(Ordering::Relaxed);
    }
    if let Some(c) = cluster {
        if g.pods.is_empty() {
            // Stopped early by an error: still keep what the pods did.
            g.pods = c.pod_records();
        }
        g.backends = c.backends.clone();
        g.events = c.events.clone();
        if let Err(e) = c.teardown() {
            g.error.get_or_insert_with(|| format!("{e:#}"));
        }
    }
    let _ = std::fs::remove_file(ctx.dir.join(state_file::STATE_FILE));
    if g.interrupted {
        g.events.push(rec::Event {
            t_s: g.elapsed.as_secs_f64(),
            kind: "interrupted".into(),
            detail: "stopped by signal".into(),
            timeline: true,
        });
    }
    ctx.progress.finish_and_clear();
}
