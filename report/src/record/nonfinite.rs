//! Serde for `Option<f64>` that survives JSON: finite values are numbers,
//! non-finite ones the strings `"inf"`, `"-inf"`, `"nan"` (serde_json would
//! otherwise write `null`, which reads back as "undefined"). Reads numbers,
//! those strings, and null; [`schema`] says so in JSON Schema.
use schemars::{Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

pub fn serialize<S: Serializer>(value: &Option<f64>, ser: S) -> Result<S::Ok, S::Error> {
    match value {
        None => ser.serialize_none(),
        Some(v) if v.is_nan() => ser.serialize_some("nan"),
        Some(v) if *v == f64::INFINITY => ser.serialize_some("inf"),
        Some(v) if *v == f64::NEG_INFINITY => ser.serialize_some("-inf"),
        Some(v) => ser.serialize_some(v),
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(f64),
        Word(String),
    }
    match Option::<Repr>::deserialize(de)? {
        None => Ok(None),
        Some(Repr::Num(v)) => Ok(Some(v)),
        Some(Repr::Word(w)) => match w.as_str() {
            "inf" => Ok(Some(f64::INFINITY)),
            "-inf" => Ok(Some(f64::NEG_INFINITY)),
            "nan" => Ok(Some(f64::NAN)),
            other => Err(D::Error::custom(format!(
                "expected a number, null, \"inf\", \"-inf\" or \"nan\", found {other:?}"
            ))),
        },
    }
}

/// The JSON Schema of what [`serialize`] writes and [`deserialize`] reads.
pub fn schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [
            { "type": "number" },
            { "enum": ["inf", "-inf", "nan"] },
            { "type": "null" },
        ],
    })
}
