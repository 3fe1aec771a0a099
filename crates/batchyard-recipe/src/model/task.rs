use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    Duration, EnvMap, ExitConditions, Factory, Input, Output, OutputFile, RawBatch, ResourceFile,
};

/// One task of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// The task id, unique in its job: letters, digits, `-` and `_`, at most 64. With a
    /// factory it is a template, such as `sweep-{{ item.lr }}`.
    pub id: String,
    /// The command line. It runs without a shell, as Batch runs it: write
    /// `/bin/bash -c '...'` for pipes and variables.
    #[schemars(length(min = 1))]
    pub command: String,
    /// Run in this container image (default: the job's `image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Extra `docker run` options for the task's container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_options: Option<String>,
    /// Environment variables (added to the job's).
    #[serde(default, skip_serializing_if = "EnvMap::is_empty")]
    pub env: EnvMap,
    /// Give the task the node's GPUs: in a container `--gpus all` with `--ipc=host`; when
    /// several tasks share a node, each sees its slot's GPUs through `CUDA_VISIBLE_DEVICES`
    /// (docs/hardware.md). Default: when the pool has GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<bool>,
    /// Run as an MPI job across several nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpi: Option<Mpi>,
    /// Tasks that must succeed first: a list of ids and id ranges, or `all` for a merge task
    /// that runs after every other task of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<DependsOn>,
    /// How many of a node's task slots the task takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 256))]
    pub required_slots: Option<u32>,
    /// Run as the administrator auto-user.
    #[serde(default)]
    pub elevated: bool,
    /// Data the task needs: local files uploaded by `apply`, blobs and URLs, each with its
    /// path on the node (needs `storage` for local files and blobs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Input>,
    /// Result files uploaded to the recipe's storage when the task ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<Output>,
    /// Files downloaded before the task runs (Batch resource files, as they are).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_files: Vec<ResourceFile>,
    /// Files uploaded when the task ends (Batch output files, as they are).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_files: Vec<OutputFile>,
    /// Time limits, retries and retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<TaskConstraints>,
    /// What exit codes mean for the job and for dependent tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_conditions: Option<ExitConditions>,
    /// Raw Batch task fields merged last into the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<RawBatch>,
}

/// A task as written in a job: one task, or a factory that expands one task template into
/// many. A factory task's other fields are templates rendered once per generated item, with
/// `item` and `index` in scope; they are checked when rendered.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskSpec {
    /// One task.
    Single(Box<Task>),
    /// A task template and the factory that feeds it.
    Factory(TaskFactory),
}

/// A factory task: the factory, and the task template as written (templates unrendered).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFactory {
    /// What to generate.
    pub factory: Factory,
    /// The task's fields, `factory` aside, exactly as they stand in the recipe.
    pub template: serde_json::Map<String, serde_json::Value>,
}

impl TaskSpec {
    /// The id as written: a plain id, or a factory's id template.
    pub fn id(&self) -> &str {
        match self {
            TaskSpec::Single(task) => &task.id,
            TaskSpec::Factory(f) => f.template.get("id").and_then(|v| v.as_str()).unwrap_or(""),
        }
    }
}

impl Serialize for TaskSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TaskSpec::Single(task) => task.serialize(s),
            TaskSpec::Factory(f) => {
                let mut map = f.template.clone();
                let factory =
                    serde_json::to_value(&f.factory).map_err(serde::ser::Error::custom)?;
                map.insert("factory".into(), factory);
                map.serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for TaskSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        match map.remove("factory") {
            Some(factory) => {
                let factory = Factory::deserialize(factory).map_err(D::Error::custom)?;
                if !map.contains_key("id") {
                    return Err(D::Error::missing_field("id"));
                }
                Ok(TaskSpec::Factory(TaskFactory {
                    factory,
                    template: map,
                }))
            }
            None => Task::deserialize(serde_json::Value::Object(map))
                .map(|t| TaskSpec::Single(Box::new(t)))
                .map_err(D::Error::custom),
        }
    }
}

impl JsonSchema for TaskSpec {
    fn schema_name() -> Cow<'static, str> {
        "Task".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        // The task's own schema plus the optional `factory` key.
        let mut schema = Task::json_schema(generator);
        let factory = generator.subschema_for::<Factory>();
        if let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
            let mut described = factory.to_value();
            if let Some(obj) = described.as_object_mut() {
                obj.insert(
                    "description".into(),
                    "Expand this task into one task per generated item; the other fields become templates with `item` and `index`.".into(),
                );
            }
            props.insert("factory".into(), described);
        }
        schema
    }
}

/// An MPI run: a Batch multi-instance task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mpi {
    /// The MPI implementation in the image.
    pub runtime: MpiRuntime,
    /// How many nodes the task spans.
    #[schemars(range(min = 1, max = 1000))]
    pub instances: u32,
    /// MPI processes started on each node. Default: one per GPU on GPU sizes, else one per
    /// core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub processes_per_node: Option<u32>,
    /// A command run on every node before the MPI program starts (a setup step). Default:
    /// none on the host; in a container, an SSH daemon on port 23 for the launcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordination_command: Option<String>,
    /// Extra options for the MPI launcher (`mpirun`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
    /// The environment module that puts the launcher on PATH. Default: the image's module
    /// for the runtime (such as `mpi/hpcx` or `mpi/impi-2021` on the HPC images); `none`
    /// uses the launcher already on PATH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Shell commands run on the primary node just before the launcher, in the same shell
    /// (after the module is loaded), for site-specific set-up such as exporting variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_execution_command: Option<String>,
    /// Files every instance downloads (Batch `commonResourceFiles`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub common_resource_files: Vec<ResourceFile>,
}

/// MPI implementations batchyard knows how to launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MpiRuntime {
    /// Open MPI (HPC-X, module `mpi/hpcx`, on the HPC images).
    Openmpi,
    /// Intel MPI (module `mpi/impi-2021` on the HPC images).
    Intelmpi,
    /// MPICH.
    Mpich,
    /// MVAPICH.
    Mvapich,
    /// Microsoft MPI (Windows pools).
    Msmpi,
}

/// Task dependencies: `all`, or a list of task ids and id ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependsOn {
    /// Every other task of the job (a merge task).
    All,
    /// These tasks.
    Tasks(Vec<Dependency>),
}

/// One dependency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Dependency {
    /// A task id.
    Id(String),
    /// Numeric task ids from `start` to `end` (Batch `taskIdRanges`).
    Range {
        /// `[start, end]`, both included.
        range: [u32; 2],
    },
}

impl Serialize for DependsOn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DependsOn::All => s.serialize_str("all"),
            DependsOn::Tasks(list) => list.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for DependsOn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) if s == "all" => Ok(DependsOn::All),
            serde_json::Value::String(s) => Err(D::Error::custom(format!(
                "`{s}` is not a dependency list: write `all` or a list such as [{s}]"
            ))),
            other => Vec::<Dependency>::deserialize(other)
                .map(DependsOn::Tasks)
                .map_err(D::Error::custom),
        }
    }
}

impl JsonSchema for DependsOn {
    fn schema_name() -> Cow<'static, str> {
        "DependsOn".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let item = generator.subschema_for::<Dependency>();
        json_schema!({
            "description": "`all` (a merge task), or a list of task ids and `{range: [start, end]}` numeric id ranges.",
            "anyOf": [
                { "const": "all" },
                { "type": "array", "items": item }
            ]
        })
    }
}

/// Limits on one task.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskConstraints {
    /// The task is stopped when it has run this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wall_time: Option<Duration>,
    /// How often a failed task is retried (-1: forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1, max = 100))]
    pub max_retries: Option<i32>,
    /// How long the task's directory is kept on the node after it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Duration>,
}
