//! Pool payloads (`BatchPoolCreateOptions`).

use batchyard_recipe::model::{Mount, Pool, PublicIp, Recipe, SchedulingPolicy};
use batchyard_recipe::{Code, Diagnostic, model::Secret};
use serde_json::{Map, Value, json};

use super::common::{admin_identity, env, metadata, put_value, resource_files};
use crate::autoscale::{self, ScenarioParams};
use crate::catalogue::{self, OsType, Rdma};
use crate::hardware::PoolFacts;

/// A secret to fill in at apply time: where it goes in the payload and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSlot {
    /// JSON pointer into the payload, e.g. `/virtualMachineConfiguration/containerConfiguration/containerRegistries/0/password`.
    pub pointer: String,
    pub secret: Secret,
}

/// Builds the pool payload (before the `batch:` merge). `input_files` are the resource
/// files of the pool's `inputs`, which its start task delivers. Problems go to `out`.
pub fn build(
    recipe: &Recipe,
    pool: &Pool,
    facts: &PoolFacts,
    input_files: Vec<Value>,
    at: &str,
    out: &mut Vec<Diagnostic>,
) -> (Value, Vec<SecretSlot>) {
    let mut p = Map::new();
    p.insert("id".into(), json!(pool.id));
    let vm_size = facts
        .size
        .map(|s| s.name.clone())
        .unwrap_or_else(|| pool.vm_size.clone());
    p.insert("vmSize".into(), json!(vm_size));

    let mut secrets = Vec::new();
    let mut vm = Map::new();
    image(pool, &mut vm);
    let ext = extensions(facts);
    put_value(&mut vm, "extensions", Value::Array(ext));
    if let Some(c) = &pool.containers {
        let mut cc = Map::new();
        cc.insert("type".into(), json!("dockerCompatible"));
        put_value(&mut cc, "containerImageNames", json!(c.images));
        let regs = registries(recipe, &c.images, &c.registries, &mut secrets, at, out);
        put_value(&mut cc, "containerRegistries", Value::Array(regs));
        vm.insert("containerConfiguration".into(), Value::Object(cc));
    }
    p.insert("virtualMachineConfiguration".into(), Value::Object(vm));

    scale(pool, facts, &mut p);
    if facts.inter_node {
        p.insert("enableInterNodeCommunication".into(), json!(true));
    }
    p.insert("taskSlotsPerNode".into(), json!(pool.task_slots_per_node));
    if let Some(s) = pool.scheduling {
        let fill = match s {
            SchedulingPolicy::Pack => "pack",
            SchedulingPolicy::Spread => "spread",
        };
        p.insert("taskSchedulingPolicy".into(), json!({"nodeFillType": fill}));
    }
    if let Some(st) = &pool.start_task {
        let mut s = Map::new();
        s.insert("commandLine".into(), json!(st.command));
        let mut files = resource_files(&st.resource_files);
        if let Value::Array(list) = &mut files {
            list.extend(input_files);
        }
        put_value(&mut s, "resourceFiles", files);
        put_value(&mut s, "environmentSettings", env(&st.env));
        if let Some(id) = admin_identity(st.elevated) {
            s.insert("userIdentity".into(), id);
        }
        if let Some(r) = st.max_retries {
            s.insert("maxTaskRetryCount".into(), json!(r));
        }
        s.insert("waitForSuccess".into(), json!(st.wait_for_success));
        if let Some(img) = &st.image {
            s.insert("containerSettings".into(), json!({"imageName": img}));
        }
        if !st.wait_for_success && !pool.inputs.is_empty() {
            out.push(
                Diagnostic::warning(
                    batchyard_recipe::Code::PoolInputsNotAwaited,
                    format!("{at}/start_task/wait_for_success"),
                    "tasks may start on a node before the pool's `inputs` are there",
                )
                .with_help("set `wait_for_success: true` so that nodes take tasks only once their start task (which delivers the inputs) has succeeded"),
            );
        }
        p.insert("startTask".into(), Value::Object(s));
    } else if !input_files.is_empty() {
        // Batch delivers a pool's files only through its start task: one that only
        // downloads them, which nodes must finish before they take tasks.
        let noop = match facts.os_type {
            OsType::Linux => "/bin/sh -c true",
            OsType::Windows => "cmd /c exit 0",
        };
        p.insert(
            "startTask".into(),
            json!({
                "commandLine": noop,
                "resourceFiles": input_files,
                "waitForSuccess": true,
            }),
        );
    }
    if let Some(n) = &pool.network {
        let mut net = Map::new();
        net.insert("subnetId".into(), json!(n.subnet_id));
        if let Some(ip) = n.public_ip {
            let provision = match ip {
                PublicIp::BatchManaged => "batchmanaged",
                PublicIp::UserManaged => "usermanaged",
                PublicIp::None => "nopublicipaddresses",
            };
            let mut cfg = Map::new();
            cfg.insert("provision".into(), json!(provision));
            put_value(&mut cfg, "ipAddressIds", json!(n.public_ips));
            net.insert("publicIPAddressConfiguration".into(), Value::Object(cfg));
        }
        if let Some(a) = n.accelerated_networking {
            net.insert("enableAcceleratedNetworking".into(), json!(a));
        }
        p.insert("networkConfiguration".into(), Value::Object(net));
    }
    let mounts: Vec<Value> = pool
        .mounts
        .iter()
        .enumerate()
        .map(|(i, m)| mount(m, i, &mut secrets))
        .collect();
    put_value(&mut p, "mountConfiguration", Value::Array(mounts));
    let packages: Vec<Value> = pool
        .application_packages
        .iter()
        .map(|spec| match spec.split_once(':') {
            Some((id, version)) => json!({"applicationId": id, "version": version}),
            None => json!({"applicationId": spec}),
        })
        .collect();
    put_value(
        &mut p,
        "applicationPackageReferences",
        Value::Array(packages),
    );
    p.insert(
        "metadata".into(),
        Value::Array(metadata(&pool.metadata, &recipe.recipe)),
    );
    (Value::Object(p), secrets)
}

/// One `mountConfiguration` entry. Keys and SAS tokens stay redacted in the payload; apply
/// fills them in, as it does registry passwords.
fn mount(m: &Mount, index: usize, secrets: &mut Vec<SecretSlot>) -> Value {
    let mut secret = |kind: &str, field: &str, s: &Secret| {
        secrets.push(SecretSlot {
            pointer: format!("/mountConfiguration/{index}/{kind}/{field}"),
            secret: s.clone(),
        });
        json!(s.to_string())
    };
    match m {
        Mount::AzureBlob(b) => {
            const KIND: &str = "azureBlobFileSystemConfiguration";
            let mut c = Map::new();
            c.insert("accountName".into(), json!(b.account));
            c.insert("containerName".into(), json!(b.container));
            c.insert("relativeMountPath".into(), json!(b.path));
            if let Some(k) = &b.key {
                c.insert("accountKey".into(), secret(KIND, "accountKey", k));
            }
            if let Some(k) = &b.sas {
                c.insert("sasKey".into(), secret(KIND, "sasKey", k));
            }
            if let Some(id) = &b.identity {
                c.insert("identityReference".into(), json!({"resourceId": id}));
            }
            super::common::put(&mut c, "blobfuseOptions", &b.options);
            json!({ KIND: c })
        }
        Mount::AzureFiles(f) => {
            const KIND: &str = "azureFileShareConfiguration";
            let mut c = Map::new();
            c.insert("accountName".into(), json!(f.account));
            c.insert("azureFileUrl".into(), json!(f.url));
            c.insert("accountKey".into(), secret(KIND, "accountKey", &f.key));
            c.insert("relativeMountPath".into(), json!(f.path));
            super::common::put(&mut c, "mountOptions", &f.options);
            json!({ KIND: c })
        }
        Mount::Nfs(n) => {
            let mut c = Map::new();
            c.insert("source".into(), json!(n.source));
            c.insert("relativeMountPath".into(), json!(n.path));
            super::common::put(&mut c, "mountOptions", &n.options);
            json!({ "nfsMountConfiguration": c })
        }
    }
}

fn image(pool: &Pool, vm: &mut Map<String, Value>) {
    if let Some(img) = pool.os.as_deref().and_then(catalogue::image) {
        let r = &img.reference;
        vm.insert(
            "imageReference".into(),
            json!({"publisher": r.publisher, "offer": r.offer, "sku": r.sku, "version": r.version}),
        );
        vm.insert("nodeAgentSKUId".into(), json!(img.node_agent));
        return;
    }
    if let Some(img) = &pool.image {
        let mut r = Map::new();
        match &img.custom {
            Some(id) => {
                r.insert("virtualMachineImageId".into(), json!(id));
            }
            None => {
                super::common::put(&mut r, "publisher", &img.publisher);
                super::common::put(&mut r, "offer", &img.offer);
                super::common::put(&mut r, "sku", &img.sku);
                r.insert(
                    "version".into(),
                    json!(img.version.as_deref().unwrap_or("latest")),
                );
            }
        }
        vm.insert("imageReference".into(), Value::Object(r));
        vm.insert("nodeAgentSKUId".into(), json!(img.node_agent));
    }
}

/// VM extensions that install what the image lacks (Microsoft.HpcCompute driver extensions;
/// minor versions float so Azure keeps them patched).
fn extensions(f: &PoolFacts) -> Vec<Value> {
    let mut out = Vec::new();
    let ext = |ty: &str, version: &str| {
        json!({
            "name": ty, "publisher": "Microsoft.HpcCompute", "type": ty,
            "typeHandlerVersion": version, "autoUpgradeMinorVersion": true,
        })
    };
    if f.gpu && !f.gpu_driver_on_image {
        out.push(match f.os_type {
            OsType::Linux => ext("NvidiaGpuDriverLinux", "1.6"),
            OsType::Windows => ext("NvidiaGpuDriverWindows", "1.4"),
        });
    }
    if !matches!(f.rdma, Rdma::None) && !f.ib_driver_on_image {
        out.push(match (f.os_type, f.rdma) {
            (OsType::Linux, _) => ext("InfiniBandDriverLinux", "1.2"),
            // The NetworkDirect sizes use the older HpcVmDrivers extension on Windows.
            (OsType::Windows, Rdma::NetworkDirect { .. }) => ext("HpcVmDrivers", "1.1"),
            (OsType::Windows, _) => ext("InfiniBandDriverWindows", "1.5"),
        });
    }
    out
}

fn scale(pool: &Pool, facts: &PoolFacts, p: &mut Map<String, Value>) {
    if let Some(a) = &pool.autoscale {
        let formula = match (&a.formula, a.scenario) {
            (Some(f), _) => f.clone(),
            (None, Some(s)) => {
                let params = ScenarioParams {
                    min_dedicated: a.min_dedicated.unwrap_or(0),
                    max_dedicated: a.max_dedicated.unwrap_or(0),
                    max_spot: a.max_spot.unwrap_or(0),
                    task_slots_per_node: facts.task_slots_per_node,
                    sample_window_secs: a
                        .sample_window
                        .as_ref()
                        .map(|d| d.as_secs())
                        .unwrap_or(600),
                    ..ScenarioParams::default()
                };
                autoscale::formula(scenario(s), &params)
            }
            (None, None) => String::new(),
        };
        p.insert("enableAutoScale".into(), json!(true));
        p.insert("autoScaleFormula".into(), json!(formula));
        // Shipyard's default evaluation interval.
        let interval = a
            .interval
            .as_ref()
            .map(|d| d.to_iso8601())
            .unwrap_or_else(|| "PT15M".into());
        p.insert("autoScaleEvaluationInterval".into(), json!(interval));
        return;
    }
    let n = pool.nodes.as_ref();
    p.insert(
        "targetDedicatedNodes".into(),
        json!(n.map(|n| n.dedicated).unwrap_or(0)),
    );
    p.insert(
        "targetLowPriorityNodes".into(),
        json!(n.map(|n| n.spot).unwrap_or(0)),
    );
    if let Some(t) = n.and_then(|n| n.resize_timeout.as_ref()) {
        p.insert("resizeTimeout".into(), json!(t.to_iso8601()));
    }
}

fn scenario(s: batchyard_recipe::model::AutoscaleScenario) -> autoscale::Scenario {
    use batchyard_recipe::model::AutoscaleScenario as R;
    match s {
        R::ActiveTasks => autoscale::Scenario::ActiveTasks,
        R::PendingTasks => autoscale::Scenario::PendingTasks,
        R::Workday => autoscale::Scenario::Workday,
        R::Weekday => autoscale::Scenario::Weekday,
        R::Weekend => autoscale::Scenario::Weekend,
        R::WorkdayWithOffpeakMaxLowPriority => {
            autoscale::Scenario::WorkdayWithOffpeakMaxLowPriority
        }
    }
}

/// `containerRegistries`: the named registries, or those hosting one of the images.
fn registries(
    recipe: &Recipe,
    images: &[String],
    named: &[String],
    secrets: &mut Vec<SecretSlot>,
    at: &str,
    out: &mut Vec<Diagnostic>,
) -> Vec<Value> {
    let mut result = Vec::new();
    for (i, name) in named.iter().enumerate() {
        if !recipe
            .registries
            .iter()
            .any(|r| r.server.eq_ignore_ascii_case(name))
        {
            out.push(
                Diagnostic::error(
                    Code::UnknownRegistry,
                    format!("{at}/containers/registries/{i}"),
                    format!("no registry `{name}` in `registries`"),
                )
                .with_help("add it to the recipe's `registries`, or remove it here"),
            );
        }
    }
    let wanted = |server: &str| {
        if named.is_empty() {
            let prefix = format!("{}/", server.to_ascii_lowercase());
            images
                .iter()
                .any(|img| img.to_ascii_lowercase().starts_with(&prefix))
        } else {
            named.iter().any(|n| n.eq_ignore_ascii_case(server))
        }
    };
    for reg in recipe.registries.iter().filter(|r| wanted(&r.server)) {
        let mut m = Map::new();
        m.insert("registryServer".into(), json!(reg.server));
        super::common::put(&mut m, "username", &reg.username);
        if let Some(secret) = &reg.password {
            // The payload carries only the redacted form; apply fills the value in.
            m.insert("password".into(), json!(secret.to_string()));
            secrets.push(SecretSlot {
                pointer: format!(
                    "/virtualMachineConfiguration/containerConfiguration/containerRegistries/{}/password",
                    result.len()
                ),
                secret: secret.clone(),
            });
        }
        if let Some(id) = &reg.identity {
            m.insert("identityReference".into(), json!({"resourceId": id}));
        }
        result.push(Value::Object(m));
    }
    result
}
