//! Product and zip items as positions on their axes: the value of one item key is read
//! straight from its axis, so a million items need not each be built as a JSON map.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::AxisValues;

/// The items of a product or zip over named axes.
pub struct AxisRows {
    axes: Vec<(String, AxisValues)>,
    walk: Walk,
    /// The current item's position on each axis (valid after [`AxisRows::advance`]).
    current: Vec<u64>,
}

enum Walk {
    /// Every combination, the last axis fastest (itertools order); `None` once exhausted.
    Product { next: Option<Vec<u64>> },
    /// The same position on every axis, up to the shortest.
    Zip { next: u64, len: u64 },
}

impl AxisRows {
    pub fn product(axes: Vec<(String, AxisValues)>) -> Self {
        let next = (!axes.iter().any(|(_, a)| a.is_empty())).then(|| vec![0; axes.len()]);
        let current = vec![0; axes.len()];
        AxisRows {
            axes,
            walk: Walk::Product { next },
            current,
        }
    }

    pub fn zip(axes: Vec<(String, AxisValues)>) -> Self {
        let len = axes.iter().map(|(_, a)| a.len()).min().unwrap_or(0);
        let current = vec![0; axes.len()];
        AxisRows {
            axes,
            walk: Walk::Zip { next: 0, len },
            current,
        }
    }

    /// Moves to the next item; false when there is none.
    pub fn advance(&mut self) -> bool {
        match &mut self.walk {
            Walk::Product { next } => {
                let Some(idx) = next.as_mut() else {
                    return false;
                };
                self.current.copy_from_slice(idx);
                // Advance the odometer.
                let mut pos = idx.len();
                loop {
                    if pos == 0 {
                        *next = None;
                        break;
                    }
                    pos -= 1;
                    idx[pos] += 1;
                    if idx[pos] < self.axes[pos].1.len() {
                        break;
                    }
                    idx[pos] = 0;
                }
                true
            }
            Walk::Zip { next, len } => {
                if *next >= *len {
                    return false;
                }
                self.current.fill(*next);
                *next += 1;
                true
            }
        }
    }

    /// Positions the rows so that the next [`Self::advance`] moves to item `index` (in the
    /// order `advance` walks them), or finds none when `index` is past the end.
    pub fn seek(&mut self, index: u64) {
        match &mut self.walk {
            Walk::Product { next } => {
                let mut digits = vec![0; self.axes.len()];
                let mut rest = index;
                // The last axis varies fastest: peel the index into positions from the end.
                for (digit, (_, axis)) in digits.iter_mut().zip(&self.axes).rev() {
                    let len = axis.len();
                    if len == 0 {
                        *next = None;
                        return;
                    }
                    *digit = rest % len;
                    rest /= len;
                }
                *next = (rest == 0).then_some(digits);
            }
            Walk::Zip { next, len } => *next = index.min(*len),
        }
    }

    /// The column of item key `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.axes.iter().position(|(n, _)| n == name)
    }

    /// The current item's value in `column`.
    pub fn cell(&self, column: usize) -> Option<Cow<'_, Value>> {
        let (_, axis) = self.axes.get(column)?;
        Some(axis.get_ref(*self.current.get(column)?))
    }

    /// The current item's value in `column` when that axis is an integer range.
    pub fn int(&self, column: usize) -> Option<i64> {
        let (_, axis) = self.axes.get(column)?;
        axis.int(*self.current.get(column)?)
    }

    /// Whether the axis in `column` is an integer range.
    pub fn is_int(&self, column: usize) -> bool {
        matches!(self.axes.get(column), Some((_, AxisValues::Int { .. })))
    }

    /// The current item as a JSON map, in axis order.
    pub fn item(&self) -> Value {
        let mut item = Map::new();
        for ((name, axis), &i) in self.axes.iter().zip(&self.current) {
            item.insert(name.clone(), axis.get(i));
        }
        Value::Object(item)
    }
}

/// The items one by one as JSON maps.
impl Iterator for AxisRows {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        self.advance().then(|| self.item())
    }
}
