//! Saving and loading a run's report directory: `run.json` (the record,
//! pretty-printed), `series.csv` (its per-bucket series, `series.rs`) and
//! `index.html` (rendered from it). Each file is written
//! to a temporary file in the same directory, fsynced, then renamed over the
//! target, and the directory is fsynced, so a crash or Ctrl-C mid-write
//! leaves the old file or the new one, never half of one.
use std::{
    fs::{self, File},
    io::{self, Write},
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::{
    html::render,
    record::{RunRecord, SCHEMA_VERSION},
    series::series_csv,
};

/// File name of the record inside a report directory.
pub const RECORD_FILE: &str = "run.json";
/// File name of the page inside a report directory.
pub const HTML_FILE: &str = "index.html";
/// File name of the per-bucket series (CSV) inside a report directory.
pub const SERIES_FILE: &str = "series.csv";

/// The oldest record schema [`read_record`] accepts. Schema 1 lacks the pod
/// telemetry of schema 2 (`pods`, `kubelet`, the buckets' `pods` and
/// `deployments`), all of which read as empty: such a record renders as it
/// did, without the pod charts.
pub const OLDEST_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{op} {}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no run record at {} (did the run get far enough to save one?)", path.display())]
    Missing { path: PathBuf },
    #[error("corrupt run record {}:{line}:{column}: not a valid run.json", path.display())]
    Corrupt {
        path: PathBuf,
        line: usize,
        column: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "run record {} has schema version {found}, this svclab reads versions {oldest} to {expected}; \
         re-render it with the svclab that wrote it",
        path.display(),
        oldest = OLDEST_SCHEMA_VERSION
    )]
    Schema {
        path: PathBuf,
        found: u32,
        /// The newest version this build reads ([`SCHEMA_VERSION`]).
        expected: u32,
    },
    #[error("serialising the run record for {}", path.display())]
    Serialize {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Creates `dir` (and parents) and writes `run.json`, `series.csv`, then
/// `index.html` into it, each atomically.
pub fn write_report(dir: &Path, record: &RunRecord) -> Result<(), ReportError> {
    fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        op: "creating report directory",
        path: dir.to_owned(),
        source,
    })?;
    let json_path = dir.join(RECORD_FILE);
    let json = serde_json::to_string_pretty(record).map_err(|source| ReportError::Serialize {
        path: json_path.clone(),
        source,
    })?;
    write_atomic(&json_path, json.as_bytes())?;
    write_atomic(&dir.join(SERIES_FILE), series_csv(record).as_bytes())?;
    write_atomic(&dir.join(HTML_FILE), render(record).as_bytes())
}

/// Re-renders `dir/index.html` and `dir/series.csv` from `dir/run.json`
/// (both are pure functions of the record, so an old run gets the current
/// page and a series file it may never have had).
pub fn rerender(dir: &Path) -> Result<(), ReportError> {
    remove_stale_temps(dir)?;
    let record = read_record(&dir.join(RECORD_FILE))?;
    write_atomic(&dir.join(SERIES_FILE), series_csv(&record).as_bytes())?;
    write_atomic(&dir.join(HTML_FILE), render(&record).as_bytes())
}

/// Reads a `run.json`. Missing file, invalid JSON (with line and column) and
/// a schema version outside [`OLDEST_SCHEMA_VERSION`]..=[`SCHEMA_VERSION`]
/// are distinct errors; the version is checked before the rest so a record
/// from another version says so instead of failing on a renamed field. The
/// record keeps the version it was written with.
pub fn read_record(path: &Path) -> Result<RunRecord, ReportError> {
    let text = fs::read_to_string(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ReportError::Missing {
            path: path.to_owned(),
        },
        _ => ReportError::Io {
            op: "reading run record",
            path: path.to_owned(),
            source,
        },
    })?;
    let corrupt = |source: serde_json::Error| ReportError::Corrupt {
        path: path.to_owned(),
        line: source.line(),
        column: source.column(),
        source,
    };

    #[derive(Deserialize)]
    struct SchemaOnly {
        schema: u32,
    }
    let probe: SchemaOnly = serde_json::from_str(&text).map_err(corrupt)?;
    if !(OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&probe.schema) {
        return Err(ReportError::Schema {
            path: path.to_owned(),
            found: probe.schema,
            expected: SCHEMA_VERSION,
        });
    }
    serde_json::from_str(&text).map_err(corrupt)
}

/// The temporary files [`write_atomic`] leaves when its writer was killed
/// before the rename: `.<name>.tmp-<pid>` in `dir` whose writer process is
/// gone. Only regular files with that exact pattern, only in `dir` itself.
pub fn stale_temps(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ReportError::Io {
                op: "listing report directory",
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut stale = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = temp_writer(&name) else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive && entry.file_type().is_ok_and(|t| t.is_file()) {
            stale.push(entry.path());
        }
    }
    stale.sort();
    Ok(stale)
}

/// Removes [`stale_temps`]; returns what it removed.
pub fn remove_stale_temps(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let stale = stale_temps(dir)?;
    for p in &stale {
        fs::remove_file(p).map_err(|source| ReportError::Io {
            op: "removing stale temporary file",
            path: p.clone(),
            source,
        })?;
    }
    Ok(stale)
}

/// The writer's pid of a temporary file name `.<file>.tmp-<pid>`, for the
/// files a run folder holds (`run.json`, `series.csv`, `index.html`,
/// `state.json`).
fn temp_writer(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (file, pid) = rest.rsplit_once(".tmp-")?;
    if ![RECORD_FILE, SERIES_FILE, HTML_FILE, "state.json"].contains(&file)
        || pid.is_empty()
        || !pid.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    pid.parse().ok()
}

/// Writes `bytes` to `path` through a temporary sibling file: write, fsync,
/// rename, fsync the directory. The temporary file is removed on failure.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let io_err = |op: &'static str, p: &Path| {
        let p = p.to_owned();
        move |source| ReportError::Io {
            op,
            path: p,
            source,
        }
    };

    let result = (|| {
        let mut file = File::create(&tmp).map_err(io_err("creating temporary file", &tmp))?;
        file.write_all(bytes).map_err(io_err("writing", &tmp))?;
        file.sync_all().map_err(io_err("syncing", &tmp))?;
        fs::rename(&tmp, path).map_err(io_err("renaming temporary file onto", path))
    })();
    if result.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = fs::remove_file(&tmp);
    }
    result?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::incident_a;

    #[test]
    fn stale_temps_of_dead_writers_are_found_and_rerender_removes_them() {
        let dir = std::env::temp_dir().join(format!("svclab-stale-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        write_report(&dir, &incident_a(false)).expect("write");
        fs::remove_file(dir.join(HTML_FILE)).expect("remove index");
        // A writer killed before its rename (pid above any pid_max), our own
        // (in use), and names that only look alike.
        let dead = dir.join(".index.html.tmp-999999999");
        let ours = dir.join(format!(".run.json.tmp-{}", std::process::id()));
        let others = [
            ".notes.tmp-1",
            "index.html.tmp-1",
            ".index.html.tmp-",
            ".index.html.tmp-12x",
        ];
        for p in [&dead, &ours] {
            fs::write(p, b"partial").expect("temp");
        }
        for n in others {
            fs::write(dir.join(n), b"x").expect("other");
        }
        assert_eq!(stale_temps(&dir).expect("scan"), vec![dead.clone()]);
        fs::remove_file(dir.join(SERIES_FILE)).expect("remove series");
        rerender(&dir).expect("rerender");
        assert!(!dead.exists(), "stale temp removed");
        assert!(dir.join(HTML_FILE).exists(), "index.html written again");
        assert!(dir.join(SERIES_FILE).exists(), "series.csv written again");
        assert!(ours.exists());
        for n in others {
            assert!(dir.join(n).exists(), "{n} left alone");
        }
        let _ = fs::remove_dir_all(&dir);
    }

    /// A fresh directory under the system temp dir, unique per test.
    fn scratch(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("svclab-report-test-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = scratch("roundtrip").join("nested/run");
        let mut record = incident_a(false);
        // Non-finite measured values survive JSON (serde_json alone would
        // write null and read back None).
        record.expectations[0].measured = Some(f64::INFINITY);
        write_report(&dir, &record).unwrap_or_else(|e| panic!("write_report: {e}"));
        let back =
            read_record(&dir.join(RECORD_FILE)).unwrap_or_else(|e| panic!("read_record: {e}"));
        assert!(
            back == record,
            "run.json did not read back equal to what was written"
        );
        let html =
            fs::read_to_string(dir.join(HTML_FILE)).unwrap_or_else(|e| panic!("index.html: {e}"));
        assert!(html.contains("<svg"));
        let csv = fs::read_to_string(dir.join(SERIES_FILE)).unwrap_or_default();
        assert_eq!(csv, series_csv(&record), "series.csv beside run.json");
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read_dir: {e}"))
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
        rerender(&dir).unwrap_or_else(|e| panic!("rerender: {e}"));
        assert_eq!(
            fs::read_to_string(dir.join(HTML_FILE)).unwrap_or_default(),
            html
        );
        let _ = fs::remove_dir_all(scratch("roundtrip"));
    }

    #[test]
    fn corrupt_json_names_line_and_column() {
        let dir = scratch("corrupt");
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let path = dir.join(RECORD_FILE);
        fs::write(&path, "{\n  \"schema\": 1,\n  \"run_id\": oops\n}")
            .unwrap_or_else(|e| panic!("write: {e}"));
        let err = read_record(&path)
            .err()
            .unwrap_or_else(|| panic!("corrupt record was accepted"));
        match &err {
            ReportError::Corrupt { line, column, .. } => assert_eq!((*line, *column), (3, 13)),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains(":3:13"),
            "{msg}"
        );

        // Valid JSON, wrong shape: still Corrupt, with a position.
        fs::write(&path, "{\"schema\": 1}").unwrap_or_else(|e| panic!("write: {e}"));
        assert!(matches!(
            read_record(&path),
            Err(ReportError::Corrupt { line: 1, .. })
        ));
        // Truncated (what a non-atomic writer would leave).
        let full =
            serde_json::to_string_pretty(&incident_a(true)).unwrap_or_else(|e| panic!("json: {e}"));
        fs::write(&path, &full[..full.len() / 2]).unwrap_or_else(|e| panic!("write: {e}"));
        assert!(matches!(
            read_record(&path),
            Err(ReportError::Corrupt { .. })
        ));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_record_and_schema_mismatch_are_distinct() {
        let dir = scratch("schema");
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let path = dir.join(RECORD_FILE);
        assert!(matches!(
            read_record(&path),
            Err(ReportError::Missing { .. })
        ));
        for version in [0, SCHEMA_VERSION + 1, 99] {
            fs::write(
                &path,
                format!("{{\"schema\": {version}, \"whatever\": true}}"),
            )
            .unwrap_or_else(|e| panic!("write: {e}"));
            match read_record(&path) {
                Err(ReportError::Schema {
                    found,
                    expected: SCHEMA_VERSION,
                    ..
                }) if found == version => {}
                other => panic!("schema {version}: expected Schema error, got {other:?}"),
            }
        }
        let msg = read_record(&path).err().map(|e| e.to_string());
        assert!(
            msg.as_deref()
                .is_some_and(|m| m.contains("schema version 99") && m.contains("versions 1 to 2")),
            "{msg:?}"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    /// A schema-1 `run.json` as the previous svclab wrote it: no pod
    /// telemetry anywhere.
    fn schema_1_json(record: &RunRecord) -> String {
        let mut value = serde_json::to_value(record).unwrap_or_else(|e| panic!("to_value: {e}"));
        let obj = value
            .as_object_mut()
            .unwrap_or_else(|| panic!("record is not an object"));
        obj.insert("schema".into(), 1.into());
        obj.remove("pods");
        obj.remove("kubelet");
        for bucket in obj
            .get_mut("buckets")
            .and_then(|b| b.as_array_mut())
            .unwrap_or_else(|| panic!("no buckets"))
        {
            let bucket = bucket
                .as_object_mut()
                .unwrap_or_else(|| panic!("bucket is not an object"));
            bucket.remove("pods");
            bucket.remove("deployments");
        }
        serde_json::to_string_pretty(&value).unwrap_or_else(|e| panic!("json: {e}"))
    }

    #[test]
    fn schema_1_records_read_with_empty_pod_telemetry() {
        let dir = scratch("schema1");
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let path = dir.join(RECORD_FILE);
        let current = incident_a(false);
        let json = schema_1_json(&current);
        assert!(!json.contains("\"pods\"") && !json.contains("\"kubelet\""));
        fs::write(&path, json).unwrap_or_else(|e| panic!("write: {e}"));
        let old = read_record(&path).unwrap_or_else(|e| panic!("read_record: {e}"));
        assert_eq!(old.schema, 1, "the record keeps its version");
        assert!(old.pods.is_empty() && old.buckets.iter().all(|b| b.pods.is_empty()));
        assert_eq!(old.kubelet, crate::record::KubeletInfo::default());
        let mut expected = current.clone();
        expected.schema = 1;
        assert!(old == expected, "schema-1 record read differently");
        // And it re-renders (the page says which schema it came from).
        rerender(&dir).unwrap_or_else(|e| panic!("rerender: {e}"));
        let html = fs::read_to_string(dir.join(HTML_FILE)).unwrap_or_default();
        assert!(html.contains("(schema 1)") && html.contains("<svg"));

        // A schema-2 record with pods reads back whole.
        let cascade = crate::sample::liveness_cascade();
        write_report(&dir, &cascade).unwrap_or_else(|e| panic!("write_report: {e}"));
        let back = read_record(&path).unwrap_or_else(|e| panic!("read_record: {e}"));
        assert!(back == cascade, "schema-2 record did not round-trip");
        let _ = fs::remove_dir_all(&dir);
    }
}
