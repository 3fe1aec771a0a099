//! The run report: one self-contained HTML file (inline SVG and CSS, no script, nothing
//! fetched when it is opened) with a node x time timeline of the tasks, their outcomes,
//! the slowest and failed tasks, node utilization and the cost.
//!
//! It is drawn from a [`Timeline`], which a real run (`batchyard report JOB`, read over
//! REST) and a simulation (`simulate --report`) both fill.

use std::fmt::Write as _;

/// What a report shows.
pub struct Timeline {
    pub title: String,
    /// Where the figures come from ("simulation", "local Batch service", ...).
    pub origin: String,
    pub nodes: Vec<NodeRow>,
    pub tasks: Vec<TaskBar>,
    /// The cost line, already worded ("12.30 USD", "price unknown ...").
    pub cost: String,
}

pub struct NodeRow {
    pub id: String,
    pub pool: String,
    /// Seconds from the start of the timeline; `None` when unknown.
    pub from: Option<f64>,
    pub to: Option<f64>,
}

pub struct TaskBar {
    pub id: String,
    pub job: String,
    /// Index into [`Timeline::nodes`].
    pub node: Option<usize>,
    pub start: f64,
    pub end: f64,
    pub exit_code: Option<i32>,
    /// `succeeded`, `failed`, `requeued`, ...
    pub outcome: String,
}

/// Bars drawn at most; a bigger run shows the first ones and says how many were left out.
const MAX_BARS: usize = 20_000;
const ROW: f64 = 18.0;
const LANE: f64 = 12.0;
const LABEL: f64 = 220.0;
const WIDTH: f64 = 1100.0;

pub fn html(t: &Timeline) -> String {
    let mut s = String::new();
    let end = t
        .tasks
        .iter()
        .map(|b| b.end)
        .chain(t.nodes.iter().filter_map(|n| n.to))
        .fold(0.0f64, f64::max)
        .max(1.0);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{}</style></head><body>\n",
        esc(&t.title),
        CSS
    );
    let succeeded = t.tasks.iter().filter(|b| b.outcome == "succeeded").count();
    let failed: Vec<&TaskBar> = t.tasks.iter().filter(|b| b.outcome == "failed").collect();
    let _ = write!(
        s,
        "<h1>{}</h1>\n<p class=\"origin\">{}</p>\n<table class=\"summary\"><tr><th>span</th><td>{}</td></tr><tr><th>task runs</th><td>{} ({} succeeded, {} failed)</td></tr><tr><th>nodes</th><td>{}</td></tr><tr><th>cost</th><td>{}</td></tr></table>\n",
        esc(&t.title),
        esc(&t.origin),
        clock(end),
        t.tasks.len(),
        succeeded,
        failed.len(),
        t.nodes.len(),
        esc(&t.cost)
    );
    timeline_svg(&mut s, t, end);
    utilization(&mut s, t, end);
    let mut slow: Vec<&TaskBar> = t.tasks.iter().collect();
    slow.sort_by(|a, b| (b.end - b.start).total_cmp(&(a.end - a.start)));
    task_table(&mut s, "Slowest tasks", &slow[..slow.len().min(20)], t);
    task_table(&mut s, "Failed tasks", &failed[..failed.len().min(200)], t);
    let shown = t.tasks.len().min(2000);
    let all: Vec<&TaskBar> = t.tasks.iter().take(shown).collect();
    task_table(&mut s, "Task outcomes", &all, t);
    if t.tasks.len() > shown {
        let _ = writeln!(
            s,
            "<p>{} more task runs are not listed.</p>",
            t.tasks.len() - shown
        );
    }
    s.push_str("</body></html>\n");
    s
}

/// Each node's row holds one lane per task running at once (a node with several slots
/// runs several tasks side by side), so no bar hides another.
fn lanes(t: &Timeline) -> (Vec<usize>, Vec<usize>) {
    let mut lane_of = vec![0usize; t.tasks.len()];
    let mut lane_ends: Vec<Vec<f64>> = vec![Vec::new(); t.nodes.len()];
    let mut order: Vec<usize> = (0..t.tasks.len().min(MAX_BARS)).collect();
    order.sort_by(|&a, &b| t.tasks[a].start.total_cmp(&t.tasks[b].start));
    for i in order {
        let b = &t.tasks[i];
        let Some(ends) = b.node.and_then(|n| lane_ends.get_mut(n)) else {
            continue;
        };
        let lane = match ends.iter().position(|&e| e <= b.start) {
            Some(l) => l,
            None => {
                ends.push(0.0);
                ends.len() - 1
            }
        };
        ends[lane] = b.end;
        lane_of[i] = lane;
    }
    (lane_of, lane_ends.iter().map(|e| e.len().max(1)).collect())
}

fn timeline_svg(s: &mut String, t: &Timeline, end: f64) {
    let (lane_of, lane_counts) = lanes(t);
    let mut top = Vec::with_capacity(t.nodes.len());
    let mut y = 0.0;
    for &n in &lane_counts {
        top.push(y);
        y += LANE * n as f64 + 6.0;
    }
    let height = y.max(ROW) + 30.0;
    let scale = (WIDTH - LABEL - 10.0) / end;
    let _ = write!(
        s,
        "<h2>Timeline</h2>\n<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\">\n"
    );
    for (i, n) in t.nodes.iter().enumerate() {
        let y = top[i];
        let row = LANE * lane_counts[i] as f64 + 2.0;
        let _ = write!(
            s,
            "<text class=\"node\" x=\"4\" y=\"{:.1}\">{}</text>",
            y + 12.0,
            esc(&n.id)
        );
        if let (Some(from), to) = (n.from, n.to.unwrap_or(end)) {
            let _ = write!(
                s,
                "<rect class=\"life\" x=\"{:.2}\" y=\"{:.1}\" width=\"{:.2}\" height=\"{row:.1}\"/>",
                LABEL + from * scale,
                y + 1.0,
                ((to - from) * scale).max(0.5),
            );
        }
        s.push('\n');
    }
    for (i, b) in t.tasks.iter().take(MAX_BARS).enumerate() {
        let Some(node) = b.node.filter(|n| *n < top.len()) else {
            continue;
        };
        let y = top[node] + 2.0 + LANE * lane_of[i] as f64;
        let _ = writeln!(
            s,
            "<rect class=\"bar {}\" x=\"{:.2}\" y=\"{:.1}\" width=\"{:.2}\" height=\"{:.1}\"><title>{} / {}: {} ({}{})</title></rect>",
            esc(&b.outcome),
            LABEL + b.start * scale,
            y + 1.0,
            ((b.end - b.start) * scale).max(1.0),
            LANE - 2.0,
            esc(&b.job),
            esc(&b.id),
            esc(&b.outcome),
            clock(b.end - b.start),
            b.exit_code
                .map(|c| format!(", exit code {c}"))
                .unwrap_or_default()
        );
    }
    let axis_y = y + 14.0;
    for k in 0..=4 {
        let secs = end * f64::from(k) / 4.0;
        let anchor = if k == 4 { "end" } else { "start" };
        let _ = write!(
            s,
            "<text class=\"axis\" text-anchor=\"{anchor}\" x=\"{:.1}\" y=\"{axis_y:.1}\">{}</text>",
            LABEL + secs * scale,
            clock(secs)
        );
    }
    s.push_str("\n</svg>\n");
    if t.tasks.len() > MAX_BARS {
        let _ = writeln!(
            s,
            "<p>The timeline draws the first {MAX_BARS} of {} task runs.</p>",
            t.tasks.len()
        );
    }
}

fn utilization(s: &mut String, t: &Timeline, end: f64) {
    s.push_str("<h2>Node utilization</h2>\n<table><tr><th>node</th><th>pool</th><th>up</th><th>running tasks</th><th>utilization</th></tr>\n");
    let mut busy = vec![0.0f64; t.nodes.len()];
    for b in &t.tasks {
        if let Some(n) = b.node {
            busy[n] += b.end - b.start;
        }
    }
    for (n, node) in t.nodes.iter().enumerate() {
        let up = node.to.unwrap_or(end) - node.from.unwrap_or(0.0);
        let pct = if up > 0.0 { busy[n] * 100.0 / up } else { 0.0 };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{pct:.0}%</td></tr>",
            esc(&node.id),
            esc(&node.pool),
            clock(up),
            clock(busy[n])
        );
    }
    s.push_str("</table>\n<p class=\"note\">Utilization is task run time over node up time; with several slots per node it can pass 100%.</p>\n");
}

fn task_table(s: &mut String, title: &str, rows: &[&TaskBar], t: &Timeline) {
    let _ = writeln!(s, "<h2>{}</h2>", esc(title));
    if rows.is_empty() {
        s.push_str("<p>None.</p>\n");
        return;
    }
    s.push_str("<table><tr><th>job</th><th>task</th><th>node</th><th>outcome</th><th>exit code</th><th>duration</th></tr>\n");
    for b in rows {
        let node = b
            .node
            .and_then(|n| t.nodes.get(n))
            .map_or("", |n| n.id.as_str());
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&b.job),
            esc(&b.id),
            esc(node),
            esc(&b.outcome),
            esc(&b.outcome),
            b.exit_code.map(|c| c.to_string()).unwrap_or_default(),
            clock(b.end - b.start)
        );
    }
    s.push_str("</table>\n");
}

const CSS: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}.origin,.note{color:#555;font-size:.85em}svg text{font-size:11px;font-family:monospace}.life{fill:#eef2f7}.bar{fill:#3a7d44}.bar.failed{fill:#c0392b}.bar.requeued,.bar.terminated{fill:#e69f00}td.failed{color:#c0392b}";

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn clock(secs: f64) -> String {
    if secs < 60.0 {
        return format!("{:.1}s", secs.max(0.0));
    }
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else {
        format!("{m}m {s:02}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_task_and_text_escaped() {
        let t = Timeline {
            title: "r <x>".into(),
            origin: "test".into(),
            nodes: vec![NodeRow {
                id: "n0".into(),
                pool: "p".into(),
                from: Some(0.0),
                to: None,
            }],
            tasks: (0..3)
                .map(|i| TaskBar {
                    id: format!("t{i}"),
                    job: "j".into(),
                    node: Some(0),
                    start: f64::from(i),
                    end: f64::from(i) + 1.0,
                    exit_code: Some(0),
                    outcome: "succeeded".into(),
                })
                .collect(),
            cost: "price unknown".into(),
        };
        let h = html(&t);
        assert_eq!(h.matches("<rect class=\"bar ").count(), 3);
        assert!(h.contains("r &lt;x&gt;"));
        assert!(!h.contains("<script"));
        assert!(!h.contains("http://") || h.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    }
}
