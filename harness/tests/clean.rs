//! `svclab clean` against real leftovers: a crashed run's netns with a
//! process inside is found by its run prefix and removed, process included;
//! a namespace without the prefix is left alone.
use std::process::{Command, Stdio};

use svclab_testsupport::require_root;

fn ip(args: &[&str]) {
    let ok = Command::new("ip").args(args).status().map(|s| s.success());
    assert!(matches!(ok, Ok(true)), "ip {}", args.join(" "));
}

#[test]
fn clean_removes_a_crashed_runs_netns_and_processes_by_prefix_only() {
    require_root!();
    let run = format!("c{}", std::process::id());
    let ours = format!("svl-{run}-node");
    let foreign = format!("svltest{}", std::process::id());
    ip(&["netns", "add", &ours]);
    ip(&["netns", "add", &foreign]);
    // A process that outlived its run, bounded in time in case the test fails.
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ours, "sleep", "30"])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(200));

    let found = svclab::cmd::clean::find(Some(&run)).expect("find");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].netns, ours);
    assert_eq!(
        found[0].pids,
        vec![child.id()],
        "the process inside is found by its netns"
    );
    svclab::cmd::clean::remove(&found[0]).expect("remove");
    let status = child.wait().expect("wait");
    assert!(!status.success(), "the leftover process was killed");
    assert!(
        svclab::cmd::clean::find(Some(&run))
            .expect("find")
            .is_empty()
    );

    let still = std::path::Path::new("/run/netns").join(&foreign);
    assert!(
        still.exists(),
        "a netns without the svl- prefix is never touched"
    );
    ip(&["netns", "del", &foreign]);
    assert!(matches!(
        svclab::cmd::clean::find(Some("a-b")),
        Err(svclab::cmd::clean::CleanError::BadRunId(_))
    ));
}
