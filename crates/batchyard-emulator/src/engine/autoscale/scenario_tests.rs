//! The formulas batchyard generates for each autoscale scenario
//! (`batchyard_compile::autoscale`), evaluated here with known metric histories and times.
//! Pools that grow and shrink through a running service are in `tests/autoscale.rs`.

use batchyard_compile::autoscale::{NodeBias, Scenario, ScenarioParams, formula};
use time::OffsetDateTime;
use time::macros::datetime;

use super::history::{Counts, History, SAMPLE_PERIOD_SECS};
use super::{Formula, Inputs, Outcome};

fn params() -> ScenarioParams {
    ScenarioParams {
        min_dedicated: 1,
        max_dedicated: 10,
        min_spot: 0,
        max_spot: 20,
        ..ScenarioParams::default()
    }
}

/// One sample every 30 s, oldest first; the evaluation happens at the last one.
fn history(samples: &[(f64, f64)]) -> History {
    let mut h = History::new();
    for (i, (active, running)) in samples.iter().enumerate() {
        h.record(
            i as f64 * SAMPLE_PERIOD_SECS,
            Counts {
                active: *active,
                running: *running,
                ..Counts::default()
            },
        );
    }
    h
}

fn eval_at(text: &str, h: &History, now: OffsetDateTime, current: (f64, f64)) -> Outcome {
    Formula::parse(text)
        .unwrap()
        .evaluate(Inputs {
            now,
            clock_now: h.last_time().unwrap_or(0.0),
            time_scale: 1.0,
            history: h,
            current_dedicated: current.0,
            current_low_priority: current.1,
            target_dedicated: current.0,
            target_low_priority: current.1,
        })
        .unwrap()
}

fn targets(text: &str, h: &History, now: OffsetDateTime) -> (i64, i64) {
    let out = eval_at(text, h, now, (0.0, 0.0));
    (out.dedicated, out.low_priority)
}

const WEDNESDAY_NOON: OffsetDateTime = datetime!(2024-05-15 12:00 UTC);

#[test]
fn active_tasks_scenario_follows_the_queue() {
    let f = formula(Scenario::ActiveTasks, &params());
    // A new pool: one sample, too few for the average; the last sample counts.
    let out = eval_at(&f, &history(&[(7.0, 5.0)]), WEDNESDAY_NOON, (0.0, 0.0));
    assert_eq!((out.dedicated, out.low_priority), (4, 3));
    assert_eq!(out.deallocation, "taskcompletion");
    assert_eq!(
        out.results,
        "$TargetDedicatedNodes=4;$TargetLowPriorityNodes=3;$NodeDeallocationOption=taskcompletion;\
         $bothGrow=1;$capDedicated=10;$capSpot=20;$extra=6;$extraDedicated=3;$extraSpot=3;\
         $lastSample=7;$maxDedicated=10;$maxSpot=20;$minDedicated=1;$minSpot=0;$needed=7;\
         $samplePercent=5;$slotsPerNode=1;$tasks=7;$window=00:10:00"
    );
    // Ten full minutes of 10 queued tasks, then 2: the average (9.6) wins over the last.
    let mut samples = vec![(10.0, 0.0); 20];
    samples.push((2.0, 0.0));
    assert_eq!(targets(&f, &history(&samples), WEDNESDAY_NOON), (6, 4));
    // An empty queue for ten minutes: back to the minimums.
    assert_eq!(
        targets(&f, &history(&[(0.0, 3.0); 21]), WEDNESDAY_NOON),
        (1, 0)
    );
    // A rising queue: the last sample (20) is above the average, and dedicated nodes
    // stop at their maximum.
    let rising: Vec<(f64, f64)> = (0..=20).map(|i| (f64::from(i), 0.0)).collect();
    assert_eq!(targets(&f, &history(&rising), WEDNESDAY_NOON), (10, 9));
}

#[test]
fn pending_tasks_scenario_counts_running_tasks_too() {
    let h = history(&[(3.0, 4.0)]);
    let pending = formula(Scenario::PendingTasks, &params());
    let active = formula(Scenario::ActiveTasks, &params());
    assert_eq!(targets(&pending, &h, WEDNESDAY_NOON), (4, 3));
    assert_eq!(targets(&active, &h, WEDNESDAY_NOON), (2, 1));
}

#[test]
fn increments_slots_and_biases_shape_the_task_scenarios() {
    let h = history(&[(7.0, 0.0)]);
    let limited = ScenarioParams {
        max_increment_per_evaluation: Some(2),
        ..params()
    };
    let f = formula(Scenario::ActiveTasks, &limited);
    // From one dedicated node and none spot, at most two more of each.
    let out = eval_at(&f, &h, WEDNESDAY_NOON, (1.0, 0.0));
    assert_eq!((out.dedicated, out.low_priority), (3, 2));
    let slots = ScenarioParams {
        task_slots_per_node: 4,
        bias: NodeBias::Dedicated,
        ..params()
    };
    // 7 tasks on 4-slot nodes: 2 nodes, dedicated first.
    assert_eq!(
        targets(&formula(Scenario::ActiveTasks, &slots), &h, WEDNESDAY_NOON),
        (2, 0)
    );
    let spot = ScenarioParams {
        bias: NodeBias::Spot,
        ..params()
    };
    assert_eq!(
        targets(&formula(Scenario::ActiveTasks, &spot), &h, WEDNESDAY_NOON),
        (1, 6)
    );
}

/// 2024-05-12 was a Sunday.
fn day(weekday: u8, hour: u8) -> OffsetDateTime {
    datetime!(2024-05-12 00:00 UTC)
        + time::Duration::days(i64::from(weekday))
        + time::Duration::hours(i64::from(hour))
}

#[test]
fn weekend_scenario_peaks_on_saturday_and_sunday() {
    let f = formula(Scenario::Weekend, &params());
    let h = History::new();
    for weekday in 0..7 {
        let peak = weekday == 0 || weekday == 6;
        let want = if peak { (10, 20) } else { (1, 0) };
        for hour in [0, 12, 23] {
            assert_eq!(
                targets(&f, &h, day(weekday, hour)),
                want,
                "weekday {weekday} hour {hour}"
            );
        }
    }
    let out = eval_at(&f, &h, day(6, 9), (0.0, 0.0));
    assert!(
        out.results
            .contains(";$isPeakTime=1;$maxDedicated=10;$maxSpot=20;$minDedicated=1;$minSpot=0;$now=2024-05-18T09:00:00.000Z"),
        "{}",
        out.results
    );
}

#[test]
fn weekday_and_workday_scenarios() {
    let h = History::new();
    let weekday = formula(Scenario::Weekday, &params());
    let workday = formula(Scenario::Workday, &params());
    let offpeak = formula(Scenario::WorkdayWithOffpeakMaxLowPriority, &params());
    for d in 0..7 {
        let is_weekday = (1..=5).contains(&d);
        assert_eq!(
            targets(&weekday, &h, day(d, 3)),
            if is_weekday { (10, 20) } else { (1, 0) },
            "weekday {d}"
        );
        for hour in 0..24 {
            let peak = is_weekday && (8..=17).contains(&hour);
            assert_eq!(
                targets(&workday, &h, day(d, hour)),
                if peak { (10, 20) } else { (1, 0) },
                "workday {d} {hour}"
            );
            assert_eq!(
                targets(&offpeak, &h, day(d, hour)),
                if peak { (10, 20) } else { (1, 20) },
                "offpeak {d} {hour}"
            );
        }
    }
}
