//! Real-browser checks: headless Chromium (`/usr/bin/chromium`, the Debian
//! package) loads a run report and the nightly index from `file://`, with
//! no network, dumps the DOM (proof the page parsed, charts and verdict
//! included) and takes a screenshot, which must decode as a PNG of real
//! content rather than a blank page. Without Chromium each test prints
//! `SKIPPED` and returns; CI installs it. The liveness-cascade report is
//! also checked for its pod charts: the phase chart's markers and the
//! restart table in the DOM, and the phase colours in a screenshot of the
//! phase chart alone. A 1000-backend report must parse with its top-N
//! charts and show the fairness chart's band.
//!
//! Screenshots are kept for people to look at, under this crate's
//! `CARGO_TARGET_TMPDIR` (`<target>/tmp/browser/<test>/`); their paths are
//! printed.
use std::{
    collections::{BTreeMap, HashSet},
    ffi::OsString,
    fs,
    io::{Read, Write},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
    sync::{Mutex, mpsc},
    thread,
    time::{Duration, Instant},
};

use svclab_report::{
    compare::{CompareEntry, render_compare},
    index::{self, NightEntry, SuiteOutcome},
    record::{RunRecord, Verdict},
    sample::{incident_a, liveness_cascade, many_backends},
    write::write_report,
};

const CHROMIUM: &str = "/usr/bin/chromium";
/// A hung browser is killed after this long.
const TIMEOUT: Duration = Duration::from_secs(60);
/// How long to wait for output pipes to close once the browser has exited.
const PIPE_GRACE: Duration = Duration::from_secs(10);
/// One browser at a time: the machine is small and shared, and two
/// Chromiums starting at once can push one past its timeout.
static BROWSER: Mutex<()> = Mutex::new(());

/// False (after printing why) when Chromium is not installed.
fn have_chromium(test: &str) -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    let msg = format!("SKIPPED {test}: chromium not installed (apt-get install chromium)\n");
    // Straight to fd 2, past the test harness's output capture.
    let _ = std::io::stderr().write_all(msg.as_bytes());
    false
}

/// An empty folder for `test`'s pages and screenshots, kept after the run.
fn out_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("browser")
        .join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    dir
}

struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs Chromium headless on `page` with `extra` arguments, a fresh profile
/// under `work`, stdin closed, and everything it writes kept inside the
/// profile. Kills its whole process group after [`TIMEOUT`].
fn chromium(work: &Path, page: &Path, extra: &[OsString]) -> Finished {
    let _one_at_a_time = BROWSER.lock().unwrap_or_else(|p| p.into_inner());
    let profile = work.join(format!(
        "profile-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    fs::create_dir_all(&profile).unwrap_or_else(|e| panic!("mkdir {}: {e}", profile.display()));
    let page = page
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    let mut args: Vec<OsString> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=1400,2400",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let mut user_data = OsString::from("--user-data-dir=");
    user_data.push(&profile);
    args.push(user_data);
    args.extend(extra.iter().cloned());
    let mut url = OsString::from("file://");
    url.push(&page);
    args.push(url);

    let mut child = Command::new(CHROMIUM)
        .args(&args)
        .env("HOME", &profile)
        .env("XDG_CONFIG_HOME", profile.join(".config"))
        .env("XDG_CACHE_HOME", profile.join(".cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout can kill its helpers too.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {CHROMIUM}: {e}"));
    let pid = child.id();
    // Readers hand their text over a channel, so a helper process that
    // outlives the browser holding a pipe open cannot block the test.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
        rx
    };
    let collect = |rx: &mpsc::Receiver<String>| {
        rx.recv_timeout(PIPE_GRACE)
            .unwrap_or_else(|_| "(output not closed in time)".into())
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < TIMEOUT => thread::sleep(Duration::from_millis(100)),
            Ok(None) => {
                let group = i32::try_from(pid).unwrap_or(0);
                // SAFETY: plain syscall; the group is the browser we started
                // (process_group(0) made its pid the group id).
                unsafe { libc::kill(-group, libc::SIGKILL) };
                let _ = child.wait();
                let err = collect(&stderr);
                panic!(
                    "chromium on {} hung for {TIMEOUT:?} and was killed; stderr:\n{}",
                    page.display(),
                    tail(&err)
                );
            }
            Err(e) => panic!("waiting for chromium: {e}"),
        }
    };
    let finished = Finished {
        status,
        stdout: collect(&stdout),
        stderr: collect(&stderr),
    };
    let _ = fs::remove_dir_all(&profile);
    finished
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The page's DOM after load, as Chromium serialises it.
fn dump_dom(work: &Path, page: &Path) -> String {
    let run = chromium(work, page, &["--dump-dom".into()]);
    assert!(
        run.status.success() && !run.stdout.is_empty(),
        "chromium --dump-dom {} failed ({}); stderr:\n{}",
        page.display(),
        run.status,
        tail(&run.stderr)
    );
    run.stdout
}

/// Screenshots `page` to `png` and checks the image shows content; returns
/// its distinct colours.
fn screenshot(work: &Path, page: &Path, png: &Path) -> HashSet<[u8; 3]> {
    let mut arg = OsString::from("--screenshot=");
    arg.push(png);
    let run = chromium(work, page, &[arg]);
    assert!(
        run.status.success() && png.exists(),
        "chromium --screenshot {} failed ({}); stderr:\n{}",
        page.display(),
        run.status,
        tail(&run.stderr)
    );
    let colours = check_png(png);
    let msg = format!("screenshot: {}\n", png.display());
    let _ = std::io::stderr().write_all(msg.as_bytes());
    colours
}

/// Writes `record`'s report under `work` as the nightly tree lays it out;
/// returns its page.
fn write_run(work: &Path, record: &RunRecord) -> PathBuf {
    let dir = work
        .join("reports")
        .join(&record.suite.name)
        .join(&record.run_id);
    write_report(&dir, record).unwrap_or_else(|e| panic!("write_report: {e}"));
    dir.join("index.html")
}

/// A real PNG, over ~20 KB, of many colours (a blank or error page is one
/// or two). Returns its distinct colours as RGB.
fn check_png(path: &Path) -> HashSet<[u8; 3]> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    assert!(
        bytes.len() > 20_000,
        "{} is only {} bytes: a blank page?",
        path.display(),
        bytes.len()
    );
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("decoding {}: {e}", path.display()));
    let size = reader
        .output_buffer_size()
        .unwrap_or_else(|| panic!("{}: image too large", path.display()));
    let mut buf = vec![0; size];
    let frame = reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("decoding {}: {e}", path.display()));
    assert_eq!(
        (frame.width, frame.height),
        (1400, 2400),
        "{}: screenshot size",
        path.display()
    );
    let pixel = frame.color_type.samples() * usize::from(frame.bit_depth as u8).div_ceil(8);
    assert!(
        frame.bit_depth == png::BitDepth::Eight && pixel >= 3,
        "{}: expected 8-bit RGB(A), got {:?} {:?}",
        path.display(),
        frame.color_type,
        frame.bit_depth
    );
    let colours: HashSet<[u8; 3]> = buf[..frame.buffer_size()]
        .chunks(pixel)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    assert!(
        colours.len() >= 16,
        "{} has only {} distinct colours: a blank page?",
        path.display(),
        colours.len()
    );
    colours
}

#[test]
fn run_report_renders_in_chromium() {
    let test = "run_report_renders_in_chromium";
    if !have_chromium(test) {
        return;
    }
    let work = out_dir(test);
    let record = incident_a(false);
    let page = write_run(&work, &record);

    let dom = dump_dom(&work, &page);
    assert!(
        dom.matches("<svg").count() >= 5,
        "the five charts are in the DOM"
    );
    assert!(
        dom.contains("verdict fail") && dom.contains(">FAIL<"),
        "verdict"
    );
    assert!(dom.contains("scale web 3 → 6"), "timeline marker label");

    screenshot(&work, &page, &work.join("report.png"));
}

/// `svclab compare`'s page: every engine's verdict, expectations and share
/// charts (one per engine, on one time axis) in the DOM, and a real
/// screenshot; the links reach each engine's report.
#[test]
fn comparison_page_renders_in_chromium() {
    let test = "comparison_page_renders_in_chromium";
    if !have_chromium(test) {
        return;
    }
    let work = out_dir(test);
    let mut entries = Vec::new();
    for (label, fixed) in [
        ("ebpf:cilium-1.11", false),
        ("kube-proxy-iptables", true),
        ("socket-lb", true),
    ] {
        let mut record = incident_a(fixed);
        record.suite.name = format!("incident-a.{}", label.replace(':', "-"));
        let page = write_run(&work, &record);
        entries.push(CompareEntry {
            label: label.to_owned(),
            href: format!("../../{}/{}/index.html", record.suite.name, record.run_id),
            record,
        });
        assert!(page.exists());
    }
    let dir = work.join("reports").join("incident-a").join("compare-1");
    fs::create_dir_all(&dir).expect("mkdir");
    let page = dir.join("index.html");
    fs::write(
        &page,
        render_compare("incident-a", "side by side", &entries),
    )
    .expect("write");
    for e in &entries {
        assert!(dir.join(&e.href).exists(), "link {} resolves", e.href);
    }
    let dom = dump_dom(&work, &page);
    assert_eq!(dom.matches("<svg").count(), 3, "one share chart per engine");
    assert!(
        dom.contains("ebpf:cilium-1.11")
            && dom.contains("kube-proxy-iptables")
            && dom.contains("socket-lb")
    );
    assert!(
        dom.contains(">FAIL<") && dom.contains(">PASS<"),
        "both verdicts"
    );
    assert!(
        dom.contains("scale web 3 → 6"),
        "timeline marker on the charts"
    );
    screenshot(&work, &page, &work.join("compare.png"));
}

#[test]
fn liveness_cascade_report_renders_in_chromium() {
    let test = "liveness_cascade_report_renders_in_chromium";
    if !have_chromium(test) {
        return;
    }
    let work = out_dir(test);
    let record = liveness_cascade();
    let page = write_run(&work, &record);

    let dom = dump_dom(&work, &page);
    let phases = dom
        .split("id=\"chart-pod-phases\"")
        .nth(1)
        .and_then(|rest| rest.split("</figure>").next())
        .unwrap_or_else(|| panic!("no pod-phase chart in the DOM"));
    assert!(phases.contains("<svg"), "the pod-phase chart is an svg");
    let restarts: usize = record.pods.iter().map(|p| p.restarts.len()).sum();
    assert_eq!(
        phases.matches("class=\"restart-marker\"").count(),
        restarts,
        "a marker per restart"
    );
    assert!(
        phases.contains("<title>web-1 restart 1 at 23.4 s: liveness probe failed"),
        "restart reason as the marker's tooltip"
    );
    assert!(dom.contains("id=\"restart-table\""), "restart table");
    assert_eq!(
        dom.matches("<tr class=\"restart\">").count(),
        restarts,
        "a row per restart"
    );
    assert!(dom.contains("Kubelet &amp; autoscaler settings"));
    assert!(dom.contains("id=\"chart-accept-queue\""));
    screenshot(&work, &page, &work.join("report.png"));

    // The phase chart alone, at the top of a page, so its pixels are in the
    // screenshot: its bars must show up in the phase colours.
    let chart_page = work.join("pod-phases.html");
    let svg_start = phases
        .find("<svg")
        .unwrap_or_else(|| panic!("no svg in the pod-phase chart"));
    let svg_end = phases.rfind("</svg>").map_or(phases.len(), |i| i + 6);
    fs::write(
        &chart_page,
        format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>\
             <body style=\"margin:0;background:#fff\">{}</body></html>",
            &phases[svg_start..svg_end]
        ),
    )
    .unwrap_or_else(|e| panic!("write {}: {e}", chart_page.display()));
    let png = work.join("pod-phases.png");
    let colours = screenshot(&work, &chart_page, &png);
    // ready (green), back-off (dark purple), terminating (red), not ready (amber).
    for (phase, rgb) in [
        ("ready", [0x1B, 0x9E, 0x4B]),
        ("back-off", [0x3F, 0x00, 0x7D]),
        ("terminating", [0xD7, 0x30, 0x27]),
        ("not ready", [0xE6, 0x9F, 0x00]),
    ] {
        assert!(
            colours.contains(&rgb),
            "{}: no {phase} pixels ({rgb:02x?})",
            png.display()
        );
    }
}

#[test]
fn thousand_backend_report_renders_in_chromium() {
    let test = "thousand_backend_report_renders_in_chromium";
    if !have_chromium(test) {
        return;
    }
    let work = out_dir(test);
    let record = many_backends(1000);
    let page = write_run(&work, &record);
    let dom = dump_dom(&work, &page);
    assert!(dom.matches("<svg").count() >= 12, "every chart in the DOM");
    assert!(dom.contains("top 12 of 1000 backends by responses"));
    assert!(dom.contains("others (988 backends)"));
    let fairness = dom
        .split("id=\"chart-fairness\"")
        .nth(1)
        .and_then(|rest| rest.split("</figure>").next())
        .unwrap_or_else(|| panic!("no fairness chart in the DOM"));
    screenshot(&work, &page, &work.join("report.png"));

    // The fairness chart alone: its lowest–highest band and lines show up.
    let chart_page = work.join("fairness.html");
    let svg_start = fairness
        .find("<svg")
        .unwrap_or_else(|| panic!("no svg in the fairness chart"));
    let svg_end = fairness.rfind("</svg>").map_or(fairness.len(), |i| i + 6);
    fs::write(
        &chart_page,
        format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>\
             <body style=\"margin:0;background:#fff\">{}</body></html>",
            &fairness[svg_start..svg_end]
        ),
    )
    .unwrap_or_else(|e| panic!("write {}: {e}", chart_page.display()));
    let png = work.join("fairness.png");
    let colours = screenshot(&work, &chart_page, &png);
    // band (light grey), highest (red), lowest (blue).
    for (what, rgb) in [
        ("band", [0xD9, 0xD9, 0xD9]),
        ("highest", [0xB2, 0x18, 0x2B]),
        ("lowest", [0x00, 0x72, 0xB2]),
    ] {
        assert!(
            colours.contains(&rgb),
            "{}: no {what} pixels ({rgb:02x?})",
            png.display()
        );
    }
}

/// A night of six suites (every badge; one without a scale-up, whose p99
/// regressed and whose imbalance once was ∞) with a fortnight of history.
fn nightly(reports: &Path) -> String {
    let legacy = incident_a(false);
    let fixed = incident_a(true);
    let mut interrupted = incident_a(true);
    interrupted.suite.name = "kill-mid-run".into();
    interrupted.verdict = Verdict::Interrupted;
    interrupted.interrupted = true;
    interrupted.elapsed_s = 31.0;
    let mut errored = incident_a(false);
    errored.suite.name = "ct-flush".into();
    errored.verdict = Verdict::Error;
    errored.error = Some("netns svl-x: <gone>".into());
    let mut steady = incident_a(true);
    steady.suite.name = "steady-state".into();
    for b in &mut steady.backends {
        b.added_by_last_scale_up = false;
    }
    let mut outcomes = Vec::new();
    for rec in [&legacy, &fixed, &interrupted, &errored, &steady] {
        let rel = Path::new(&rec.suite.name).join(&rec.run_id);
        write_report(&reports.join(&rel), rec).unwrap_or_else(|e| panic!("write_report: {e}"));
        outcomes.push(SuiteOutcome::Ran {
            record: rec.clone(),
            report_dir: rel,
        });
    }
    outcomes.push(SuiteOutcome::Broken {
        suite: "bad-yaml".into(),
        path: "suites/bad-yaml.yaml".into(),
        error:
            "suites/bad-yaml.yaml:3:7: duration: expected a duration like \"60s\", found <sixty>"
                .into(),
    });

    let mut history = Vec::new();
    for (n, rec) in [&legacy, &fixed, &interrupted, &errored].iter().enumerate() {
        history.extend(past_nights(rec, 14, n as u64));
    }
    let mut steady_past = past_nights(&steady, 14, 5);
    // Last night was twice as fast; one night a backend starved.
    let tonight = index::key_figures(&steady)
        .get("p99_ms")
        .copied()
        .unwrap_or_else(|| panic!("steady-state has no p99"));
    steady_past[0]
        .figures
        .insert("p99_ms".into(), tonight / 2.0);
    steady_past[6]
        .figures
        .insert("imbalance".into(), f64::INFINITY);
    history.extend(steady_past);
    let mut bad = past_nights(&fixed, 5, 9);
    for e in &mut bad {
        e.suite = "bad-yaml".into();
    }
    history.extend(bad);
    let thresholds = BTreeMap::new();
    let regressions = index::regressions(&outcomes, &history, &thresholds);
    assert!(!regressions.is_empty(), "the sample night has regressions");
    // As the nightly does: append tonight, then render with it.
    let history_dir = reports.join(index::HISTORY_DIR);
    index::append_history(&history_dir, &outcomes).unwrap_or_else(|e| panic!("append: {e}"));
    for e in &history {
        // Past nights go in through files too, as they would have.
        let dir = history_dir.join(&e.suite);
        fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("mkdir: {err}"));
        let json = serde_json::to_string(e).unwrap_or_else(|err| panic!("json: {err}"));
        fs::write(
            dir.join(format!("{}.json", e.night.replace(':', "-"))),
            json,
        )
        .unwrap_or_else(|err| panic!("write: {err}"));
    }
    let history = index::load_history(&history_dir).unwrap_or_else(|e| panic!("load: {e}"));
    let html = index::render_index(&outcomes, &history, &regressions, "svclab nightly");
    index::write_index(reports, &html).unwrap_or_else(|e| panic!("write_index: {e}"));
    html
}

/// `nights` entries before `rec`'s night, wobbling around its figures; the
/// last one passed, a few earlier ones failed.
fn past_nights(rec: &RunRecord, nights: u64, seed: u64) -> Vec<NightEntry> {
    (1..=nights)
        .map(|back| {
            let mut e = NightEntry::from_record(rec);
            e.night = format!("2025-12-{:02}T12:00:00Z", 32 - back);
            e.run_id = format!("202512{:02}-120000-0000", 32 - back);
            e.verdict = if back > 1 && (back + seed).is_multiple_of(5) {
                Verdict::Fail
            } else {
                Verdict::Pass
            };
            let wobble = 1.0 + 0.15 * (((back * 7 + seed * 3) % 11) as f64 / 10.0 - 0.5);
            for v in e.figures.values_mut() {
                *v *= wobble;
            }
            e
        })
        .collect()
}

#[test]
fn nightly_index_renders_in_chromium() {
    let test = "nightly_index_renders_in_chromium";
    if !have_chromium(test) {
        return;
    }
    let work = out_dir(test);
    let reports = work.join("reports");
    nightly(&reports);
    let page = reports.join("index.html");

    let dom = dump_dom(&work, &page);
    assert_eq!(
        dom.matches("class=\"suite-row\"").count(),
        6,
        "a row per suite"
    );
    assert_eq!(dom.matches("<svg").count(), 6, "a sparkline per suite");
    for word in [
        "PASS",
        "FAIL",
        "INTERRUPTED",
        "ERROR",
        "BROKEN",
        "CRITICAL",
        "WARNING",
    ] {
        assert!(dom.contains(&format!(">{word}</span>")), "badge {word}");
    }
    assert!(
        dom.contains("found &lt;sixty&gt;"),
        "broken suite's error, escaped"
    );
    assert!(dom.contains("href=\"ct-reuse-legacy/20260101-120000-a3f9/index.html\""));
    assert_eq!(
        dom.matches("class=\"num regressed\"").count(),
        1,
        "steady-state's p99 is marked"
    );

    screenshot(&work, &page, &work.join("index.png"));
}
