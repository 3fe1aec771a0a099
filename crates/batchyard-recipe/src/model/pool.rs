use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Duration, EnvMap, Input, Metadata, Mount, RawBatch, ResourceFile, Toggle};

/// A pool of compute nodes of one VM size and image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// The pool id in the Batch account: letters, digits, `-` and `_`, at most 64.
    pub id: String,
    /// The Azure VM size, such as `Standard_D4s_v5` or `Standard_NC24ads_A100_v4`.
    #[schemars(length(min = 1))]
    pub vm_size: String,
    /// A catalogue alias of an OS image, such as `ubuntu-24.04` or `ubuntu-hpc-24.04` (see docs/hardware.md).
    /// Exactly one of `os` and `image` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// An explicit image (marketplace or custom) with its node agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRef>,
    /// A fixed number of nodes. Exactly one of `nodes` and `autoscale` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<NodeCounts>,
    /// Scale the pool with a formula or a named scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<Autoscale>,
    /// GPUs: `auto` follows the VM size.
    #[serde(default)]
    pub gpu: Toggle,
    /// RDMA (InfiniBand): `auto` follows the VM size.
    #[serde(default)]
    pub rdma: Toggle,
    /// Whether nodes can talk to each other directly (needed by MPI). Default: on for RDMA
    /// pools, off otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inter_node_communication: Option<bool>,
    /// How many task slots each node has (concurrent tasks of one slot each).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    #[schemars(range(min = 1, max = 256), extend("default" = 1))]
    pub task_slots_per_node: u32,
    /// Whether tasks fill one node before the next (`pack`) or spread across nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling: Option<SchedulingPolicy>,
    /// Container images prefetched on every node; tasks of this pool may run in containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containers: Option<Containers>,
    /// A command that runs on every node as it joins the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_task: Option<StartTask>,
    /// Files every node gets before any task runs there: local files, folders and globs
    /// (uploaded by apply, once per content) or blobs and URLs, delivered by the start task
    /// (one is added when the pool has none) to `$AZ_BATCH_NODE_STARTUP_DIR/wd/<to>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Input>,
    /// Virtual network placement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// File systems mounted on every node when it starts (Batch `mountConfiguration`), each
    /// at `$AZ_BATCH_NODE_MOUNTS_DIR/<path>`. Container tasks see that directory at the same
    /// path; bind it elsewhere with the task's `container_options` (`-v`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// Application packages installed on every node, as `name` or `name:version`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub application_packages: Vec<String>,
    /// Metadata added to the pool (besides batchyard's own ownership tags).
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
    /// Raw Batch pool fields merged last into the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<RawBatch>,
}

fn one() -> u32 {
    1
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_one(v: &u32) -> bool {
    *v == 1
}

/// An explicit OS image: a marketplace reference or a custom image id, plus the node agent
/// that goes with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageRef {
    /// Marketplace publisher, such as `microsoft-dsvm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// Marketplace offer, such as `ubuntu-hpc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<String>,
    /// Marketplace SKU, such as `2204`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// Image version; `latest` when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// ARM id of a custom image or Azure Compute Gallery image version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<String>,
    /// The Batch node agent SKU id for this image, such as `batch.node.ubuntu 22.04`.
    #[schemars(length(min = 1))]
    pub node_agent: String,
    /// What is already installed on the image, so batchyard adds no extension for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preinstalled: Vec<Preinstalled>,
}

/// Software an image already carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Preinstalled {
    /// The NVIDIA GPU driver.
    GpuDriver,
    /// The InfiniBand (OFED) driver.
    InfinibandDriver,
    /// A container runtime (Docker or Moby).
    ContainerRuntime,
    /// The NVIDIA container toolkit, configured for Docker (needed by GPU containers).
    NvidiaContainerToolkit,
}

/// A fixed pool size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeCounts {
    /// Dedicated nodes.
    #[serde(default)]
    #[schemars(range(max = 10000))]
    pub dedicated: u32,
    /// Spot (low-priority) nodes, cheaper but preemptible.
    #[serde(default)]
    #[schemars(range(max = 10000))]
    pub spot: u32,
    /// How long a resize may take before Batch stops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize_timeout: Option<Duration>,
}

/// Autoscaling: a named scenario or a raw Batch autoscale formula.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Autoscale {
    /// A named scenario. Exactly one of `scenario` and `formula` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<AutoscaleScenario>,
    /// A raw Batch autoscale formula.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
    /// How often Batch evaluates the formula (5 minutes to 168 hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Upper bound on dedicated nodes (scenarios only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_dedicated: Option<u32>,
    /// Upper bound on spot nodes (scenarios only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_spot: Option<u32>,
    /// Never scale below this many dedicated nodes (scenarios only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_dedicated: Option<u32>,
    /// The sampling window of task-based scenarios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_window: Option<Duration>,
}

/// Autoscale scenarios, as Batch Shipyard named them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AutoscaleScenario {
    /// Nodes follow the number of active (queued) tasks.
    ActiveTasks,
    /// Nodes follow the number of pending (queued and running) tasks.
    PendingTasks,
    /// Full size on workdays during work hours, minimal otherwise.
    Workday,
    /// Full size Monday to Friday.
    Weekday,
    /// Full size on Saturday and Sunday.
    Weekend,
    /// Workday size, with spot nodes at their maximum off-peak.
    WorkdayWithOffpeakMaxLowPriority,
}

/// How tasks are spread over nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SchedulingPolicy {
    /// Fill each node's slots before using the next node.
    Pack,
    /// Spread tasks evenly across nodes.
    Spread,
}

/// Container support on a pool.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Containers {
    /// Images pulled onto every node when it starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Registry servers (from the recipe's `registries`) the nodes log in to. Default: all
    /// registries an image above is hosted on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registries: Vec<String>,
}

/// A command run on each node when it joins the pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartTask {
    /// The command line. It runs without a shell: write `/bin/bash -c '...'` for one.
    #[schemars(length(min = 1))]
    pub command: String,
    /// Run as the pool's administrator auto-user.
    #[serde(default)]
    pub elevated: bool,
    /// Keep the node out of scheduling until the start task succeeds. Default: true.
    #[serde(default = "yes")]
    pub wait_for_success: bool,
    /// How often to retry a failing start task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1, max = 100))]
    pub max_retries: Option<i32>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "EnvMap::is_empty")]
    pub env: EnvMap,
    /// Files downloaded before it runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_files: Vec<ResourceFile>,
    /// Run it inside this container image instead of on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

fn yes() -> bool {
    true
}

/// Virtual network placement of a pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// ARM id of the subnet the nodes join.
    #[schemars(length(min = 1))]
    pub subnet_id: String,
    /// Give nodes public IP addresses (`batch_managed`), none (`none`), or your own
    /// (`user_managed` with `public_ips`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ip: Option<PublicIp>,
    /// ARM ids of public IP addresses, with `public_ip: user_managed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub public_ips: Vec<String>,
    /// Turn on accelerated networking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accelerated_networking: Option<bool>,
}

/// Public IP provisioning of pool nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PublicIp {
    /// Batch creates and manages public IPs.
    BatchManaged,
    /// Nodes get your public IPs.
    UserManaged,
    /// No public IPs.
    None,
}

pub(crate) fn default_true() -> bool {
    yes()
}
