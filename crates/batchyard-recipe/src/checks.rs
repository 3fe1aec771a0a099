//! Checks that need only the recipe: references resolve, ids are unique and valid, exactly
//! one of each pair of alternatives is given. They run on the rendered tree, so they still
//! report when other parts of the file have schema errors.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::code::Code;
use crate::diagnostic::{Diagnostic, did_you_mean, pointer};
use crate::template::{RESERVED_NAMES, is_template};

/// Batch's rule for pool, job and task ids.
pub const ID_RULE: &str = "ids use letters, digits, `-` and `_`, at most 64 characters";

/// Why an id breaks Batch's rules, if it does.
pub fn id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("the id is empty".into());
    }
    let len = id.chars().count();
    if len > 64 {
        return Some(format!(
            "the id is {len} characters long; Batch allows at most 64"
        ));
    }
    id.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        .map(|c| format!("the id contains `{c}`, which Batch does not allow"))
}

/// Runs every check on the rendered recipe value.
pub fn check(value: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(name) = value.get("recipe").and_then(Value::as_str) {
        check_id(&mut out, "/recipe", name);
    }
    check_variables(&mut out, value);
    let registries: Vec<&str> = list(value, "registries")
        .iter()
        .filter_map(|r| r.get("server").and_then(Value::as_str))
        .collect();
    let pools = list(value, "pools");
    let pool_ids = unique_ids(&mut out, "/pools", pools, "pool");
    for (i, pool) in pools.iter().enumerate() {
        check_pool(&mut out, &format!("/pools/{i}"), pool, &registries);
    }
    let jobs = list(value, "jobs");
    unique_ids(&mut out, "/jobs", jobs, "job");
    for (i, job) in jobs.iter().enumerate() {
        check_job(&mut out, &format!("/jobs/{i}"), job, &pool_ids, pools);
    }
    check_key_vault_urls(&mut out, "", value);
    out
}

/// Every `{keyvault: URL}` names a Key Vault secret in a form Key Vault uses: found here,
/// without a target, rather than when plan asks the vault. Variables and `x-` keys hold
/// free data and are not secrets.
fn check_key_vault_urls(out: &mut Vec<Diagnostic>, path: &str, value: &Value) {
    match value {
        Value::Object(map) => {
            if let (1, Some(Value::String(url))) = (map.len(), map.get("keyvault")) {
                // The schema already rejects a URL that is not https.
                if url.starts_with("https://")
                    && let Err(problem) = crate::model::KeyVaultRef::parse(url)
                {
                    out.push(
                        Diagnostic::error(Code::InvalidKeyVaultUrl, format!("{path}/keyvault"), problem).with_help(
                            "copy the secret's identifier from the portal or `az keyvault secret show --query id`",
                        ),
                    );
                }
                return;
            }
            for (key, v) in map {
                if path.is_empty() && (key == "variables" || key.starts_with("x-")) {
                    continue;
                }
                let key = key.replace('~', "~0").replace('/', "~1");
                check_key_vault_urls(out, &format!("{path}/{key}"), v);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                check_key_vault_urls(out, &format!("{path}/{i}"), v);
            }
        }
        _ => {}
    }
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn check_id(out: &mut Vec<Diagnostic>, path: &str, id: &str) {
    if let Some(problem) = id_problem(id) {
        out.push(
            Diagnostic::error(Code::InvalidId, path, problem)
                .with_label("invalid id")
                .with_help(ID_RULE),
        );
    }
}

fn check_variables(out: &mut Vec<Diagnostic>, value: &Value) {
    if let Some(vars) = value.get("variables").and_then(Value::as_object) {
        for name in vars.keys() {
            if RESERVED_NAMES.contains(&name.as_str()) {
                out.push(
                    Diagnostic::error(
                        Code::ReservedName,
                        pointer(["variables", name]),
                        format!("`{name}` is a reserved template name"),
                    )
                    .with_help(format!(
                        "rename the variable; reserved names are {}",
                        RESERVED_NAMES.join(", ")
                    ))
                    .at_key(),
                );
            }
        }
    }
}

/// Checks that ids in a list are valid and unique; returns them.
fn unique_ids<'a>(
    out: &mut Vec<Diagnostic>,
    path: &str,
    items: &'a [Value],
    what: &str,
) -> Vec<&'a str> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut ids = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(id) = item.get("id").and_then(Value::as_str) else {
            continue;
        };
        let id_path = format!("{path}/{i}/id");
        check_id(out, &id_path, id);
        match seen.get(id) {
            Some(first) => out.push(
                Diagnostic::error(
                    Code::DuplicateId,
                    id_path,
                    format!("duplicate {what} id `{id}`"),
                )
                .with_label("used again here")
                .with_help(format!(
                    "{what} ids must be unique; `{id}` is first used at {path}/{first}"
                )),
            ),
            None => {
                seen.insert(id, i);
            }
        }
        ids.push(id);
    }
    ids
}

fn exactly_one(out: &mut Vec<Diagnostic>, path: &str, obj: &Value, a: &str, b: &str, what: &str) {
    let (has_a, has_b) = (obj.get(a).is_some(), obj.get(b).is_some());
    if has_a && has_b {
        out.push(
            Diagnostic::error(
                Code::ConflictingKeys,
                format!("{path}/{b}"),
                format!("`{a}` and `{b}` are both given"),
            )
            .with_help(format!("give one of them: {what}"))
            .at_key(),
        );
    } else if !has_a && !has_b {
        out.push(
            Diagnostic::error(
                Code::MissingOneOf,
                path,
                format!("neither `{a}` nor `{b}` is given"),
            )
            .with_help(format!("give one of them: {what}")),
        );
    }
}

fn check_pool(out: &mut Vec<Diagnostic>, path: &str, pool: &Value, registries: &[&str]) {
    exactly_one(
        out,
        path,
        pool,
        "os",
        "image",
        "`os` names a catalogue image such as ubuntu-22.04; `image` gives one explicitly",
    );
    exactly_one(
        out,
        path,
        pool,
        "nodes",
        "autoscale",
        "`nodes: {dedicated: N}` for a fixed size, or `autoscale`",
    );
    if let Some(auto) = pool.get("autoscale").filter(|a| a.is_object()) {
        exactly_one(
            out,
            &format!("{path}/autoscale"),
            auto,
            "scenario",
            "formula",
            "a named `scenario` or a raw `formula`",
        );
    }
    if let Some(image) = pool.get("image").filter(|i| i.is_object()) {
        let custom = image.get("custom").is_some();
        let market = ["publisher", "offer", "sku"]
            .iter()
            .filter(|k| image.get(**k).is_some())
            .count();
        if custom && market > 0 {
            out.push(
                Diagnostic::error(
                    Code::InvalidImage,
                    format!("{path}/image/custom"),
                    "a custom image cannot also name a marketplace image",
                )
                .with_help("give either `custom` or `publisher`, `offer` and `sku`")
                .at_key(),
            );
        } else if !custom && market < 3 {
            out.push(
                Diagnostic::error(
                    Code::InvalidImage,
                    format!("{path}/image"),
                    "a marketplace image needs `publisher`, `offer` and `sku`",
                )
                .with_help("give all three, or `custom` with an image id"),
            );
        }
    }
    if let Some(regs) = pool
        .pointer("/containers/registries")
        .and_then(Value::as_array)
    {
        for (i, reg) in regs.iter().enumerate() {
            let Some(name) = reg.as_str() else { continue };
            if !registries.contains(&name) {
                let mut d = Diagnostic::error(
                    Code::UnknownRegistry,
                    format!("{path}/containers/registries/{i}"),
                    format!("registry `{name}` is not defined in `registries`"),
                )
                .with_label("unknown registry");
                d = match did_you_mean(name, registries.iter().copied()) {
                    Some(close) => d.with_help(format!("did you mean `{close}`?")),
                    None => {
                        d.with_help("add it under `registries:` with its server and credentials")
                    }
                };
                out.push(d);
            }
        }
    }
    check_mounts(out, path, pool);
    let slots = pool
        .get("task_slots_per_node")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    if pool.get("rdma") == Some(&Value::Bool(true)) && slots > 1 {
        out.push(
            Diagnostic::error(
                Code::RdmaSetup,
                format!("{path}/task_slots_per_node"),
                "an RDMA pool runs one task per node",
            )
            .with_help(
                "remove `task_slots_per_node` or set it to 1; MPI ranks share the node instead",
            ),
        );
    }
}

/// Mount directories are distinct and stay inside `$AZ_BATCH_NODE_MOUNTS_DIR`; a blob
/// mount names exactly one way in.
fn check_mounts(out: &mut Vec<Diagnostic>, path: &str, pool: &Value) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, mount) in list(pool, "mounts").iter().enumerate() {
        let Some((kind, m)) = mount.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        let at = format!("{path}/mounts/{i}/{kind}");
        if let Some(dir) = m.get("path").and_then(Value::as_str) {
            if dir.split('/').any(|part| part == "..") || dir.starts_with('/') {
                out.push(
                    Diagnostic::error(
                        Code::InvalidMount,
                        format!("{at}/path"),
                        format!("`{dir}` leaves the mounts directory"),
                    )
                    .with_help("give a path relative to $AZ_BATCH_NODE_MOUNTS_DIR, without `..`"),
                );
            } else if let Some(first) = seen.insert(dir, i) {
                out.push(
                    Diagnostic::error(
                        Code::InvalidMount,
                        format!("{at}/path"),
                        format!("mount {first} already uses the directory `{dir}`"),
                    )
                    .with_label("duplicate mount path")
                    .with_help("give each mount its own `path`"),
                );
            }
        }
        if kind == "azure_blob" {
            let given: Vec<&str> = ["key", "sas", "identity"]
                .into_iter()
                .filter(|k| m.get(*k).is_some())
                .collect();
            if given.len() != 1 {
                let problem = if given.is_empty() {
                    "the blob mount gives no credential".to_owned()
                } else {
                    format!("the blob mount gives {}", given.join(" and "))
                };
                out.push(
                    Diagnostic::error(Code::InvalidMount, at, problem)
                        .with_help("give exactly one of `key`, `sas` and `identity`"),
                );
            }
        }
    }
}

fn node_total(pool: &Value) -> Option<u64> {
    let nodes = pool.get("nodes")?;
    let d = nodes.get("dedicated").and_then(Value::as_u64).unwrap_or(0);
    let s = nodes.get("spot").and_then(Value::as_u64).unwrap_or(0);
    Some(d + s)
}

fn check_job(
    out: &mut Vec<Diagnostic>,
    path: &str,
    job: &Value,
    pool_ids: &[&str],
    pools: &[Value],
) {
    let pool = match job.get("pool").and_then(Value::as_str) {
        Some(pool_id) if !pool_ids.contains(&pool_id) => {
            let mut d = Diagnostic::error(
                Code::UnknownPool,
                format!("{path}/pool"),
                format!("pool `{pool_id}` is not defined in this recipe"),
            )
            .with_label("unknown pool");
            d = match did_you_mean(pool_id, pool_ids.iter().copied()) {
                Some(close) => d.with_help(format!(
                    "did you mean `{close}`? pools here: {}",
                    pool_ids.join(", ")
                )),
                None if pool_ids.is_empty() => d.with_help("add the pool under `pools:`"),
                None => d.with_help(format!("pools here: {}", pool_ids.join(", "))),
            };
            out.push(d);
            None
        }
        Some(pool_id) => pools
            .iter()
            .find(|p| p.get("id").and_then(Value::as_str) == Some(pool_id)),
        None => None,
    };
    let tasks = list(job, "tasks");
    let tasks_path = format!("{path}/tasks");
    // Factory ids are templates: checked per generated task by the compiler.
    let mut explicit: HashMap<&str, usize> = HashMap::new();
    let mut patterns: Vec<Vec<&str>> = Vec::new();
    for (i, task) in tasks.iter().enumerate() {
        let Some(id) = task.get("id").and_then(Value::as_str) else {
            continue;
        };
        if task.get("factory").is_some() || is_template(id) {
            patterns.push(literal_parts(id));
            continue;
        }
        let id_path = format!("{tasks_path}/{i}/id");
        check_id(out, &id_path, id);
        if let Some(first) = explicit.get(id) {
            out.push(
                Diagnostic::error(
                    Code::DuplicateTaskId,
                    id_path,
                    format!("duplicate task id `{id}`"),
                )
                .with_label("used again here")
                .with_help(format!(
                    "task ids must be unique in a job; `{id}` is first used at {tasks_path}/{first}"
                )),
            );
        } else {
            explicit.insert(id, i);
        }
    }
    let known: Vec<&str> = explicit.keys().copied().collect();
    for (i, task) in tasks.iter().enumerate() {
        let task_path = format!("{tasks_path}/{i}");
        let own_id = task.get("id").and_then(Value::as_str).unwrap_or("");
        if let Some(deps) = task.get("depends_on").and_then(Value::as_array) {
            for (j, dep) in deps.iter().enumerate() {
                let Some(dep) = dep.as_str() else { continue };
                let dep_path = format!("{task_path}/depends_on/{j}");
                if dep == own_id && task.get("factory").is_none() {
                    out.push(
                        Diagnostic::error(
                            Code::SelfDependency,
                            dep_path,
                            format!("task `{dep}` depends on itself"),
                        )
                        .with_label("self-dependency"),
                    );
                } else if !explicit.contains_key(dep)
                    && !patterns.iter().any(|p| matches_parts(p, dep))
                {
                    let mut d = Diagnostic::error(
                        Code::UnknownDependency,
                        dep_path,
                        format!("task `{dep}` is not defined in job"),
                    )
                    .with_label("unknown task");
                    d = match did_you_mean(dep, known.iter().copied()) {
                        Some(close) => d.with_help(format!(
                            "did you mean `{close}`? or write `depends_on: all` for a merge task"
                        )),
                        None => d.with_help(
                            "name a task of this job, or write `depends_on: all` for a merge task",
                        ),
                    };
                    out.push(d);
                }
            }
        }
        if let Some(mpi) = task.get("mpi") {
            let instances = mpi.get("instances").and_then(Value::as_u64);
            if let (Some(n), Some(total)) = (instances, pool.and_then(node_total))
                && n > total
            {
                out.push(
                    Diagnostic::error(
                        Code::MpiTooFewNodes,
                        format!("{task_path}/mpi/instances"),
                        format!("{n} instances need {n} nodes, but the pool has {total}"),
                    )
                    .with_help("lower `instances` or raise the pool's node count"),
                );
            }
        }
        let slots = pool
            .and_then(|p| p.get("task_slots_per_node"))
            .and_then(Value::as_u64)
            .unwrap_or(1);
        if let Some(req) = task.get("required_slots").and_then(Value::as_u64)
            && req > slots
        {
            out.push(
                Diagnostic::error(
                    Code::TooManySlots,
                    format!("{task_path}/required_slots"),
                    format!("the task needs {req} slots but nodes of its pool have {slots}"),
                )
                .with_help("lower `required_slots` or raise the pool's `task_slots_per_node`"),
            );
        }
        for kind in ["product", "zip"] {
            let Some(axes) = task
                .pointer(&format!("/factory/{kind}"))
                .and_then(Value::as_object)
            else {
                continue;
            };
            for (name, axis) in axes {
                let step = axis.pointer("/range/2").and_then(Value::as_f64);
                if step == Some(0.0) {
                    out.push(
                        Diagnostic::error(Code::InvalidFactory,
                            pointer(["jobs", &job_index(path), "tasks", &i.to_string(), "factory", kind, name, "range", "2"]),
                            "a range step of 0 never reaches the end",
                        )
                        .with_help("write `range: [start, stop, step]` with a step that is not 0 (negative to count down)"),
                    );
                }
            }
        }
        if let Some(factory) = task.get("factory")
            && let Some(count) = factory_size(factory)
            && count > MAX_FACTORY_TASKS
        {
            out.push(
                Diagnostic::error(Code::FactoryTooLarge,
                    format!("{task_path}/factory"),
                    format!("the factory makes {} tasks; the limit is {MAX_FACTORY_TASKS}", count_text(count)),
                )
                .with_help("a job of this size is almost always a mistake: check the ranges and counts, or split the work into several jobs"),
            );
        }
        if let Some(files) = task.pointer("/factory/files").filter(|f| f.is_object()) {
            exactly_one(
                out,
                &format!("{task_path}/factory/files"),
                files,
                "lines",
                "glob",
                "`lines: FILE` or `glob: PATTERN`",
            );
        }
        for (j, rf) in list(task, "resource_files").iter().enumerate() {
            let n = ["url", "container_url", "auto_storage_container"]
                .iter()
                .filter(|k| rf.get(**k).is_some())
                .count();
            if n != 1 {
                out.push(
                    Diagnostic::error(
                        Code::ResourceFileSource,
                        format!("{task_path}/resource_files/{j}"),
                        "a resource file needs exactly one source",
                    )
                    .with_help("give one of `url`, `container_url` or `auto_storage_container`"),
                );
            }
        }
    }
    check_cycles(out, &tasks_path, tasks, &explicit);
}

/// The job index of a `/jobs/N` path.
fn job_index(path: &str) -> String {
    path.rsplit('/').next().unwrap_or_default().to_owned()
}

/// The most tasks one factory may make.
pub const MAX_FACTORY_TASKS: u128 = 10_000_000;

fn count_text(count: u128) -> String {
    if count == u128::MAX {
        "more than 10^38".into()
    } else {
        count.to_string()
    }
}

/// How many items a factory makes, when that follows from the recipe alone (tables and
/// file lists depend on files). Saturates instead of overflowing.
pub fn factory_size(factory: &Value) -> Option<u128> {
    let (kind, spec) = factory.as_object()?.iter().next()?;
    match kind.as_str() {
        "product" => spec
            .as_object()?
            .values()
            .try_fold(1u128, |acc, axis| Some(acc.saturating_mul(axis_len(axis)?))),
        "zip" => spec
            .as_object()?
            .values()
            .map(axis_len)
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .min(),
        "repeat" => spec.as_u64().map(u128::from),
        "random" => spec.get("count")?.as_u64().map(u128::from),
        "combinations" | "permutations" => {
            let n = spec.get("of")?.as_array()?.len() as u128;
            let k = u128::from(u32::try_from(spec.get("length")?.as_u64()?).ok()?);
            let replacement = spec
                .get("replacement")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            Some(choose(n, k, kind == "permutations", replacement))
        }
        _ => None,
    }
}

fn axis_len(axis: &Value) -> Option<u128> {
    if let Some(list) = axis.as_array() {
        return Some(list.len() as u128);
    }
    let range = axis.get("range")?.as_array()?;
    let num = |i: usize| range.get(i).and_then(Value::as_f64);
    let (start, stop, step) = (num(0)?, num(1)?, num(2).unwrap_or(1.0));
    if step == 0.0 || !step.is_finite() || !start.is_finite() || !stop.is_finite() {
        return None;
    }
    let n = ((stop - start) / step).ceil();
    // Float to integer casts saturate, which is the intent for absurd ranges.
    Some(if n <= 0.0 { 0 } else { n as u128 })
}

/// Counts selections of k from n: ordered or not, with or without replacement.
fn choose(n: u128, k: u128, ordered: bool, replacement: bool) -> u128 {
    match (ordered, replacement) {
        (true, true) => (0..k).fold(1u128, |acc, _| acc.saturating_mul(n)),
        (true, false) if k > n => 0,
        (true, false) => (0..k).fold(1u128, |acc, i| acc.saturating_mul(n - i)),
        (false, true) => choose(n + k - 1, k, false, false),
        (false, false) if k > n => 0,
        (false, false) => {
            let k = k.min(n - k);
            let mut acc = 1u128;
            for i in 0..k {
                acc = match acc.checked_mul(n - i) {
                    Some(v) => v / (i + 1),
                    None => return u128::MAX,
                };
            }
            acc
        }
    }
}

/// The literal pieces of an id template (`sweep-{{ item.lr }}` → ["sweep-", ""]).
fn literal_parts(template: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        parts.push(&rest[..start]);
        match rest[start..].find("}}") {
            Some(end) => rest = &rest[start + end + 2..],
            None => {
                rest = "";
                break;
            }
        }
    }
    parts.push(rest);
    parts
}

/// Whether `id` could come from a template with these literal pieces.
fn matches_parts(parts: &[&str], id: &str) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return false;
    };
    let Some(mut tail) = id.strip_prefix(first) else {
        return false;
    };
    if rest.is_empty() {
        return tail.is_empty();
    }
    for (i, part) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        if last {
            return tail.ends_with(part);
        }
        match tail.find(part) {
            Some(pos) => tail = &tail[pos + part.len()..],
            None => return false,
        }
    }
    true
}

fn check_cycles(
    out: &mut Vec<Diagnostic>,
    tasks_path: &str,
    tasks: &[Value],
    index: &HashMap<&str, usize>,
) {
    let deps = |i: usize| -> Vec<usize> {
        tasks[i]
            .get("depends_on")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .filter_map(|d| index.get(d).copied())
                    .collect()
            })
            .unwrap_or_default()
    };
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; tasks.len()];
    let mut reported = HashSet::new();
    for start in 0..tasks.len() {
        if state[start] != 0 || !index.values().any(|&v| v == start) {
            continue;
        }
        let mut stack = vec![(start, deps(start), 0usize)];
        state[start] = 1;
        while let Some((node, children, next)) = stack.last_mut() {
            if let Some(&child) = children.get(*next) {
                *next += 1;
                match state[child] {
                    0 => {
                        state[child] = 1;
                        let d = deps(child);
                        stack.push((child, d, 0));
                    }
                    1 if reported.insert(child) => {
                        let id = tasks[child]
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or("?");
                        out.push(
                            Diagnostic::error(
                                Code::DependencyCycle,
                                format!("{tasks_path}/{child}/depends_on"),
                                format!("task `{id}` depends on itself through a cycle"),
                            )
                            .with_help(
                                "Batch would never run these tasks; remove one of the dependencies",
                            ),
                        );
                    }
                    _ => {}
                }
            } else {
                state[*node] = 2;
                stack.pop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_rules() {
        assert!(id_problem("gpu-pool_1").is_none());
        assert!(id_problem("").is_some());
        assert!(id_problem("a b").is_some());
        assert!(id_problem(&"x".repeat(65)).is_some());
        assert!(id_problem(&"x".repeat(64)).is_none());
    }

    #[test]
    fn template_ids_match_generated_ids() {
        let parts = literal_parts("sweep-{{ item.lr }}-{{ item.b }}");
        assert!(matches_parts(&parts, "sweep-0.1-16"));
        assert!(!matches_parts(&parts, "other-0.1-16"));
        assert!(matches_parts(&literal_parts("t{{ index }}"), "t5"));
    }

    #[test]
    fn factory_sizes() {
        let size = |v: serde_json::Value| factory_size(&v);
        assert_eq!(
            size(serde_json::json!({"product": {"a": [1, 2, 3], "b": {"range": [16, 129, 16]}}})),
            Some(24)
        );
        assert_eq!(size(serde_json::json!({"repeat": 5})), Some(5));
        assert_eq!(
            size(serde_json::json!({"zip": {"a": [1, 2, 3], "b": [1, 2]}})),
            Some(2)
        );
        assert_eq!(
            size(serde_json::json!({"combinations": {"of": [1, 2, 3, 4], "length": 2}})),
            Some(6)
        );
        assert_eq!(
            size(serde_json::json!({"permutations": {"of": [1, 2, 3, 4], "length": 2}})),
            Some(12)
        );
        assert_eq!(
            size(
                serde_json::json!({"combinations": {"of": [1, 2, 3], "length": 2, "replacement": true}})
            ),
            Some(6)
        );
        assert_eq!(
            size(serde_json::json!({"product": {"a": {"range": [0, 1e300]}}})),
            Some(u128::MAX)
        );
        assert_eq!(size(serde_json::json!({"table": {"file": "x.csv"}})), None);
    }

    #[test]
    fn cycles_are_found() {
        let v = serde_json::json!({"recipe": "r", "pools": [{"id": "p", "os": "x", "nodes": {}}], "jobs": [{"id": "j", "pool": "p", "tasks": [
            {"id": "a", "command": "x", "depends_on": ["b"]},
            {"id": "b", "command": "x", "depends_on": ["a"]}
        ]}]});
        let d = check(&v);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].message.contains("cycle"));
    }
}
