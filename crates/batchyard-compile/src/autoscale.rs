//! Autoscale formulas for Batch Shipyard's named scenarios.
//!
//! The formulas follow Shipyard's `convoy/autoscale.py` in intent, with two corrections: the
//! `weekend` scenario is peak when the day is *before* the first weekday **or** after the last
//! (Shipyard joined the two with `&&`, which is never true), and the minimum node counts hold
//! even when the per-evaluation increment limits the ramp-up (Shipyard issue #139).

use std::fmt::Write as _;

/// A named autoscale scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Nodes follow the active (queued, not yet running) task count.
    ActiveTasks,
    /// Nodes follow the pending (active plus running) task count.
    PendingTasks,
    /// Maximum size on weekdays during work hours, minimum otherwise.
    Workday,
    /// Maximum size on weekdays, minimum on weekends.
    Weekday,
    /// Maximum size on weekends, minimum on weekdays.
    Weekend,
    /// As `Workday` for dedicated nodes; spot nodes stay at their maximum all the time.
    WorkdayWithOffpeakMaxLowPriority,
}

/// Which node type absorbs demand first in the task scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodeBias {
    /// Split demand between dedicated and spot when both may grow.
    #[default]
    Auto,
    Dedicated,
    Spot,
}

/// The numbers a scenario formula is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioParams {
    pub min_dedicated: u32,
    pub max_dedicated: u32,
    pub min_spot: u32,
    pub max_spot: u32,
    /// At most this many nodes added per evaluation; `None` is unbounded.
    pub max_increment_per_evaluation: Option<u32>,
    /// Task slots per node: how many tasks one node absorbs.
    pub task_slots_per_node: u32,
    /// Look-back window of task samples, in seconds (Shipyard: 10 minutes).
    pub sample_window_secs: u64,
    /// Below this share of samples, the last sample is used (Shipyard: 70).
    pub required_sample_percent: u32,
    pub bias: NodeBias,
    /// First and last weekday, 0 = Sunday as Batch's `time().weekday` counts (default 1–5).
    pub weekdays: (u8, u8),
    /// First and last work hour, both included (default 8–17).
    pub work_hours: (u8, u8),
    /// `taskcompletion`, `requeue`, `terminate` or `retaineddata`.
    pub node_deallocation: String,
}

impl Default for ScenarioParams {
    fn default() -> Self {
        ScenarioParams {
            min_dedicated: 0,
            max_dedicated: 0,
            min_spot: 0,
            max_spot: 0,
            max_increment_per_evaluation: None,
            task_slots_per_node: 1,
            sample_window_secs: 600,
            required_sample_percent: 70,
            bias: NodeBias::Auto,
            weekdays: (1, 5),
            work_hours: (8, 17),
            node_deallocation: "taskcompletion".into(),
        }
    }
}

/// The Batch autoscale formula for a scenario.
pub fn formula(scenario: Scenario, p: &ScenarioParams) -> String {
    match scenario {
        Scenario::ActiveTasks => task_formula("$ActiveTasks", p),
        Scenario::PendingTasks => task_formula("$PendingTasks", p),
        Scenario::Workday | Scenario::Weekday | Scenario::Weekend => day_formula(scenario, p),
        Scenario::WorkdayWithOffpeakMaxLowPriority => day_formula(scenario, p),
    }
}

/// Normalizes a formula for comparison with the one Batch reports back: statements split on
/// `;`, whitespace collapsed, empty statements dropped.
pub fn normalize(formula: &str) -> String {
    formula
        .split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(";\n")
}

fn limits(out: &mut String, p: &ScenarioParams) {
    // `writeln!` into a String cannot fail.
    let _ = writeln!(out, "$minDedicated = {};", p.min_dedicated);
    let _ = writeln!(
        out,
        "$maxDedicated = {};",
        p.max_dedicated.max(p.min_dedicated)
    );
    let _ = writeln!(out, "$minSpot = {};", p.min_spot);
    let _ = writeln!(out, "$maxSpot = {};", p.max_spot.max(p.min_spot));
}

fn task_formula(metric: &str, p: &ScenarioParams) -> String {
    let mut f = String::new();
    limits(&mut f, p);
    let _ = writeln!(f, "$slotsPerNode = {};", p.task_slots_per_node.max(1));
    let _ = writeln!(
        f,
        "$window = TimeInterval_Second * {};",
        p.sample_window_secs.max(1)
    );
    // Too few samples early in a pool's life: trust the last sample rather than fail.
    let _ = writeln!(f, "$samplePercent = {metric}.GetSamplePercent($window);");
    let _ = writeln!(f, "$lastSample = val({metric}.GetSample(1), 0);");
    let _ = writeln!(
        f,
        "$tasks = $samplePercent < {} ? max(0, $lastSample) : max($lastSample, avg({metric}.GetSample($window)));",
        p.required_sample_percent
    );
    f.push_str("$needed = ceil($tasks / $slotsPerNode);\n");
    // Nodes wanted beyond the minimums, which are always kept.
    f.push_str("$extra = max(0, $needed - $minDedicated - $minSpot);\n");
    match p.max_increment_per_evaluation {
        Some(inc) => {
            let _ = writeln!(
                f,
                "$capDedicated = min($maxDedicated, $CurrentDedicatedNodes + {inc});"
            );
            let _ = writeln!(
                f,
                "$capSpot = min($maxSpot, $CurrentLowPriorityNodes + {inc});"
            );
        }
        None => f.push_str("$capDedicated = $maxDedicated;\n$capSpot = $maxSpot;\n"),
    }
    match p.bias {
        NodeBias::Dedicated => {
            f.push_str("$extraDedicated = min($extra, max(0, $capDedicated - $minDedicated));\n");
            f.push_str("$extraSpot = $extra - $extraDedicated;\n");
        }
        NodeBias::Spot => {
            f.push_str("$extraSpot = min($extra, max(0, $capSpot - $minSpot));\n");
            f.push_str("$extraDedicated = $extra - $extraSpot;\n");
        }
        NodeBias::Auto => {
            // Half each when both may grow; otherwise all of it to the one that may.
            f.push_str("$bothGrow = $maxDedicated > $minDedicated && $maxSpot > $minSpot;\n");
            f.push_str("$extraDedicated = $bothGrow ? ceil($extra / 2) : ($maxDedicated > $minDedicated ? $extra : 0);\n");
            f.push_str("$extraSpot = $extra - $extraDedicated;\n");
        }
    }
    f.push_str("$TargetDedicatedNodes = max($minDedicated, min($capDedicated, $minDedicated + $extraDedicated));\n");
    f.push_str("$TargetLowPriorityNodes = max($minSpot, min($capSpot, $minSpot + $extraSpot));\n");
    let _ = writeln!(f, "$NodeDeallocationOption = {};", p.node_deallocation);
    f
}

/// The peak-time condition of a day-of-week scenario, over `$now` only so it can be checked.
fn peak_condition(scenario: Scenario, p: &ScenarioParams) -> String {
    let (d0, d1) = p.weekdays;
    let (h0, h1) = p.work_hours;
    let weekday = format!("$now.weekday >= {d0} && $now.weekday <= {d1}");
    match scenario {
        Scenario::Weekday => weekday,
        // Shipyard wrote `<` start `&&` `>` end here: a day cannot be both.
        Scenario::Weekend => format!("$now.weekday < {d0} || $now.weekday > {d1}"),
        _ => format!("{weekday} && $now.hour >= {h0} && $now.hour <= {h1}"),
    }
}

fn day_formula(scenario: Scenario, p: &ScenarioParams) -> String {
    let mut f = String::new();
    limits(&mut f, p);
    f.push_str("$now = time();\n");
    let _ = writeln!(f, "$isPeakTime = {};", peak_condition(scenario, p));
    f.push_str("$TargetDedicatedNodes = $isPeakTime ? $maxDedicated : $minDedicated;\n");
    if scenario == Scenario::WorkdayWithOffpeakMaxLowPriority {
        f.push_str("$TargetLowPriorityNodes = $maxSpot;\n");
    } else {
        f.push_str("$TargetLowPriorityNodes = $isPeakTime ? $maxSpot : $minSpot;\n");
    }
    let _ = writeln!(f, "$NodeDeallocationOption = {};", p.node_deallocation);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ScenarioParams {
        ScenarioParams {
            min_dedicated: 1,
            max_dedicated: 10,
            min_spot: 0,
            max_spot: 20,
            ..ScenarioParams::default()
        }
    }

    /// Evaluates a peak condition: `A op N` terms joined by `&&` and `||` (`&&` binds
    /// tighter), with A one of `$now.weekday` and `$now.hour`.
    fn eval_peak(cond: &str, weekday: i64, hour: i64) -> bool {
        cond.split("||").any(|conj| {
            conj.split("&&").all(|term| {
                let parts: Vec<&str> = term.split_whitespace().collect();
                let [lhs, op, rhs] = parts[..] else {
                    panic!("bad term {term:?}")
                };
                let l = match lhs {
                    "$now.weekday" => weekday,
                    "$now.hour" => hour,
                    other => panic!("unknown {other}"),
                };
                let r: i64 = rhs.parse().unwrap();
                match op {
                    "<" => l < r,
                    "<=" => l <= r,
                    ">" => l > r,
                    ">=" => l >= r,
                    other => panic!("unknown op {other}"),
                }
            })
        })
    }

    fn peak_line(formula: &str) -> String {
        let line = formula
            .lines()
            .find(|l| l.starts_with("$isPeakTime = "))
            .unwrap();
        line.trim_start_matches("$isPeakTime = ")
            .trim_end_matches(';')
            .to_string()
    }

    #[test]
    fn weekend_is_peak_on_saturday_and_sunday_only() {
        let cond = peak_line(&formula(Scenario::Weekend, &params()));
        for day in 0..7 {
            assert_eq!(
                eval_peak(&cond, day, 12),
                day == 0 || day == 6,
                "weekday {day}"
            );
        }
    }

    #[test]
    fn weekday_and_workday_peaks() {
        let weekday = peak_line(&formula(Scenario::Weekday, &params()));
        let workday = peak_line(&formula(Scenario::Workday, &params()));
        assert!(eval_peak(&weekday, 1, 3));
        assert!(!eval_peak(&weekday, 6, 10));
        assert!(eval_peak(&workday, 3, 8));
        assert!(eval_peak(&workday, 5, 17));
        assert!(!eval_peak(&workday, 3, 18));
        assert!(!eval_peak(&workday, 0, 10));
    }

    #[test]
    fn golden_formulas() {
        for (name, scenario) in [
            ("active_tasks", Scenario::ActiveTasks),
            ("pending_tasks", Scenario::PendingTasks),
            ("workday", Scenario::Workday),
            ("weekday", Scenario::Weekday),
            ("weekend", Scenario::Weekend),
            (
                "workday_with_offpeak_max_low_priority",
                Scenario::WorkdayWithOffpeakMaxLowPriority,
            ),
        ] {
            insta::assert_snapshot!(name, formula(scenario, &params()));
        }
    }

    #[test]
    fn biases_and_increment_limits() {
        let p = ScenarioParams {
            bias: NodeBias::Spot,
            max_increment_per_evaluation: Some(5),
            task_slots_per_node: 4,
            ..params()
        };
        let f = formula(Scenario::PendingTasks, &p);
        assert!(f.contains("$capSpot = min($maxSpot, $CurrentLowPriorityNodes + 5);"));
        assert!(f.contains("$extraSpot = min($extra, max(0, $capSpot - $minSpot));"));
        assert!(f.contains("$slotsPerNode = 4;"));
        assert!(f.contains("$PendingTasks.GetSamplePercent($window)"));
        assert!(!f.contains("$ActiveTasks"));
    }

    #[test]
    fn offpeak_keeps_spot_at_max() {
        let f = formula(Scenario::WorkdayWithOffpeakMaxLowPriority, &params());
        assert!(f.contains("$TargetLowPriorityNodes = $maxSpot;"));
        assert!(f.contains("$TargetDedicatedNodes = $isPeakTime ? $maxDedicated : $minDedicated;"));
    }

    #[test]
    fn normalize_ignores_whitespace() {
        assert_eq!(
            normalize("$a = 1;\n\n  $b=  2 ;"),
            normalize("$a = 1; $b= 2;")
        );
        assert_ne!(normalize("$a = 1;"), normalize("$a = 2;"));
    }
}
