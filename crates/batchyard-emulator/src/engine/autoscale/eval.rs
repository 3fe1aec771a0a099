//! Evaluates parsed statements against a pool's metrics and the current time.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::history::{History, Metric, SAMPLE_PERIOD_SECS};
use super::parser::{Expr, Pos, Statement};
use super::value::Value;
use super::{EvalError, functions};

/// What a formula can read about its pool.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Wall-clock time, what `time()` returns.
    pub now: OffsetDateTime,
    /// Autoscale-clock time the history is measured on.
    pub clock_now: f64,
    /// Autoscale seconds per wall-clock second (1 unless sped up).
    pub time_scale: f64,
    pub history: &'a History,
    pub current_dedicated: f64,
    pub current_low_priority: f64,
    /// The pool's targets before this evaluation, which a formula may read.
    pub target_dedicated: f64,
    pub target_low_priority: f64,
}

/// The result of an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub dedicated: i64,
    pub low_priority: i64,
    /// `requeue` unless the formula set another.
    pub deallocation: String,
    /// `$TargetDedicatedNodes=..;$TargetLowPriorityNodes=..;$NodeDeallocationOption=..;`
    /// then every user variable, by name.
    pub results: String,
}

pub const DEALLOCATION_OPTIONS: &[&str] =
    &["requeue", "terminate", "taskcompletion", "retaineddata"];

/// Metrics the service defines that the emulator does not measure.
const UNMEASURED: &[&str] = &[
    "$CPUPercent",
    "$WallClockSeconds",
    "$MemoryBytes",
    "$DiskBytes",
    "$DiskReadBytes",
    "$DiskWriteBytes",
    "$DiskReadOps",
    "$DiskWriteOps",
    "$NetworkInBytes",
    "$NetworkOutBytes",
    "$UsableNodeCount",
];

/// Why evaluation ended early.
pub(super) enum Halt {
    Stop,
    Error(EvalError),
}

impl From<EvalError> for Halt {
    fn from(e: EvalError) -> Self {
        Halt::Error(e)
    }
}

pub(super) type Flow<T> = Result<T, Halt>;

pub(super) fn fail<T>(pos: Pos, message: impl std::fmt::Display) -> Flow<T> {
    Err(Halt::Error(EvalError::failed(pos, message)))
}

pub(super) fn unsupported<T>(pos: Pos, message: impl std::fmt::Display) -> Flow<T> {
    Err(Halt::Error(EvalError::unsupported(pos, message)))
}

#[derive(Default)]
struct Targets {
    dedicated: Option<f64>,
    dedicated_alias: Option<f64>,
    low: Option<f64>,
    low_alias: Option<f64>,
    deallocation: Option<String>,
}

pub(super) struct Evaluator<'a> {
    pub inputs: Inputs<'a>,
    vars: BTreeMap<String, Value>,
    targets: Targets,
}

pub fn evaluate(statements: &[Statement], inputs: Inputs<'_>) -> Result<Outcome, EvalError> {
    let mut ev = Evaluator {
        inputs,
        vars: BTreeMap::new(),
        targets: Targets::default(),
    };
    for statement in statements {
        let step = match statement {
            Statement::Assign(name, expr, pos) => {
                ev.expr(expr).and_then(|value| ev.assign(name, value, *pos))
            }
            Statement::Expr(expr) => ev.expr(expr).map(|_| ()),
        };
        match step {
            Ok(()) => {}
            Err(Halt::Stop) => break,
            Err(Halt::Error(e)) => return Err(e),
        }
    }
    ev.outcome()
}

impl Evaluator<'_> {
    fn outcome(self) -> Result<Outcome, EvalError> {
        let t = &self.targets;
        let dedicated = t
            .dedicated
            .or(t.dedicated_alias)
            .unwrap_or(self.inputs.target_dedicated);
        let low = t
            .low
            .or(t.low_alias)
            .unwrap_or(self.inputs.target_low_priority);
        let deallocation = t
            .deallocation
            .clone()
            .unwrap_or_else(|| "requeue".to_string());
        let (dedicated, low) = (node_count(dedicated), node_count(low));
        let mut results = format!(
            "$TargetDedicatedNodes={dedicated};$TargetLowPriorityNodes={low};$NodeDeallocationOption={deallocation}"
        );
        for (name, value) in &self.vars {
            results.push_str(&format!(";{name}={}", value.display()));
        }
        Ok(Outcome {
            dedicated,
            low_priority: low,
            deallocation,
            results,
        })
    }

    fn assign(&mut self, name: &str, value: Value, pos: Pos) -> Flow<()> {
        let slot = match name {
            "$TargetDedicatedNodes" => &mut self.targets.dedicated,
            "$TargetDedicated" => &mut self.targets.dedicated_alias,
            "$TargetLowPriorityNodes" => &mut self.targets.low,
            "$TargetLowPriority" => &mut self.targets.low_alias,
            "$NodeDeallocationOption" => {
                return match value {
                    Value::Str(s) if DEALLOCATION_OPTIONS.contains(&s.as_str()) => {
                        self.targets.deallocation = Some(s);
                        Ok(())
                    }
                    other => fail(
                        pos,
                        format!(
                            "$NodeDeallocationOption must be one of requeue, terminate, taskcompletion, retaineddata, not {}",
                            describe(&other)
                        ),
                    ),
                };
            }
            _ => {
                if self.is_read_only(name) {
                    return fail(pos, format!("{name} is read-only and cannot be assigned"));
                }
                self.vars.insert(name.to_string(), value);
                return Ok(());
            }
        };
        match value {
            Value::Num(n) if n.is_finite() => {
                *slot = Some(n);
                Ok(())
            }
            other => fail(
                pos,
                format!("{name} must be a finite number, not {}", describe(&other)),
            ),
        }
    }

    fn is_read_only(&self, name: &str) -> bool {
        Metric::from_name(name).is_some()
            || UNMEASURED.contains(&name)
            || matches!(name, "$CurrentDedicatedNodes" | "$CurrentLowPriorityNodes")
            || interval_constant(name).is_some()
            || DEALLOCATION_OPTIONS.contains(&name)
    }

    pub(super) fn expr(&mut self, expr: &Expr) -> Flow<Value> {
        match expr {
            Expr::Number(n) => Ok(Value::Num(*n)),
            Expr::Str(s) => Ok(Value::Str(s.clone())),
            Expr::Name(name, pos) => self.read(name, *pos),
            Expr::Call(name, args, pos) => functions::call(self, name, args, *pos),
            Expr::Method(target, name, args, pos) => self.method(target, name, args, *pos),
            Expr::Member(target, name, pos) => {
                let value = self.expr(target)?;
                member(&value, name, *pos)
            }
            Expr::Unary(op, operand, pos) => {
                let value = self.expr(operand)?;
                unary(op, value, *pos)
            }
            Expr::Binary(op @ ("&&" | "||"), left, right, pos) => {
                let l = truth(&self.expr(left)?, *pos)?;
                // Short-circuit, so the right side's errors only count when it is needed.
                if (*op == "&&" && !l) || (*op == "||" && l) {
                    return Ok(Value::Num(if l { 1.0 } else { 0.0 }));
                }
                let r = truth(&self.expr(right)?, *pos)?;
                Ok(Value::Num(if r { 1.0 } else { 0.0 }))
            }
            Expr::Binary(op, left, right, pos) => {
                let l = self.expr(left)?;
                let r = self.expr(right)?;
                binary(op, l, r, *pos)
            }
            Expr::Ternary(cond, yes, no, pos) => {
                if truth(&self.expr(cond)?, *pos)? {
                    self.expr(yes)
                } else {
                    self.expr(no)
                }
            }
        }
    }

    fn read(&self, name: &str, pos: Pos) -> Flow<Value> {
        let t = &self.targets;
        let i = &self.inputs;
        match name {
            "$TargetDedicatedNodes" | "$TargetDedicated" => {
                return Ok(Value::Num(
                    t.dedicated
                        .or(t.dedicated_alias)
                        .unwrap_or(i.target_dedicated),
                ));
            }
            "$TargetLowPriorityNodes" | "$TargetLowPriority" => {
                return Ok(Value::Num(
                    t.low.or(t.low_alias).unwrap_or(i.target_low_priority),
                ));
            }
            "$NodeDeallocationOption" => {
                return Ok(Value::Str(
                    t.deallocation.clone().unwrap_or_else(|| "requeue".into()),
                ));
            }
            "$CurrentDedicatedNodes" => return Ok(Value::Num(i.current_dedicated)),
            "$CurrentLowPriorityNodes" => return Ok(Value::Num(i.current_low_priority)),
            _ => {}
        }
        if let Some(secs) = interval_constant(name) {
            return Ok(Value::Interval(secs));
        }
        if DEALLOCATION_OPTIONS.contains(&name) {
            return Ok(Value::Str(name.to_string()));
        }
        if let Some(metric) = Metric::from_name(name) {
            return fail(
                pos,
                format!(
                    "{} is a sample history; read it with {0}.GetSample(...) or {0}.GetSamplePercent(...)",
                    metric.name()
                ),
            );
        }
        if UNMEASURED.contains(&name) {
            return unmeasured(name, pos);
        }
        match self.vars.get(name) {
            Some(v) => Ok(v.clone()),
            None if name.starts_with('$') && name[1..].starts_with(char::is_uppercase) => {
                unsupported(
                    pos,
                    format!(
                        "{name} is not a variable the emulator knows; user variables must be assigned before they are read"
                    ),
                )
            }
            None => fail(pos, format!("{name} is read before it is assigned")),
        }
    }

    fn method(&mut self, target: &Expr, name: &str, args: &[Expr], pos: Pos) -> Flow<Value> {
        let metric = match target {
            Expr::Name(var, var_pos) => match Metric::from_name(var) {
                Some(m) => m,
                None if UNMEASURED.contains(&var.as_str()) => return unmeasured(var, *var_pos),
                None => {
                    return fail(
                        pos,
                        format!(
                            "{var} has no method {name}(); only sampled metrics such as $ActiveTasks have methods"
                        ),
                    );
                }
            },
            _ => {
                return fail(
                    pos,
                    format!("{name}() can only be called on a sampled metric such as $ActiveTasks"),
                );
            }
        };
        let mut values = Vec::with_capacity(args.len());
        for arg in args {
            values.push(self.expr(arg)?);
        }
        let h = self.inputs.history;
        let now = self.inputs.clock_now;
        let m = metric.name();
        match name {
            "GetSample" => match values.as_slice() {
                [Value::Num(count)] => {
                    if !count.is_finite() || *count < 1.0 {
                        return fail(
                            pos,
                            format!("{m}.GetSample({count}): the sample count must be at least 1"),
                        );
                    }
                    let want = count.min(1e9) as usize;
                    let got = h.last(metric, want);
                    if got.is_empty() {
                        return Err(Halt::Error(EvalError::insufficient(
                            pos,
                            format!("{m}.GetSample({want}): no sample has been taken yet"),
                        )));
                    }
                    Ok(Value::Vec(got))
                }
                [start] => self.sample_window(metric, start, &Value::Interval(0.0), None, pos),
                [start, Value::Num(pct)] => {
                    self.sample_window(metric, start, &Value::Interval(0.0), Some(*pct), pos)
                }
                [start, end] => self.sample_window(metric, start, end, None, pos),
                [start, end, Value::Num(pct)] => {
                    self.sample_window(metric, start, end, Some(*pct), pos)
                }
                _ => fail(
                    pos,
                    format!(
                        "{m}.GetSample takes a count, or a start [, end] interval with an optional percentage, not ({})",
                        types(&values)
                    ),
                ),
            },
            "GetSamplePercent" => {
                let (from, to) = match values.as_slice() {
                    [start] => (self.look_back(start, pos)?, 0.0),
                    [start, end] => (self.look_back(start, pos)?, self.look_back(end, pos)?),
                    _ => {
                        return fail(
                            pos,
                            format!(
                                "{m}.GetSamplePercent takes a start [, end] interval, not ({})",
                                types(&values)
                            ),
                        );
                    }
                };
                Ok(Value::Num(h.percent(metric, now, from, to)))
            }
            "Count" if values.is_empty() => Ok(Value::Num(h.len() as f64)),
            "GetSamplePeriod" if values.is_empty() => Ok(Value::Interval(SAMPLE_PERIOD_SECS)),
            "HistoryBeginTime" => unsupported(
                pos,
                format!("{m}.HistoryBeginTime() is not evaluated by the emulator"),
            ),
            other => fail(
                pos,
                format!("{m} has no method {other}({})", types(&values)),
            ),
        }
    }

    /// A look-back interval in autoscale seconds: an interval as is, a timestamp as the
    /// time since it.
    fn look_back(&self, v: &Value, pos: Pos) -> Flow<f64> {
        match v {
            Value::Interval(s) if s.is_finite() && *s >= 0.0 => Ok(*s),
            Value::Time(t) => {
                let since = (self.inputs.now - *t).as_seconds_f64() * self.inputs.time_scale;
                Ok(since.max(0.0))
            }
            other => fail(
                pos,
                format!(
                    "a sample window is a non-negative timeinterval or a timestamp, not {}",
                    describe(other)
                ),
            ),
        }
    }

    fn sample_window(
        &self,
        metric: Metric,
        start: &Value,
        end: &Value,
        required: Option<f64>,
        pos: Pos,
    ) -> Flow<Value> {
        let (from, to) = (self.look_back(start, pos)?, self.look_back(end, pos)?);
        let h = self.inputs.history;
        let now = self.inputs.clock_now;
        if let Some(required) = required {
            let have = h.percent(metric, now, from, to);
            if have < required {
                return Err(Halt::Error(EvalError::insufficient(
                    pos,
                    format!(
                        "{}.GetSample: {} of the samples in the window are available, {} required",
                        metric.name(),
                        percent(have),
                        percent(required)
                    ),
                )));
            }
        }
        Ok(Value::Vec(h.window(metric, now, from, to)))
    }
}

fn percent(p: f64) -> String {
    format!("{}%", super::value::number((p * 10.0).round() / 10.0))
}

fn unmeasured<T>(name: &str, pos: Pos) -> Flow<T> {
    unsupported(
        pos,
        format!(
            "{name} is a node resource metric, which the emulator does not measure; it evaluates task metrics ($ActiveTasks, $RunningTasks, $PendingTasks, $SucceededTasks, $FailedTasks), node counts and time()"
        ),
    )
}

fn node_count(n: f64) -> i64 {
    // Targets are whole nodes; a fraction is dropped, a negative target is zero.
    n.trunc().max(0.0) as i64
}

pub(super) fn describe(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("the string '{s}'"),
        other => format!("a {} ({})", other.type_name(), other.display()),
    }
}

pub(super) fn types(values: &[Value]) -> String {
    values
        .iter()
        .map(Value::type_name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn interval_constant(name: &str) -> Option<f64> {
    Some(match name {
        "TimeInterval_Zero" => 0.0,
        "TimeInterval_100ns" => 1e-7,
        "TimeInterval_Microsecond" => 1e-6,
        "TimeInterval_Millisecond" => 1e-3,
        "TimeInterval_Second" => 1.0,
        "TimeInterval_Minute" => 60.0,
        "TimeInterval_Hour" => 3600.0,
        "TimeInterval_Day" => 86_400.0,
        "TimeInterval_Week" => 604_800.0,
        "TimeInterval_Year" => 365.0 * 86_400.0,
        _ => return None,
    })
}

fn truth(v: &Value, pos: Pos) -> Flow<bool> {
    match v {
        Value::Num(n) => Ok(*n != 0.0),
        other => fail(
            pos,
            format!("a condition must be a double, not {}", describe(other)),
        ),
    }
}

fn member(value: &Value, name: &str, pos: Pos) -> Flow<Value> {
    let Value::Time(t) = value else {
        return fail(
            pos,
            format!(".{name} applies to a timestamp, not {}", describe(value)),
        );
    };
    let n = match name {
        "year" => f64::from(t.year()),
        "month" => f64::from(u8::from(t.month())),
        "day" => f64::from(t.day()),
        // The service counts from Sunday = 0.
        "weekday" => f64::from(t.weekday().number_days_from_sunday()),
        "hour" => f64::from(t.hour()),
        "minute" => f64::from(t.minute()),
        "second" => f64::from(t.second()),
        other => {
            return fail(
                pos,
                format!(
                    "a timestamp has no member .{other}; it has year, month, day, weekday, hour, minute, second"
                ),
            );
        }
    };
    Ok(Value::Num(n))
}

fn unary(op: &str, v: Value, pos: Pos) -> Flow<Value> {
    match (op, v) {
        ("-", Value::Num(n)) => Ok(Value::Num(-n)),
        ("-", Value::Interval(s)) => Ok(Value::Interval(-s)),
        ("-", Value::Vec(v)) => Ok(Value::Vec(v.into_iter().map(|n| -n).collect())),
        ("!", Value::Num(n)) => Ok(Value::Num(if n == 0.0 { 1.0 } else { 0.0 })),
        (op, other) => fail(
            pos,
            format!("'{op}' does not apply to {}", describe(&other)),
        ),
    }
}

fn arith(op: &str, a: f64, b: f64, pos: Pos) -> Flow<f64> {
    Ok(match op {
        "+" => a + b,
        "-" => a - b,
        "*" => a * b,
        "/" if b == 0.0 => return fail(pos, "division by zero"),
        "/" => a / b,
        _ => return fail(pos, format!("'{op}' does not apply to doubles here")),
    })
}

fn compare(op: &str, ord: Option<std::cmp::Ordering>) -> f64 {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let yes = match (op, ord) {
        (_, None) => op == "!=",
        ("<", Some(o)) => o == Less,
        ("<=", Some(o)) => o != Greater,
        (">", Some(o)) => o == Greater,
        (">=", Some(o)) => o != Less,
        ("==", Some(o)) => o == Equal,
        ("!=", Some(o)) => o != Equal,
        _ => false,
    };
    if yes { 1.0 } else { 0.0 }
}

fn shift(t: OffsetDateTime, secs: f64, pos: Pos) -> Flow<Value> {
    let nanos = t.unix_timestamp_nanos() as f64 + secs * 1e9;
    if !nanos.is_finite() {
        return fail(pos, "the time is out of range");
    }
    match OffsetDateTime::from_unix_timestamp_nanos(nanos as i128) {
        Ok(t) => Ok(Value::Time(t)),
        Err(_) => fail(pos, "the time is out of range"),
    }
}

fn binary(op: &str, l: Value, r: Value, pos: Pos) -> Flow<Value> {
    use Value::{Interval, Num, Str, Time, Vec as V};
    let comparison = matches!(op, "<" | "<=" | ">" | ">=" | "==" | "!=");
    match (l, r) {
        (Num(a), Num(b)) if comparison => Ok(Num(compare(op, a.partial_cmp(&b)))),
        (Num(a), Num(b)) => Ok(Num(arith(op, a, b, pos)?)),
        (Interval(a), Interval(b)) if comparison => Ok(Num(compare(op, a.partial_cmp(&b)))),
        (Time(a), Time(b)) if comparison => Ok(Num(compare(op, Some(a.cmp(&b))))),
        (Str(a), Str(b)) if comparison => Ok(Num(compare(op, Some(a.cmp(&b))))),
        (V(a), Num(b)) if !comparison => Ok(V(a
            .into_iter()
            .map(|x| arith(op, x, b, pos))
            .collect::<Flow<_>>()?)),
        (Num(a), V(b)) if !comparison => Ok(V(b
            .into_iter()
            .map(|x| arith(op, a, x, pos))
            .collect::<Flow<_>>()?)),
        (V(a), V(b)) if !comparison => {
            if a.len() != b.len() {
                return fail(
                    pos,
                    format!(
                        "'{op}' needs vectors of one length, not {} and {}",
                        a.len(),
                        b.len()
                    ),
                );
            }
            Ok(V(a
                .into_iter()
                .zip(b)
                .map(|(x, y)| arith(op, x, y, pos))
                .collect::<Flow<_>>()?))
        }
        (Num(n), Interval(s)) | (Interval(s), Num(n)) if op == "*" => Ok(Interval(n * s)),
        (Interval(s), Num(n)) if op == "/" => Ok(Interval(arith("/", s, n, pos)?)),
        (Interval(a), Interval(b)) if op == "+" || op == "-" => Ok(Interval(arith(op, a, b, pos)?)),
        (Time(t), Interval(s)) | (Interval(s), Time(t)) if op == "+" => shift(t, s, pos),
        (Time(t), Interval(s)) if op == "-" => shift(t, -s, pos),
        (Time(a), Time(b)) if op == "-" => Ok(Interval((a - b).as_seconds_f64())),
        (l, r) => fail(
            pos,
            format!(
                "'{op}' does not apply to {} and {}",
                describe(&l),
                describe(&r)
            ),
        ),
    }
}
