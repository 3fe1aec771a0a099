//! Seeded random items. The generator is implemented here (xoshiro256**, seeded through
//! SplitMix64) rather than taken from a crate, so a seed gives the same tasks on every
//! platform and in every future version: task ids built from random values must not change.

use batchyard_recipe::model::{RandomAxis, RandomFactory};
use serde_json::{Map, Number, Value};

use super::FactoryError;

/// xoshiro256** (Blackman and Vigna).
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n) without modulo bias (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }
}

/// The random items of a factory.
pub struct RandomItems<'a> {
    spec: &'a RandomFactory,
    rng: Rng,
    remaining: u64,
}

impl<'a> RandomItems<'a> {
    pub fn new(spec: &'a RandomFactory) -> Result<Self, FactoryError> {
        for (name, axis) in &spec.axes {
            let err = |m: &str| FactoryError::Random {
                axis: name.clone(),
                message: m.into(),
            };
            match axis {
                RandomAxis::Integer([lo, hi]) if lo > hi => {
                    return Err(err("the low bound is above the high bound"));
                }
                RandomAxis::Uniform([lo, hi]) if !(lo < hi && lo.is_finite() && hi.is_finite()) => {
                    return Err(err("bounds must be finite with low < high"));
                }
                RandomAxis::Normal { mean, std }
                    if !(mean.is_finite() && std.is_finite() && *std >= 0.0) =>
                {
                    return Err(err("mean and std must be finite and std not negative"));
                }
                RandomAxis::Choice(v) if v.is_empty() => {
                    return Err(err("choice needs at least one value"));
                }
                _ => {}
            }
        }
        Ok(RandomItems {
            spec,
            rng: Rng::new(spec.seed),
            remaining: spec.count,
        })
    }

    fn draw(&mut self, axis: &RandomAxis) -> Value {
        match axis {
            RandomAxis::Integer([lo, hi]) => {
                let span = (i128::from(*hi) - i128::from(*lo) + 1) as u128;
                let offset = if span > u128::from(u64::MAX) {
                    self.rng.next_u64()
                } else {
                    self.rng.below(span as u64)
                };
                Value::from((i128::from(*lo) + i128::from(offset)) as i64)
            }
            RandomAxis::Uniform([lo, hi]) => float(lo + (hi - lo) * self.rng.next_f64()),
            RandomAxis::Normal { mean, std } => {
                // Box–Muller; 1 - u keeps the logarithm's argument in (0, 1].
                let u1 = 1.0 - self.rng.next_f64();
                let u2 = self.rng.next_f64();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                float(mean + std * z)
            }
            RandomAxis::Choice(values) => {
                let i = self.rng.below(values.len() as u64) as usize;
                values.get(i).cloned().unwrap_or(Value::Null)
            }
        }
    }
}

fn float(x: f64) -> Value {
    Number::from_f64(x)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

impl Iterator for RandomItems<'_> {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let mut item = Map::new();
        let spec = self.spec;
        for (name, axis) in &spec.axes {
            let v = self.draw(axis);
            item.insert(name.clone(), v);
        }
        Some(Value::Object(item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value) -> RandomFactory {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn same_seed_same_items_and_known_values() {
        let s = spec(json!({"seed": 42, "count": 1000, "axes": {
            "n": {"integer": [1, 6]}, "u": {"uniform": [0.0, 1.0]},
            "g": {"normal": {"mean": 10.0, "std": 2.0}}, "c": {"choice": ["x", "y"]}
        }}));
        let a: Vec<_> = RandomItems::new(&s).unwrap().collect();
        let b: Vec<_> = RandomItems::new(&s).unwrap().collect();
        assert_eq!(a, b);
        assert_eq!(a.len(), 1000);
        // Every value in bounds, every face of the die seen, the mean near 10.
        let mut faces = [false; 6];
        let mut sum = 0.0;
        for item in &a {
            let n = item["n"].as_i64().unwrap();
            assert!((1..=6).contains(&n));
            faces[(n - 1) as usize] = true;
            let u = item["u"].as_f64().unwrap();
            assert!((0.0..1.0).contains(&u));
            sum += item["g"].as_f64().unwrap();
            assert!(item["c"] == json!("x") || item["c"] == json!("y"));
        }
        assert!(faces.iter().all(|&f| f));
        let mean = sum / 1000.0;
        assert!((mean - 10.0).abs() < 0.3, "mean {mean}");
        // Pinned so the stream never silently changes (ids may depend on it).
        let mut rng = Rng::new(0);
        assert_eq!(rng.next_u64(), 0x99EC_5F36_CB75_F2B4);
    }

    /// The values items are made of, pinned: they become task ids and command lines, and the
    /// recipe language promises the same tasks from the same recipe in every version. A
    /// change here changes users' tasks; it needs a new seed scheme, not a new pin.
    #[test]
    fn derived_values_are_pinned() {
        let s = spec(json!({"seed": 7, "count": 3, "axes": {
            "die": {"integer": [1, 6]}, "wide": {"integer": [i64::MIN, i64::MAX]},
            "u": {"uniform": [-1.0, 3.0]}, "g": {"normal": {"mean": 10.0, "std": 2.0}},
            "c": {"choice": ["x", "y", "z"]}
        }}));
        let items: Vec<String> = RandomItems::new(&s)
            .unwrap()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(items, PINNED);
    }

    const PINNED: [&str; 3] = [
        r#"{"die":1,"wide":-4081319446519993134,"u":2.358509847505679,"g":15.625228958750682,"c":"z"}"#,
        r#"{"die":5,"wide":-7296871760556760612,"u":0.6148261044101062,"g":8.890830831297164,"c":"y"}"#,
        r#"{"die":4,"wide":7025456533006481943,"u":0.8056786109258631,"g":9.892046719880897,"c":"x"}"#,
    ];

    #[test]
    fn different_seeds_differ() {
        let mk = |seed| {
            spec(json!({"seed": seed, "count": 5, "axes": {"n": {"integer": [0, 1000000]}}}))
        };
        let (s1, s2) = (mk(1), mk(2));
        let a: Vec<_> = RandomItems::new(&s1).unwrap().collect();
        let b: Vec<_> = RandomItems::new(&s2).unwrap().collect();
        assert_ne!(a, b);
    }

    #[test]
    fn bad_bounds_are_errors() {
        let s = spec(json!({"seed": 1, "count": 5, "axes": {"n": {"integer": [5, 1]}}}));
        assert!(RandomItems::new(&s).is_err());
        let s = spec(json!({"seed": 1, "count": 5, "axes": {"c": {"choice": []}}}));
        assert!(RandomItems::new(&s).is_err());
    }
}
