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
//! The interactive charts are driven over the DevTools protocol (`Cdp`: a
//! minimal client on `--remote-debugging-pipe`): hover values against
//! run.json, a crosshair on every chart, drag-to-zoom followed by every
//! chart, legend toggles, no network request, and a 1400×900 screenshot of
//! the first screen.
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

/// A real PNG of the CLI screenshots' size (1400×2400), over ~20 KB, of
/// many colours (a blank or error page is one or two). Returns its
/// distinct colours as RGB.
fn check_png(path: &Path) -> HashSet<[u8; 3]> {
    check_png_sized(path, (1400, 2400))
}

/// [`check_png`] for a screenshot of `size` pixels.
fn check_png_sized(path: &Path, want: (u32, u32)) -> HashSet<[u8; 3]> {
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
        want,
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

/// A Chromium driven over the DevTools protocol on a pipe
/// (`--remote-debugging-pipe`: it reads NUL-terminated JSON commands on
/// fd 3 and writes replies and events on fd 4). Dropping it kills the
/// browser's whole process group, on every path out of a test.
struct Cdp {
    child: std::process::Child,
    to_browser: fs::File,
    from_browser: mpsc::Receiver<serde_json::Value>,
    next_id: u64,
    session: Option<String>,
    /// Every event received so far, in order.
    events: Vec<serde_json::Value>,
    profile: PathBuf,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

/// How long one CDP command (or a wait for an event) may take.
const CDP_TIMEOUT: Duration = Duration::from_secs(30);

impl Cdp {
    fn launch(work: &Path) -> Self {
        use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
        let one_at_a_time = BROWSER.lock().unwrap_or_else(|p| p.into_inner());
        let profile = work.join("profile-cdp");
        fs::create_dir_all(&profile).unwrap_or_else(|e| panic!("mkdir {}: {e}", profile.display()));
        let pipe = || {
            let mut fds = [0; 2];
            // SAFETY: fds has room for the two descriptors pipe2 writes.
            let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
            assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
            // SAFETY: both descriptors were just created and are owned here only.
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
        };
        let (browser_reads, we_write) = pipe();
        let (we_read, browser_writes) = pipe();
        let (r, w) = (
            std::os::fd::AsRawFd::as_raw_fd(&browser_reads),
            std::os::fd::AsRawFd::as_raw_fd(&browser_writes),
        );
        let mut user_data = OsString::from("--user-data-dir=");
        user_data.push(&profile);
        let mut cmd = Command::new(CHROMIUM);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            "--window-size=1400,900",
        ])
        .arg(user_data)
        .arg("about:blank")
        .env("HOME", &profile)
        .env("XDG_CONFIG_HOME", profile.join(".config"))
        .env("XDG_CACHE_HOME", profile.join(".cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
        // SAFETY: between fork and exec only dup2 and fcntl run
        // (async-signal-safe). The pipe ends go to 3 and 4 by way of
        // descriptors above 10, so neither overwrites the other.
        unsafe {
            cmd.pre_exec(move || {
                let hi_r = libc::fcntl(r, libc::F_DUPFD, 10);
                let hi_w = libc::fcntl(w, libc::F_DUPFD, 10);
                if hi_r < 0 || hi_w < 0 || libc::dup2(hi_r, 3) < 0 || libc::dup2(hi_w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CHROMIUM}: {e}"));
        drop(browser_reads);
        drop(browser_writes);
        // SAFETY: the descriptor is ours alone (into_raw_fd gave it up).
        let mut reader = unsafe { fs::File::from_raw_fd(we_read.into_raw_fd()) };
        // SAFETY: as above.
        let to_browser = unsafe { fs::File::from_raw_fd(we_write.into_raw_fd()) };
        let (tx, from_browser) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            loop {
                let n = match reader.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|b| *b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice(&msg[..msg.len() - 1])
                        && tx.send(v).is_err()
                    {
                        return;
                    }
                }
            }
        });
        Self {
            child,
            to_browser,
            from_browser,
            next_id: 0,
            session: None,
            events: Vec::new(),
            profile,
            _one_at_a_time: one_at_a_time,
        }
    }

    /// Sends `method` (to the attached page, once there is one) and returns
    /// its result; panics on an error reply or after [`CDP_TIMEOUT`].
    fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = serde_json::json!({ "id": id, "method": method, "params": params });
        if let Some(s) = &self.session {
            msg["sessionId"] = s.clone().into();
        }
        let mut bytes = serde_json::to_vec(&msg).expect("json");
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("CDP {method}: writing to chromium: {e}"));
        let deadline = Instant::now() + CDP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from_browser
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("CDP {method}: no reply ({e})"));
            if v.get("id").and_then(serde_json::Value::as_u64) == Some(id) {
                if let Some(err) = v.get("error") {
                    panic!("CDP {method} failed: {err}");
                }
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    /// Waits for the event `method`, returning it.
    fn wait_event(&mut self, method: &str) -> serde_json::Value {
        if let Some(e) = self.events.iter().find(|e| e["method"] == method) {
            return e.clone();
        }
        let deadline = Instant::now() + CDP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from_browser
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("CDP: no {method} event ({e})"));
            self.events.push(v.clone());
            if v["method"] == method {
                return v;
            }
        }
    }

    /// The value of JavaScript `expr` in the page (JSON-able).
    fn eval(&mut self, expr: &str) -> serde_json::Value {
        let r = self.call(
            "Runtime.evaluate",
            serde_json::json!({ "expression": expr, "returnByValue": true }),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("evaluating {expr}: {e}");
        }
        r["result"]["value"].clone()
    }

    fn mouse(&mut self, kind: &str, x: f64, y: f64, buttons: u32) {
        let button = if kind == "mouseMoved" && buttons == 0 {
            "none"
        } else {
            "left"
        };
        self.call(
            "Input.dispatchMouseEvent",
            serde_json::json!({ "type": kind, "x": x, "y": y, "button": button,
                                "buttons": buttons, "clickCount": 1 }),
        );
    }
}

impl Drop for Cdp {
    fn drop(&mut self) {
        let group = i32::try_from(self.child.id()).unwrap_or(0);
        if group > 0 {
            // SAFETY: plain syscall; the group is the browser we started
            // (process_group(0) made its pid the group id).
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.profile);
    }
}

/// Standard base64 (as CDP sends screenshots), padding optional.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c:#x}"),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| !matches!(c, b'=' | b'\n' | b'\r'))
        .map(value)
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for group in digits.chunks(4) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
        out.extend(&n.to_be_bytes()[1..group.len()]);
    }
    out
}

/// The interactive charts in a real browser, driven over CDP: hovering the
/// share chart at a bucket shows each backend's share in that bucket as
/// run.json has it, with a crosshair on every chart; dragging zooms every
/// chart's time axis to the selection; a legend click hides a series; the
/// page makes no network request. Screenshot of the first screen at
/// 1400×900 (hovered) kept under the test's folder.
#[test]
fn interactive_charts_hover_zoom_and_toggle_in_chromium() {
    let test = "interactive_charts_hover_zoom_and_toggle_in_chromium";
    if !have_chromium(test) {
        return;
    }
    let work = out_dir(test);
    let record = incident_a(false);
    let page = write_run(&work, &record)
        .canonicalize()
        .unwrap_or_else(|e| panic!("canonicalize: {e}"));
    let url = format!("file://{}", page.display());

    let mut cdp = Cdp::launch(&work);
    let target = cdp.call(
        "Target.createTarget",
        serde_json::json!({ "url": "about:blank" }),
    );
    let attached = cdp.call(
        "Target.attachToTarget",
        serde_json::json!({ "targetId": target["targetId"], "flatten": true }),
    );
    cdp.session = attached["sessionId"].as_str().map(str::to_owned);
    assert!(cdp.session.is_some(), "attached to the page");
    cdp.call("Network.enable", serde_json::json!({}));
    cdp.call("Page.enable", serde_json::json!({}));
    cdp.call("Runtime.enable", serde_json::json!({}));
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        serde_json::json!({ "width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": false }),
    );
    cdp.call("Page.navigate", serde_json::json!({ "url": url }));
    cdp.wait_event("Page.loadEventFired");
    let started = Instant::now();
    while cdp.eval("document.readyState === 'complete' && typeof window.svclab === 'object'")
        != serde_json::Value::Bool(true)
    {
        assert!(
            started.elapsed() < CDP_TIMEOUT,
            "the charts never became interactive"
        );
        thread::sleep(Duration::from_millis(100));
    }
    let ids: Vec<String> = serde_json::from_value(cdp.eval("svclab.charts()")).expect("ids");
    for id in ["share", "new-conns", "ct-entries", "client-rate", "latency"] {
        assert!(ids.iter().any(|i| i == id), "chart {id} is interactive");
        assert_eq!(
            cdp.eval(&format!(
                "getComputedStyle(document.querySelector('#chart-{id} > svg')).display"
            )),
            "none",
            "{id}'s SVG gives way to the interactive chart"
        );
    }

    // Hover the share chart in the middle of a bucket after the scale-up.
    let b = record.bucket_s;
    let i = record.buckets.len() * 3 / 4;
    let bucket = &record.buckets[i];
    cdp.eval("document.getElementById('chart-share').scrollIntoView({block: 'center'})");
    let at = |cdp: &mut Cdp, t: f64| -> (f64, f64) {
        let p = cdp.eval(&format!("svclab.pixel('share', {t})"));
        let x = p["x"].as_f64().expect("x");
        let y = (p["top"].as_f64().expect("top") + p["bottom"].as_f64().expect("bottom")) / 2.0;
        (x, y)
    };
    let (x, y) = at(&mut cdp, bucket.t_s + b / 2.0);
    cdp.mouse("mouseMoved", x, y, 0);
    let tip = cdp.eval("svclab.tooltip('share')");
    assert_eq!(tip["bucket"].as_u64(), Some(i as u64), "tooltip: {tip}");
    assert!((tip["t"].as_f64().expect("t") - bucket.t_s).abs() < 1e-9);
    assert!(
        tip["text"]
            .as_str()
            .is_some_and(|t| t.contains(&format!("{:.1}", bucket.t_s))),
        "time to 0.1 s in {tip}"
    );
    let total: u64 = bucket
        .backends
        .values()
        .map(|v| v.share_count(record.share_basis))
        .sum();
    assert!(total > 0);
    for name in record.backend_names() {
        let label = if record
            .backend(&name)
            .is_some_and(|b| b.added_by_last_scale_up)
        {
            format!("{name} (new)")
        } else {
            name.clone()
        };
        let want = bucket
            .backends
            .get(&name)
            .map_or(0, |v| v.share_count(record.share_basis)) as f64
            / total as f64;
        let got = tip["values"][&label]
            .as_f64()
            .unwrap_or_else(|| panic!("no {label} in the tooltip {tip}"));
        assert!(
            (got - want).abs() < 1e-9,
            "{label} in bucket {i}: tooltip {got}, run.json {want}"
        );
    }
    assert_eq!(
        cdp.eval("svclab.crosshair()")
            .as_f64()
            .map(|t| (t - (bucket.t_s + b / 2.0)).abs() < 0.2),
        Some(true),
        "crosshair at the hovered time"
    );

    // A legend click hides a series (and its tooltip row); a second shows it.
    let first = record.backend_names()[0].clone();
    let key = format!("#chart-share .svclab-keys button[data-series=\"{first}\"]");
    cdp.eval(&format!("document.querySelector('{key}').click()"));
    cdp.mouse("mouseMoved", x + 1.0, y, 0);
    let tip = cdp.eval("svclab.tooltip('share')");
    assert!(tip["values"].get(&first).is_none(), "{first} hidden: {tip}");
    cdp.eval(&format!("document.querySelector('{key}').click()"));

    // Drag from 10 s to 30 s on the share chart: every chart zooms to it.
    let (x0, _) = at(&mut cdp, 10.0);
    let (x1, _) = at(&mut cdp, 30.0);
    cdp.mouse("mouseMoved", x0, y, 0);
    cdp.mouse("mousePressed", x0, y, 1);
    cdp.mouse("mouseMoved", (x0 + x1) / 2.0, y, 1);
    cdp.mouse("mouseMoved", x1, y, 1);
    cdp.mouse("mouseReleased", x1, y, 1);
    // One pixel of the original axis, in seconds.
    let px = record.end_s() / (x1 - x0) * 20.0 / record.end_s();
    let share_range: Vec<f64> =
        serde_json::from_value(cdp.eval("svclab.xRange('share')")).expect("range");
    assert!(
        (share_range[0] - 10.0).abs() <= 2.0 * px && (share_range[1] - 30.0).abs() <= 2.0 * px,
        "zoomed to {share_range:?}, selected 10–30 s"
    );
    for id in &ids {
        let range: Vec<f64> =
            serde_json::from_value(cdp.eval(&format!("svclab.xRange('{id}')"))).expect("range");
        assert_eq!(range, share_range, "{id} follows the zoom");
        let attr = cdp.eval(&format!(
            "[+document.getElementById('chart-{id}').dataset.xMin, +document.getElementById('chart-{id}').dataset.xMax]"
        ));
        assert_eq!(
            serde_json::from_value::<Vec<f64>>(attr).expect("attrs"),
            share_range,
            "{id}'s data-x-min/max"
        );
    }
    // Double-click: the whole run again, everywhere.
    let (xm, _) = at(&mut cdp, 20.0);
    cdp.call(
        "Input.dispatchMouseEvent",
        serde_json::json!({ "type": "mousePressed", "x": xm, "y": y, "button": "left", "buttons": 1, "clickCount": 2 }),
    );
    cdp.call(
        "Input.dispatchMouseEvent",
        serde_json::json!({ "type": "mouseReleased", "x": xm, "y": y, "button": "left", "buttons": 0, "clickCount": 2 }),
    );
    let end = record.end_s().max(record.bucket_s).max(1.0);
    for id in &ids {
        let range: Vec<f64> =
            serde_json::from_value(cdp.eval(&format!("svclab.xRange('{id}')"))).expect("range");
        assert_eq!(range, vec![0.0, end], "{id} reset by the double-click");
    }

    // The first screen, with the share chart hovered.
    cdp.eval("window.scrollTo(0, 0)");
    let (x, y) = at(&mut cdp, bucket.t_s + b / 2.0);
    if y < 900.0 {
        cdp.mouse("mouseMoved", x, y, 0);
    }
    let shot = cdp.call(
        "Page.captureScreenshot",
        serde_json::json!({ "format": "png" }),
    );
    let png = work.join("first-screen.png");
    fs::write(&png, base64_decode(shot["data"].as_str().expect("data")))
        .unwrap_or_else(|e| panic!("write {}: {e}", png.display()));
    check_png_sized(&png, (1400, 900));
    let msg = format!("screenshot: {}\n", png.display());
    let _ = std::io::stderr().write_all(msg.as_bytes());

    // Nothing but the page itself was requested.
    let requests: Vec<String> = cdp
        .events
        .iter()
        .filter(|e| e["method"] == "Network.requestWillBeSent")
        .filter_map(|e| e["params"]["request"]["url"].as_str().map(str::to_owned))
        .collect();
    assert!(
        requests.iter().any(|r| r == &url),
        "the page's own request is seen: {requests:?}"
    );
    for r in &requests {
        assert!(r == &url, "network request {r}");
    }
    let failed: Vec<_> = cdp
        .events
        .iter()
        .filter(|e| e["method"] == "Runtime.exceptionThrown")
        .collect();
    assert!(failed.is_empty(), "script errors: {failed:?}");
}
