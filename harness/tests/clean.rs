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

#[test]
fn clean_removes_temp_files_a_killed_report_writer_left_and_nothing_else() {
    // A report writer killed between write and rename leaves
    // `.index.html.tmp-<pid>`; `svclab clean` finds it by that pattern,
    // inside run folders only. (Needs no root: no namespaces involved.)
    let reports = std::env::temp_dir().join(format!("svclab-clean-tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&reports);
    let run_dir = reports.join("some-suite").join("r1");
    let other_run = reports.join("some-suite").join("r2");
    for d in [&run_dir, &other_run] {
        std::fs::create_dir_all(d).expect("run dir");
    }
    let stale = run_dir.join(".index.html.tmp-999999999");
    let stale_other = other_run.join(".run.json.tmp-999999998");
    let keep = [
        run_dir.join("index.html.tmp-999999999"),
        run_dir.join(".notes.tmp-999999999"),
        reports.join(".index.html.tmp-999999999"),
    ];
    for p in keep.iter().chain([&stale, &stale_other]) {
        std::fs::write(p, b"partial").expect("write");
    }
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_svclab"))
            .arg("clean")
            .args(args)
            .arg("--reports")
            .arg(&reports)
            .stdin(Stdio::null())
            .output()
            .expect("clean");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Always with --run: a bare `clean` would also take the namespaces of
    // tests running beside this one.
    let dry = run(&["--run", "r1", "--dry-run"]);
    assert!(dry.contains("would remove") && stale.exists(), "{dry}");
    run(&["--run", "r1"]);
    assert!(!stale.exists(), "stale temp of r1 removed");
    assert!(stale_other.exists(), "r2 untouched by --run r1");
    run(&["--run", "r2"]);
    assert!(!stale_other.exists());
    for p in &keep {
        assert!(p.exists(), "{} left alone", p.display());
    }
    let _ = std::fs::remove_dir_all(&reports);
}

/// A crashed socket-LB run's cgroup tree (the run's cgroup2 mount, its
/// threaded cgroups, a process still in one) is removed by `svclab clean
/// --run`, and another run's tree is left alone.
#[test]
fn clean_removes_a_crashed_runs_cgroup_tree_by_prefix_only() {
    require_root!();
    let run = format!("g{}", std::process::id());
    let other = format!("h{}", std::process::id());
    let mut ours = svclab_cgroup::CgroupTree::create(&format!("svl-{run}-")).expect("tree");
    ours.add("node0").expect("node");
    let pod = ours.add("node0/client-a").expect("pod");
    let theirs = svclab_cgroup::CgroupTree::create(&format!("svl-{other}-")).expect("tree");
    let mut child = Command::new("sleep").arg("30").spawn().expect("spawn");
    std::fs::write(pod.join("cgroup.procs"), child.id().to_string()).expect("move");
    let mount = ours.mount_point().to_owned();
    // The run crashed: nothing of it is removed.
    std::mem::forget(ours);

    let reports = std::env::temp_dir().join(format!("svclab-clean-cg-{run}"));
    let code = svclab::cmd::clean::run(Some(&run), false, &reports).expect("clean");
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    assert!(
        !child.wait().expect("wait").success(),
        "the process in the cgroup was killed"
    );
    assert!(!mount.exists(), "the run's mount point is gone");
    assert!(svclab_cgroup::leftover_mounts(&format!("svl-{run}-")).is_empty());
    assert_eq!(
        svclab_cgroup::leftover_mounts(&format!("svl-{other}-")),
        vec![theirs.mount_point().to_owned()],
        "another run's tree is not touched"
    );
    theirs.teardown().expect("teardown");
}
