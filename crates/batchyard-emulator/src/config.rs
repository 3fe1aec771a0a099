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

/// Failures of the service's back end injected on demand, as Batch reports them (see
/// docs/reliability.md, "Failures the local service can inject"): core quotas that cut a
/// resize short, spot nodes preempted, nodes that come up unusable. Draws come from a
/// generator seeded with `seed`, so the same seed and the same order of events give the
/// same failures.
#[derive(Debug, Clone, Default)]
pub struct NodeFaults {
    /// Seed of the generator.
    pub seed: u64,
    /// Dedicated cores the account may hold across all its pools; unset, no limit. A resize
    /// beyond it allocates the nodes that fit and reports `AccountCoreQuotaReached`.
    pub dedicated_core_quota: Option<u32>,
    /// Spot/low-priority cores the account may hold across all its pools; unset, no limit
    /// (`AccountLowPriorityCoreQuotaReached` beyond it).
    pub low_priority_core_quota: Option<u32>,
    /// Every this long, one spot/low-priority node is preempted (a busy one first); its
    /// running tasks go back to the queue. Unset, none is.
    pub preempt_spot_every: Option<std::time::Duration>,
    /// The share (0..=1) of nodes that come up `unusable`, with a node error, instead of
    /// starting.
    pub unusable_nodes: f64,
}

impl NodeFaults {
    /// Refuses values that cannot be meant: a share outside 0..=1, a zero interval.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.unusable_nodes) {
            return Err(format!(
                "the share of unusable nodes must be between 0 and 1, not {}",
                self.unusable_nodes
            ));
        }
        if self.preempt_spot_every.is_some_and(|d| d.is_zero()) {
            return Err("the preemption interval must be longer than 0".into());
        }
        Ok(())
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
    /// Failures of nodes and resizes to inject.
    pub node_faults: NodeFaults,
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
            node_faults: NodeFaults::default(),
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
        self.node_faults
            .check()
            .map_err(crate::EmulatorError::Config)?;
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

/// The command-line options of [`NodeFaults`], shared by `batchyard emulator serve` and the
/// standalone `batchyard-emulator`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NodeFaultArgs {
    /// Dedicated cores the account may hold across its pools; a resize beyond them
    /// allocates what fits and reports the resize error `AccountCoreQuotaReached`.
    #[arg(long, value_name = "CORES")]
    pub dedicated_core_quota: Option<u32>,
    /// Spot/low-priority cores the account may hold across its pools; a resize beyond
    /// them reports `AccountLowPriorityCoreQuotaReached`.
    #[arg(long, value_name = "CORES")]
    pub spot_core_quota: Option<u32>,
    /// Preempt one spot/low-priority node (a busy one first) this often, e.g. `30s`,
    /// `500ms`, `2m`; its running tasks go back to the queue and it boots again after half
    /// the interval.
    #[arg(long, value_name = "INTERVAL", value_parser = parse_interval)]
    pub preempt_spot_every: Option<std::time::Duration>,
    /// Share of nodes (0..1) that come up `unusable` with a node error instead of starting.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    pub unusable_nodes: f64,
}

impl NodeFaultArgs {
    /// The faults these options ask for, drawn with `seed`.
    pub fn faults(&self, seed: u64) -> NodeFaults {
        NodeFaults {
            seed,
            dedicated_core_quota: self.dedicated_core_quota,
            low_priority_core_quota: self.spot_core_quota,
            preempt_spot_every: self.preempt_spot_every,
            unusable_nodes: self.unusable_nodes,
        }
    }
}

/// `500ms`, `30s`, `2m` or a bare number of seconds, more than zero.
fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, "s"), |at| text.split_at(at));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not an interval: write e.g. 500ms, 30s or 2m"))?;
    let interval = match unit {
        "ms" => std::time::Duration::from_millis(n),
        "s" => std::time::Duration::from_secs(n),
        "m" => std::time::Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(format!("`{text}`: the unit must be ms, s or m")),
    };
    if interval.is_zero() {
        return Err("the interval must be longer than 0".into());
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_with_their_unit_and_refuse_nonsense() {
        use std::time::Duration;
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("5h").is_err());
        assert!(parse_interval("soon").is_err());
    }

    #[test]
    fn a_share_outside_zero_to_one_is_refused() {
        let faults = NodeFaults {
            unusable_nodes: 1.5,
            ..NodeFaults::default()
        };
        assert!(faults.check().unwrap_err().contains("between 0 and 1"));
    }
}
