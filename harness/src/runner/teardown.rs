//! Stage 3 of a run, on every path: end every pod process, unload the
//! dataplanes and delete every namespace, keeping what the cluster knew
//! (backends, events, pod records) for the record; remove the state file.
use super::ctx::{Gathered, RunCtx};
use crate::cluster::{Cluster, state_file};

/// Tears the cluster down (if setup got that far); a teardown failure
/// becomes the run's error unless it already has one.
pub(super) fn teardown(ctx: &RunCtx<'_>, cluster: Option<Cluster>, g: &mut Gathered) {
    if let Some(e) = &g.error {
        tracing::error!("run error: {e}");
    }
    tracing::info!("teardown");
    ctx.progress.set_prefix("teardown");
    if let Some(mut c) = cluster {
        // Faults first: their rules and held packets go before the pods.
        // A run stopped by an error never set `elapsed`: the clock has.
        let t = if g.elapsed.is_zero() {
            c.run_time_s()
        } else {
            g.elapsed.as_secs_f64()
        };
        c.end_faults(t);
        g.faults = c.fault_records();
        if g.pods.is_empty() {
            // Stopped early by an error: still keep what the pods did.
            g.pods = c.pod_records();
        }
        g.backends = c.backends.clone();
        g.rollouts = c.rollout_records();
        g.events = c.events.clone();
        g.programs = c.programs.clone();
        if let Err(e) = c.teardown() {
            g.error.get_or_insert_with(|| format!("{e:#}"));
        }
    }
    let _ = std::fs::remove_file(ctx.dir.join(state_file::STATE_FILE));
    ctx.progress.finish_and_clear();
}
