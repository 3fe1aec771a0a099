//! `TaskStream::write_next` writes the very bytes `serde_json` gives for the tasks the
//! stream's iterator yields, and reports the same problems in the same order, whichever way
//! each factory's tasks are produced. Every line is also checked against the Batch spec.

#![allow(clippy::unwrap_used)] // tests may unwrap

use std::path::Path;

use batchyard_batch::validate_against_spec;
use batchyard_compile::{CompileOptions, compile, tasks};
use batchyard_recipe::load;
use batchyard_recipe::render::Variables;
use serde_json::Value;

/// One task as a line, or a problem as (path, message, help).
type Out = Result<String, (String, String, Option<String>)>;

/// The tasks of every job, through the iterator and through `write_next`.
fn both_ways(text: &str) -> (Vec<Out>, Vec<Out>) {
    let loaded = load("test.yaml", text, &Variables::new());
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    let desired = compile(
        loaded.recipe.as_ref().unwrap(),
        &CompileOptions {
            base_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recipes"),
            ..CompileOptions::default()
        },
    )
    .unwrap_or_else(|d| panic!("{d:#?}"));
    let (mut iterated, mut written) = (Vec::new(), Vec::new());
    for job in &desired.jobs {
        for t in tasks(&loaded, &desired, job) {
            iterated.push(
                t.map(|t| serde_json::to_string(&t).unwrap() + "\n")
                    .map_err(|d| (d.path, d.message, d.help)),
            );
        }
        let mut stream = tasks(&loaded, &desired, job);
        let mut buf = Vec::new();
        while let Some(result) = stream.write_next(&mut buf) {
            written.push(
                result
                    .map(|()| String::from_utf8(std::mem::take(&mut buf)).unwrap())
                    .map_err(|d| (d.path, d.message, d.help)),
            );
            assert!(buf.is_empty(), "a problem wrote bytes");
        }
    }
    for line in written.iter().flatten() {
        assert!(
            line.ends_with('\n') && line.matches('\n').count() == 1,
            "{line:?}"
        );
        let value: Value = serde_json::from_str(line).unwrap();
        if let Err(e) = validate_against_spec("BatchTaskCreateOptions", &value) {
            panic!("invalid task: {e:#?}\n{line}");
        }
    }
    (iterated, written)
}

fn same_both_ways(text: &str) -> Vec<Out> {
    let (iterated, written) = both_ways(text);
    assert_eq!(written.len(), iterated.len());
    for (w, i) in written.iter().zip(&iterated) {
        assert_eq!(w, i);
    }
    written
}

#[test]
fn the_test_recipes_write_what_they_iterate() {
    for text in [
        include_str!("recipes/sweep.yaml"),
        include_str!("recipes/gpu.yaml"),
        include_str!("recipes/rdma-mpi.yaml"),
        include_str!("recipes/windows.yaml"),
    ] {
        let out = same_both_ways(text);
        assert!(!out.is_empty());
        assert!(out.iter().all(Result::is_ok), "{out:#?}");
    }
}

#[test]
fn every_copied_field_and_value_kind_is_written_as_the_ordinary_path_writes_it() {
    let out = same_both_ways(
        r#"
recipe: kinds
variables:
  region: "west \"eu\""
  n: 3
  on: true
  ratio: 0.25
pools:
  - id: p
    vm_size: Standard_D2s_v5
    os: ubuntu-hpc-24.04
    nodes: { dedicated: 1 }
    containers: { images: ["busybox"] }
jobs:
  - id: j
    pool: p
    tasks:
      - id: "t-{{ item.k }}-{{ index }}"
        command: "run {{ item.s }} {{ item.f }} {{ item.b }} {{ var.region }} {{ n }} {{ on }} {{ ratio }} {{ recipe.name }}"
        image: "img:{{ item.k }}"
        env: { S: "{{ item.s }}", F: "{{ item.f }}", B: "{{ item.b }}", N: "{{ n }}", I: "{{ index }}", Q: "say \"hi\"\t\\ {{ item.k }}", R: "{{ item.r }}", RR: "r{{ item.r }}", FIXED: "x" }
        resource_files: [{ url: "https://h/{{ item.k }}?a=b&c", path: "in/{{ item.s }}" }]
        output_files: [{ pattern: "out/{{ item.k }}/*", container_url: "https://h/c?sas", path: "{{ item.k }}" }]
        constraints: { max_wall_time: 1h, max_retries: 2 }
        elevated: true
        factory:
          zip:
            k: [a, b, c, d, e, f]
            s: ["plain", "quote \" back \\ slash", "tab\tnew\nline", "ünï €", "<>&'", ""]
            f: [0.1, 1.0e-5, 1.0e21, -0.0, 2.5, -7]
            b: [true, false, 12345678901234, -1, 0, 18446744073709551615]
            r: { range: [-3, 9, 2] }
"#,
    );
    assert_eq!(out.len(), 6);
    assert!(out.iter().all(Result::is_ok), "{out:#?}");
    let first: Value = serde_json::from_str(out[0].as_ref().unwrap()).unwrap();
    assert_eq!(first["id"], "t-a-0");
    assert_eq!(
        first["commandLine"],
        "run plain 0.1 true west \"eu\" 3 true 0.25 kinds"
    );
    assert_eq!(first["containerSettings"]["imageName"], "img:a");
}

#[test]
fn problems_come_out_the_same_and_in_the_same_place() {
    let out = same_both_ways(
        r#"
recipe: bad
pools:
  - id: p
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: { dedicated: 1 }
jobs:
  - id: j
    pool: p
    tasks:
      - id: first
        command: x
      - id: "t-{{ item.v }}"
        command: "x {{ item.v }}"
        factory: { zip: { v: ["a", "b.c", "a", "A", "d", "first", "e"] } }
      - id: "u-{{ item.values[0] }}"
        command: "{{ item.values[1] | upper }}"
        factory: { combinations: { of: [a, b, c], length: 2 } }
      - id: "w-{{ item.x }}"
        command: "{{ item.y }}"
        factory: { zip: { x: [1, 2, 3], y: [ok, [1, 2], {a: 1}] } }
      - id: "v-{{ index }}"
        command: "{{ item.missing }}"
        factory: { repeat: 2 }
      - id: "merge"
        command: x
        depends_on: all
"#,
    );
    let problems: Vec<(&str, &str)> = out
        .iter()
        .filter_map(|o| o.as_ref().err())
        .map(|(path, message, _)| (path.as_str(), message.as_str()))
        .collect();
    let at = |path: &str, text: &str| problems.iter().any(|(p, m)| *p == path && m.contains(text));
    assert!(at("/jobs/0/tasks/1/id", "contains `.`"), "{problems:#?}");
    assert!(
        at("/jobs/0/tasks/1/id", "`t-a` is used twice"),
        "{problems:#?}"
    );
    assert!(
        at("/jobs/0/tasks/1/id", "`t-A` is used twice"),
        "{problems:#?}"
    );
    assert!(
        !at("/jobs/0/tasks/1/id", "`t-first` is used twice"),
        "{problems:#?}"
    );
    assert!(
        at("/jobs/0/tasks/2/id", "`u-a` is used twice"),
        "{problems:#?}"
    );
    assert_eq!(
        problems
            .iter()
            .filter(|(p, _)| p.starts_with("/jobs/0/tasks/3/"))
            .count(),
        2,
        "{problems:#?}"
    );
    assert!(
        at("/jobs/0/tasks/4/command", "template error"),
        "{problems:#?}"
    );
    let ok = out.iter().filter(|o| o.is_ok()).count();
    // first, t-a, t-d, t-first, t-e, u-a, u-b, w-1, merge.
    assert_eq!(ok, 9, "{out:#?}");
}

#[test]
fn a_duplicate_across_factories_and_single_tasks_is_found() {
    let out = same_both_ways(
        r#"
recipe: dup
pools:
  - id: p
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: { dedicated: 1 }
jobs:
  - id: j
    pool: p
    tasks:
      - id: "s-{{ item.a }}-{{ item.b }}"
        command: "x"
        factory: { product: { a: { range: [0, 30] }, b: { range: [0, 30] } } }
      - id: S-29-29
        command: x
      - id: "s-{{ item.a }}"
        command: "x"
        factory: { product: { a: { range: [0, 40] } } }
      - id: "fixed"
        command: "x {{ index }}"
        factory: { repeat: 3 }
"#,
    );
    let problems: Vec<&str> = out
        .iter()
        .filter_map(|o| o.as_ref().err())
        .map(|(_, message, _)| message.as_str())
        .collect();
    assert_eq!(
        problems,
        [
            "task id `S-29-29` is used twice in job `j`",
            // The factory's repeats, once with a count.
            "task id `fixed` is used twice in job `j` (in 2 of 3 items, e.g. item 1)",
        ]
    );
    assert_eq!(out.len(), 900 + 1 + 40 + 2);
}

#[test]
fn raw_batch_fields_and_mpi_tasks_are_written_as_they_iterate() {
    let out = same_both_ways(
        r#"
recipe: raw
pools:
  - id: p
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: { dedicated: 1 }
jobs:
  - id: j
    pool: p
    tasks:
      - id: "r-{{ index }}"
        command: "x {{ item.v }}"
        batch: { requiredSlots: 1, constraints: { maxTaskRetryCount: 3 } }
        factory: { zip: { v: [1, 2] } }
      - id: "q-{{ index }}"
        command: "x"
        batch: { displayName: "d-{{ item.v }}" }
        factory: { zip: { v: [1, 2] } }
      - id: "bad-{{ index }}"
        command: "x"
        batch: { requiredSlots: "many" }
        factory: { repeat: 2 }
"#,
    );
    // Both `bad` items break the schema the same way: one problem, counted.
    assert_eq!(out.len(), 5);
    let errors: Vec<_> = out.iter().filter_map(|o| o.as_ref().err()).collect();
    assert_eq!(errors.len(), 1, "{out:#?}");
    assert!(
        errors[0].1.ends_with("(in 2 of 2 items, e.g. item 0)"),
        "{errors:#?}"
    );
}
