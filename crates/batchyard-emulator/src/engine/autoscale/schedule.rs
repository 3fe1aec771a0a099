//! When pools are sampled and evaluated, and how a result changes a pool.
//!
//! The autoscale clock counts seconds since the emulator started, multiplied by the
//! configured time scale: at scale 1 samples are 30 s apart and a 15-minute interval is
//! 15 minutes; at scale 300 both pass 300 times faster, and a formula's look-back
//! windows shrink with them, so the same formula sees the same number of samples.
//! `time()` stays the wall clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::watch;

use super::history::{History, SAMPLE_PERIOD_SECS};
use super::{EvalError, Formula, Inputs, Outcome, metrics};
use crate::clock;
use crate::engine::EngineHandle;
use crate::engine::docs_util::{int, private, text, touch};
use crate::store::docs::{self, Table};
use crate::store::{Store, StoreError};

/// The service's bounds on `autoScaleEvaluationInterval`.
pub const MIN_INTERVAL: Duration = Duration::from_secs(5 * 60);
pub const MAX_INTERVAL: Duration = Duration::from_secs(168 * 3600);
const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// A pool's evaluation interval: its `autoScaleEvaluationInterval`, 15 minutes when
/// absent; an error (the reason) when it is not an ISO 8601 duration from 5 minutes to
/// 168 hours.
pub fn evaluation_interval(pool: &Value) -> Result<Duration, String> {
    let Some(value) = pool.get("autoScaleEvaluationInterval") else {
        return Ok(DEFAULT_INTERVAL);
    };
    if value.is_null() {
        return Ok(DEFAULT_INTERVAL);
    }
    let interval = value
        .as_str()
        .and_then(clock::parse_duration)
        .ok_or_else(|| "must be an ISO 8601 duration such as PT15M".to_string())?;
    if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
        return Err("must be between 5 minutes and 168 hours".to_string());
    }
    Ok(interval)
}

#[derive(Default)]
struct PoolState {
    history: History,
    /// Autoscale time of the next evaluation; `None` until the pool is first seen.
    next_eval: Option<f64>,
}

#[derive(Default)]
struct State {
    pools: HashMap<String, PoolState>,
    next_sweep: f64,
}

/// Sample histories and evaluation schedules of the autoscale pools, shared by the
/// engine loop (which samples and evaluates on time) and the API (which evaluates at
/// once on create, enable and evaluate).
pub struct Autoscaler {
    scale: f64,
    start: Instant,
    state: Mutex<State>,
}

impl Autoscaler {
    /// `time_scale` autoscale seconds pass per wall-clock second; anything but a
    /// positive finite number means 1.
    pub fn new(time_scale: f64) -> Self {
        let scale = if time_scale.is_finite() && time_scale > 0.0 {
            time_scale
        } else {
            1.0
        };
        Self {
            scale,
            start: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }

    /// The current autoscale time, in autoscale seconds.
    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * self.scale
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Evaluation does not panic; should it ever, the histories are still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a first sample of a pool that has none, so a formula evaluated right away
    /// reads the current counts, as on the service where metrics are always collected.
    pub fn ensure_sampled(
        &self,
        store: &Store,
        pool: &str,
        formula: Option<&Formula>,
    ) -> Result<(), StoreError> {
        let key = pool.to_ascii_lowercase();
        if self
            .lock()
            .pools
            .get(&key)
            .is_some_and(|p| !p.history.is_empty())
        {
            return Ok(());
        }
        let with_completed = formula.is_some_and(Formula::reads_completed);
        let counts = store.read(|c| metrics::sample(c, pool, with_completed))?;
        let now = self.now();
        let mut state = self.lock();
        let entry = state.pools.entry(key).or_default();
        if entry.history.is_empty() {
            entry.history.record(now, counts);
        }
        Ok(())
    }

    /// Evaluates `formula` for `pool` (its document) without changing anything.
    pub fn evaluate(&self, pool: &Value, formula: &Formula) -> Result<Outcome, EvalError> {
        let key = text(pool, "id").to_ascii_lowercase();
        let state = self.lock();
        let empty = History::new();
        let history = state.pools.get(&key).map_or(&empty, |p| &p.history);
        formula.evaluate(Inputs {
            now: OffsetDateTime::now_utc(),
            clock_now: self.now(),
            time_scale: self.scale,
            history,
            current_dedicated: int(pool, "currentDedicatedNodes", 0) as f64,
            current_low_priority: int(pool, "currentLowPriorityNodes", 0) as f64,
            target_dedicated: int(pool, "targetDedicatedNodes", 0) as f64,
            target_low_priority: int(pool, "targetLowPriorityNodes", 0) as f64,
        })
    }

    /// Evaluates the pool's own formula and applies the result to its document: new
    /// targets start a resize (with the formula's `$NodeDeallocationOption` for nodes
    /// that leave), and `autoScaleRun` records the run. The next evaluation is one
    /// interval from now.
    pub fn apply(&self, pool: &mut Value) {
        let result = match Formula::parse(text(pool, "autoScaleFormula")) {
            Ok(formula) => self.evaluate(pool, &formula),
            Err(e) => Err(EvalError {
                code: "AutoScalingFormulaSyntaxError",
                message: e.to_string(),
            }),
        };
        let now = clock::now();
        if let Ok(out) = &result {
            let current = (
                int(pool, "currentDedicatedNodes", 0),
                int(pool, "currentLowPriorityNodes", 0),
            );
            let target = (
                int(pool, "targetDedicatedNodes", 0),
                int(pool, "targetLowPriorityNodes", 0),
            );
            let wanted = (out.dedicated, out.low_priority);
            pool["targetDedicatedNodes"] = json!(out.dedicated);
            pool["targetLowPriorityNodes"] = json!(out.low_priority);
            private(pool)["deallocation"] = json!(out.deallocation);
            if wanted != current || wanted != target {
                pool["allocationState"] = json!("resizing");
                pool["allocationStateTransitionTime"] = json!(now);
            }
        }
        pool["autoScaleRun"] = run_json(&result, &now);
        let interval = evaluation_interval(pool).unwrap_or(DEFAULT_INTERVAL);
        let next = self.now() + interval.as_secs_f64();
        let key = text(pool, "id").to_ascii_lowercase();
        self.lock().pools.entry(key).or_default().next_eval = Some(next);
    }

    /// Drops a pool's history and schedule (autoscale disabled).
    pub fn forget(&self, pool: &str) {
        self.lock().pools.remove(&pool.to_ascii_lowercase());
    }

    /// The engine loop's hook: samples every autoscale pool once per sampling period and
    /// evaluates the pools whose interval has come. True when a pool was evaluated.
    pub fn step(&self, store: &Store) -> Result<bool, StoreError> {
        let now = self.now();
        let sweep = now >= self.lock().next_sweep;
        if sweep {
            self.sweep(store, now)?;
        }
        let due: Vec<String> = self
            .lock()
            .pools
            .iter()
            .filter(|(_, p)| p.next_eval.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for id in &due {
            store.write(|tx| -> Result<(), StoreError> {
                let Some(mut doc) = docs::get(tx, Table::Pools, "", id)? else {
                    self.forget(id);
                    return Ok(());
                };
                let pool = &mut doc.value;
                if pool["enableAutoScale"].as_bool() != Some(true)
                    || text(pool, "state") == "deleting"
                {
                    self.forget(id);
                    return Ok(());
                }
                // The engine loop owns a resize while it runs (one of its steps); this
                // evaluation waits for it, so the two never change the targets at once.
                if text(pool, "allocationState") != "steady" {
                    return Ok(());
                }
                self.apply(pool);
                touch(pool, &clock::now());
                docs::put(tx, Table::Pools, "", id, pool)?;
                Ok(())
            })?;
        }
        Ok(!due.is_empty())
    }

    /// Samples and evaluates until `shutdown`, waking the engine loop to carry out the
    /// resizes that evaluations start.
    pub async fn run(
        self: Arc<Self>,
        store: Arc<Store>,
        engine: EngineHandle,
        tick: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            match self.step(&store) {
                Ok(true) => engine.wake(),
                Ok(false) => {}
                Err(err) => tracing::error!(error = %err, "autoscale step failed"),
            }
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tokio::time::sleep(self.idle_for(tick)) => {}
            }
        }
    }

    /// Wall-clock time until the next sample or evaluation is due, between one engine
    /// tick and one second (so a pool found by a sweep is never long unserved).
    fn idle_for(&self, tick: Duration) -> Duration {
        let now = self.now();
        let state = self.lock();
        let next = state
            .pools
            .values()
            .filter_map(|p| p.next_eval)
            .fold(state.next_sweep, f64::min);
        let wall = ((next - now) / self.scale).clamp(0.0, 1.0);
        Duration::from_secs_f64(wall).max(tick)
    }

    fn sweep(&self, store: &Store, now: f64) -> Result<(), StoreError> {
        let pools = store.read(|c| docs::list(c, Table::Pools, None, 0, None, usize::MAX))?;
        let mut samples = Vec::new();
        for pool in &pools {
            let pool = &pool.value;
            if pool["enableAutoScale"].as_bool() != Some(true) || text(pool, "state") == "deleting"
            {
                continue;
            }
            let id = text(pool, "id");
            let with_completed =
                Formula::parse(text(pool, "autoScaleFormula")).is_ok_and(|f| f.reads_completed());
            let counts = store.read(|c| metrics::sample(c, id, with_completed))?;
            samples.push((id.to_ascii_lowercase(), counts, self.first_due(pool, now)));
        }
        let mut state = self.lock();
        state
            .pools
            .retain(|k, _| samples.iter().any(|(id, _, _)| id == k));
        for (id, counts, first_due) in samples {
            let entry = state.pools.entry(id).or_default();
            entry.history.record(now, counts);
            entry.next_eval.get_or_insert(first_due);
        }
        // Keep to the period's grid unless the loop fell behind by more than a period.
        let next = state.next_sweep + SAMPLE_PERIOD_SECS;
        state.next_sweep = if next > now {
            next
        } else {
            now + SAMPLE_PERIOD_SECS
        };
        Ok(())
    }

    /// When a pool first seen by this process (after a restart) is due: one interval
    /// after its last run, or now.
    fn first_due(&self, pool: &Value, now: f64) -> f64 {
        let last = pool
            .pointer("/autoScaleRun/timestamp")
            .and_then(Value::as_str)
            .and_then(clock::parse_time);
        let Some(last) = last else {
            return now;
        };
        let since = (OffsetDateTime::now_utc() - last).as_seconds_f64() * self.scale;
        let interval = evaluation_interval(pool)
            .unwrap_or(DEFAULT_INTERVAL)
            .as_secs_f64();
        now + (interval - since).max(0.0)
    }
}

/// An `AutoScaleRun` as the service returns it.
pub fn run_json(result: &Result<Outcome, EvalError>, timestamp: &str) -> Value {
    match result {
        Ok(out) => json!({"timestamp": timestamp, "results": out.results}),
        Err(e) => json!({
            "timestamp": timestamp,
            "error": {
                "code": e.code,
                "message": e.message,
                "values": [{"name": "Message", "value": e.message}],
            },
        }),
    }
}
