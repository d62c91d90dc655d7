//! The `timeline` section: actions at offsets into the run (scale, kill,
//! delete a pod, flush conntrack, restart a client, spike a client's rate,
//! network faults).
use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{deployments::ServerSpec, faults::Fault, programs::ContainerSpec};
use crate::duration::Dur;

/// One timeline entry: `at:` plus exactly one action key.
///
/// `Deserialize` is written by hand in `src/timeline.rs` (a flattened derive
/// loses error positions and accepts unknown keys inside the action), and so
/// is `JsonSchema`, in `schema.rs`, from [`Action`]'s.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// Offset from the run's start, < suite duration.
    pub at: Dur,
    #[serde(flatten)]
    pub action: Action,
}

/// What a timeline entry does: one key naming the action, its arguments
/// under it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Set a deployment's replicas (0..=2000).
    Scale {
        /// The deployment (must exist).
        deployment: String,
        /// 0..=2000.
        #[schemars(range(max = 2000))]
        replicas: u32,
    },
    /// SIGKILL `count` running pods (oldest first); the deployment replaces
    /// them with new pods (new names and IPs).
    Kill {
        /// The deployment (must exist).
        deployment: String,
        /// At least 1.
        #[schemars(range(min = 1))]
        count: u32,
    },
    /// Delete one pod gracefully (terminating, then gone); replaced like Kill.
    DeletePod {
        /// The deployment (must exist).
        deployment: String,
        /// The pod's index in the deployment, 0..=199.
        #[schemars(range(max = 199))]
        index: u32,
    },
    /// Flush the service conntrack on `node` (default: every node);
    /// `flush_ct:` with no value flushes every node too.
    FlushCt {
        /// Node index, below cluster.nodes.
        #[serde(default)]
        #[schemars(range(max = 15))]
        node: Option<u8>,
    },
    /// Restart a client as Kubernetes does when its pod is replaced: a new
    /// pod (new netns, new IP, fresh source ports; the old one torn down),
    /// so every 5-tuple is new. `keep_ip: true` restarts the container in
    /// its pod instead (same netns and IP; connections and port pool start
    /// anew), as kubelet restarts a container.
    RestartClient {
        /// The client (must exist).
        client: String,
        /// Restart the container in its pod (same netns and IP) instead of
        /// replacing the pod.
        #[serde(default)]
        keep_ip: bool,
    },
    /// Roll the deployment out to a new pod template: a new ReplicaSet
    /// replaces the old one's pods under the deployment's `strategy`.
    Rollout {
        /// The deployment (must exist).
        deployment: String,
        /// What the new pods change (server or container).
        template: PodTemplate,
    },
    /// A traffic spike: set an open-loop client's rate to `rate` for
    /// `duration` (default: to the end of the run), then back to its own.
    Spike {
        /// An open-loop client (must exist).
        client: String,
        /// Requests per second during the spike, 1..=50000.
        #[schemars(range(min = 1, max = 50_000))]
        rate: u32,
        /// Above 0s, ending by the suite's end; default: to the end of the run.
        #[serde(default)]
        duration: Option<Dur>,
    },
    /// A network fault (loss, delay, bandwidth, reset, blackhole) on a
    /// pod, some of a deployment's pods, a node or a path between nodes,
    /// for `duration` or until a `clear_fault`.
    Fault(Fault),
    /// End the fault of this name now (it must be active by then).
    ClearFault(String),
}

/// `at` and exactly one action key, as `src/timeline.rs` reads it: every
/// key is a property of one object (so editors complete and document all
/// of them) and `oneOf` requires exactly one action.
impl JsonSchema for TimelineEntry {
    fn schema_name() -> Cow<'static, str> {
        "TimelineEntry".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut properties = Map::new();
        let mut at = generator.subschema_for::<Dur>();
        at.insert(
            "description".to_owned(),
            json!("Offset from the run's start, before the suite duration."),
        );
        properties.insert("at".to_owned(), at.to_value());
        let mut one_of = Vec::new();
        // Action's derived schema: one alternative per variant, an object
        // whose single property is the action key.
        let actions = Action::json_schema(generator);
        let variants = actions
            .get("oneOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        for variant in variants {
            let description = variant.get("description").cloned();
            let args = variant.get("properties").and_then(Value::as_object);
            for (key, args) in args.into_iter().flatten() {
                let mut args = args.clone();
                if key == "flush_ct" {
                    // `flush_ct:` with no value flushes every node.
                    args = json!({ "anyOf": [args, { "type": "null" }] });
                }
                if let (Some(d), Some(obj)) = (&description, args.as_object_mut()) {
                    obj.insert("description".to_owned(), d.clone());
                }
                properties.insert(key.clone(), args);
                one_of.push(json!({ "required": [key] }));
            }
        }
        json_schema!({
            "description": "A timeline entry: `at` plus exactly one action key.",
            "type": "object",
            "properties": properties,
            "required": ["at"],
            "additionalProperties": false,
            "oneOf": one_of,
        })
    }
}

/// A rollout's new pod template: what changes for the new ReplicaSet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PodTemplate {
    /// The new pods' pod server (replaces the deployment's `server`).
    #[serde(default)]
    pub server: Option<ServerSpec>,
    /// The new pods' program (replaces the deployment's `container`).
    #[serde(default)]
    pub container: Option<ContainerSpec>,
}
