//! The discrete-event loop: a clock in milliseconds and a queue of what happens next
//! (a node ready, a task done, a spot node preempted, a metrics sample, an autoscale
//! evaluation). Nothing waits on the wall clock.
//!
//! Scheduling follows Batch's documented behaviour where it matters for time and cost:
//! a task starts as soon as a node of its job's pool has the slots it requires and its
//! dependencies have completed; `spread` pools deal tasks round the nodes, `pack` pools
//! fill a node first; a preempted or requeued task starts over; a pool shrinking with
//! `taskcompletion` or `retaineddata` lets running tasks finish first.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use batchyard_emulator::autoscale::{Counts, History, Inputs, SAMPLE_PERIOD_SECS};
use time::OffsetDateTime;

use crate::model::{BootModel, Draws};
use crate::result::{
    AutoscaleEvaluation, NodeRecord, PoolUsage, RunOutcome, RunRecord, Simulation, TaskTotals,
};
use crate::workload::{Workload, secs_to_ms};

/// Settings of a simulation that are not in the recipe.
#[derive(Debug, Clone)]
pub struct Options {
    pub boot: BootModel,
    /// Seeds boot times and preemptions (task durations are drawn when the workload is
    /// built, with the seed given there).
    pub seed: u64,
    /// Preemptions per spot node-hour (0: none).
    pub spot_preemptions_per_hour: f64,
    /// The wall-clock time the run starts at, which `time()` in formulas reads.
    pub start: OffsetDateTime,
    /// Stop after this much virtual time even if tasks remain.
    pub horizon_secs: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            boot: BootModel::default(),
            seed: 0,
            spot_preemptions_per_hour: 0.0,
            start: OffsetDateTime::UNIX_EPOCH,
            horizon_secs: 30.0 * 86_400.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    NodeReady { node: u32 },
    TaskDone { task: u32, node: u32, attempt: u32 },
    Preempt { node: u32 },
    Sample { pool: u32 },
    Evaluate { pool: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeState {
    Booting,
    Ready,
    Gone,
}

struct Node {
    pool: u32,
    spot: bool,
    state: NodeState,
    free: u32,
    /// Takes no new task; removed once its running tasks end.
    draining: bool,
    in_free_list: bool,
    running: Vec<(u32, u64)>,
    requested_ms: u64,
    ready_ms: Option<u64>,
    gone_ms: Option<u64>,
    preempted: bool,
    /// Boots in place of a preempted node ($PreemptedNodeCount counts it meanwhile).
    replaces_preempted: bool,
}

impl Node {
    fn counts_toward_target(&self) -> bool {
        self.state != NodeState::Gone && !self.draining
    }
}

#[derive(Default)]
struct Pool {
    queue: VecDeque<u32>,
    /// Nodes that may have free slots, in dealing order.
    free: VecDeque<u32>,
    alive: Vec<u32>,
    target_dedicated: u32,
    target_spot: u32,
    active: u64,
    running: u64,
    succeeded: u64,
    failed: u64,
    rebooting_after_preemption: u32,
    history: History,
    busy_slot_ms: u128,
    max_nodes: u32,
    preemptions: u64,
}

struct Sim<'a> {
    w: &'a Workload,
    o: &'a Options,
    now: u64,
    seq: u64,
    events: BinaryHeap<Reverse<(u64, u64, Event)>>,
    nodes: Vec<Node>,
    pools: Vec<Pool>,
    waits: Vec<u32>,
    attempt: Vec<u32>,
    completed: u64,
    totals: TaskTotals,
    runs: Vec<RunRecord>,
    trace: Vec<AutoscaleEvaluation>,
    draws: Draws,
}

/// Runs the workload in virtual time.
pub fn run(w: &Workload, o: &Options) -> Simulation {
    let mut sim = Sim {
        w,
        o,
        now: 0,
        seq: 0,
        events: BinaryHeap::new(),
        nodes: Vec::new(),
        pools: (0..w.pools.len()).map(|_| Pool::default()).collect(),
        waits: w.tasks.waits_for.clone(),
        attempt: vec![0; w.tasks.len()],
        completed: 0,
        totals: TaskTotals {
            total: w.tasks.len() as u64,
            ..TaskTotals::default()
        },
        runs: Vec::with_capacity(w.tasks.len()),
        trace: Vec::new(),
        draws: Draws::new(o.seed),
    };
    sim.start();
    let horizon = secs_to_ms(o.horizon_secs);
    let mut last_task_end = 0u64;
    while sim.completed < sim.totals.total {
        let Some(Reverse((at, _, event))) = sim.events.pop() else {
            break;
        };
        if at > horizon {
            sim.now = horizon;
            break;
        }
        sim.now = at;
        if let Event::TaskDone { .. } = event {
            last_task_end = at;
        }
        sim.handle(event);
    }
    if sim.completed >= sim.totals.total {
        sim.now = last_task_end;
    }
    sim.finish()
}

impl Sim<'_> {
    fn at(&mut self, delay_ms: u64, event: Event) {
        self.seq += 1;
        self.events
            .push(Reverse((self.now + delay_ms, self.seq, event)));
    }

    fn start(&mut self) {
        for (t, &job) in self.w.tasks.job.iter().enumerate() {
            let pool = self.w.jobs[job as usize].pool as usize;
            self.pools[pool].active += 1;
            if self.waits[t] == 0 {
                self.pools[pool].queue.push_back(t as u32);
            }
        }
        for (p, spec) in self.w.pools.iter().enumerate() {
            let p = p as u32;
            if spec.autoscale.is_some() {
                // The service evaluates a formula when autoscale is enabled, then on each
                // interval; metrics are sampled every 30 s from the start.
                self.sample(p);
                self.evaluate(p);
                self.at(secs_to_ms(SAMPLE_PERIOD_SECS), Event::Sample { pool: p });
            } else {
                let pool = &mut self.pools[p as usize];
                pool.target_dedicated = spec.dedicated;
                pool.target_spot = spec.spot;
                self.fill_to_target(p);
            }
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::NodeReady { node } => self.node_ready(node),
            Event::TaskDone {
                task,
                node,
                attempt,
            } => {
                if self.attempt[task as usize] == attempt {
                    self.task_done(task, node);
                }
            }
            Event::Preempt { node } => self.preempt(node),
            Event::Sample { pool } => {
                self.sample(pool);
                self.at(secs_to_ms(SAMPLE_PERIOD_SECS), Event::Sample { pool });
            }
            Event::Evaluate { pool } => self.evaluate(pool),
        }
    }

    fn add_node(&mut self, pool: u32, spot: bool) {
        let id = self.nodes.len() as u32;
        let boot = secs_to_ms(self.draws.boot(&self.o.boot));
        self.nodes.push(Node {
            pool,
            spot,
            state: NodeState::Booting,
            free: self.w.pools[pool as usize].slots_per_node,
            draining: false,
            in_free_list: false,
            running: Vec::new(),
            requested_ms: self.now,
            ready_ms: None,
            gone_ms: None,
            preempted: false,
            replaces_preempted: false,
        });
        let p = &mut self.pools[pool as usize];
        p.alive.push(id);
        p.max_nodes = p.max_nodes.max(p.alive.len() as u32);
        self.at(boot, Event::NodeReady { node: id });
    }

    fn alive_counts(&self, pool: u32) -> (u32, u32) {
        let mut counts = (0, 0);
        for &n in &self.pools[pool as usize].alive {
            let node = &self.nodes[n as usize];
            if node.counts_toward_target() {
                if node.spot {
                    counts.1 += 1;
                } else {
                    counts.0 += 1;
                }
            }
        }
        counts
    }

    fn fill_to_target(&mut self, pool: u32) {
        let (dedicated, spot) = self.alive_counts(pool);
        let p = &self.pools[pool as usize];
        let (want_d, want_s) = (p.target_dedicated, p.target_spot);
        for _ in dedicated..want_d {
            self.add_node(pool, false);
        }
        for _ in spot..want_s {
            self.add_node(pool, true);
        }
    }

    fn node_ready(&mut self, n: u32) {
        let node = &mut self.nodes[n as usize];
        if node.state != NodeState::Booting {
            return;
        }
        node.state = NodeState::Ready;
        node.ready_ms = Some(self.now);
        let (pool, spot) = (node.pool, node.spot);
        if node.replaces_preempted {
            node.replaces_preempted = false;
            self.pools[pool as usize].rebooting_after_preemption -= 1;
        }
        if spot && self.o.spot_preemptions_per_hour > 0.0 {
            let after = secs_to_ms(
                self.draws
                    .exponential_secs(self.o.spot_preemptions_per_hour),
            );
            self.at(after, Event::Preempt { node: n });
        }
        self.offer(n);
        self.dispatch(pool);
    }

    /// Puts a node with free slots in its pool's dealing order.
    fn offer(&mut self, n: u32) {
        let node = &mut self.nodes[n as usize];
        if node.state == NodeState::Ready && !node.draining && node.free > 0 && !node.in_free_list {
            node.in_free_list = true;
            let pool = node.pool as usize;
            self.pools[pool].free.push_back(n);
        }
    }

    fn dispatch(&mut self, pool: u32) {
        let pack = self.w.pools[pool as usize].pack;
        loop {
            let Some(&task) = self.pools[pool as usize].queue.front() else {
                return;
            };
            let need = self.w.tasks.slots[task as usize];
            let Some(pos) = self.find_node(pool, need) else {
                return;
            };
            let p = &mut self.pools[pool as usize];
            p.queue.pop_front();
            let Some(n) = p.free.remove(pos) else {
                return;
            };
            self.start_task(task, n, need);
            let node = &mut self.nodes[n as usize];
            if node.free > 0 {
                let free = &mut self.pools[pool as usize].free;
                if pack {
                    free.push_front(n);
                } else {
                    free.push_back(n);
                }
            } else {
                node.in_free_list = false;
            }
        }
    }

    /// The position in the free list of the first usable node with `need` free slots,
    /// dropping the ones that are no longer usable.
    fn find_node(&mut self, pool: u32, need: u32) -> Option<usize> {
        let nodes = &mut self.nodes;
        let free = &mut self.pools[pool as usize].free;
        loop {
            let &front = free.front()?;
            let node = &mut nodes[front as usize];
            if node.state == NodeState::Ready && !node.draining && node.free > 0 {
                break;
            }
            node.in_free_list = false;
            free.pop_front();
        }
        if nodes[free[0] as usize].free >= need {
            return Some(0);
        }
        free.iter().position(|&n| {
            let node = &nodes[n as usize];
            node.state == NodeState::Ready && !node.draining && node.free >= need
        })
    }

    fn start_task(&mut self, task: u32, n: u32, need: u32) {
        let duration = self.w.tasks.duration_ms[task as usize];
        let node = &mut self.nodes[n as usize];
        node.free -= need;
        node.running.push((task, self.now));
        let p = &mut self.pools[node.pool as usize];
        p.active -= 1;
        p.running += 1;
        let attempt = self.attempt[task as usize];
        self.at(
            duration,
            Event::TaskDone {
                task,
                node: n,
                attempt,
            },
        );
    }

    /// Takes a running task off its node; the run's record and busy time are kept.
    fn stop_run(&mut self, task: u32, n: u32, outcome: RunOutcome) {
        let need = self.w.tasks.slots[task as usize];
        let node = &mut self.nodes[n as usize];
        let Some(i) = node.running.iter().position(|(t, _)| *t == task) else {
            return;
        };
        let (_, started) = node.running.swap_remove(i);
        node.free += need;
        let p = &mut self.pools[node.pool as usize];
        p.running -= 1;
        p.busy_slot_ms += u128::from(self.now - started) * u128::from(need);
        self.runs.push(RunRecord {
            task,
            node: n,
            start_ms: started,
            end_ms: self.now,
            outcome,
        });
    }

    fn task_done(&mut self, task: u32, n: u32) {
        self.stop_run(task, n, RunOutcome::Succeeded);
        let pool = self.nodes[n as usize].pool;
        self.pools[pool as usize].succeeded += 1;
        self.totals.succeeded += 1;
        self.completed += 1;
        self.release_dependents(task, pool);
        self.after_run(n);
        self.dispatch(pool);
    }

    fn release_dependents(&mut self, task: u32, own_pool: u32) {
        for &d in self.w.tasks.dependents_of(task) {
            let waits = &mut self.waits[d as usize];
            *waits = waits.saturating_sub(1);
            if *waits == 0 {
                let job = self.w.tasks.job[d as usize] as usize;
                let pool = self.w.jobs[job].pool;
                self.pools[pool as usize].queue.push_back(d);
                if pool != own_pool {
                    self.dispatch(pool);
                }
            }
        }
    }

    /// A node whose run ended: removed if draining and empty, offered otherwise.
    fn after_run(&mut self, n: u32) {
        let node = &self.nodes[n as usize];
        if node.draining && node.running.is_empty() {
            self.remove_node(n);
        } else {
            self.offer(n);
        }
    }

    fn remove_node(&mut self, n: u32) {
        let node = &mut self.nodes[n as usize];
        if node.state == NodeState::Gone {
            return;
        }
        node.state = NodeState::Gone;
        node.gone_ms = Some(self.now);
        let pool = node.pool as usize;
        self.pools[pool].alive.retain(|&a| a != n);
    }

    /// Requeues every task running on a node (Batch requeues preempted tasks).
    fn requeue_running(&mut self, n: u32) {
        let running: Vec<u32> = self.nodes[n as usize]
            .running
            .iter()
            .map(|(t, _)| *t)
            .collect();
        let pool = self.nodes[n as usize].pool as usize;
        for task in running {
            self.stop_run(task, n, RunOutcome::Requeued);
            self.attempt[task as usize] += 1;
            self.totals.requeued_runs += 1;
            let p = &mut self.pools[pool];
            p.active += 1;
            p.queue.push_front(task);
        }
    }

    fn preempt(&mut self, n: u32) {
        if self.nodes[n as usize].state != NodeState::Ready {
            return;
        }
        let pool = self.nodes[n as usize].pool;
        self.requeue_running(n);
        self.remove_node(n);
        self.nodes[n as usize].preempted = true;
        self.pools[pool as usize].preemptions += 1;
        // The pool keeps its target: Batch brings spot capacity back when it can; the
        // replacement boots like any new node.
        let before = self.nodes.len();
        self.fill_to_target(pool);
        for node in &mut self.nodes[before..] {
            node.replaces_preempted = true;
            self.pools[pool as usize].rebooting_after_preemption += 1;
        }
        self.dispatch(pool);
    }

    fn counts(&self, pool: u32) -> Counts {
        let p = &self.pools[pool as usize];
        let (d, s) = self.alive_counts(pool);
        Counts {
            active: p.active as f64,
            running: p.running as f64,
            succeeded: p.succeeded as f64,
            failed: p.failed as f64,
            preempted: f64::from(p.rebooting_after_preemption),
            nodes: f64::from(d + s),
        }
    }

    fn sample(&mut self, pool: u32) {
        let counts = self.counts(pool);
        let now = self.now as f64 / 1000.0;
        self.pools[pool as usize].history.record(now, counts);
    }

    fn evaluate(&mut self, pool: u32) {
        let Some(spec) = self.w.pools[pool as usize].autoscale.as_ref() else {
            return;
        };
        let (current_d, current_s) = self.alive_counts(pool);
        let p = &self.pools[pool as usize];
        let now_secs = self.now as f64 / 1000.0;
        let result = spec.formula.evaluate(Inputs {
            now: self.o.start + time::Duration::milliseconds(self.now as i64),
            clock_now: now_secs,
            time_scale: 1.0,
            history: &p.history,
            current_dedicated: f64::from(current_d),
            current_low_priority: f64::from(current_s),
            target_dedicated: f64::from(p.target_dedicated),
            target_low_priority: f64::from(p.target_spot),
        });
        let interval = secs_to_ms(spec.interval_secs);
        let mut entry = AutoscaleEvaluation {
            at_secs: now_secs,
            pool: self.w.pools[pool as usize].id.clone(),
            target_dedicated: i64::from(p.target_dedicated),
            target_spot: i64::from(p.target_spot),
            active_tasks: p.active,
            running_tasks: p.running,
            nodes: current_d + current_s,
            error: None,
        };
        match result {
            Ok(out) => {
                entry.target_dedicated = out.dedicated;
                entry.target_spot = out.low_priority;
                self.resize(
                    pool,
                    u32::try_from(out.dedicated.max(0)).unwrap_or(u32::MAX),
                    u32::try_from(out.low_priority.max(0)).unwrap_or(u32::MAX),
                    &out.deallocation,
                );
            }
            Err(e) => entry.error = Some(e.to_string()),
        }
        self.trace.push(entry);
        self.at(interval, Event::Evaluate { pool });
    }

    fn resize(&mut self, pool: u32, dedicated: u32, spot: u32, deallocation: &str) {
        {
            let p = &mut self.pools[pool as usize];
            p.target_dedicated = dedicated;
            p.target_spot = spot;
        }
        let (have_d, have_s) = self.alive_counts(pool);
        for (spot_kind, have, want) in [(false, have_d, dedicated), (true, have_s, spot)] {
            if have > want {
                self.shrink(pool, spot_kind, have - want, deallocation);
            }
        }
        self.fill_to_target(pool);
        self.dispatch(pool);
    }

    /// Removes `count` nodes of one kind: booting ones first, then idle, then busy ones
    /// as the deallocation option says.
    fn shrink(&mut self, pool: u32, spot: bool, count: u32, deallocation: &str) {
        let mut candidates: Vec<(u8, u32)> = self.pools[pool as usize]
            .alive
            .iter()
            .filter_map(|&n| {
                let node = &self.nodes[n as usize];
                if node.spot != spot || !node.counts_toward_target() {
                    return None;
                }
                let rank = match node.state {
                    NodeState::Booting => 0,
                    _ if node.running.is_empty() => 1,
                    _ => 2,
                };
                Some((rank, n))
            })
            .collect();
        candidates.sort_unstable();
        for &(rank, n) in candidates.iter().take(count as usize) {
            if rank < 2 {
                self.remove_node(n);
                continue;
            }
            match deallocation {
                "requeue" => {
                    self.requeue_running(n);
                    self.remove_node(n);
                }
                "terminate" => {
                    let running: Vec<u32> = self.nodes[n as usize]
                        .running
                        .iter()
                        .map(|(t, _)| *t)
                        .collect();
                    for task in running {
                        self.stop_run(task, n, RunOutcome::Terminated);
                        self.attempt[task as usize] += 1;
                        self.pools[pool as usize].failed += 1;
                        self.totals.failed += 1;
                        self.completed += 1;
                    }
                    self.remove_node(n);
                }
                // taskcompletion, retaineddata: no new tasks, leave when empty.
                _ => self.nodes[n as usize].draining = true,
            }
        }
    }

    fn finish(self) -> Simulation {
        let end = self.now;
        let mut usage: Vec<PoolUsage> = self
            .w
            .pools
            .iter()
            .zip(&self.pools)
            .map(|(spec, p)| PoolUsage {
                id: spec.id.clone(),
                vm_size: spec.vm_size.clone(),
                slots_per_node: spec.slots_per_node,
                busy_node_hours: p.busy_slot_ms as f64
                    / f64::from(spec.slots_per_node.max(1))
                    / 3_600_000.0,
                max_nodes: p.max_nodes,
                preemptions: p.preemptions,
                ..PoolUsage::default()
            })
            .collect();
        let mut records = Vec::with_capacity(self.nodes.len());
        for (i, node) in self.nodes.iter().enumerate() {
            let gone = node.gone_ms.unwrap_or(end).min(end);
            let total = gone.saturating_sub(node.requested_ms) as f64 / 3_600_000.0;
            let ready = node.ready_ms.unwrap_or(gone).min(gone);
            let booting = ready.saturating_sub(node.requested_ms) as f64 / 3_600_000.0;
            let u = &mut usage[node.pool as usize];
            if node.spot {
                u.spot_node_hours += total;
            } else {
                u.dedicated_node_hours += total;
            }
            u.booting_node_hours += booting;
            records.push(NodeRecord {
                id: format!(
                    "{}-{}{i}",
                    self.w.pools[node.pool as usize].id,
                    if node.spot { "spot-" } else { "" }
                ),
                pool: node.pool,
                spot: node.spot,
                requested_ms: node.requested_ms,
                ready_ms: node.ready_ms,
                gone_ms: node.gone_ms,
                preempted: node.gone_ms.is_some() && node.preempted,
            });
        }
        for u in &mut usage {
            u.idle_node_hours =
                (u.node_hours() - u.booting_node_hours - u.busy_node_hours).max(0.0);
        }
        let mut totals = self.totals;
        totals.never_completed = totals.total - totals.succeeded - totals.failed;
        Simulation {
            makespan_secs: end as f64 / 1000.0,
            finished: totals.never_completed == 0,
            tasks: totals,
            pools: usage,
            autoscale: self.trace,
            notes: self.w.notes.clone(),
            nodes: records,
            runs: self.runs,
        }
    }
}
