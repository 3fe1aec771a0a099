//! Hostile and broken recipes: each must end in a clear diagnostic, in bounded time and
//! memory, and never crash. The inputs are generated here (some are megabytes) rather than
//! committed. Each runs as a whole `batchyard validate` process under an address-space limit.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Generous for a debug build on a loaded 2-core machine; a release build takes a fraction.
const TIME_LIMIT: Duration = Duration::from_secs(20);
/// Address space the process may map (virtual memory, so above the resident need).
const MEMORY_LIMIT: &str = "--as=4294967296";

fn lines(n: usize, f: impl Fn(usize) -> String) -> String {
    (0..n).map(f).collect()
}

fn pool() -> &'static str {
    "pools:\n  - id: p\n    vm_size: Standard_D2s_v5\n    os: ubuntu-22.04\n    nodes: { dedicated: 1 }\n"
}

fn task_with(extra: &str) -> String {
    format!(
        "recipe: r\n{}jobs:\n  - id: j\n    pool: p\n    tasks:\n      - id: t\n        command: run\n{extra}",
        pool()
    )
}

fn factory(spec: &str) -> String {
    format!(
        "recipe: r\n{}jobs:\n  - id: j\n    pool: p\n    tasks:\n      - id: \"t-{{{{ index }}}}\"\n        command: run\n        factory: {spec}\n",
        pool()
    )
}

fn template(expr: &str) -> String {
    format!(
        "recipe: r\nvariables:\n  n: 1\npools:\n  - id: p\n    vm_size: \"{expr}\"\n    os: ubuntu-22.04\n    nodes: {{ dedicated: 1 }}\n"
    )
}

fn laughs(width: usize, depth: usize) -> String {
    let mut text =
        String::from("recipe: r\nx-0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..=depth {
        let refs = vec![format!("*a{}", i - 1); width].join(", ");
        text.push_str(&format!("x-{i}: &a{i} [{refs}]\n"));
    }
    text
}

/// Each case: a name, the file's bytes, and a word the report must contain.
fn cases() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let long = "x".repeat(10_000);
    let mut cases: Vec<(&'static str, Vec<u8>, &'static str)> = vec![
        // Size.
        ("huge-comment", format!("recipe: r\n#{}\n", "c".repeat(5 << 20)).into_bytes(), "limit"),
        ("huge-variables", format!("recipe: r\nvariables:\n{}", lines(400_000, |i| format!("  v{i}: {i}\n"))).into_bytes(), "limit"),
        ("huge-scalar", format!("recipe: r\nx-big: \"{}\"\n{}jobs: 3\n", "y".repeat(3 << 20), pool()).into_bytes(), "not a list"),
        ("many-unknown-keys", format!("recipe: r\n{}", lines(20_000, |i| format!("bad{i}: 1\n"))).into_bytes(), "unknown field"),
        ("many-duplicate-tasks", format!("recipe: r\n{}jobs:\n  - id: j\n    pool: p\n    tasks:\n{}", pool(), lines(5_000, |_| "      - { id: t, command: run }\n".into())).into_bytes(), "duplicate task id"),
        ("many-bad-pools", format!("recipe: r\npools:\n{}", lines(3_000, |i| format!("  - id: \"p {i}\"\n"))).into_bytes(), "vm_size"),
        // Nesting.
        ("deep-flow-seq", format!("recipe: r\nx-a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(), "nests too deeply"),
        ("deep-flow-map", format!("recipe: r\nx-a: {}1{}\n", "{a: ".repeat(50_000), "}".repeat(50_000)).into_bytes(), "nests too deeply"),
        ("deep-block-map", format!("recipe: r\nx-a:\n{}", lines(2_000, |i| format!("{}k:\n", "  ".repeat(i + 1)))).into_bytes(), "nests too deeply"),
        ("deep-block-seq", format!("recipe: r\nx-a:\n{}", lines(2_000, |i| format!("{}-\n", "  ".repeat(i + 1)))).into_bytes(), "nests too deeply"),
        ("deep-variable", format!("recipe: r\nvariables:\n  v: {}1{}\n", "[".repeat(1_000), "]".repeat(1_000)).into_bytes(), "nests too deeply"),
        // Alias expansion.
        ("billion-laughs", laughs(10, 9).into_bytes(), "too many values"),
        ("laughs-wide", laughs(100, 4).into_bytes(), "too many values"),
        ("laughs-in-variables", format!("{}variables:\n  v: *a9\n", laughs(10, 9)).into_bytes(), "too many values"),
        ("merge-key-bomb", format!("{}pools:\n  - <<: [{}]\n    id: p\n", laughs(10, 6), vec!["*a6"; 50].join(", ")).into_bytes(), "too many values"),
        ("undefined-alias", b"recipe: r\npools: *nothing\n".to_vec(), "invalid YAML"),
        ("self-alias", b"recipe: r\nx-a: &a [*a]\n".to_vec(), "invalid YAML"),
        // Templates.
        ("template-loop-output", template("{% for i in range(end=100000000) %}x{% endfor %}").into_bytes(), "template"),
        ("template-loop-silent", template("{% for i in range(end=1000000000) %}{% endfor %}").into_bytes(), "template"),
        ("template-nested-loops", template("{% for a in range(end=10000) %}{% for b in range(end=10000) %}x{% endfor %}{% endfor %}").into_bytes(), "loops"),
        ("template-deep-parens", template(&format!("{{{{ {}1{} }}}}", "(".repeat(20_000), ")".repeat(20_000))).into_bytes(), "nests brackets"),
        ("template-too-long", template(&format!("{{{{ n }}}}{}", "z".repeat(70_000))).into_bytes(), "limit"),
        ("template-unclosed", template("{{ n").into_bytes(), "template error"),
        ("template-unknown-var", template("{{ nope }}").into_bytes(), "not defined"),
        ("template-long-filter-chain", template(&format!("{{{{ n {} }}}}", "| upper ".repeat(5_000))).into_bytes(), "template"),
        ("template-bad-filter-arg", template("{{ n | round(precision=\\\"x\\\") }}").into_bytes(), "template"),
        ("template-divide-by-zero", template("{{ n / 0 }}").into_bytes(), "error"),
        ("template-huge-string", template("{{ \\\"abc\\\" ~ n }}{% for i in range(end=99999) %}{{ i }}{% endfor %}").into_bytes(), "renders more than"),
        // Enormous factories.
        ("factory-repeat-huge", factory("{ repeat: 1000000000000000 }").into_bytes(), "the limit is 10000000"),
        ("factory-range-huge", factory("{ product: { i: { range: [0, 1000000000000000000] } } }").into_bytes(), "the limit is 10000000"),
        ("factory-product-huge", factory(&format!("{{ product: {{ {} }} }}", (0..12).map(|i| format!("a{i}: [1,2,3,4,5,6,7,8,9,10]")).collect::<Vec<_>>().join(", "))).into_bytes(), "the limit is 10000000"),
        ("factory-random-huge", factory("{ random: { seed: 1, count: 100000000000, axes: { x: { uniform: [0, 1] } } } }").into_bytes(), "the limit is 10000000"),
        ("factory-combinations-huge", factory(&format!("{{ combinations: {{ of: [{}], length: 30 }} }}", (0..100).map(|i| i.to_string()).collect::<Vec<_>>().join(","))).into_bytes(), "the limit is 10000000"),
        ("factory-permutations-huge", factory(&format!("{{ permutations: {{ of: [{}], length: 20, replacement: true }} }}", (0..50).map(|i| i.to_string()).collect::<Vec<_>>().join(","))).into_bytes(), "the limit is 10000000"),
        ("factory-range-zero-step", factory("{ product: { i: { range: [0, 10, 0] } } }").into_bytes(), "step of 0"),
        ("factory-unknown-kind", factory("{ explode: 1 }").into_bytes(), "unknown choice"),
        // Encoding.
        ("invalid-utf8", b"recipe: r\xff\xfe\n".to_vec(), "not UTF-8"),
        ("truncated-utf8", b"recipe: caf\xc3\n".to_vec(), "not UTF-8"),
        ("utf16-bom", vec![0xff, 0xfe, b'r', 0, b':', 0], "not UTF-8"),
        ("nul-bytes", b"recipe: r\0\npools: []\n".to_vec(), "unexpected character"),
        ("control-chars", b"recipe: r\x07\x1b[31m\npools: []\n".to_vec(), "unexpected character"),
        // Ids.
        ("long-recipe-name", format!("recipe: {long}\n").into_bytes(), "at most 64"),
        ("long-pool-id", format!("recipe: r\npools:\n  - id: {long}\n    vm_size: s\n    os: o\n    nodes: {{ dedicated: 1 }}\n").into_bytes(), "at most 64"),
        ("long-job-id", format!("recipe: r\n{}jobs:\n  - id: {long}\n    pool: p\n", pool()).into_bytes(), "at most 64"),
        ("long-task-id", format!("recipe: r\n{}jobs:\n  - id: j\n    pool: p\n    tasks:\n      - id: {long}\n        command: run\n", pool()).into_bytes(), "at most 64"),
        ("long-dependency", task_with(&format!("        depends_on: [{long}]\n")).into_bytes(), "not defined"),
        ("long-key", format!("recipe: r\n{long}: 1\n").into_bytes(), "simple key"),
        // Odd YAML.
        ("binary-tag", b"recipe: r\nx-blob: !!binary aGVsbG8=\npools: !!binary aGVsbG8=\n".to_vec(), "not a list"),
        ("complex-key", b"recipe: r\n? [a, b]\n: c\n".to_vec(), "mapping key"),
        ("multiple-documents", b"recipe: r\n---\nrecipe: s\n".to_vec(), "multiple YAML documents"),
        ("only-a-scalar", b"just text\n".to_vec(), "mapping"),
        ("tabs", b"recipe: r\npools:\n\t- id: p\n".to_vec(), "invalid YAML"),
        ("huge-number", task_with("        required_slots: 999999999999999999999999999999\n").into_bytes(), "maximum"),
        ("nan-count", b"recipe: r\npools:\n  - id: p\n    vm_size: s\n    os: o\n    nodes: { dedicated: .nan }\n".to_vec(), "non-finite"),
        ("negative-count", b"recipe: r\npools:\n  - id: p\n    vm_size: s\n    os: o\n    nodes: { dedicated: -1 }\n".to_vec(), "minimum"),
    ];
    cases.sort_by_key(|c| c.0);
    cases
}

#[test]
fn hostile_recipes_end_in_a_clear_diagnostic() {
    let binary = assert_cmd::cargo::cargo_bin("batchyard");
    let dir = tempfile::tempdir().unwrap();
    let all = cases();
    assert!(
        all.len() >= 50,
        "the hostile corpus shrank to {}",
        all.len()
    );
    let mut failures = Vec::new();
    for (name, bytes, expected) in all {
        let file = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, &bytes).unwrap();
        let started = Instant::now();
        let mut child = Command::new("prlimit")
            .arg(MEMORY_LIMIT)
            .arg(&binary)
            .arg("validate")
            .arg(&file)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() > TIME_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let elapsed = started.elapsed();
        let text = reader.join().unwrap();
        match status {
            None => failures.push(format!("{name}: still running after {TIME_LIMIT:?}")),
            Some(s) if !matches!(s.code(), Some(1 | 2)) => {
                failures.push(format!(
                    "{name}: exit {s:?} (expected 1 or 2); stderr: {}",
                    tail(&text)
                ));
            }
            Some(_) if !text.contains(expected) => {
                failures.push(format!(
                    "{name}: report lacks {expected:?}: {}",
                    tail(&text)
                ));
            }
            Some(_) if text.len() > 4 << 20 => {
                failures.push(format!("{name}: {} bytes of report", text.len()))
            }
            Some(_) => eprintln!("{name}: ok in {elapsed:?}"),
        }
    }
    assert!(
        failures.is_empty(),
        "{} hostile inputs misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn tail(text: &str) -> String {
    let start = text.len().saturating_sub(600);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].to_owned()
}
