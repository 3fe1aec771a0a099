//! The metric samples of one pool, as `GetSample` and `GetSamplePercent` read them.
//!
//! Times here are autoscale seconds: seconds on the autoscale clock, which runs faster
//! than the wall clock when the emulator is configured to (see `AutoscaleClock`).

use std::collections::VecDeque;

/// The service records one sample every 30 seconds.
pub const SAMPLE_PERIOD_SECS: f64 = 30.0;
/// A week of samples; older ones are dropped (the longest evaluation interval is 168 h).
pub const MAX_SAMPLES: usize = 7 * 24 * 120;

/// Task and node counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub active: f64,
    pub running: f64,
    pub succeeded: f64,
    pub failed: f64,
    pub preempted: f64,
    pub nodes: f64,
}

/// The sampled metrics a formula can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    ActiveTasks,
    RunningTasks,
    PendingTasks,
    SucceededTasks,
    FailedTasks,
    PreemptedNodeCount,
    SampleNodeCount,
}

impl Metric {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "$ActiveTasks" => Self::ActiveTasks,
            "$RunningTasks" => Self::RunningTasks,
            "$PendingTasks" => Self::PendingTasks,
            "$SucceededTasks" => Self::SucceededTasks,
            "$FailedTasks" => Self::FailedTasks,
            "$PreemptedNodeCount" => Self::PreemptedNodeCount,
            "$SampleNodeCount" => Self::SampleNodeCount,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::ActiveTasks => "$ActiveTasks",
            Self::RunningTasks => "$RunningTasks",
            Self::PendingTasks => "$PendingTasks",
            Self::SucceededTasks => "$SucceededTasks",
            Self::FailedTasks => "$FailedTasks",
            Self::PreemptedNodeCount => "$PreemptedNodeCount",
            Self::SampleNodeCount => "$SampleNodeCount",
        }
    }

    fn of(self, c: &Counts) -> f64 {
        match self {
            Self::ActiveTasks => c.active,
            Self::RunningTasks => c.running,
            Self::PendingTasks => c.active + c.running,
            Self::SucceededTasks => c.succeeded,
            Self::FailedTasks => c.failed,
            Self::PreemptedNodeCount => c.preempted,
            Self::SampleNodeCount => c.nodes,
        }
    }
}

/// Samples oldest first, each with the autoscale time it was taken at.
#[derive(Debug, Clone, Default)]
pub struct History {
    samples: VecDeque<(f64, Counts)>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record(&mut self, at: f64, counts: Counts) {
        if self.samples.len() == MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back((at, counts));
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    #[cfg(test)]
    pub fn last_time(&self) -> Option<f64> {
        self.samples.back().map(|(t, _)| *t)
    }

    /// The newest `count` samples, newest first.
    pub fn last(&self, metric: Metric, count: usize) -> Vec<f64> {
        self.samples
            .iter()
            .rev()
            .take(count)
            .map(|(_, c)| metric.of(c))
            .collect()
    }

    /// Samples taken between `from` and `to` seconds before `now` (both included),
    /// newest first.
    pub fn window(&self, metric: Metric, now: f64, from: f64, to: f64) -> Vec<f64> {
        let (oldest, newest) = (now - from.max(to), now - from.min(to));
        // Samples are in time order: walk back from the newest and stop at the window's
        // start, so a short window over a week of history reads only its own samples.
        self.samples
            .iter()
            .rev()
            .skip_while(|(t, _)| *t > newest + 1e-9)
            .take_while(|(t, _)| *t >= oldest - 1e-9)
            .map(|(_, c)| metric.of(c))
            .collect()
    }

    /// The share (0–100) of the samples the service would have recorded in the window
    /// that are present.
    pub fn percent(&self, metric: Metric, now: f64, from: f64, to: f64) -> f64 {
        let span = (from - to).abs();
        let expected = (span / SAMPLE_PERIOD_SECS).floor().max(1.0);
        let present = self.window(metric, now, from, to).len() as f64;
        (present * 100.0 / expected).min(100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(active: f64) -> Counts {
        Counts {
            active,
            ..Counts::default()
        }
    }

    #[test]
    fn windows_and_percentages() {
        let mut h = History::new();
        for i in 0..10 {
            h.record(f64::from(i) * 30.0, counts(f64::from(i)));
        }
        let now = 270.0;
        assert_eq!(h.last(Metric::ActiveTasks, 2), vec![9.0, 8.0]);
        assert_eq!(h.last(Metric::ActiveTasks, 50).len(), 10);
        assert_eq!(
            h.window(Metric::ActiveTasks, now, 60.0, 0.0),
            vec![9.0, 8.0, 7.0]
        );
        assert_eq!(
            h.window(Metric::ActiveTasks, now, 90.0, 60.0),
            vec![7.0, 6.0]
        );
        // 10 samples of the 20 a 10-minute window holds.
        assert_eq!(h.percent(Metric::ActiveTasks, now, 600.0, 0.0), 50.0);
        assert_eq!(h.percent(Metric::ActiveTasks, now, 120.0, 0.0), 100.0);
    }

    #[test]
    fn history_is_bounded() {
        let mut h = History::new();
        for i in 0..(MAX_SAMPLES + 5) {
            h.record(i as f64, counts(1.0));
        }
        assert_eq!(h.len(), MAX_SAMPLES);
    }
}
