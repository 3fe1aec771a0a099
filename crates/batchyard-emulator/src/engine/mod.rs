//! The simulated Batch back end: node lifecycles, scheduling and task execution.
//!
//! One loop owns everything that changes without a request: it wakes on a timer, on
//! a request that created work, or when a process ends. HTTP handlers only write the
//! documents they are asked to write and wake the loop; the loop writes the rest.

pub mod autoscale;
mod blob_client;
pub mod cmdline;
mod completion;
mod container;
pub mod docs_util;
pub mod executor;
mod file_pattern;
mod job_prep;
mod launch;
pub mod layout;
mod node_faults;
mod node_tally;
mod nodes;
mod output_files;
mod recovery;
mod resource_files;
mod scheduler;
pub mod task_files;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, StreamExt as _};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::store::Store;
use crate::supervisor::Supervisor;
pub use executor::Outcome;

/// What a running process is stopped for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Put the task back in the queue (node removed, pool deleted): `requeueCount`+1.
    Requeue,
    /// End the task as failed (task or job terminated).
    Terminate,
    /// The task or job is being deleted; record nothing.
    Discard,
}

/// Messages from handlers to the loop.
#[derive(Debug)]
pub enum Command {
    /// Stop a running task.
    StopTask {
        /// Job id.
        job: String,
        /// Task id.
        task: String,
        /// Why.
        reason: StopReason,
    },
}

/// A start task or job preparation task that ended (task runs end through
/// [`Engine::runs`]).
#[derive(Debug)]
enum Finished {
    StartTask {
        pool: String,
        node: String,
        outcome: Outcome,
    },
    JobPrep {
        pool: String,
        node: String,
        job: String,
        phase: job_prep::Phase,
        outcome: Outcome,
    },
}

/// Handle given to the HTTP layer.
#[derive(Clone)]
pub struct EngineHandle {
    wake: Arc<Notify>,
    tasks: Arc<Notify>,
    commands: mpsc::UnboundedSender<Command>,
}

impl EngineHandle {
    /// Asks the loop to look for work now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Asks the loop to place tasks now: only tasks were added or changed, so what it
    /// read of jobs, pools and nodes still holds.
    pub fn tasks_changed(&self) {
        self.tasks.notify_one();
    }

    /// Sends a command and wakes the loop.
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
        self.wake();
    }

    /// A handle to no loop, for an emulator that only reads its state: wakes and
    /// commands go nowhere.
    pub fn detached() -> Self {
        let (commands, _) = mpsc::unbounded_channel();
        Self {
            wake: Arc::new(Notify::new()),
            tasks: Arc::new(Notify::new()),
            commands,
        }
    }
}

/// Settings the loop needs.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Root of node directories.
    pub work_dir: PathBuf,
    /// Account name shown to tasks.
    pub account: String,
    /// Service URL shown to tasks.
    pub url: String,
    /// Node boot time.
    pub boot_delay: Duration,
    /// Idle polling interval.
    pub tick: Duration,
    /// Run container tasks on the host when Docker cannot.
    pub containers_on_host: bool,
    /// The storage account `autoStorageContainerName` resource files come from.
    pub auto_storage: Option<task_files::AutoStorage>,
    /// Failures of nodes and resizes to inject.
    pub node_faults: crate::config::NodeFaults,
}

struct RunningTask {
    pool: String,
    node: String,
    /// Nodes of the other instances of a multi-instance task.
    extra_nodes: Vec<String>,
    slots: i64,
    attempt: i64,
    stop: Option<oneshot::Sender<()>>,
    reason: Option<StopReason>,
}

/// The loop's state.
pub struct Engine {
    store: Arc<Store>,
    settings: EngineSettings,
    running: HashMap<(String, String), RunningTask>,
    start_tasks: HashMap<(String, String), oneshot::Sender<()>>,
    finished_tx: mpsc::UnboundedSender<Finished>,
    finished_rx: mpsc::UnboundedReceiver<Finished>,
    /// Task runs, polled by the loop itself: a run's end reaches the loop without a
    /// hop through another task.
    runs: FuturesUnordered<BoxFuture<'static, completion::Event>>,
    commands: mpsc::UnboundedReceiver<Command>,
    wake: Arc<Notify>,
    tasks_changed: Arc<Notify>,
    containers: container::DockerProbe,
    supervisor: Supervisor,
    /// What the last scheduling pass read, while still valid (see [`scheduler::View`]).
    view: Option<Arc<scheduler::View>>,
    /// When node lifecycles last moved and the view was last read afresh.
    refreshed: Instant,
    /// Draws and timing of the injected node failures.
    node_faults: node_faults::Injector,
}

fn key(a: &str, b: &str) -> (String, String) {
    (a.to_ascii_lowercase(), b.to_ascii_lowercase())
}

impl Engine {
    /// Creates the loop and the handle that drives it.
    pub fn new(
        store: Arc<Store>,
        supervisor: Supervisor,
        settings: EngineSettings,
    ) -> (Self, EngineHandle) {
        let (finished_tx, finished_rx) = mpsc::unbounded_channel();
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let wake = Arc::new(Notify::new());
        let tasks_changed = Arc::new(Notify::new());
        let handle = EngineHandle {
            wake: wake.clone(),
            tasks: tasks_changed.clone(),
            commands: commands_tx,
        };
        let containers = container::DockerProbe::new(settings.containers_on_host);
        let node_faults = node_faults::Injector::new(&settings.node_faults);
        (
            Self {
                store,
                settings,
                running: HashMap::new(),
                start_tasks: HashMap::new(),
                finished_tx,
                finished_rx,
                runs: FuturesUnordered::new(),
                commands,
                wake,
                tasks_changed,
                containers,
                supervisor,
                view: None,
                refreshed: Instant::now(),
                node_faults,
            },
            handle,
        )
    }

    /// Runs until `shutdown` turns true; running processes are stopped on the way
    /// out and requeued on the next start, as on a lost node.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        if let Err(err) = recovery::recover(&mut self).await {
            tracing::error!(error = %err, "recovering the previous run's tasks failed");
        }
        let mut finished = Vec::new();
        let mut ends = Vec::new();
        loop {
            if let Err(err) = self.step().await {
                tracing::error!(error = %err, "scheduler step failed");
            }
            let mut only_tasks_changed = false;
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = self.wake.notified() => {}
                _ = self.tasks_changed.notified() => only_tasks_changed = true,
                _ = tokio::time::sleep(self.settings.tick) => {}
                Some(done) = self.finished_rx.recv() => {
                    finished.push(done);
                    only_tasks_changed = true;
                }
                Some(end) = self.runs.next(), if !self.runs.is_empty() => {
                    ends.push(end);
                    only_tasks_changed = true;
                }
                Some(command) = self.commands.recv() => self.command(command),
            }
            // Drain whatever else arrived, so a burst of exits costs one transaction
            // and one step.
            while let Ok(done) = self.finished_rx.try_recv() {
                finished.push(done);
            }
            while let Some(Some(end)) = self.runs.next().now_or_never() {
                ends.push(end);
            }
            only_tasks_changed &= finished.is_empty();
            self.finish(std::mem::take(&mut finished), std::mem::take(&mut ends));
            while let Ok(command) = self.commands.try_recv() {
                only_tasks_changed = false;
                self.command(command);
            }
            if !only_tasks_changed {
                self.invalidate();
            }
        }
        // The supervisor kills every run and leaves; their ends are not recorded.
        self.supervisor.shutdown().await;
    }

    async fn step(&mut self) -> Result<(), crate::store::StoreError> {
        // Node lifecycles move on requests and with time, not on task ends: a burst of
        // ends goes straight to placing the next tasks.
        if self.view.is_none() || self.refreshed.elapsed() >= self.settings.tick {
            self.invalidate();
            self.refreshed = Instant::now();
            nodes::step(self).await?;
        }
        scheduler::step(self).await?;
        Ok(())
    }

    /// Makes the next step read jobs, pools and nodes afresh.
    fn invalidate(&mut self) {
        self.view = None;
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::StopTask { job, task, reason } => self.stop_task(&job, &task, reason),
        }
    }

    fn stop_task(&mut self, job: &str, task: &str, reason: StopReason) {
        if let Some(running) = self.running.get_mut(&key(job, task)) {
            running.reason = Some(reason);
            if let Some(stop) = running.stop.take() {
                let _ = stop.send(());
            }
        }
    }

    fn finish(&mut self, batch: Vec<Finished>, tasks: Vec<completion::Event>) {
        for done in batch {
            let result = match done {
                Finished::JobPrep {
                    pool,
                    node,
                    job,
                    phase,
                    outcome,
                } => job_prep::finished(self, &pool, &node, &job, phase, outcome),
                Finished::StartTask {
                    pool,
                    node,
                    outcome,
                } => {
                    self.start_tasks.remove(&key(&pool, &node));
                    nodes::start_task_finished(self, &pool, &node, outcome)
                }
            };
            if let Err(err) = result {
                tracing::error!(error = %err, "recording a finished process failed");
            }
        }
        if let Err(err) = completion::record(self, tasks) {
            tracing::error!(error = %err, "recording finished tasks failed");
        }
    }

    /// Slots in use on each node of a pool.
    fn used_slots(&self, pool: &str) -> HashMap<String, i64> {
        let mut used = HashMap::new();
        for task in self.running.values() {
            if task.pool.eq_ignore_ascii_case(pool) {
                for node in std::iter::once(&task.node).chain(&task.extra_nodes) {
                    *used.entry(node.clone()).or_insert(0) += task.slots;
                }
            }
        }
        used
    }
}
