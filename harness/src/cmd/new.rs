//! `svclab new NAME --from SUITE`: a starting suite for a new incident,
//! written from an existing one: the editor's schema modeline, a header to
//! fill in (what it reproduces, the expected verdict) and the source's body
//! with `name:` set to NAME and `description:` marked TODO.
//!
//! The result must pass the suite's own validation (so NAME must be a valid
//! suite name) and never replaces an existing file; either failure is bad
//! input, exit 2, and nothing is written.
use std::{
    fs::OpenOptions,
    io::{ErrorKind, Write as _},
    path::Path,
    process::ExitCode,
};

use super::shared::load_suite;

/// The first line of every suite: yaml-language-server reads its schema
/// from here (header() skips it).
const MODELINE: &str = "# yaml-language-server: $schema=./svclab.schema.json";

const SCHEMA_FILE: &str = "svclab.schema.json";

pub fn run(name: &str, from: &Path, out: Option<&Path>) -> ExitCode {
    let bad = |msg: String| {
        eprintln!("svclab new: {msg}");
        ExitCode::from(2)
    };
    let loaded = match load_suite(from) {
        Ok(l) => l,
        Err(e) => return bad(format!("--from: {e}")),
    };
    let out = out.map_or_else(
        || Path::new("suites").join(format!("{name}.yaml")),
        Path::to_owned,
    );
    let text = starter(name, &loaded.suite.name, &loaded.text);
    match svclab_suite::parse(&text, &out) {
        Ok(l) if l.suite.name == name => {}
        Ok(l) => {
            return bad(format!(
                "{name:?} is not a usable suite name: written as `name: {name}` it reads back as {:?}",
                l.suite.name
            ));
        }
        Err(e) => return bad(format!("the new suite would not validate: {e}")),
    }
    let file = OpenOptions::new().write(true).create_new(true).open(&out);
    let mut file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return bad(format!(
                "{} already exists; choose another NAME or --out (nothing was written)",
                out.display()
            ));
        }
        Err(e) => return bad(format!("cannot create {}: {e}", out.display())),
    };
    if let Err(e) = file.write_all(text.as_bytes()) {
        return bad(format!("cannot write {}: {e}", out.display()));
    }
    println!(
        "{}: new suite from {}; fill in its header and description, then `svclab validate {}`",
        out.display(),
        loaded.path.display(),
        out.display()
    );
    let dir = out.parent().filter(|d| !d.as_os_str().is_empty());
    if !dir.unwrap_or(Path::new(".")).join(SCHEMA_FILE).exists() {
        eprintln!(
            "svclab new: note: its first line points editors at ./{SCHEMA_FILE}, which is not beside it; \
             `svclab schema > {}` puts one there",
            dir.unwrap_or(Path::new(".")).join(SCHEMA_FILE).display()
        );
    }
    ExitCode::SUCCESS
}

/// The new suite's text: the modeline, the header template, then `source`'s
/// body (its own header dropped) with `name:` set to `name` and
/// `description:` (and any continuation lines) replaced by a TODO.
fn starter(name: &str, from: &str, source: &str) -> String {
    let mut out = format!(
        "{MODELINE}\n\
         # What this reproduces: TODO: the incident, its mechanism and how this\n\
         # suite shows it (cluster, load, what the timeline does).\n\
         # Expected verdict: TODO: PASS or FAIL, and which expectations decide it.\n\
         # (Started from suite {from}; its body below is only a starting point.)\n"
    );
    let name_line = format!("name: {name}");
    let description_line = "description: \"TODO: one line on what this suite shows\"";
    let mut body: Vec<&str> = Vec::new();
    let (mut named, mut described, mut in_description) = (false, false, false);
    let lines = source.lines().skip_while(|l| l.starts_with('#'));
    for line in lines {
        if in_description && (line.starts_with([' ', '\t']) || line.trim().is_empty()) {
            continue;
        }
        in_description = false;
        if line.starts_with("name:") {
            body.push(&name_line);
            named = true;
        } else if line.starts_with("description:") {
            body.push(description_line);
            described = true;
            in_description = true;
        } else {
            body.push(line);
        }
    }
    let first = body.iter().position(|l| !l.trim().is_empty()).unwrap_or(0);
    let mut missing = Vec::new();
    if !named {
        missing.push(name_line.as_str());
    }
    if !described {
        missing.push(description_line);
    }
    body.splice(first..first, missing);
    for line in body {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starter_renames_and_replaces_the_header_and_description() {
        let source = "# yaml-language-server: $schema=./svclab.schema.json\n\
                      # Old header.\n\
                      name: old\n\
                      description: >\n  folded\n  text\n\
                      duration: 60s\n";
        let text = starter("fresh", "old", source);
        assert!(text.starts_with(&format!("{MODELINE}\n# What this reproduces: TODO")));
        assert!(
            !text.contains("Old header") && !text.contains("folded"),
            "{text}"
        );
        assert!(
            text.contains("\nname: fresh\ndescription: \"TODO"),
            "{text}"
        );
        assert!(text.ends_with("\nduration: 60s\n"), "{text}");
    }

    #[test]
    fn starter_adds_name_and_description_when_the_source_has_none() {
        let text = starter("fresh", "old", "# h\nduration: 60s\n");
        assert!(
            text.contains("\nname: fresh\ndescription: \"TODO: one line on what this suite shows\"\nduration: 60s\n"),
            "{text}"
        );
    }
}
