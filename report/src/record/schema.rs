//! `run.json`'s JSON Schema (draft 2020-12), derived from the record types
//! with schemars: field doc comments become descriptions, `#[serde(default)]`
//! fields are optional (so the schema accepts older records, as
//! `write::read_record` does), and the non-finite measured values have
//! their own schema ([`super::nonfinite::schema`]). `svclab schema
//! --run-record` prints it.
use schemars::generate::SchemaSettings;
use serde_json::Value;

use super::RunRecord;

/// The run record's JSON Schema (draft 2020-12), for tools that read
/// `run.json`.
#[must_use]
pub fn run_record_schema() -> Value {
    SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<RunRecord>()
        .to_value()
}

#[cfg(test)]
mod tests {
    use jsonschema::Validator;
    use serde_json::json;

    use super::*;
    use crate::{
        record::HostInfo,
        sample::{empty_record, incident_a, liveness_cascade, many_backends},
    };

    fn validator() -> Validator {
        jsonschema::draft202012::new(&run_record_schema()).expect("the schema compiles")
    }

    /// Every sample record (one with a host block, non-finite and covered
    /// windows), serialised as `write_report` writes it.
    fn samples() -> Vec<(&'static str, Value)> {
        let mut a = incident_a(false);
        a.host = Some(HostInfo {
            svclab_version: "0.1.0".into(),
            git_commit: "0123456789ab".into(),
            kernel: "6.12.0".into(),
            hostname: "ci-1".into(),
            cpus_online: Some(8),
            cpus_available: Some(4),
            memory_bytes: Some(16 << 30),
        });
        if let Some(e) = a.expectations.first_mut() {
            e.measured = Some(f64::INFINITY);
            e.covered_s = Some([0.0, 2.0]);
        }
        [
            ("incident_a", a),
            ("incident_a fixed", incident_a(true)),
            ("liveness_cascade", liveness_cascade()),
            ("many_backends", many_backends(12)),
            ("empty", empty_record()),
        ]
        .into_iter()
        .map(|(name, r)| (name, serde_json::to_value(&r).expect("record serialises")))
        .collect()
    }

    #[test]
    fn schema_is_valid_draft_2020_12_with_descriptions() {
        let s = run_record_schema();
        assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
        if let Err(e) = jsonschema::draft202012::meta::validate(&s) {
            panic!("schema fails the 2020-12 meta-schema: {e}");
        }
        assert!(
            s["description"]
                .as_str()
                .is_some_and(|d| d.contains("run.json")),
            "the type's doc comment describes the root: {}",
            s["description"]
        );
        let elapsed = s["properties"]["elapsed_s"]["description"].as_str();
        assert!(
            elapsed.is_some_and(|d| d.contains("actually ran")),
            "{elapsed:?}"
        );
        assert!(s["$defs"]["HostInfo"]["properties"]["git_commit"]["description"].is_string());
    }

    #[test]
    fn sample_records_validate() {
        let v = validator();
        for (name, record) in samples() {
            let errors: Vec<String> = v
                .iter_errors(&record)
                .map(|e| format!("{}: {e}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{name}: {errors:#?}");
        }
    }

    #[test]
    fn every_top_level_field_is_a_property_and_every_required_one_is_written() {
        let s = run_record_schema();
        let props = s["properties"].as_object().expect("properties");
        let required: Vec<&str> = s["required"]
            .as_array()
            .expect("required")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for (name, record) in samples() {
            let obj = record.as_object().expect("object");
            for key in obj.keys() {
                assert!(props.contains_key(key), "{name}: {key} not in the schema");
            }
            for key in &required {
                assert!(obj.contains_key(*key), "{name}: required {key} missing");
            }
        }
        // What old records lack is not required.
        for optional in ["host", "pods", "kubelet", "faults", "error"] {
            assert!(!required.contains(&optional), "{optional} is required");
        }
        assert!(required.contains(&"buckets") && required.contains(&"verdict"));
    }

    #[test]
    fn records_without_newer_fields_validate_and_bad_ones_do_not() {
        let v = validator();
        let (_, mut record) = samples().remove(0);
        let obj = record.as_object_mut().expect("object");
        for key in ["host", "pods", "kubelet", "programs", "faults", "rollouts"] {
            obj.remove(key);
        }
        assert!(v.is_valid(&record), "a record without the newer fields");

        for (field, value) in [
            ("verdict", json!("maybe")),
            ("schema", json!(-1)),
            ("buckets", json!({})),
            ("host", json!({ "cpus_online": "many" })),
        ] {
            let mut bad = record.clone();
            bad[field] = value.clone();
            assert!(!v.is_valid(&bad), "{field}: {value} accepted");
        }
        let mut bad = record.clone();
        bad["expectations"][0]["measured"] = json!("infinite");
        assert!(!v.is_valid(&bad), "a measured word other than inf/-inf/nan");
        let mut missing = record;
        missing.as_object_mut().map(|o| o.remove("run_id"));
        assert!(!v.is_valid(&missing), "run_id is required");
    }
}
