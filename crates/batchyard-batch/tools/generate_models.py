#!/usr/bin/env python3
"""Generate the serde models in src/models/ from spec/BatchService.json.

Run from the crate directory, then format:

    python3 tools/generate_models.py && cargo fmt -p batchyard-batch

`--out DIR` writes the modules to DIR instead of src/models/; scripts/test generates
into a temporary directory and compares, so models that drift from the generator or
the spec fail the tests.

Every definition of the swagger file becomes one Rust type with the same name:
objects become structs, string enums become `string_enum!` types that keep
unknown values. Definitions are spread over modules by the first group (in the
order of GROUPS) whose roots reach them, so shared building blocks land in the
earliest group that needs them and everything unreached lands in `common`.
"""

import argparse
import json
import re
import textwrap
from pathlib import Path

CRATE = Path(__file__).resolve().parent.parent
SPEC = CRATE / "spec" / "BatchService.json"
OUT = CRATE / "src" / "models"

# (module, module doc, roots)
GROUPS = [
    ("error", "The error body every Batch operation answers with on failure.", ["BatchError"]),
    (
        "common",
        "Building blocks shared by pools, jobs and tasks: start tasks, files, identities, "
        "constraints, containers, and execution results.",
        [
            "BatchStartTask",
            "ResourceFile",
            "OutputFile",
            "EnvironmentSetting",
            "BatchMetadataItem",
            "BatchApplicationPackageReference",
            "NameValuePair",
            "BatchTaskConstraints",
            "BatchTaskContainerSettings",
            "UserIdentity",
            "BatchTaskExecutionResult",
            "BatchTaskFailureInfo",
            "BatchTaskContainerExecutionInfo",
            "BatchErrorSourceCategory",
        ],
    ),
    (
        "vm",
        "What a pool's nodes are made of: VM configuration, image, containers, extensions, "
        "disks, network, mounts, user accounts, identities and upgrade policy.",
        [
            "VirtualMachineConfiguration",
            "VirtualMachineConfigurationUpdate",
            "NetworkConfiguration",
            "NetworkConfigurationUpdate",
            "MountConfiguration",
            "UserAccount",
            "UpgradePolicy",
            "UpgradePolicyUpdate",
            "BatchPoolIdentity",
            "BatchTaskSchedulingPolicy",
            "BatchTaskSchedulingPolicyUpdate",
            "BatchCertificateReference",
            "BatchNodeCommunicationMode",
        ],
    ),
    (
        "pool",
        "Pools: create, get, list, patch, replace properties, resize, autoscale, remove nodes.",
        [
            "BatchPool",
            "BatchPoolListResult",
            "BatchPoolCreateOptions",
            "BatchPoolUpdateOptions",
            "BatchPoolReplaceOptions",
            "BatchPoolResizeOptions",
            "BatchPoolEnableAutoScaleOptions",
            "BatchPoolEvaluateAutoScaleOptions",
            "AutoScaleRun",
            "BatchNodeRemoveOptions",
            "BatchPoolSpecification",
            "BatchPoolSpecificationUpdate",
        ],
    ),
    (
        "node",
        "Compute nodes: get, list, reboot, reimage, deallocate, scheduling, users, logs, files.",
        [
            "BatchNode",
            "BatchNodeListResult",
            "BatchNodeRebootOptions",
            "BatchNodeReimageOptions",
            "BatchNodeDeallocateOptions",
            "BatchNodeDisableSchedulingOptions",
            "BatchNodeUserCreateOptions",
            "BatchNodeUserUpdateOptions",
            "BatchNodeRemoteLoginSettings",
            "BatchNodeVMExtension",
            "BatchNodeVMExtensionListResult",
            "UploadBatchServiceLogsOptions",
            "UploadBatchServiceLogsResult",
            "BatchNodeFile",
            "BatchNodeFileListResult",
        ],
    ),
    (
        "job",
        "Jobs: create, get, list, patch, replace, disable, terminate, task counts.",
        [
            "BatchJob",
            "BatchJobListResult",
            "BatchJobCreateOptions",
            "BatchJobUpdateOptions",
            "BatchJobDisableOptions",
            "BatchJobTerminateOptions",
            "BatchTaskCountsResult",
            "BatchJobPreparationAndReleaseTaskStatusListResult",
            "BatchPoolInfo",
            "BatchPoolInfoUpdate",
        ],
    ),
    (
        "schedule",
        "Job schedules.",
        [
            "BatchJobSchedule",
            "BatchJobScheduleListResult",
            "BatchJobScheduleCreateOptions",
            "BatchJobScheduleUpdateOptions",
        ],
    ),
    (
        "task",
        "Tasks: create, create collection, get, list, subtasks.",
        [
            "BatchTask",
            "BatchTaskListResult",
            "BatchTaskCreateOptions",
            "BatchTaskGroup",
            "BatchCreateTaskCollectionResult",
            "BatchTaskListSubtasksResult",
        ],
    ),
    (
        "account",
        "Account-wide listings: supported images, node counts, usage metrics, applications, "
        "certificates.",
        [
            "BatchAccountListSupportedImagesResult",
            "BatchPoolNodeCountsListResult",
            "BatchPoolListUsageMetricsResult",
            "BatchApplicationListResult",
            "BatchCertificateListResult",
            "BatchCertificate",
        ],
    ),
]

# Swagger string aliases that are not worth a type of their own.
STRING_ALIASES = {"Azure.Core.eTag", "Azure.Core.ipV4Address", "Azure.Core.ipV6Address"}


def ref_name(schema):
    return schema["$ref"].split("/")[-1]


def refs_of(defn):
    out = []
    for prop in defn.get("properties", {}).values():
        for s in (prop, prop.get("items", {}), prop.get("additionalProperties", {})):
            if isinstance(s, dict) and "$ref" in s:
                out.append(ref_name(s))
    return out


def snake(name):
    name = name.replace(".", "_")
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def serde_camel(snake_name):
    """What serde's rename_all = "camelCase" makes of a snake_case field name."""
    parts = snake_name.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


RUST_KEYWORDS = {"type", "match", "ref", "move", "use", "mod", "fn", "impl", "self", "loop", "box"}


def field_ident(name):
    return f"r#{name}" if name in RUST_KEYWORDS else name


def doc_lines(text, indent=""):
    if not text:
        return []
    text = text.replace("```", "'''").replace("\r", "")
    # The spec's prose is not Markdown: keep rustdoc from reading links, tags or emphasis.
    for char in "\\[]<>*_`":
        text = text.replace(char, "\\" + char)
    text = re.sub(
        r"https?://[^\s)]+",
        lambda m: "<" + m.group(0).rstrip(".,").replace("\\", "") + ">" + m.group(0)[len(m.group(0).rstrip(".,")):],
        text,
    )
    lines = []
    for para in text.split("\n"):
        para = para.strip()
        if not para:
            lines.append(f"{indent}///")
            continue
        for line in textwrap.wrap(para, 92, break_long_words=False, break_on_hyphens=False):
            lines.append(f"{indent}/// {line}")
    while lines and lines[-1].strip() == "///":
        lines.pop()
    return lines


class Generator:
    def __init__(self, spec):
        self.defs = spec["definitions"]
        self.module_of = {}
        self.has_default_cache = {}

    def assign_modules(self):
        for module, _doc, roots in GROUPS:
            queue = list(roots)
            while queue:
                name = queue.pop(0)
                if name in STRING_ALIASES or name in self.module_of:
                    continue
                self.module_of[name] = module
                queue.extend(refs_of(self.defs[name]))
        for name in self.defs:
            if name not in STRING_ALIASES:
                self.module_of.setdefault(name, "common")

    def find_response_types(self, spec):
        """Definitions reachable from a response schema: their required fields may be
        left out by the service when the caller asks for `$select`, so they default."""
        queue = []
        for methods in spec["paths"].values():
            for op in methods.values():
                for code, response in op["responses"].items():
                    if code.startswith("2") and "$ref" in response.get("schema", {}):
                        queue.append(ref_name(response["schema"]))
        seen = set()
        while queue:
            name = queue.pop()
            if name in seen or name in STRING_ALIASES:
                continue
            seen.add(name)
            queue.extend(refs_of(self.defs[name]))
        self.response_types = seen

    def type_has_default(self, ty):
        if ty.startswith(("Vec<", "BTreeMap<")) or ty in ("String", "i32", "i64", "f64", "bool"):
            return True
        return ty in self.defs and self.has_default(ty)

    def is_enum(self, name):
        return "enum" in self.defs[name]

    def has_default(self, name):
        """A struct derives Default when every required field's type has one."""
        if name in self.has_default_cache:
            return self.has_default_cache[name]
        self.has_default_cache[name] = True  # cycles: assume yes
        d = self.defs[name]
        ok = not self.is_enum(name)
        if ok:
            for req in d.get("required", []):
                prop = d["properties"][req]
                if "$ref" in prop and ref_name(prop) not in STRING_ALIASES:
                    if not self.has_default(ref_name(prop)):
                        ok = False
        self.has_default_cache[name] = ok
        return ok

    def rust_type(self, prop, owner, field):
        if "$ref" in prop:
            name = ref_name(prop)
            return "String" if name in STRING_ALIASES else name
        t = prop.get("type")
        fmt = prop.get("format")
        if "enum" in prop:
            return prop["x-ms-enum"]["name"]
        if t == "string":
            return "i64" if fmt == "int64" else "String"
        if t == "integer":
            return "i64" if fmt == "int64" else "i32"
        if t == "number":
            return "f64"
        if t == "boolean":
            return "bool"
        if t == "array":
            return f"Vec<{self.rust_type(prop['items'], owner, field)}>"
        if t == "object" and "additionalProperties" in prop:
            inner = self.rust_type(prop["additionalProperties"], owner, field)
            return f"BTreeMap<String, {inner}>"
        raise SystemExit(f"unsupported schema at {owner}.{field}: {prop}")

    def emit_struct(self, name):
        d = self.defs[name]
        required = set(d.get("required", []))
        derives = "Debug, Clone, PartialEq, Serialize, Deserialize"
        if self.has_default(name):
            derives += ", Default"
        out = doc_lines(d.get("description"))
        out.append(f"#[derive({derives})]")
        out.append('#[serde(rename_all = "camelCase")]')
        out.append(f"pub struct {name} {{")
        for wire, prop in d.get("properties", {}).items():
            rust_name = snake(prop.get("x-ms-client-name", wire))
            ty = self.rust_type(prop, name, wire)
            int64_as_string = prop.get("type") == "string" and prop.get("format") == "int64"
            desc = prop.get("description", "")
            if prop.get("readOnly"):
                desc += "\n\nRead-only: set by the service, ignored in requests."
            out.extend(doc_lines(desc, "    "))
            attrs = []
            if serde_camel(rust_name) != wire:
                attrs.append(f'rename = "{wire}"')
            if wire in required:
                if name in self.response_types and self.type_has_default(ty):
                    attrs.append("default")
                if int64_as_string:
                    attrs.append('with = "crate::models::int64_string"')
            else:
                ty = f"Option<{ty}>"
                attrs.append("default")
                attrs.append('skip_serializing_if = "Option::is_none"')
                if int64_as_string:
                    raise SystemExit(f"optional int64-as-string field {name}.{wire}: add a helper")
            if attrs:
                out.append(f"    #[serde({', '.join(attrs)})]")
            out.append(f"    pub {field_ident(rust_name)}: {ty},")
        out.append("}")
        return out

    def emit_enum(self, name):
        d = self.defs[name]
        out = doc_lines(d.get("description"))
        out.append(f"{name} {{")
        for v in d["x-ms-enum"]["values"]:
            out.extend(doc_lines(v.get("description"), "    "))
            variant = v["name"][:1].upper() + v["name"][1:]
            out.append(f'    {variant} = "{v["value"]}",')
        out.append("}")
        return ["string_enum! {"] + ["    " + l if l else l for l in out] + ["}"]

    def emit_module(self, module, doc):
        names = [n for n in self.defs if self.module_of.get(n) == module]
        body = []
        uses_map = False
        for name in names:
            body.append("")
            if self.is_enum(name):
                body.extend(self.emit_enum(name))
            else:
                lines = self.emit_struct(name)
                uses_map = uses_map or any("BTreeMap<" in l for l in lines)
                body.extend(lines)
        header = [
            "// @generated by tools/generate_models.py from spec/BatchService.json; do not edit.",
            "",
        ]
        header += [f"//! {doc}"]
        header += ["", "#[allow(unused_imports)]", "use super::*;"]
        if uses_map:
            header.append("use std::collections::BTreeMap;")
        header.append("use serde::{Deserialize, Serialize};")
        (OUT / f"{module}.rs").write_text("\n".join(header + body) + "\n")
        return names


def main():
    global OUT
    parser = argparse.ArgumentParser(description="Generate src/models/ from the Batch spec.")
    parser.add_argument("--out", type=Path, default=OUT, help="directory to write the modules to")
    OUT = parser.parse_args().out
    OUT.mkdir(parents=True, exist_ok=True)
    spec = json.loads(SPEC.read_text())
    gen = Generator(spec)
    gen.assign_modules()
    gen.find_response_types(spec)
    for module, doc, _roots in GROUPS:
        gen.emit_module(module, doc)


if __name__ == "__main__":
    main()
