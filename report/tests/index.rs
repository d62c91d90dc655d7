//! The nightly index (`svclab_report::index`): key figures of the sample
//! incident runs, history kept on disk (round trip, corrupt files skipped),
//! regression detection against the previous night, and the rendered page.
use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use svclab_report::{
    derive::{metric, summarize},
    index::{
        self, KEY_FIGURES, NightEntry, Regression, RegressionKind, Severity, SuiteOutcome,
        key_figures,
    },
    record::{RunRecord, Verdict},
    sample::{empty_record, incident_a, liveness_cascade},
};

/// A fresh folder under the system temp dir, unique per test and process.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("svclab-index-test-{}-{test}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    dir
}

fn ran(record: RunRecord) -> SuiteOutcome {
    let report_dir = Path::new(&record.suite.name).join(&record.run_id);
    SuiteOutcome::Ran { record, report_dir }
}

fn broken(suite: &str, error: &str) -> SuiteOutcome {
    SuiteOutcome::Broken {
        suite: suite.into(),
        path: format!("suites/{suite}.yaml"),
        error: error.into(),
    }
}

/// `record` renamed, as if it were another suite.
fn renamed(mut record: RunRecord, suite: &str) -> RunRecord {
    record.suite.name = suite.into();
    record
}

fn fig(figures: &BTreeMap<String, f64>, name: &str) -> f64 {
    figures
        .get(name)
        .copied()
        .unwrap_or_else(|| panic!("figure {name} missing from {figures:?}"))
}

/// The history entry of `record`, moved to another night with another verdict.
fn night(record: &RunRecord, night: &str, verdict: Verdict) -> NightEntry {
    let mut e = NightEntry::from_record(record);
    e.night = night.into();
    e.verdict = verdict;
    e
}

const LAST_NIGHT: &str = "2025-12-31T12:00:00Z";

// ---------------------------------------------------------------- key figures

#[test]
fn key_figures_show_the_incident_and_the_fix() {
    let legacy_rec = incident_a(false);
    let fixed_rec = incident_a(true);
    let legacy = key_figures(&legacy_rec);
    let fixed = key_figures(&fixed_rec);
    for (name, _) in KEY_FIGURES {
        assert!(legacy.contains_key(*name), "legacy lacks {name}");
        assert!(fixed.contains_key(*name), "fixed lacks {name}");
    }
    assert_eq!(legacy.len(), KEY_FIGURES.len(), "{legacy:?}");

    assert_eq!(fig(&legacy, "duration_s"), 60.0);
    // Legacy: the three new pods stay nearly idle after the scale-up.
    assert!(fig(&legacy, "imbalance") > 10.0, "{legacy:?}");
    assert!(fig(&fixed, "imbalance") < 3.0, "{fixed:?}");
    assert!(fig(&legacy, "new_backend_share") < 0.05, "{legacy:?}");
    assert!(fig(&fixed, "new_backend_share") > 0.3, "{fixed:?}");
    assert!(fig(&legacy, "jain") < 0.7, "{legacy:?}");
    assert!(fig(&fixed, "jain") > 0.8, "{fixed:?}");
    // The legacy sample is slower after the scale-up.
    assert!(fig(&legacy, "p99_ms") > fig(&fixed, "p99_ms"));
    let worst_p99 = legacy_rec
        .buckets
        .iter()
        .map(|b| b.client.p99_ms)
        .fold(f64::MIN, f64::max);
    assert_eq!(fig(&legacy, "p99_ms"), worst_p99);

    let s = summarize(&legacy_rec);
    assert_eq!(fig(&legacy, "errors"), s.errors as f64);
    assert!(fig(&legacy, "errors") > 0.0);
    assert_eq!(fig(&legacy, "error_rate"), s.errors as f64 / s.sent as f64);
    assert_eq!(
        fig(&legacy, "imbalance"),
        s.max_min_ratio.unwrap_or(f64::NAN)
    );
    assert_eq!(fig(&legacy, "jain"), s.jain_index.unwrap_or(f64::NAN));
    // Three pods from the start, six from the scale-up on.
    assert_eq!(fig(&legacy, "min_ready"), 3.0);
    assert_eq!(fig(&fixed, "min_ready"), 3.0);
    assert_eq!(fig(&legacy, "restarts"), 0.0);
}

#[test]
fn min_ready_sees_a_backend_removed_mid_run() {
    let mut rec = incident_a(true);
    // web-1 leaves at 10.5 and is never replaced: buckets from 10 on have
    // two of the original three.
    rec.backends[1].removed_s = Some(10.5);
    assert_eq!(fig(&key_figures(&rec), "min_ready"), 2.0);
}

#[test]
fn pod_runs_count_restarts_and_ready_pods() {
    let rec = liveness_cascade();
    let figures = key_figures(&rec);
    let whole = [0.0, rec.end_s()];
    // Restarts over the whole run, all pods.
    assert_eq!(fig(&figures, "restarts"), 11.0);
    assert_eq!(metric(&rec, "restarts", whole), Some(11.0));
    // The fewest ready pods (Σ ready_min), not the fewest pods alive: all
    // four stay alive through the cascade.
    assert_eq!(fig(&figures, "min_ready"), 1.0);
    assert_eq!(metric(&rec, "min_ready", whole), Some(1.0));
}

#[test]
fn fewer_ready_pods_than_last_night_is_a_regression() {
    let rec = liveness_cascade();
    // min_ready is judged (lower is worse); restarts are not.
    let mut prev = night(&rec, LAST_NIGHT, Verdict::Fail);
    prev.figures.insert("min_ready".into(), 3.0);
    prev.figures.insert("restarts".into(), 0.0);
    let regs = index::regressions(&[ran(rec)], &[prev], &no_thresholds());
    assert_eq!(figure_regressions(&regs), ["min_ready"], "{regs:?}");
}

#[test]
fn key_figures_without_scale_up_or_buckets() {
    let rec = empty_record();
    let figures = key_figures(&rec);
    assert!(!figures.contains_key("new_backend_share"), "{figures:?}");
    assert!(
        !figures.contains_key("min_ready"),
        "no buckets: {figures:?}"
    );
    assert!(
        !figures.contains_key("error_rate"),
        "nothing sent: {figures:?}"
    );
    assert_eq!(fig(&figures, "errors"), 0.0);
    assert_eq!(fig(&figures, "restarts"), 0.0);

    let mut flat = incident_a(true);
    for b in &mut flat.backends {
        b.added_by_last_scale_up = false;
    }
    let figures = key_figures(&flat);
    assert!(!figures.contains_key("new_backend_share"), "{figures:?}");
    assert!(figures.contains_key("imbalance"));
}

// ---------------------------------------------------------------- history

#[test]
fn history_round_trips_and_skips_corrupt_files() {
    let dir = scratch("history").join("history");
    assert!(
        index::load_history(&dir)
            .unwrap_or_else(|e| panic!("missing history folder: {e}"))
            .is_empty()
    );

    // A starved new pod makes the imbalance infinite; history must keep it.
    let mut starved = incident_a(false);
    for b in &mut starved.buckets {
        b.backends.remove("web-3");
    }
    assert_eq!(fig(&key_figures(&starved), "imbalance"), f64::INFINITY);
    let fixed = incident_a(true);
    let outcomes = [
        ran(starved.clone()),
        ran(fixed.clone()),
        broken("bad-suite", "line 3:1: expected a mapping"),
    ];
    index::append_history(&dir, &outcomes).unwrap_or_else(|e| panic!("append_history: {e}"));
    // Appending the same night again replaces its files.
    index::append_history(&dir, &outcomes).unwrap_or_else(|e| panic!("append_history: {e}"));

    let history = index::load_history(&dir).unwrap_or_else(|e| panic!("load_history: {e}"));
    let mut expected = vec![
        NightEntry::from_record(&fixed),
        NightEntry::from_record(&starved),
    ];
    expected.sort_by(|a, b| a.suite.cmp(&b.suite));
    assert_eq!(history, expected, "history reads back what was written");
    assert!(
        !dir.join("bad-suite").exists(),
        "broken suites have no figures to keep"
    );

    // The files are one compact entry each, not a whole run.json.
    let files: Vec<PathBuf> = fs::read_dir(dir.join("ct-reuse-legacy"))
        .unwrap_or_else(|e| panic!("read_dir: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let text = fs::read_to_string(&files[0]).unwrap_or_else(|e| panic!("read: {e}"));
    assert!(text.len() < 1024, "history entry is {} bytes", text.len());
    assert!(text.contains("\"imbalance\":\"inf\""), "{text}");
    assert!(
        files[0]
            .file_name()
            .is_some_and(|n| n == "2026-01-01T12-00-00Z.json"),
        "{files:?}"
    );

    // A corrupt file and a stray temporary file: skipped, with a warning for
    // the corrupt one; the rest still loads.
    fs::write(
        dir.join("ct-reuse-legacy/2025-12-30T12-00-00Z.json"),
        "{\"suite\": ",
    )
    .unwrap_or_else(|e| panic!("write: {e}"));
    fs::write(dir.join("ct-reuse-legacy/.x.json.tmp-1"), "junk")
        .unwrap_or_else(|e| panic!("write: {e}"));
    fs::write(dir.join("ct-reuse-legacy/notes.txt"), "junk")
        .unwrap_or_else(|e| panic!("write: {e}"));
    let checked =
        index::load_history_checked(&dir).unwrap_or_else(|e| panic!("load_history_checked: {e}"));
    assert_eq!(checked.entries, expected);
    assert_eq!(checked.warnings.len(), 1, "{:?}", checked.warnings);
    assert!(
        checked.warnings[0].contains("2025-12-30T12-00-00Z.json"),
        "{:?}",
        checked.warnings
    );
    let plain = index::load_history(&dir).unwrap_or_else(|e| panic!("corrupt file is fatal: {e}"));
    assert_eq!(plain, expected);

    let leftovers: Vec<String> = fs::read_dir(dir.join("ct-reuse-fixed"))
        .unwrap_or_else(|e| panic!("read_dir: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let _ = fs::remove_dir_all(scratch("history"));
}

#[test]
fn history_is_sorted_by_suite_then_night() {
    let dir = scratch("sorted").join("history");
    let rec = incident_a(true);
    for (i, at) in [
        "2026-01-03T01:00:00Z",
        "2026-01-01T01:00:00Z",
        "2026-01-02T03:00:00+02:00",
    ]
    .iter()
    .enumerate()
    {
        let mut r = rec.clone();
        r.started_at = (*at).into();
        r.run_id = format!("run-{i}");
        index::append_history(&dir, &[ran(r)]).unwrap_or_else(|e| panic!("append: {e}"));
    }
    let nights: Vec<String> = index::load_history(&dir)
        .unwrap_or_else(|e| panic!("load: {e}"))
        .into_iter()
        .map(|e| e.night)
        .collect();
    assert_eq!(
        nights,
        [
            "2026-01-01T01:00:00Z",
            "2026-01-02T03:00:00+02:00",
            "2026-01-03T01:00:00Z"
        ]
    );
    let _ = fs::remove_dir_all(scratch("sorted"));
}

// ---------------------------------------------------------------- regressions

fn no_thresholds() -> BTreeMap<String, BTreeMap<String, f64>> {
    BTreeMap::new()
}

fn figure_regressions(regs: &[Regression]) -> Vec<&str> {
    regs.iter()
        .filter_map(|r| match &r.kind {
            RegressionKind::Figure { figure, .. } => Some(figure.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn verdict_flip_pass_to_fail_is_critical() {
    let legacy = incident_a(false);
    assert_eq!(legacy.verdict, Verdict::Fail);
    let history = [night(&legacy, LAST_NIGHT, Verdict::Pass)];
    let regs = index::regressions(&[ran(legacy.clone())], &history, &no_thresholds());
    assert_eq!(regs.len(), 1, "{regs:?}");
    assert_eq!(regs[0].suite, "ct-reuse-legacy");
    assert_eq!(regs[0].severity, Severity::Critical);
    assert_eq!(
        regs[0].kind,
        RegressionKind::VerdictFlip {
            from: Verdict::Pass,
            to: Verdict::Fail
        }
    );
    assert!(
        regs[0].what.contains("PASS → FAIL") && regs[0].what.contains(LAST_NIGHT),
        "{}",
        regs[0].what
    );

    // Pass → Error flips too; Fail → Fail and Pass → Interrupted do not.
    let mut errored = legacy.clone();
    errored.verdict = Verdict::Error;
    let regs = index::regressions(&[ran(errored)], &history, &no_thresholds());
    assert!(
        matches!(
            regs.as_slice(),
            [Regression {
                kind: RegressionKind::VerdictFlip {
                    to: Verdict::Error,
                    ..
                },
                ..
            }]
        ),
        "{regs:?}"
    );
    let failed_before = [night(&legacy, LAST_NIGHT, Verdict::Fail)];
    assert!(
        index::regressions(&[ran(legacy.clone())], &failed_before, &no_thresholds()).is_empty()
    );
    let mut interrupted = legacy.clone();
    interrupted.verdict = Verdict::Interrupted;
    interrupted.elapsed_s = 5.0;
    assert!(
        index::regressions(&[ran(interrupted)], &history, &no_thresholds()).is_empty(),
        "an interrupted run is neither a flip nor judged on its figures"
    );
}

#[test]
fn previous_night_is_the_latest_before_tonight() {
    let legacy = incident_a(false);
    let history = [
        night(&legacy, "2025-12-30T12:00:00Z", Verdict::Fail),
        night(&legacy, LAST_NIGHT, Verdict::Pass),
        // Tonight's own entry (history appended before comparing) and a
        // later night are not "previous".
        NightEntry::from_record(&legacy),
        night(&legacy, "2026-01-02T12:00:00Z", Verdict::Fail),
    ];
    let regs = index::regressions(&[ran(legacy)], &history, &no_thresholds());
    assert_eq!(regs.len(), 1, "{regs:?}");
    assert!(regs[0].what.contains(LAST_NIGHT), "{}", regs[0].what);
    // Only the same suite's history counts.
    let other = [night(
        &renamed(incident_a(false), "other"),
        LAST_NIGHT,
        Verdict::Pass,
    )];
    assert!(index::regressions(&[ran(incident_a(false))], &other, &no_thresholds()).is_empty());
    assert!(index::regressions(&[ran(incident_a(false))], &[], &no_thresholds()).is_empty());
}

#[test]
fn figure_worse_than_threshold_is_flagged() {
    let fixed = incident_a(true);
    let now = key_figures(&fixed);
    let mut prev = night(&fixed, LAST_NIGHT, Verdict::Pass);
    // imbalance 50 % higher tonight, Jain a third lower: both past 20 %.
    prev.figures
        .insert("imbalance".into(), fig(&now, "imbalance") / 1.5);
    prev.figures.insert("jain".into(), fig(&now, "jain") * 1.5);
    // p99 10 % higher, errors 15 % higher: within 20 %.
    prev.figures
        .insert("p99_ms".into(), fig(&now, "p99_ms") / 1.1);
    prev.figures
        .insert("errors".into(), fig(&now, "errors") / 1.15);
    // Better tonight: not flagged.
    prev.figures
        .insert("duration_s".into(), fig(&now, "duration_s") * 2.0);
    prev.figures.insert("min_ready".into(), 1.0);
    // Not judged whatever it does.
    prev.figures.insert(
        "new_backend_share".into(),
        fig(&now, "new_backend_share") * 10.0,
    );

    let history = [prev];
    let regs = index::regressions(&[ran(fixed.clone())], &history, &no_thresholds());
    assert_eq!(figure_regressions(&regs), ["imbalance", "jain"], "{regs:?}");
    assert!(regs.iter().all(|r| r.severity == Severity::Warning));
    let imbalance = &regs[0];
    match &imbalance.kind {
        RegressionKind::Figure {
            change, threshold, ..
        } => {
            assert!((change - 0.5).abs() < 1e-9, "{change}");
            assert_eq!(*threshold, index::DEFAULT_THRESHOLD);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        imbalance.what.starts_with("imbalance ") && imbalance.what.contains("50%"),
        "{}",
        imbalance.what
    );

    // A suite's own threshold: imbalance may now grow by 60 %, p99 by 5 %.
    let thresholds = BTreeMap::from([(
        "ct-reuse-fixed".to_string(),
        BTreeMap::from([("imbalance".to_string(), 0.6), ("p99_ms".to_string(), 0.05)]),
    )]);
    let regs = index::regressions(&[ran(fixed.clone())], &history, &thresholds);
    assert_eq!(figure_regressions(&regs), ["jain", "p99_ms"], "{regs:?}");

    // Same figures both nights: nothing.
    let same = [night(&fixed, LAST_NIGHT, Verdict::Pass)];
    assert!(index::regressions(&[ran(fixed)], &same, &no_thresholds()).is_empty());
}

#[test]
fn errors_from_zero_are_flagged() {
    let fixed = incident_a(true);
    let mut prev = night(&fixed, LAST_NIGHT, Verdict::Pass);
    prev.figures.insert("errors".into(), 0.0);
    let regs = index::regressions(&[ran(fixed)], &[prev], &no_thresholds());
    match figure_regressions(&regs).as_slice() {
        ["errors"] => {}
        other => panic!("expected an errors regression, got {other:?}: {regs:?}"),
    }
    assert!(regs[0].what.contains('∞'), "{}", regs[0].what);
}

#[test]
fn broken_tonight_after_running_is_critical() {
    let was_fine = renamed(incident_a(true), "flaky");
    let history = [
        night(&was_fine, "2025-12-29T12:00:00Z", Verdict::Pass),
        night(&was_fine, LAST_NIGHT, Verdict::Pass),
    ];
    let regs = index::regressions(
        &[
            broken(
                "flaky",
                "suites/flaky.yaml:4:3: unknown field `replica`\nmore",
            ),
            broken("never-ran", "does not parse"),
        ],
        &history,
        &no_thresholds(),
    );
    assert_eq!(regs.len(), 1, "{regs:?}");
    assert_eq!(regs[0].suite, "flaky");
    assert_eq!(regs[0].severity, Severity::Critical);
    assert_eq!(
        regs[0].kind,
        RegressionKind::Broken {
            last_night: LAST_NIGHT.into()
        }
    );
    assert!(
        regs[0].what.contains("unknown field `replica`") && !regs[0].what.contains("more"),
        "first line of the error only: {}",
        regs[0].what
    );
}

// ---------------------------------------------------------------- the page

const BROKEN_ERROR: &str = "suites/bad.yaml:3:7: expected <duration>, found \"x\" & more";

/// Five suites, one per badge, with two past nights each for the ones that
/// ran, and the regressions between them.
fn nightly() -> (Vec<SuiteOutcome>, Vec<NightEntry>, Vec<Regression>) {
    let legacy = incident_a(false);
    let fixed = incident_a(true);
    let mut interrupted = renamed(incident_a(true), "kill-mid-run");
    interrupted.verdict = Verdict::Interrupted;
    interrupted.interrupted = true;
    let mut errored = renamed(incident_a(false), "ct-flush");
    errored.verdict = Verdict::Error;
    errored.error = Some("netns svl-x: <gone>".into());
    let outcomes = vec![
        ran(fixed.clone()),
        broken("bad", BROKEN_ERROR),
        ran(legacy.clone()),
        ran(interrupted.clone()),
        ran(errored.clone()),
    ];
    let mut history = Vec::new();
    for rec in [&legacy, &fixed, &interrupted, &errored] {
        history.push(night(rec, "2025-12-30T12:00:00Z", Verdict::Pass));
        history.push(night(rec, LAST_NIGHT, Verdict::Pass));
    }
    history.push(night(
        &renamed(incident_a(true), "bad"),
        LAST_NIGHT,
        Verdict::Pass,
    ));
    let regressions = index::regressions(&outcomes, &history, &no_thresholds());
    (outcomes, history, regressions)
}

#[test]
fn index_page_has_a_row_per_suite_with_badge_sparkline_and_link() {
    let (outcomes, history, regressions) = nightly();
    let html = index::render_index(&outcomes, &history, &regressions, "svclab <nightly>");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<title>svclab &lt;nightly&gt;</title>"));
    assert_eq!(html.matches("class=\"suite-row\"").count(), 5);
    // Sorted by name.
    let order: Vec<usize> = [
        "bad",
        "ct-flush",
        "ct-reuse-fixed",
        "ct-reuse-legacy",
        "kill-mid-run",
    ]
    .iter()
    .map(|s| {
        html.find(&format!("id=\"suite-{s}\""))
            .unwrap_or_else(|| panic!("no row for {s}"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "rows out of order: {order:?}"
    );
    for word in ["PASS", "FAIL", "INTERRUPTED", "ERROR", "BROKEN"] {
        assert!(html.contains(&format!("\">{word}</span>")), "badge {word}");
    }
    assert_eq!(html.matches("<svg").count(), 5, "a sparkline per suite");
    assert!(html.contains("<polyline"), "sparklines draw a line");
    for link in [
        "href=\"ct-reuse-legacy/20260101-120000-a3f9/index.html\"",
        "href=\"ct-reuse-fixed/20260101-120500-b7e1/index.html\"",
    ] {
        assert!(html.contains(link), "{link}");
    }
    // The broken suite's error, escaped; never raw.
    assert!(
        html.contains("expected &lt;duration&gt;, found &quot;x&quot; &amp; more"),
        "broken suite's error"
    );
    assert!(!html.contains("<duration>") && !html.contains("<gone>"));
    assert!(html.contains("suites/bad.yaml"));
    // Summary line.
    assert!(
        html.contains(
            "<b>5</b> suites: <b>1</b> passed, <b>1</b> failed, <b>1</b> interrupted, \
             <b>1</b> errored, <b>1</b> broken"
        ),
        "summary line"
    );
    // Regressions at the top: legacy and ct-flush flipped, bad broke.
    let flips: Vec<&str> = regressions
        .iter()
        .filter(|r| r.severity == Severity::Critical)
        .map(|r| r.suite.as_str())
        .collect();
    assert_eq!(
        flips,
        ["bad", "ct-flush", "ct-reuse-legacy"],
        "{regressions:?}"
    );
    let regs_at = html.find("id=\"regressions\"").unwrap_or(usize::MAX);
    let table_at = html.find("<table").unwrap_or(0);
    assert!(regs_at < table_at, "regressions come before the table");
    assert_eq!(
        html.matches("<li class=\"regression\">").count(),
        regressions.len()
    );
    assert!(html.contains("PASS → FAIL"));
    // Offline: nothing external, no scripts.
    let stripped = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(
        !stripped.contains("http://") && !stripped.contains("https://"),
        "external URL in the page"
    );
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("<img"));
}

#[test]
fn index_page_without_regressions_says_so() {
    let (outcomes, history, _) = nightly();
    let html = index::render_index(&outcomes, &history, &[], "nightly");
    assert!(html.contains("No regressions."));
    assert!(!html.contains("<li class=\"regression\">"));
    // No history at all: one point per sparkline, still drawn.
    let html = index::render_index(&outcomes[..1], &[], &[], "nightly");
    assert_eq!(html.matches("<svg").count(), 1);
    assert!(html.contains("<b>1</b> suite: <b>1</b> passed"));
    let empty = index::render_index(&[], &[], &[], "nightly");
    assert!(empty.contains("No suites ran."));
}

#[test]
fn regressed_figures_are_marked_in_the_table() {
    let fixed = incident_a(true);
    let mut prev = night(&fixed, LAST_NIGHT, Verdict::Pass);
    prev.figures
        .insert("p99_ms".into(), fig(&key_figures(&fixed), "p99_ms") / 2.0);
    let history = [prev];
    let outcomes = [ran(fixed)];
    let regs = index::regressions(&outcomes, &history, &no_thresholds());
    assert_eq!(figure_regressions(&regs), ["p99_ms"]);
    let html = index::render_index(&outcomes, &history, &regs, "nightly");
    assert_eq!(html.matches("class=\"num regressed\"").count(), 1);
    assert!(html.contains("WARNING"));
}

#[test]
fn write_index_is_atomic_and_creates_the_folder() {
    let dir = scratch("write").join("reports");
    let (outcomes, history, regressions) = nightly();
    let html = index::render_index(&outcomes, &history, &regressions, "nightly");
    index::write_index(&dir, &html).unwrap_or_else(|e| panic!("write_index: {e}"));
    index::write_index(&dir, &html).unwrap_or_else(|e| panic!("write_index again: {e}"));
    assert_eq!(
        fs::read_to_string(dir.join("index.html")).unwrap_or_default(),
        html
    );
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read_dir: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["index.html"], "only the page, no temporary files");
    let _ = fs::remove_dir_all(scratch("write"));
}

#[test]
fn judged_figures_are_the_suite_regression_keys() {
    let mut judged: Vec<&str> = svclab_report::index::KEY_FIGURES
        .iter()
        .filter(|(_, w)| !matches!(w, svclab_report::index::Worse::NotJudged))
        .map(|(n, _)| *n)
        .collect();
    let mut keys = svclab_suite::REGRESSION_FIGURES.to_vec();
    judged.sort_unstable();
    keys.sort_unstable();
    assert_eq!(
        judged, keys,
        "a suite's `regression:` keys are exactly the judged key figures"
    );
}
