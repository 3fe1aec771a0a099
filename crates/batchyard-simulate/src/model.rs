//! What the simulation assumes: how long tasks take and how long nodes take to boot.
//!
//! Every random draw comes from one seeded generator, in task order, so the same recipe,
//! model and seed give the same result on every run and machine.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Node boot time measured in the recorded sessions of the official Python SDK against
/// the real service (`shared/reference/batch-recordings`, 2023): from a node's
/// `allocationTime` to its `lastBootTime`/`idle` transition, five nodes of Standard_D2_v2
/// and Standard_D2_v3 with marketplace images took 16.3 s, 19.1 s, 20.2 s, 33.1 s and
/// 43.5 s. The default draws uniformly from that range.
pub const RECORDED_BOOT_SECS: (f64, f64) = (16.0, 44.0);

/// How long one task runs, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub enum DurationModel {
    /// Every task the same.
    Fixed(f64),
    /// Uniform in `[low, high)`.
    Uniform { low: f64, high: f64 },
    /// Normal, cut at zero.
    Normal { mean: f64, std: f64 },
    /// A column of the table factory that made the task (seconds); tasks not made by a
    /// table factory with that column take `fallback`.
    Column {
        name: String,
        fallback: Box<DurationModel>,
    },
    /// Durations measured earlier, by (job, task); tasks without a measure take
    /// `fallback`.
    Measured {
        by_task: HashMap<(String, String), f64>,
        fallback: Box<DurationModel>,
    },
}

impl DurationModel {
    /// A short description for output.
    pub fn describe(&self) -> String {
        match self {
            Self::Fixed(s) => format!("fixed {s} s"),
            Self::Uniform { low, high } => format!("uniform {low}–{high} s"),
            Self::Normal { mean, std } => format!("normal mean {mean} s, std {std} s"),
            Self::Column { name, fallback } => {
                format!("table column `{name}` (otherwise {})", fallback.describe())
            }
            Self::Measured { by_task, fallback } => format!(
                "measured in a previous run ({} tasks; otherwise {})",
                by_task.len(),
                fallback.describe()
            ),
        }
    }

    /// The model that applies to a task with no column value and no measure.
    pub(crate) fn base(&self) -> &DurationModel {
        match self {
            Self::Column { fallback, .. } | Self::Measured { fallback, .. } => fallback.base(),
            other => other,
        }
    }

    pub(crate) fn column(&self) -> Option<&str> {
        match self {
            Self::Column { name, .. } => Some(name),
            Self::Measured { fallback, .. } => fallback.column(),
            _ => None,
        }
    }

    pub(crate) fn measured(&self, job: &str, task: &str) -> Option<f64> {
        match self {
            Self::Measured { by_task, .. } => {
                by_task.get(&(job.to_string(), task.to_string())).copied()
            }
            _ => None,
        }
    }
}

/// How long a node takes from allocation until it can run tasks, in seconds (start task
/// included).
#[derive(Debug, Clone, PartialEq)]
pub enum BootModel {
    Fixed(f64),
    Uniform { low: f64, high: f64 },
}

impl Default for BootModel {
    fn default() -> Self {
        Self::Uniform {
            low: RECORDED_BOOT_SECS.0,
            high: RECORDED_BOOT_SECS.1,
        }
    }
}

impl BootModel {
    pub fn describe(&self) -> String {
        match self {
            Self::Fixed(s) => format!("fixed {s} s"),
            Self::Uniform { low, high } => format!("uniform {low}–{high} s"),
        }
    }
}

/// The seeded source of every random draw.
pub(crate) struct Draws {
    rng: StdRng,
}

impl Draws {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A duration from a base model (not `Column` or `Measured`), never negative.
    pub fn duration(&mut self, model: &DurationModel) -> f64 {
        let value = match model.base() {
            DurationModel::Fixed(s) => *s,
            DurationModel::Uniform { low, high } => self.uniform(*low, *high),
            DurationModel::Normal { mean, std } => mean + std * self.standard_normal(),
            DurationModel::Column { .. } | DurationModel::Measured { .. } => 0.0,
        };
        value.max(0.0)
    }

    pub fn boot(&mut self, model: &BootModel) -> f64 {
        match model {
            BootModel::Fixed(s) => s.max(0.0),
            BootModel::Uniform { low, high } => self.uniform(*low, *high).max(0.0),
        }
    }

    /// Seconds until the next event of a Poisson process with `rate_per_hour`.
    pub fn exponential_secs(&mut self, rate_per_hour: f64) -> f64 {
        let u: f64 = self.rng.random::<f64>();
        // 1 - u is in (0, 1], so the logarithm is finite.
        -(1.0 - u).ln() * 3600.0 / rate_per_hour
    }

    fn uniform(&mut self, low: f64, high: f64) -> f64 {
        if high <= low {
            return low;
        }
        low + (high - low) * self.rng.random::<f64>()
    }

    /// Box–Muller: one standard normal draw from two uniforms.
    fn standard_normal(&mut self) -> f64 {
        let u1: f64 = 1.0 - self.rng.random::<f64>();
        let u2: f64 = self.rng.random::<f64>();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_seeded_and_in_range() {
        let model = DurationModel::Uniform {
            low: 10.0,
            high: 20.0,
        };
        let a: Vec<f64> = {
            let mut d = Draws::new(7);
            (0..100).map(|_| d.duration(&model)).collect()
        };
        let b: Vec<f64> = {
            let mut d = Draws::new(7);
            (0..100).map(|_| d.duration(&model)).collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().all(|v| (10.0..20.0).contains(v)));
        let mut d = Draws::new(1);
        let normal = DurationModel::Normal {
            mean: 100.0,
            std: 10.0,
        };
        let n = 20_000;
        let mean = (0..n).map(|_| d.duration(&normal)).sum::<f64>() / f64::from(n);
        assert!((mean - 100.0).abs() < 0.5, "mean {mean}");
        let rate = 2.0;
        let gaps = (0..n).map(|_| d.exponential_secs(rate)).sum::<f64>() / f64::from(n);
        assert!((gaps - 1800.0).abs() < 60.0, "mean gap {gaps}");
    }
}
