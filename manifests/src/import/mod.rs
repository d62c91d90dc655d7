//! Kubernetes manifests → a commented svclab suite (`svclab import`): what
//! `kubectl get -o yaml` (or a Helm/kustomize render) holds of a
//! Deployment, StatefulSet, ReplicaSet, Service, HorizontalPodAutoscaler
//! and PodDisruptionBudget, mapped onto the suite model, and every field
//! that does not map listed at the top of the suite with the reason.
//!
//! The stages, one file each: [`read`] splits files into documents and
//! `List` items and names each object's kind; [`workload`] (with
//! [`probes`]), [`service`] and [`hpa`] map them, sharing a [`Context`];
//! [`unmapped`] walks each object for what no stage used; [`render`]
//! writes the suite, which is then read back through
//! `svclab_suite::parse` so an import never hands out a suite svclab
//! would refuse.
mod context;
mod error;
mod hpa;
mod probes;
mod read;
mod render;
mod service;
mod unmapped;
mod workload;

use std::path::{Path, PathBuf};

use svclab_suite::model;

use self::context::Context;
pub use self::error::{ImportError, Origin, Unmapped};

/// One input file: its name as given and its text.
#[derive(Clone, Debug)]
pub struct Input {
    pub path: PathBuf,
    pub text: String,
}

/// What the user chose beyond the files.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The suite's name; default: the first workload's.
    pub name: Option<String>,
    /// `--command NAME=CMD`: container NAME runs CMD (split on whitespace,
    /// no shell) as a `container:` instead of svclab's pod server.
    pub commands: Vec<String>,
}

/// The result of an import.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The commented suite YAML.
    pub text: String,
    /// The suite as `svclab_suite::parse` reads `text` back.
    pub suite: model::Suite,
    /// Every input field the suite does not carry (also listed in `text`).
    pub unmapped: Vec<Unmapped>,
}

/// Imports `inputs` into one suite.
pub fn import(inputs: &[Input], options: &Options) -> Result<Imported, ImportError> {
    let mut objects = Vec::new();
    for input in inputs {
        objects.extend(read::objects(&input.path, &input.text)?);
    }
    for (k, o) in objects.iter_mut().enumerate() {
        o.index = k;
    }
    let commands = workload::parse_commands(&options.commands)?;
    let mut cx = Context::default();
    let mut workloads = Vec::new();
    let mut services = Vec::new();
    let mut hpas = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        match &o.kind {
            read::Kind::Workload(kind) => workloads.push(workload::read(&mut cx, i, o, *kind)?),
            read::Kind::Service => services.push(service::read(&mut cx, i, o)?),
            read::Kind::Hpa => hpas.push(hpa::read(&mut cx, i, o)?),
            read::Kind::Pdb => hpa::pdb(&mut cx, i, o)?,
            read::Kind::Skip(why) => cx.object_note(i, why),
        }
    }
    if workloads.is_empty() {
        return Err(ImportError::Empty(format!(
            "{}: no Deployment, StatefulSet or ReplicaSet in the input; expected at least one (`kubectl get deploy,svc,hpa -o yaml`)",
            inputs
                .iter()
                .map(|i| i.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    workload::name_all(&mut workloads);
    let mapped_services = service::map(&mut cx, &objects, &mut workloads, &services)?;
    let mut deployments = workload::map(&mut cx, &objects, &workloads, &commands)?;
    let autoscalers = hpa::map(&mut cx, &objects, &hpas, &workloads, &mut deployments)?;
    let unmapped = unmapped::collect(&cx, &objects);
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| workloads[0].name.clone());
    let sources: Vec<&Path> = inputs.iter().map(|i| i.path.as_path()).collect();
    let parts = render::Parts {
        name: &name,
        sources: &sources,
        unmapped: &unmapped,
        notes: &cx.notes,
        deployments: &deployments,
        services: &mapped_services,
        autoscalers: &autoscalers,
    };
    let text = render::suite(&parts);
    let out_name = Path::new("imported.yaml");
    let loaded = svclab_suite::parse(&text, out_name).map_err(|e| {
        if options.name.is_some() && e.to_string().contains(": name: ") {
            return ImportError::Command {
                arg: format!("--name {name}"),
                message: format!("not a usable suite name: {e}"),
            };
        }
        ImportError::Internal(e.to_string())
    })?;
    render::check_round_trip(&loaded.suite, &deployments, &mapped_services, &autoscalers)
        .map_err(ImportError::Internal)?;
    Ok(Imported {
        text,
        suite: loaded.suite,
        unmapped,
    })
}
