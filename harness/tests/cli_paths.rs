//! The CLI run the way users run it (issue 30): from the repository with
//! the default `--out reports`, with a relative `--out` from another
//! working directory, and `report`, `nightly`, `compare` and `clean` with
//! relative folders. Each run has real nginx in both roles (a backend
//! preset and the client proxy), since nginx resolves relative `-c`/`-e`
//! paths against its `-p` prefix: with the default relative `--out` every
//! nginx suite ended in `verdict: Error` while every test, which used an
//! absolute temporary folder, passed.
mod common;

use std::{
    path::{Path, PathBuf},
    process::Output,
};

use common::{svclab, workdir};
use svclab_testsupport::{one_at_a_time, require_root};

/// A 4 s suite named `name` with nginx as the backends and as the client's
/// proxy, which must serve without errors.
fn nginx_suite(name: &str) -> String {
    format!(
        "\
# cli paths test: nginx backends behind nginx as the client's proxy
name: {name}
duration: 4s
cluster: {{ nodes: 1 }}
deployments:
  - name: web
    replicas: 2
    nginx: {{ port: 8080, worker_processes: 1 }}
services:
  - {{ name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }}
clients:
  - name: nginx
    service: web
    proxy: nginx
    load: {{ mode: open, rate: 50 }}
expect:
  - {{ metric: error_rate, max: 0.01 }}
  - {{ metric: ok_rate, min: 20 }}
"
    )
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// A suite name of this test process's own.
fn unique(tag: &str) -> String {
    format!("cli-paths-{tag}-{}", std::process::id())
}

/// Runs `svclab args` in `cwd`; panics with its output unless it exits 0.
fn ok_in(cwd: &Path, args: &[&str]) -> Output {
    let out = svclab(args)
        .current_dir(cwd)
        .output()
        .expect("svclab starts");
    assert_eq!(
        out.status.code(),
        Some(0),
        "svclab {} in {}:\nstdout: {}\nstderr: {}",
        args.join(" "),
        cwd.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The one run folder under `dir` (`<out>/<suite>/<run-id>`).
fn only_run(dir: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

/// The run passed, its nginx configs name only absolute paths, and nginx
/// wrote no error about a file it could not open.
fn assert_nginx_run(run: &Path) {
    let record: svclab_report::record::RunRecord =
        serde_json::from_slice(&std::fs::read(run.join("run.json")).expect("run.json"))
            .expect("run.json parses");
    assert_eq!(
        record.verdict,
        svclab_report::record::Verdict::Pass,
        "{:?} {:?}",
        record.error,
        record.expectations
    );
    let confs: Vec<PathBuf> = std::fs::read_dir(run.join("nginx"))
        .expect("nginx folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    assert!(confs.len() >= 3, "two servers and a proxy: {confs:?}");
    for c in confs {
        let text = std::fs::read_to_string(&c).expect("conf");
        for line in text.lines().map(str::trim) {
            for key in [
                "pid ",
                "error_log ",
                "access_log ",
                "client_body_temp_path ",
            ] {
                if let Some(v) = line.strip_prefix(key) {
                    let v = v
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .trim_end_matches(';');
                    assert!(
                        v == "off" || v == "stderr" || v.starts_with('/'),
                        "{}: `{line}` names a relative path",
                        c.display()
                    );
                }
            }
        }
    }
}

/// `./just run SUITE` from the repository: the default `--out reports`.
#[test]
fn run_from_the_repository_with_the_default_out() {
    require_root!();
    let _guard = one_at_a_time();
    let name = unique("default");
    let suites = workdir("default-suite");
    let suite = suites.join(format!("{name}.yaml"));
    std::fs::write(&suite, nginx_suite(&name)).expect("write suite");
    let reports = repo().join("reports").join(&name);
    // Whatever happens, the run's folder does not stay in the repository.
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _remove = Remove(reports.clone());
    ok_in(&repo(), &["run", "-q", suite.to_str().expect("utf-8")]);
    assert_nginx_run(&only_run(&reports));
}

/// `run` with a relative `--out` and a relative suite path from another
/// working directory, then `report` from a third directory with a
/// relative run folder, then `clean --reports` with a relative folder.
#[test]
fn run_report_and_clean_with_relative_folders_from_elsewhere() {
    require_root!();
    let _guard = one_at_a_time();
    let name = unique("relative");
    let w = workdir("relative");
    std::fs::create_dir_all(w.join("suites")).expect("suites");
    std::fs::write(
        w.join("suites").join(format!("{name}.yaml")),
        nginx_suite(&name),
    )
    .expect("write suite");
    let suite_arg = format!("suites/{name}.yaml");
    ok_in(&w, &["run", "-q", "--out", "out/here", &suite_arg]);
    let run = only_run(&w.join("out/here").join(&name));
    assert_nginx_run(&run);

    // `svclab report ../out/here/<suite>/<run>` from a sibling folder.
    let other = w.join("other");
    std::fs::create_dir_all(&other).expect("other");
    let index = run.join("index.html");
    std::fs::remove_file(&index).expect("remove index.html");
    let rel = Path::new("..").join(run.strip_prefix(&w).expect("under w"));
    ok_in(&other, &["report", rel.to_str().expect("utf-8")]);
    let html = std::fs::read_to_string(&index).expect("index.html rewritten");
    assert!(html.contains(&name));

    // `svclab clean --reports out/here` removes a killed writer's
    // temporary file from the relative reports folder (`--run`: only this
    // run's leftovers, so tests running beside it keep theirs).
    let tmp = run.join(".index.html.tmp-4194305");
    std::fs::write(&tmp, b"x").expect("plant a temporary file");
    let id = run.file_name().expect("run id").to_str().expect("utf-8");
    ok_in(&w, &["clean", "--run", id, "--reports", "out/here"]);
    assert!(!tmp.exists(), "{} left", tmp.display());
    assert!(index.exists(), "clean keeps the report");
    let _ = std::fs::remove_dir_all(&w);
}

/// `nightly` with relative `--suites` and `--out` from another directory.
#[test]
fn nightly_with_relative_folders_from_elsewhere() {
    require_root!();
    let _guard = one_at_a_time();
    let name = unique("nightly");
    let w = workdir("nightly");
    std::fs::create_dir_all(w.join("s")).expect("suites");
    std::fs::write(w.join("s").join(format!("{name}.yaml")), nginx_suite(&name))
        .expect("write suite");
    ok_in(&w, &["nightly", "-q", "--suites", "s", "--out", "r"]);
    assert_nginx_run(&only_run(&w.join("r").join(&name)));
    let index = std::fs::read_to_string(w.join("r/index.html")).expect("nightly index");
    assert!(
        index.contains(&format!("href=\"{name}/")),
        "the index links the run relatively"
    );
    let _ = std::fs::remove_dir_all(&w);
}

/// `compare` with a relative `--out` from another directory: both engines'
/// runs pass and the page links them relatively.
#[test]
fn compare_with_a_relative_out_from_elsewhere() {
    require_root!();
    let _guard = one_at_a_time();
    let name = unique("compare");
    let w = workdir("compare-rel");
    std::fs::write(w.join(format!("{name}.yaml")), nginx_suite(&name)).expect("write suite");
    ok_in(
        &w,
        &[
            "compare",
            "-q",
            "--engines",
            "ebpf,kube-proxy-nftables",
            "--out",
            "cmp",
            &format!("{name}.yaml"),
        ],
    );
    for slug in ["ebpf", "kube-proxy-nftables"] {
        assert_nginx_run(&only_run(&w.join("cmp").join(format!("{name}.{slug}"))));
    }
    let page_dir = only_run(&w.join("cmp").join(&name));
    let html = std::fs::read_to_string(page_dir.join("index.html")).expect("page");
    assert!(
        html.contains(&format!("href=\"../../{name}.ebpf/")),
        "relative link to the ebpf run"
    );
    let _ = std::fs::remove_dir_all(&w);
}
