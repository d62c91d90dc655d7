//! Reading a timeline entry: `at:` plus exactly one action key.
//!
//! The model serialises [`TimelineEntry`] with `#[serde(flatten)]`, but a
//! flattened deserialize buffers the mapping first, which loses serde_yaml's
//! positions and field paths, ignores unknown keys inside an action and says
//! only "no variant of enum Action found". This hand-written visitor reads the
//! mapping directly, so every error keeps its path (`timeline[2].scale.replicas`)
//! and a second action key is reported at that key.
use std::fmt;

use serde::{
    Deserialize, Deserializer,
    de::{self, DeserializeSeed, MapAccess, Visitor},
};

use crate::{
    expected::ticked_list,
    model::{Action, Dur, PodTemplate, TimelineEntry},
};

/// The keys a timeline entry may have.
const KEYS: &[&str] = &[
    "at",
    "scale",
    "kill",
    "delete_pod",
    "flush_ct",
    "restart_client",
    "spike",
    "rollout",
    "fault",
    "clear_fault",
];

/// How the error for a second action key begins (the error module treats it
/// as a key error, positioned at the key).
pub(crate) const SECOND_ACTION: &str = "second action key";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaleArgs {
    deployment: String,
    replicas: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KillArgs {
    deployment: String,
    count: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeletePodArgs {
    deployment: String,
    index: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlushCtArgs {
    #[serde(default)]
    node: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestartClientArgs {
    client: String,
    #[serde(default)]
    keep_ip: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpikeArgs {
    client: String,
    rate: u32,
    #[serde(default)]
    duration: Option<Dur>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolloutArgs {
    deployment: String,
    #[serde(default)]
    template: PodTemplate,
}

enum Key {
    At,
    Action(&'static str),
}

/// Reads one key, knowing which action (if any) the entry already has.
struct KeySeed(Option<&'static str>);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`at` or an action key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        match KEYS.iter().find(|k| **k == v) {
            Some(&"at") => Ok(Key::At),
            Some(k) => match self.0 {
                Some(prev) => Err(E::custom(format!(
                    "{SECOND_ACTION} `{k}`: a timeline entry holds exactly one action and this one already has `{prev}`; give each action its own entry"
                ))),
                None => Ok(Key::Action(k)),
            },
            None => Err(E::unknown_field(v, KEYS)),
        }
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = TimelineEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a timeline entry: `at` and one action")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TimelineEntry, A::Error> {
        let mut at: Option<Dur> = None;
        let mut action: Option<(&'static str, Action)> = None;
        while let Some(key) = map.next_key_seed(KeySeed(action.as_ref().map(|a| a.0)))? {
            match key {
                Key::At => {
                    if at.is_some() {
                        return Err(de::Error::duplicate_field("at"));
                    }
                    at = Some(map.next_value()?);
                }
                Key::Action(name) => {
                    let a = match name {
                        "scale" => {
                            let a: ScaleArgs = map.next_value()?;
                            Action::Scale {
                                deployment: a.deployment,
                                replicas: a.replicas,
                            }
                        }
                        "kill" => {
                            let a: KillArgs = map.next_value()?;
                            Action::Kill {
                                deployment: a.deployment,
                                count: a.count,
                            }
                        }
                        "delete_pod" => {
                            let a: DeletePodArgs = map.next_value()?;
                            Action::DeletePod {
                                deployment: a.deployment,
                                index: a.index,
                            }
                        }
                        "flush_ct" => {
                            // `flush_ct:` with no value flushes every node.
                            let a: Option<FlushCtArgs> = map.next_value()?;
                            Action::FlushCt {
                                node: a.and_then(|a| a.node),
                            }
                        }
                        "restart_client" => {
                            let a: RestartClientArgs = map.next_value()?;
                            Action::RestartClient {
                                client: a.client,
                                keep_ip: a.keep_ip,
                            }
                        }
                        "spike" => {
                            let a: SpikeArgs = map.next_value()?;
                            Action::Spike {
                                client: a.client,
                                rate: a.rate,
                                duration: a.duration,
                            }
                        }
                        "rollout" => {
                            let a: RolloutArgs = map.next_value()?;
                            Action::Rollout {
                                deployment: a.deployment,
                                template: a.template,
                            }
                        }
                        "fault" => Action::Fault(map.next_value()?),
                        "clear_fault" => Action::ClearFault(map.next_value()?),
                        // KeySeed yields only names from KEYS, so this is a
                        // key added there without a reader here.
                        other => return Err(de::Error::unknown_field(other, KEYS)),
                    };
                    action = Some((name, a));
                }
            }
        }
        let at = at.ok_or_else(|| de::Error::missing_field("at"))?;
        let (_, action) = action.ok_or_else(|| {
            // Listed from KEYS, so a new action cannot be left out.
            let actions: Vec<&str> = KEYS.iter().copied().filter(|k| *k != "at").collect();
            de::Error::custom(format!(
                "missing action: a timeline entry needs one of {}",
                ticked_list(&actions, "or")
            ))
        })?;
        Ok(TimelineEntry { at, action })
    }
}

impl<'de> Deserialize<'de> for TimelineEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct("TimelineEntry", KEYS, EntryVisitor)
    }
}
