//! The run report of a real local run, opened in headless Chromium (Debian's `chromium`,
//! which scripts/test installs): it loads without console errors, the DOM Chromium builds
//! has one timeline bar per task, and a screenshot shows bars in the colours of both
//! outcomes. Without Chromium the test is a visible skip, or a failure with
//! BATCHYARD_REQUIRE_BROWSER=1 (set by .ci/run).
#![allow(clippy::unwrap_used)]

mod e2e;

use std::io::Read as _;
use std::path::Path;
use std::process::Command;

use e2e::*;

const RECIPE: &str = r#"
recipe: report
pools:
  - id: cpu
    vm_size: Standard_D2s_v5
    os: ubuntu-22.04
    nodes: { dedicated: 2 }
    task_slots_per_node: 2
jobs:
  - id: work
    pool: cpu
    tasks:
      - id: "ok-{{ index }}"
        command: /bin/sh -c 'sleep 0.{{ index }}'
        factory: { repeat: 4 }
      - id: broken
        # It runs a second before it fails, so its bar is wide enough to count in the
        # screenshot whatever the machine's speed (an instant task draws a 1-pixel bar).
        command: /bin/sh -c 'sleep 1; echo no input >&2; exit 3'
"#;

fn chromium() -> Option<String> {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find_map(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| name.to_string())
        })
}

fn browser_or_skip() -> Option<String> {
    if let Some(c) = chromium() {
        return Some(c);
    }
    assert!(
        !std::env::var("BATCHYARD_REQUIRE_BROWSER").is_ok_and(|v| v == "1"),
        "BATCHYARD_REQUIRE_BROWSER=1 but no chromium is installed (scripts/test installs it)"
    );
    eprintln!("skipping: no chromium installed (BATCHYARD_REQUIRE_BROWSER=1 makes this a failure)");
    None
}

/// Runs headless Chromium on a file with its own profile; returns stdout and stderr.
fn headless(browser: &str, profile: &Path, args: &[&str], page: &Path) -> (String, String) {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{browser} failed: {out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn report_of_a_local_run_draws_one_bar_per_task_in_chromium() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let (dir, recipe) = recipe_dir(RECIPE);
    // One task fails: run exits 1 and its report shows it.
    let run_page = dir.path().join("run.html");
    batchyard()
        .arg("run")
        .arg(&recipe)
        .arg("--report")
        .arg(&run_page)
        .assert()
        .code(1);
    let run_html = std::fs::read_to_string(&run_page).unwrap();
    assert_eq!(run_html.matches("<rect class=\"bar ").count(), 5);
    let page = dir.path().join("report.html");
    batchyard()
        .args(["report", "work", "--recipe"])
        .arg(&recipe)
        .arg("--out")
        .arg(&page)
        .assert()
        .success();
    stop_local(&dir.path().join(".batchyard"));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script"), "the report needs no script");
    assert!(html.contains("broken") && html.contains("<td>3</td>"));

    let profile = dir.path().join("profile");
    let (dom, stderr) = headless(&browser, &profile, &["--dump-dom"], &page);
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    assert!(dom.contains("<svg id=\"timeline\""), "{dom}");
    let bars = dom.matches("<rect class=\"bar ").count();
    assert_eq!(bars, 5, "one bar per task");
    assert_eq!(dom.matches("<rect class=\"bar failed\"").count(), 1);

    let shot = dir.path().join("report.png");
    headless(
        &browser,
        &profile,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,600",
            "--hide-scrollbars",
        ],
        &page,
    );
    let (width, pixels) = decode_png(&shot);
    assert!(width >= 1000);
    // The bar colours of report.rs's stylesheet: succeeded #3a7d44, failed #c0392b.
    let count = |rgb: [u8; 3]| {
        pixels
            .iter()
            .filter(|p| p.iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 6))
            .count()
    };
    let green = count([0x3a, 0x7d, 0x44]);
    let red = count([0xc0, 0x39, 0x2b]);
    assert!(green > 50, "succeeded bars drawn: {green} pixels");
    assert!(red > 20, "failed bar drawn: {red} pixels");
}

/// The RGB pixels of an 8-bit RGB or RGBA PNG, and its width.
fn decode_png(path: &Path) -> (usize, Vec<[u8; 3]>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let (mut width, mut height, mut channels) = (0usize, 0usize, 0usize);
    let mut idat = Vec::new();
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind = &bytes[at + 4..at + 8];
        let data = &bytes[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                height = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                assert_eq!(data[8], 8, "8-bit samples");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    other => panic!("colour type {other}"),
                };
                assert_eq!(data[12], 0, "not interlaced");
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = width * channels;
    let mut prev = vec![0u8; stride];
    let mut pixels = Vec::with_capacity(width * height);
    for row in 0..height {
        let line = &raw[row * (stride + 1)..(row + 1) * (stride + 1)];
        let mut cur = line[1..].to_vec();
        for i in 0..stride {
            let a = if i >= channels { cur[i - channels] } else { 0 };
            let b = prev[i];
            let c = if i >= channels { prev[i - channels] } else { 0 };
            let add = match line[0] {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("filter {f}"),
            };
            cur[i] = cur[i].wrapping_add(add);
        }
        for px in cur.chunks(channels) {
            pixels.push([px[0], px[1], px[2]]);
        }
        prev = cur;
    }
    (width, pixels)
}
