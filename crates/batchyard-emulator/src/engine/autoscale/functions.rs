//! The service's built-in functions.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::eval::{Evaluator, Flow, Halt, describe, fail, types, unsupported};
use super::parser::{Expr, Pos};
use super::value::Value;

pub(super) fn call(ev: &mut Evaluator<'_>, name: &str, args: &[Expr], pos: Pos) -> Flow<Value> {
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        values.push(ev.expr(arg)?);
    }
    let list = |values: &[Value]| flatten(name, values, pos);
    let non_empty = |values: &[Value]| -> Flow<Vec<f64>> {
        let v = list(values)?;
        if v.is_empty() {
            return fail(pos, format!("{name}() of an empty list"));
        }
        Ok(v)
    };
    match name {
        "avg" => {
            let v = non_empty(&values)?;
            Ok(Value::Num(v.iter().sum::<f64>() / v.len() as f64))
        }
        "max" => Ok(Value::Num(
            non_empty(&values)?.into_iter().fold(f64::MIN, f64::max),
        )),
        "min" => Ok(Value::Num(
            non_empty(&values)?.into_iter().fold(f64::MAX, f64::min),
        )),
        "sum" => Ok(Value::Num(list(&values)?.iter().sum())),
        "len" => Ok(Value::Num(list(&values)?.len() as f64)),
        "range" => {
            let v = non_empty(&values)?;
            let hi = v.iter().copied().fold(f64::MIN, f64::max);
            let lo = v.iter().copied().fold(f64::MAX, f64::min);
            Ok(Value::Num(hi - lo))
        }
        "norm" => Ok(Value::Num(
            list(&values)?.iter().map(|x| x * x).sum::<f64>().sqrt(),
        )),
        "std" => {
            let v = non_empty(&values)?;
            if v.len() < 2 {
                return Ok(Value::Num(0.0));
            }
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
            Ok(Value::Num(var.sqrt()))
        }
        "ceil" => map(name, values, pos, f64::ceil),
        "floor" => map(name, values, pos, f64::floor),
        "round" => map(name, values, pos, f64::round),
        "lg" => map(name, values, pos, f64::log2),
        "ln" => map(name, values, pos, f64::ln),
        "log" => map(name, values, pos, f64::log10),
        "percentile" => match values.as_slice() {
            [v, Value::Num(p)] if (0.0..=100.0).contains(p) => {
                let mut v = flatten(name, std::slice::from_ref(v), pos)?;
                if v.is_empty() {
                    return fail(pos, "percentile() of an empty vector");
                }
                v.sort_by(f64::total_cmp);
                // Nearest rank.
                let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
                Ok(Value::Num(v[rank.min(v.len()) - 1]))
            }
            _ => fail(
                pos,
                format!(
                    "percentile takes a vector and a percentage from 0 to 100, not ({})",
                    types(&values)
                ),
            ),
        },
        "val" => match values.as_slice() {
            [v, Value::Num(i)] => {
                let v = flatten(name, std::slice::from_ref(v), pos)?;
                if !i.is_finite() || *i < 0.0 || (*i as usize) >= v.len() {
                    return fail(
                        pos,
                        format!(
                            "val(): index {} is outside a vector of {} elements",
                            super::value::number(*i),
                            v.len()
                        ),
                    );
                }
                Ok(Value::Num(v[*i as usize]))
            }
            _ => fail(
                pos,
                format!("val takes a vector and an index, not ({})", types(&values)),
            ),
        },
        "rand" if values.is_empty() => Ok(Value::Num(rand::random::<f64>())),
        "stop" if values.is_empty() => Err(Halt::Stop),
        "time" => match values.as_slice() {
            [] => Ok(Value::Time(ev.inputs.now)),
            [Value::Str(s)] => parse_time(s).map(Value::Time).ok_or(()).or_else(|()| {
                fail(
                    pos,
                    format!("time(\"{s}\"): not a W3C-DTF or RFC 1123 time"),
                )
            }),
            _ => fail(
                pos,
                format!(
                    "time takes no argument or one date-time string, not ({})",
                    types(&values)
                ),
            ),
        },
        "rand" | "stop" => fail(pos, format!("{name}() takes no arguments")),
        other => unsupported(
            pos,
            format!(
                "{other}() is not a function the emulator evaluates (it knows avg, ceil, floor, len, lg, ln, log, max, min, norm, percentile, rand, range, round, std, stop, sum, time, val)"
            ),
        ),
    }
}

/// A `doubleVecList`: doubles and vectors, joined into one vector.
fn flatten(name: &str, values: &[Value], pos: Pos) -> Flow<Vec<f64>> {
    let mut out = Vec::new();
    for v in values {
        match v {
            Value::Num(n) => out.push(*n),
            Value::Vec(items) => out.extend_from_slice(items),
            other => {
                return fail(
                    pos,
                    format!(
                        "{name}() takes doubles and vectors, not {}",
                        describe(other)
                    ),
                );
            }
        }
    }
    Ok(out)
}

/// One double gives a double, anything else a vector, element by element.
fn map(name: &str, values: Vec<Value>, pos: Pos, f: fn(f64) -> f64) -> Flow<Value> {
    match values.as_slice() {
        [Value::Num(n)] => Ok(Value::Num(f(*n))),
        _ => Ok(Value::Vec(
            flatten(name, &values, pos)?.into_iter().map(f).collect(),
        )),
    }
}

fn parse_time(text: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    httpdate::parse_http_date(text)
        .ok()
        .map(OffsetDateTime::from)
}
