use proptest::prelude::*;
use time::OffsetDateTime;
use time::macros::datetime;

use super::history::{Counts, History, SAMPLE_PERIOD_SECS};
use super::*;

/// Wednesday 2024-05-15, 12:00 UTC.
const WEDNESDAY_NOON: OffsetDateTime = datetime!(2024-05-15 12:00 UTC);

fn inputs(history: &History) -> Inputs<'_> {
    Inputs {
        now: WEDNESDAY_NOON,
        clock_now: history.last_time().unwrap_or(0.0),
        time_scale: 1.0,
        history,
        current_dedicated: 2.0,
        current_low_priority: 1.0,
        target_dedicated: 2.0,
        target_low_priority: 1.0,
    }
}

fn run(text: &str, history: &History) -> Result<Outcome, EvalError> {
    Formula::parse(text).unwrap().evaluate(inputs(history))
}

fn active(samples: &[f64]) -> History {
    let mut h = History::new();
    for (i, n) in samples.iter().enumerate() {
        h.record(
            i as f64 * SAMPLE_PERIOD_SECS,
            Counts {
                active: *n,
                running: 1.0,
                ..Counts::default()
            },
        );
    }
    h
}

#[test]
fn results_list_targets_then_variables() {
    let out = run(
        "$b = 2.5; $TargetDedicatedNodes = $b * 2; $a = time(); $NodeDeallocationOption = taskcompletion",
        &History::new(),
    )
    .unwrap();
    assert_eq!(out.dedicated, 5);
    // Not assigned: the pool's target stays.
    assert_eq!(out.low_priority, 1);
    assert_eq!(out.deallocation, "taskcompletion");
    assert_eq!(
        out.results,
        "$TargetDedicatedNodes=5;$TargetLowPriorityNodes=1;$NodeDeallocationOption=taskcompletion;$a=2024-05-15T12:00:00.000Z;$b=2.5"
    );
}

#[test]
fn operators_and_functions() {
    let h = History::new();
    let value = |expr: &str| {
        let out = run(&format!("$TargetDedicatedNodes = {expr};"), &h).unwrap();
        out.dedicated
    };
    assert_eq!(value("1 + 2 * 3"), 7);
    assert_eq!(value("(1 + 2) * 3"), 9);
    assert_eq!(value("7 / 2"), 3);
    assert_eq!(value("ceil(7 / 2)"), 4);
    assert_eq!(value("floor(3.9) + round(0.6)"), 4);
    assert_eq!(value("max(1, 5, 3) - min(4, 2)"), 3);
    assert_eq!(value("avg(2, 4) + len(1, 2, 3)"), 6);
    assert_eq!(value("1 < 2 && 2 >= 2 && !(1 == 2) && 1 != 2"), 1);
    assert_eq!(value("0 || 0"), 0);
    assert_eq!(value("1 ? 2 ? 3 : 4 : 5"), 3);
    assert_eq!(
        value("0 == 1 ? 9 : $CurrentDedicatedNodes + $CurrentLowPriorityNodes"),
        3
    );
    assert_eq!(value("-3"), 0);
    assert_eq!(value("TimeInterval_Hour / 60 == TimeInterval_Minute"), 1);
    assert_eq!(
        value("TimeInterval_Minute * 2 > TimeInterval_Second * 100"),
        1
    );
    assert_eq!(value("val(percentile(sum(1,2), 50) + 0, 0)"), 3);
    assert_eq!(value("time(\"2024-05-18T10:00:00Z\").weekday"), 6);
    assert_eq!(value("time(\"Sun, 19 May 2024 10:00:00 GMT\").weekday"), 0);
    assert_eq!(value("(time() + TimeInterval_Day * 4).weekday"), 0);
    assert_eq!(
        value("(time() - time(\"2024-05-15T11:00:00Z\")) == TimeInterval_Hour"),
        1
    );
    assert_eq!(value("$NodeDeallocationOption == requeue"), 1);
    // The alias counts unless the full name is set too.
    assert_eq!(run("$TargetDedicated = 4;", &h).unwrap().dedicated, 4);
    assert_eq!(
        run("$TargetDedicated = 4; $TargetDedicatedNodes = 6;", &h)
            .unwrap()
            .dedicated,
        6
    );
    // stop() ends the run with what was set so far.
    assert_eq!(
        run(
            "$TargetDedicatedNodes = 8; $x = stop(); $TargetDedicatedNodes = 9;",
            &h
        )
        .unwrap()
        .dedicated,
        8
    );
}

#[test]
fn samples_by_count_window_and_percentage() {
    // 21 samples 30 s apart, 0..=20 queued tasks, newest last.
    let samples: Vec<f64> = (0..=20).map(f64::from).collect();
    let h = active(&samples);
    let value =
        |expr: &str| run(&format!("$TargetDedicatedNodes = {expr};"), &h).map(|o| o.dedicated);
    assert_eq!(value("val($ActiveTasks.GetSample(1), 0)"), Ok(20));
    assert_eq!(value("len($ActiveTasks.GetSample(5))"), Ok(5));
    assert_eq!(value("val($ActiveTasks.GetSample(5), 4)"), Ok(16));
    // The last 60 s hold the samples at 540, 570 and 600 s.
    assert_eq!(
        value("avg($ActiveTasks.GetSample(TimeInterval_Minute))"),
        Ok(19)
    );
    assert_eq!(
        value("len($ActiveTasks.GetSample(TimeInterval_Second * 90, TimeInterval_Second * 30))"),
        Ok(3)
    );
    assert_eq!(value("val($PendingTasks.GetSample(1), 0) == 21"), Ok(1));
    assert_eq!(value("val($RunningTasks.GetSample(1), 0)"), Ok(1));
    assert_eq!(
        value("$ActiveTasks.GetSamplePercent(TimeInterval_Minute * 10)"),
        Ok(100)
    );
    // 21 samples of the 40 twenty minutes would hold.
    assert_eq!(
        value("$ActiveTasks.GetSamplePercent(TimeInterval_Minute * 20)"),
        Ok(52)
    );
    assert_eq!(value("$ActiveTasks.Count()"), Ok(21));
    let err = value("avg($ActiveTasks.GetSample(TimeInterval_Minute * 20, 70))").unwrap_err();
    assert_eq!(err.code, "InsufficientSampleData");
    assert!(err.message.contains("52.5% of the samples"), "{err}");
    let none = run(
        "$TargetDedicatedNodes = val($ActiveTasks.GetSample(1), 0);",
        &History::new(),
    )
    .unwrap_err();
    assert_eq!(none.code, "InsufficientSampleData");
}

#[test]
fn errors_name_the_construct() {
    let h = active(&[1.0]);
    let err = |text: &str| run(text, &h).unwrap_err();
    let e = err("$TargetDedicatedNodes = avg($CPUPercent.GetSample(TimeInterval_Minute * 10));");
    assert_eq!(e.code, "AutoScalingFormulaNotSupportedByEmulator");
    assert!(e.message.contains("$CPUPercent"), "{e}");
    assert!(e.message.starts_with("Line 1, Col "), "{e}");
    let e = err("$x = 1;\n$TargetDedicatedNodes = frobnicate(2);");
    assert_eq!(e.code, "AutoScalingFormulaNotSupportedByEmulator");
    assert!(e.message.starts_with("Line 2, Col 25: frobnicate()"), "{e}");
    let e = err("$TargetDedicatedNodes = $ActiveTasks.HistoryBeginTime();");
    assert!(e.message.contains("HistoryBeginTime"), "{e}");
    assert_eq!(
        err("$TargetDedicatedNodes = $nope;").code,
        "AutoScalingFormulaEvaluationError"
    );
    assert!(
        err("$TargetDedicatedNodes = 1 / 0;")
            .message
            .contains("division by zero")
    );
    assert!(err("$ActiveTasks = 3;").message.contains("read-only"));
    assert!(
        err("$NodeDeallocationOption = 3;")
            .message
            .contains("requeue")
    );
    assert!(
        err("$TargetDedicatedNodes = $ActiveTasks;")
            .message
            .contains("GetSample")
    );
    assert!(
        err("$TargetDedicatedNodes = val($ActiveTasks.GetSample(1), 3);")
            .message
            .contains("index 3")
    );
    assert!(
        err("$TargetDedicatedNodes = time() + 1;")
            .message
            .contains("'+'")
    );
    assert!(
        err("$TargetDedicatedNodes = time().century;")
            .message
            .contains("century")
    );
    assert!(
        err("$TargetDedicatedNodes = max();")
            .message
            .contains("empty")
    );
}

#[test]
fn shipyard_formulas_evaluate() {
    // Shipyard's own active_tasks formula (convoy/autoscale.py, bias_last_sample, auto
    // bias), which an imported recipe may carry as a raw formula: bare user variables.
    let formula = "maxTasksPerNode = 1;\nminTargetDedicated = 0;\nminTargetLowPriority = 0;\nmaxTargetDedicated = 4;\nmaxTargetLowPriority = 0;\nsli = TimeInterval_Second * 600.0;\nsamplepercent = $ActiveTasks.GetSamplePercent(sli);\nlastsample = val($ActiveTasks.GetSample(1), 0);\nsamplevecavg = avg($ActiveTasks.GetSample(sli));\nActiveTaskAvg = samplepercent < 70 ? max(0, lastsample) : (lastsample < samplevecavg ? avg(lastsample, samplevecavg) : max(lastsample, samplevecavg));\nreqVMs = ActiveTaskAvg / maxTasksPerNode;\npreemptcount = 0;\nrebalance = 0 == 1;\ndivisor = (maxTargetDedicated == 0 || maxTargetLowPriority == 0) ? 1 : 2;\ndedicatedVMs = max(minTargetDedicated, reqVMs / divisor);\ndedicatedVMs = min(maxTargetDedicated, (dedicatedVMs > 0 && dedicatedVMs < 1) ? 1 : dedicatedVMs);\nremainingVMs = reqVMs - dedicatedVMs;\nredistVMs = rebalance ? min(preemptcount, remainingVMs) : 0;\ndedicatedVMs = min(maxTargetDedicated, dedicatedVMs + redistVMs);\nlowPriVMs = min(maxTargetLowPriority, reqVMs - dedicatedVMs);\n$TargetDedicatedNodes = dedicatedVMs;\n$TargetLowPriorityNodes = max(minTargetLowPriority, lowPriVMs);\n$NodeDeallocationOption = taskcompletion;";
    let out = run(formula, &active(&[3.0; 21])).unwrap();
    assert_eq!((out.dedicated, out.low_priority), (3, 0));
    assert!(out.results.contains(";sli=00:10:00"), "{}", out.results);
    // The Microsoft documentation's sample, with `//` comments and no final `;`.
    let doc = "// Get pending tasks for the past 15 minutes.\n$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 15);\n$tasks = $samples < 70 ? max(0,$PendingTasks.GetSample(1)) : max( $PendingTasks.GetSample(1), avg($PendingTasks.GetSample(TimeInterval_Minute * 15)));\n$targetVMs = $tasks > 0? $tasks:max(0, $TargetDedicatedNodes/2);\n$TargetDedicatedNodes = max(0, min($targetVMs, 20))";
    assert_eq!(run(doc, &active(&[6.0])).unwrap().dedicated, 7);
    assert_eq!(
        run(doc, &History::new()).unwrap_err().code,
        "InsufficientSampleData"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        if let Ok(formula) = Formula::parse(&text) {
            let _ = formula.evaluate(inputs(&active(&[1.0, 2.0])));
        }
    }

    #[test]
    fn random_formula_like_text_never_panics(
        parts in prop::collection::vec(
            prop::sample::select(vec![
                "$TargetDedicatedNodes", "$a", "b", " = ", ";", "(", ")", ",", "?", ":", "+", "-",
                "*", "/", "&&", "||", "!", "<", ">=", "==", ".", "1", "0", "2.5", "1e308",
                "max", "min", "avg", "val", "ceil", "floor", "time()", "weekday", "hour",
                "TimeInterval_Second", "TimeInterval_Year", "$ActiveTasks", "$PendingTasks",
                "GetSample", "GetSamplePercent", "percentile", "\"2024-01-01T00:00:00Z\"",
                "taskcompletion", "$NodeDeallocationOption", "stop()", "rand()", "lg", "std",
            ]),
            0..60,
        )
    ) {
        let text: String = parts.concat();
        if let Ok(formula) = Formula::parse(&text) {
            let _ = formula.evaluate(inputs(&active(&[1.0, 2.0, 3.0])));
        }
    }
}
