//! How an emulator is started.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::supervisor::SupervisorCommand;

/// Shared Key credentials the emulator verifies requests against.
#[derive(Debug, Clone)]
pub struct AccountKey {
    /// Account name, as in `SharedKey NAME:signature`.
    pub name: String,
    /// Base64 account key.
    pub key: String,
}

/// Faults injected on demand, drawn from a seeded generator so a run is reproducible.
/// Rates are probabilities in 0..=1 per request (per task for `task_server_error`).
#[derive(Debug, Clone, Default)]
pub struct FaultConfig {
    /// Seed of the generator.
    pub seed: u64,
    /// Rate of 429 TooManyRequests answers (with `Retry-After`).
    pub throttle: f64,
    /// Rate of 503 ServerBusy answers.
    pub server_busy: f64,
    /// Rate of 500 OperationTimedOut answers.
    pub timeout: f64,
    /// Rate of connections dropped before an answer is complete.
    pub drop_connection: f64,
    /// Latency added to every request.
    pub latency: Duration,
    /// Rate of per-task `servererror` results inside add-collection answers.
    pub task_server_error: f64,
}

impl FaultConfig {
    /// Whether any fault is configured.
    pub fn any(&self) -> bool {
        self.throttle > 0.0
            || self.server_busy > 0.0
            || self.timeout > 0.0
            || self.drop_connection > 0.0
            || !self.latency.is_zero()
            || self.task_server_error > 0.0
    }
}

/// Everything the emulator needs to start.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// SQLite state file; created when missing.
    pub state_path: PathBuf,
    /// Root of the node directory trees; defaults to `<state file>.nodes` beside it.
    pub work_dir: Option<PathBuf>,
    /// Listening address; loopback unless the caller opts into another.
    pub bind: SocketAddr,
    /// When set, every request must carry a valid Shared Key signature.
    pub account: Option<AccountKey>,
    /// Listen beyond loopback without a key. Refused by default: anyone who reaches
    /// the address could run commands as this user.
    pub insecure_no_auth_on_network: bool,
    /// Listening address of the blob endpoint; loopback on a free port by default.
    pub storage_bind: SocketAddr,
    /// The storage account the blob endpoint serves. Unset: the Batch account's name
    /// and key when one is configured, else the account `emulator` with the published
    /// development key ([`crate::blob::DEVELOPMENT_KEY`]).
    pub storage: Option<AccountKey>,
    /// Bounds on connections: how many at once, how long for headers, how long idle.
    pub limits: crate::listen::Limits,
    /// Faults to inject.
    pub faults: FaultConfig,
    /// Time a node spends booting (creating + starting) before it can run tasks.
    pub boot_delay: Duration,
    /// Run container tasks on the host when Docker cannot run them (warned once).
    pub containers_on_host: bool,
    /// How often the scheduler looks for work when nothing wakes it.
    pub tick: Duration,
    /// How many times faster than the wall clock autoscale runs: the 30 s sampling
    /// period, pools' evaluation intervals and formulas' look-back windows all shrink
    /// by this factor (300 makes a 5-minute interval 1 s). `time()` stays the wall
    /// clock. 1 is the service's pace.
    pub autoscale_time_scale: f64,
    /// The program started as the task supervisor; by default this program, which
    /// then must call [`crate::run_if_requested`] first thing in `main`.
    pub supervisor: SupervisorCommand,
    /// Whether the back end runs: nodes boot, tasks are scheduled and executed, and a
    /// run killed with the last emulator is recovered. Off, the emulator only answers
    /// reads of its state (writes are refused), and neither starts nor stops any process:
    /// a look at the state of a stopped local service must not run its tasks.
    pub execute: bool,
}

impl EmulatorConfig {
    /// A configuration with defaults: loopback on a free port, fast boots, no auth.
    pub fn new(state_path: impl Into<PathBuf>) -> Self {
        Self {
            state_path: state_path.into(),
            work_dir: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            account: None,
            insecure_no_auth_on_network: false,
            limits: crate::listen::Limits::default(),
            storage_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            storage: None,
            faults: FaultConfig::default(),
            boot_delay: Duration::from_millis(100),
            containers_on_host: false,
            tick: Duration::from_millis(50),
            autoscale_time_scale: 1.0,
            supervisor: SupervisorCommand::this_program(),
            execute: true,
        }
    }

    /// A configuration that only reads the state (see [`EmulatorConfig::execute`]).
    pub fn read_only(state_path: impl Into<PathBuf>) -> Self {
        Self {
            execute: false,
            ..Self::new(state_path)
        }
    }

    /// Runs autoscale `factor` times faster than the wall clock (see
    /// [`EmulatorConfig::autoscale_time_scale`]).
    pub fn with_autoscale_time_scale(mut self, factor: f64) -> Self {
        self.autoscale_time_scale = factor;
        self
    }

    /// Refuses what would be unsafe or could never work: a keyless listener beyond
    /// loopback without the explicit opt-in, and a key that is not base64 (every
    /// request would then be refused).
    pub fn check(&self) -> Result<(), crate::EmulatorError> {
        if let Some(account) = &self.account {
            use base64::Engine as _;
            let decoded = base64::engine::general_purpose::STANDARD.decode(account.key.trim());
            if !decoded.is_ok_and(|k| !k.is_empty()) {
                return Err(crate::EmulatorError::Config(
                    "the account key is not valid base64; use the key exactly as `az batch account keys list` prints it".into(),
                ));
            }
            if account.name.is_empty() {
                return Err(crate::EmulatorError::Config(
                    "the account name is empty".into(),
                ));
            }
        } else if !self.bind.ip().is_loopback() && !self.insecure_no_auth_on_network {
            return Err(crate::EmulatorError::Config(format!(
                "refusing to listen on {} without a key: anyone who can reach it could run commands as you. Give --account and --key, bind to 127.0.0.1, or pass --insecure-no-auth-on-network if this network is yours alone",
                self.bind.ip()
            )));
        }
        // The development storage key is published, so it protects nothing off loopback.
        if self.storage.is_none()
            && self.account.is_none()
            && !self.storage_bind.ip().is_loopback()
            && !self.insecure_no_auth_on_network
        {
            return Err(crate::EmulatorError::Config(format!(
                "refusing to serve blobs on {} with the published development key: give --account and --key, or bind to 127.0.0.1",
                self.storage_bind.ip()
            )));
        }
        Ok(())
    }

    /// The storage account the blob endpoint serves (see [`EmulatorConfig::storage`]).
    pub fn storage_account(&self) -> AccountKey {
        self.storage
            .clone()
            .or_else(|| self.account.clone())
            .unwrap_or_else(|| AccountKey {
                name: crate::blob::DEFAULT_ACCOUNT.to_string(),
                key: crate::blob::DEVELOPMENT_KEY.to_string(),
            })
    }

    /// The directory holding node trees.
    pub fn work_dir(&self) -> PathBuf {
        self.work_dir.clone().unwrap_or_else(|| {
            let mut name = self
                .state_path
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_else(|| "emulator".into());
            name.push(".nodes");
            self.state_path.with_file_name(name)
        })
    }
}
