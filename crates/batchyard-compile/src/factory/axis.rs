//! Product and zip axes: a list of values or a numeric range, indexable without allocating.

use std::borrow::Cow;

use batchyard_recipe::model::Axis;
use indexmap::IndexMap;
use serde_json::{Number, Value};

use super::FactoryError;

/// The values of one axis.
#[derive(Debug, Clone, PartialEq)]
pub enum AxisValues {
    List(Vec<Value>),
    Int { start: i64, step: i64, len: u64 },
    Float { start: f64, step: f64, len: u64 },
}

impl AxisValues {
    pub fn len(&self) -> u64 {
        match self {
            AxisValues::List(v) => v.len() as u64,
            AxisValues::Int { len, .. } | AxisValues::Float { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at `i` (< len).
    pub fn get(&self, i: u64) -> Value {
        match self {
            AxisValues::List(v) => usize::try_from(i)
                .ok()
                .and_then(|i| v.get(i))
                .cloned()
                .unwrap_or(Value::Null),
            AxisValues::Int { .. } => self.int(i).map_or(Value::Null, Value::from),
            AxisValues::Float { start, step, .. } => {
                // Multiply rather than accumulate, so item i does not depend on items before.
                let x = start + step * i as f64;
                Number::from_f64(x)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
    }

    /// The value at `i` of an integer range.
    pub fn int(&self, i: u64) -> Option<i64> {
        match self {
            AxisValues::Int { start, step, .. } => {
                let i = i64::try_from(i).unwrap_or(i64::MAX);
                Some(start.saturating_add(step.saturating_mul(i)))
            }
            _ => None,
        }
    }

    /// The value at `i` (< len), borrowed from a list.
    pub fn get_ref(&self, i: u64) -> Cow<'_, Value> {
        match self {
            AxisValues::List(v) => usize::try_from(i)
                .ok()
                .and_then(|i| v.get(i))
                .map_or(Cow::Owned(Value::Null), Cow::Borrowed),
            _ => Cow::Owned(self.get(i)),
        }
    }

    /// Resolves one axis as written in the recipe.
    pub fn resolve(name: &str, axis: &Axis) -> Result<AxisValues, FactoryError> {
        let range = match axis {
            Axis::Values(v) => return Ok(AxisValues::List(v.clone())),
            Axis::Range { range } => range,
        };
        let bad = || FactoryError::BadRange {
            axis: name.to_string(),
        };
        let (start, stop, step) = match range.as_slice() {
            [a, b] => (a, b, None),
            [a, b, c] => (a, b, Some(c)),
            _ => return Err(bad()),
        };
        let ints = [Some(start), Some(stop), step]
            .into_iter()
            .flatten()
            .all(|n| n.is_i64() || n.is_u64());
        if ints {
            let get = |n: &Number| n.as_i64().ok_or_else(bad);
            let (a, b) = (get(start)?, get(stop)?);
            let s = step.map(get).transpose()?.unwrap_or(1);
            if s == 0 {
                return Err(FactoryError::ZeroStep {
                    axis: name.to_string(),
                });
            }
            let span = i128::from(b) - i128::from(a);
            let s128 = i128::from(s);
            let len = if (span > 0) == (s > 0) && span != 0 {
                (span + s128 - s128.signum()) / s128
            } else {
                0
            };
            return Ok(AxisValues::Int {
                start: a,
                step: s,
                len: u64::try_from(len).unwrap_or(0),
            });
        }
        let get = |n: &Number| n.as_f64().filter(|x| x.is_finite()).ok_or_else(bad);
        let (a, b) = (get(start)?, get(stop)?);
        let s = step.map(get).transpose()?.unwrap_or(1.0);
        if s == 0.0 {
            return Err(FactoryError::ZeroStep {
                axis: name.to_string(),
            });
        }
        let n = ((b - a) / s).ceil();
        let len = if n.is_finite() && n > 0.0 {
            n as u64
        } else {
            0
        };
        Ok(AxisValues::Float {
            start: a,
            step: s,
            len,
        })
    }
}

pub(super) fn resolve_all(
    axes: &IndexMap<String, Axis>,
) -> Result<Vec<(String, AxisValues)>, FactoryError> {
    axes.iter()
        .map(|(name, a)| Ok((name.clone(), AxisValues::resolve(name, a)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn range(v: Value) -> AxisValues {
        let axis: Axis = serde_json::from_value(json!({ "range": v })).unwrap();
        AxisValues::resolve("x", &axis).unwrap()
    }

    fn all(a: &AxisValues) -> Vec<Value> {
        (0..a.len()).map(|i| a.get(i)).collect()
    }

    #[test]
    fn integer_ranges_exclude_stop() {
        assert_eq!(all(&range(json!([16, 128, 16]))).len(), 7);
        assert_eq!(
            all(&range(json!([0, 3]))),
            vec![json!(0), json!(1), json!(2)]
        );
        assert_eq!(
            all(&range(json!([5, 0, -2]))),
            vec![json!(5), json!(3), json!(1)]
        );
        assert!(range(json!([3, 0])).is_empty());
        assert!(range(json!([3, 3])).is_empty());
    }

    #[test]
    fn float_ranges() {
        let r = range(json!([0.0, 1.0, 0.25]));
        assert_eq!(
            all(&r),
            vec![json!(0.0), json!(0.25), json!(0.5), json!(0.75)]
        );
    }
}
