//! JUnit XML for CI: one `<testsuite>` per suite run, one `<testcase>` per
//! expectation, so a CI system's test view lists each expectation with its
//! verdict line as the failure message. [`junit_xml`] is a pure function of
//! run records (like the HTML report); [`write_junit`] saves it atomically.
//!
//! Shape (the Ant/Surefire JUnit format most CI readers accept):
//!
//! - `<testsuites name="svclab">` with `tests`, `failures`, `errors` and
//!   `time` totals over its suites;
//! - per suite run a `<testsuite>` named after the suite (`timestamp` its
//!   start, `time` how long it ran), with `<properties>` naming the `report`
//!   page, run id, verdict, seed and suite file;
//! - per expectation a `<testcase>` named `metric over window`
//!   ([`expectation_name`]), `classname` the suite, with `<properties>`
//!   (`measured`, `min`, `max`, `window_s` as machine numbers, `note`) and,
//!   when it failed, `<failure message="verdict line">`;
//! - a run that errored or was interrupted gets one more test case, `run`,
//!   holding an `<error>`; so does a suite that never produced a record
//!   ([`JunitSuite::Broken`]: its file did not load, or the run failed
//!   before saving one).
//!
//! The XML is written by hand with the escapers of [`crate::fmt`] (a few
//! elements and attributes do not need a writer library; the escapers'
//! tests and a parse-back test here keep it well-formed).
use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

use crate::{
    fmt::{expectation_name, verdict_line, xml_attr, xml_text},
    record::{ExpectationResult, RunRecord, Verdict},
    write::{ReportError, write_atomic},
};

/// One suite as the JUnit file shows it. `svclab run` and `svclab nightly`
/// build these from their outcomes; anything else that ends in run records
/// (a future `compare`) can too.
#[derive(Clone, Debug)]
pub enum JunitSuite<'a> {
    /// The suite ran and saved a record (passed, failed, was interrupted or
    /// ended in an error the record keeps); `report` is its page.
    Ran {
        record: &'a RunRecord,
        report: PathBuf,
    },
    /// No record: the suite file did not load, or the run failed before
    /// saving one.
    Broken {
        suite: &'a str,
        path: &'a str,
        error: &'a str,
    },
}

/// One test case before it is written.
struct Case {
    name: String,
    classname: String,
    time_s: f64,
    properties: Vec<(&'static str, String)>,
    outcome: CaseOutcome,
}

enum CaseOutcome {
    Passed,
    /// An expectation did not hold: message and body.
    Failure(String, String),
    /// The run itself went wrong: type and message.
    Error(&'static str, String),
}

/// One suite before it is written.
struct Suite {
    name: String,
    timestamp: Option<String>,
    time_s: f64,
    properties: Vec<(&'static str, String)>,
    cases: Vec<Case>,
}

impl Suite {
    fn failures(&self) -> usize {
        self.cases
            .iter()
            .filter(|c| matches!(c.outcome, CaseOutcome::Failure(..)))
            .count()
    }

    fn errors(&self) -> usize {
        self.cases
            .iter()
            .filter(|c| matches!(c.outcome, CaseOutcome::Error(..)))
            .count()
    }
}

/// A number for a machine reader: Rust's shortest round-trip form (`0.0005`,
/// `inf`, `NaN`).
fn machine(v: f64) -> String {
    format!("{v}")
}

/// Seconds for a `time` attribute (non-negative, finite, milliseconds).
fn seconds(v: f64) -> String {
    if v.is_finite() && v > 0.0 {
        format!("{v:.3}")
    } else {
        "0.000".into()
    }
}

fn expectation_case(suite: &str, e: &ExpectationResult) -> Case {
    let mut properties = Vec::new();
    if let Some(m) = e.measured {
        properties.push(("measured", machine(m)));
    }
    if let Some(lo) = e.min {
        properties.push(("min", machine(lo)));
    }
    if let Some(hi) = e.max {
        properties.push(("max", machine(hi)));
    }
    properties.push((
        "window_s",
        format!("{} {}", machine(e.window_s[0]), machine(e.window_s[1])),
    ));
    if !e.note.is_empty() {
        properties.push(("note", e.note.clone()));
    }
    let outcome = if e.pass {
        CaseOutcome::Passed
    } else {
        let line = verdict_line(e);
        CaseOutcome::Failure(line.clone(), line)
    };
    Case {
        name: expectation_name(e),
        classname: suite.to_owned(),
        time_s: 0.0,
        properties,
        outcome,
    }
}

/// The `run` case of a record that errored or was interrupted.
fn run_problem(r: &RunRecord) -> Option<CaseOutcome> {
    if r.verdict == Verdict::Error || r.error.is_some() {
        let msg = r
            .error
            .clone()
            .unwrap_or_else(|| "the run failed with an error".into());
        Some(CaseOutcome::Error("error", msg))
    } else if r.verdict == Verdict::Interrupted || r.interrupted {
        Some(CaseOutcome::Error(
            "interrupted",
            format!(
                "interrupted: ran {} s of {} s planned",
                crate::fmt::sig(r.elapsed_s, 3),
                crate::fmt::sig(r.duration_s, 3)
            ),
        ))
    } else {
        None
    }
}

fn suite_of(entry: &JunitSuite) -> Suite {
    match entry {
        JunitSuite::Ran { record: r, report } => {
            let name = r.suite.name.clone();
            let mut cases: Vec<Case> = r
                .expectations
                .iter()
                .map(|e| expectation_case(&name, e))
                .collect();
            if let Some(outcome) = run_problem(r) {
                cases.push(Case {
                    name: "run".into(),
                    classname: name.clone(),
                    time_s: r.elapsed_s,
                    properties: Vec::new(),
                    outcome,
                });
            }
            Suite {
                timestamp: Some(r.started_at.clone()),
                time_s: r.elapsed_s,
                properties: vec![
                    ("report", report.display().to_string()),
                    ("run_id", r.run_id.clone()),
                    ("verdict", r.verdict.word().to_owned()),
                    ("seed", r.seed.to_string()),
                    ("suite_file", r.suite.path.clone()),
                ],
                cases,
                name,
            }
        }
        JunitSuite::Broken { suite, path, error } => Suite {
            name: (*suite).to_owned(),
            timestamp: None,
            time_s: 0.0,
            properties: vec![("suite_file", (*path).to_owned())],
            cases: vec![Case {
                name: "run".into(),
                classname: (*suite).to_owned(),
                time_s: 0.0,
                properties: Vec::new(),
                outcome: CaseOutcome::Error("error", (*error).to_owned()),
            }],
        },
    }
}

fn properties(out: &mut String, indent: &str, props: &[(&str, String)]) {
    if props.is_empty() {
        return;
    }
    let _ = writeln!(out, "{indent}<properties>");
    for (name, value) in props {
        let _ = writeln!(
            out,
            "{indent}  <property name=\"{}\" value=\"{}\"/>",
            xml_attr(name),
            xml_attr(value)
        );
    }
    let _ = writeln!(out, "{indent}</properties>");
}

/// The JUnit XML document for these suites, in the order given.
pub fn junit_xml(suites: &[JunitSuite]) -> String {
    let suites: Vec<Suite> = suites.iter().map(suite_of).collect();
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().map(Suite::failures).sum();
    let errors: usize = suites.iter().map(Suite::errors).sum();
    let time: f64 = suites.iter().map(|s| s.time_s.max(0.0)).sum();
    let mut out = String::with_capacity(1024 + 512 * tests);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"svclab\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{}\">",
        seconds(time)
    );
    for s in &suites {
        let _ = write!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{}\"",
            xml_attr(&s.name),
            s.cases.len(),
            s.failures(),
            s.errors(),
            seconds(s.time_s)
        );
        if let Some(t) = &s.timestamp {
            let _ = write!(out, " timestamp=\"{}\"", xml_attr(t));
        }
        out.push_str(">\n");
        properties(&mut out, "    ", &s.properties);
        for c in &s.cases {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
                xml_attr(&c.name),
                xml_attr(&c.classname),
                seconds(c.time_s)
            );
            if c.properties.is_empty() && matches!(c.outcome, CaseOutcome::Passed) {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            properties(&mut out, "      ", &c.properties);
            match &c.outcome {
                CaseOutcome::Passed => {}
                CaseOutcome::Failure(message, body) => {
                    let _ = writeln!(
                        out,
                        "      <failure message=\"{}\" type=\"expectation\">{}</failure>",
                        xml_attr(message),
                        xml_text(body)
                    );
                }
                CaseOutcome::Error(kind, message) => {
                    let _ = writeln!(
                        out,
                        "      <error message=\"{}\" type=\"{kind}\">{}</error>",
                        xml_attr(message),
                        xml_text(message)
                    );
                }
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Saves `xml` at `path` atomically (temporary sibling, fsync, rename),
/// creating its folder first.
pub fn write_junit(path: &Path, xml: &str) -> Result<(), ReportError> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
            op: "creating the folder of",
            path: path.to_owned(),
            source,
        })?;
    }
    write_atomic(path, xml.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{incident_a, liveness_cascade};

    fn attr<'a>(n: roxmltree::Node<'a, '_>, name: &str) -> &'a str {
        n.attribute(name)
            .unwrap_or_else(|| panic!("<{}> has no {name}", n.tag_name().name()))
    }

    fn count(n: roxmltree::Node, name: &str) -> usize {
        attr(n, name)
            .parse()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn elements<'a, 'i>(
        n: roxmltree::Node<'a, 'i>,
        tag: &'static str,
    ) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
        n.children().filter(move |c| c.has_tag_name(tag))
    }

    fn property(n: roxmltree::Node, name: &str) -> Option<String> {
        elements(n, "properties")
            .flat_map(|p| elements(p, "property"))
            .find(|p| attr(*p, "name") == name)
            .map(|p| attr(p, "value").to_owned())
    }

    #[test]
    fn has_the_junit_shape_with_consistent_counts() {
        let failing = incident_a(false);
        let passing = incident_a(true);
        let mut interrupted = liveness_cascade();
        interrupted.interrupted = true;
        interrupted.verdict = Verdict::Interrupted;
        let report = PathBuf::from("reports/incident-a/r1/index.html");
        let xml = junit_xml(&[
            JunitSuite::Ran {
                record: &failing,
                report: report.clone(),
            },
            JunitSuite::Ran {
                record: &passing,
                report: report.clone(),
            },
            JunitSuite::Ran {
                record: &interrupted,
                report: report.clone(),
            },
            JunitSuite::Broken {
                suite: "broken",
                path: "suites/broken.yaml",
                error: "suites/broken.yaml:3:7: replicas: expected an integer 0..=200",
            },
        ]);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let root = doc.root_element();
        assert!(root.has_tag_name("testsuites"));
        let suites: Vec<_> = elements(root, "testsuite").collect();
        assert_eq!(suites.len(), 4);
        let (mut tests, mut failures, mut errors) = (0, 0, 0);
        for s in &suites {
            let cases: Vec<_> = elements(*s, "testcase").collect();
            let failed = cases
                .iter()
                .filter(|c| elements(**c, "failure").count() == 1)
                .count();
            let errored = cases
                .iter()
                .filter(|c| elements(**c, "error").count() == 1)
                .count();
            assert_eq!(count(*s, "tests"), cases.len(), "{}", attr(*s, "name"));
            assert_eq!(count(*s, "failures"), failed);
            assert_eq!(count(*s, "errors"), errored);
            for c in &cases {
                assert_eq!(attr(*c, "classname"), attr(*s, "name"));
            }
            tests += cases.len();
            failures += failed;
            errors += errored;
        }
        assert_eq!(count(root, "tests"), tests);
        assert_eq!(count(root, "failures"), failures);
        assert_eq!(count(root, "errors"), errors);
        assert_eq!(errors, 2, "the interrupted run and the broken suite");

        // Each expectation is a test case named metric + window, failing
        // with its verdict line, its numbers as properties.
        for (s, rec) in suites.iter().zip([&failing, &passing, &interrupted]) {
            assert_eq!(attr(*s, "name"), rec.suite.name);
            assert_eq!(
                property(*s, "report").as_deref(),
                Some("reports/incident-a/r1/index.html")
            );
            assert_eq!(property(*s, "run_id").as_deref(), Some(rec.run_id.as_str()));
            let cases: Vec<_> = elements(*s, "testcase").collect();
            for (c, e) in cases.iter().zip(&rec.expectations) {
                assert_eq!(attr(*c, "name"), expectation_name(e));
                let failure = elements(*c, "failure").next();
                assert_eq!(failure.is_some(), !e.pass, "{}", attr(*c, "name"));
                if let Some(f) = failure {
                    assert_eq!(attr(f, "message"), verdict_line(e));
                }
                let measured = property(*c, "measured").map(|v| v.parse::<f64>().ok());
                assert_eq!(measured, e.measured.map(Some));
                assert_eq!(
                    property(*c, "max").map(|v| v.parse::<f64>().ok()),
                    e.max.map(Some)
                );
            }
        }
        assert!(
            (0..2)
                .any(|i| elements(suites[i], "testcase")
                    .any(|c| elements(c, "failure").count() == 1)),
            "incident A legacy fails an expectation"
        );
        let run_case = elements(suites[2], "testcase")
            .last()
            .unwrap_or_else(|| panic!("no cases"));
        assert_eq!(attr(run_case, "name"), "run");
        let err = elements(run_case, "error")
            .next()
            .unwrap_or_else(|| panic!("no error"));
        assert_eq!(attr(err, "type"), "interrupted");
        let broken: Vec<_> = elements(suites[3], "testcase").collect();
        assert_eq!(broken.len(), 1);
        let err = elements(broken[0], "error")
            .next()
            .unwrap_or_else(|| panic!("no error"));
        assert!(attr(err, "message").contains("broken.yaml:3:7"));
    }

    #[test]
    fn user_text_is_escaped_and_reads_back_whole() {
        let mut rec = incident_a(false);
        rec.suite.name = "a<b>&\"c'".into();
        rec.error = Some("line one\nline <two> & \u{1}".into());
        rec.verdict = Verdict::Error;
        if let Some(e) = rec.expectations.first_mut() {
            e.note = "x < y & \"z\"".into();
            e.pass = false;
        }
        let report = PathBuf::from("r&d/<x>.html");
        let xml = junit_xml(&[JunitSuite::Ran {
            record: &rec,
            report,
        }]);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let s = elements(doc.root_element(), "testsuite")
            .next()
            .unwrap_or_else(|| panic!("no suite"));
        assert_eq!(attr(s, "name"), "a<b>&\"c'");
        assert_eq!(property(s, "report").as_deref(), Some("r&d/<x>.html"));
        let first = elements(s, "testcase")
            .next()
            .unwrap_or_else(|| panic!("no case"));
        let failure = elements(first, "failure")
            .next()
            .unwrap_or_else(|| panic!("no failure"));
        assert!(attr(failure, "message").ends_with("(expected: x < y & \"z\")"));
        let run = elements(s, "testcase")
            .find(|c| attr(*c, "name") == "run")
            .unwrap_or_else(|| panic!("no run case"));
        let err = elements(run, "error")
            .next()
            .unwrap_or_else(|| panic!("no error"));
        assert_eq!(attr(err, "message"), "line one\nline <two> & \u{fffd}");
        assert_eq!(err.text(), Some("line one\nline <two> & \u{fffd}"));
    }

    #[test]
    fn empty_input_is_an_empty_testsuites() {
        let xml = junit_xml(&[]);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}"));
        let root = doc.root_element();
        assert!(root.has_tag_name("testsuites"));
        assert_eq!(count(root, "tests"), 0);
        assert_eq!(root.children().filter(|c| c.is_element()).count(), 0);
    }

    #[test]
    fn written_atomically_into_a_new_folder() {
        let dir = std::env::temp_dir().join(format!("svclab-junit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub").join("junit.xml");
        write_junit(&path, "<testsuites/>\n").expect("write");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "<testsuites/>\n"
        );
        let names: Vec<_> = std::fs::read_dir(dir.join("sub"))
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
