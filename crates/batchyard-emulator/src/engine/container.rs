//! Whether a container task can run in Docker here.
//!
//! An engine must answer `docker info` and the image must already be present: the
//! emulator never pulls. Positive answers are cached; a missing image is asked again
//! next time, since a user may build it meanwhile.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::process::Command;

/// What to do with a container task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run it in Docker.
    Docker,
    /// Run it on the host (explicitly allowed).
    Host,
    /// Fail it with this code and message.
    Fail(&'static str, String),
}

/// Cached answers about the local Docker engine.
pub struct DockerProbe {
    on_host: bool,
    engine_ok: Option<bool>,
    images: HashSet<String>,
    warned: AtomicBool,
}

async fn succeeds(args: &[&str]) -> bool {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

impl DockerProbe {
    /// A probe; `on_host` allows running container tasks without Docker.
    pub fn new(on_host: bool) -> Self {
        Self {
            on_host,
            engine_ok: None,
            images: HashSet::new(),
            warned: AtomicBool::new(false),
        }
    }

    fn fallback(&self, code: &'static str, message: String) -> Decision {
        if self.on_host {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!("{message}; running container tasks on the host as configured");
            }
            Decision::Host
        } else {
            Decision::Fail(code, message)
        }
    }

    /// Decides how to run a task using `image`.
    pub async fn decide(&mut self, image: &str) -> Decision {
        let engine_ok = match self.engine_ok {
            Some(ok) => ok,
            None => {
                let ok = succeeds(&["info"]).await;
                self.engine_ok = Some(ok);
                ok
            }
        };
        if !engine_ok {
            return self.fallback(
                "ContainerEngineUnavailable",
                "No Docker engine answers on this machine, so the container task cannot run; start Docker or run the emulator with containers on the host".into(),
            );
        }
        if self.images.contains(image) {
            return Decision::Docker;
        }
        if succeeds(&["image", "inspect", image]).await {
            self.images.insert(image.to_string());
            return Decision::Docker;
        }
        self.fallback(
            "ContainerImageNotFound",
            format!("The image '{image}' is not present in the local Docker engine and the emulator does not pull images; pull or build it first"),
        )
    }
}

/// Whether this machine lets a process lock unlimited memory (the hard `RLIMIT_MEMLOCK` in
/// /proc/self/limits). Docker cannot grant `--ulimit memlock=-1` above it.
pub fn memlock_unlimited() -> bool {
    std::fs::read_to_string("/proc/self/limits").is_ok_and(|text| {
        text.lines()
            .find(|l| l.starts_with("Max locked memory"))
            .and_then(|l| l.split_whitespace().nth(4))
            .is_some_and(|hard| hard == "unlimited")
    })
}

/// Removes the `docker run` options that ask for what this machine lacks: `--gpus` (and
/// the NVIDIA runtime) without an NVIDIA device, `--device` paths that do not exist (the
/// InfiniBand devices of an RDMA size), and unlimited locked memory where the machine caps
/// it (RDMA and NCCL ask for it). A Batch node has them; here the task still runs with
/// everything else it asked for. Returns the kept options and what was dropped, to say so.
pub fn drop_missing_hardware(
    options: Vec<String>,
    has_path: impl Fn(&str) -> bool,
    memlock_unlimited: bool,
) -> (Vec<String>, Vec<String>) {
    let has_gpu = has_path("/dev/nvidiactl");
    let mut kept = Vec::with_capacity(options.len());
    let mut dropped = Vec::new();
    let mut words = options.into_iter();
    while let Some(word) = words.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (word.clone(), None),
        };
        let takes_value = matches!(
            flag.as_str(),
            "--gpus" | "--runtime" | "--device" | "--ulimit"
        );
        if !takes_value {
            kept.push(word);
            continue;
        }
        let value = match inline {
            Some(v) => Some(v),
            None => words.next(),
        };
        let Some(value) = value else {
            kept.push(word);
            continue;
        };
        let missing = match flag.as_str() {
            "--gpus" => !has_gpu,
            "--runtime" => !has_gpu && value == "nvidia",
            "--ulimit" => !memlock_unlimited && value.starts_with("memlock="),
            // `--device=HOST[:CONTAINER[:PERMS]]`
            _ => !has_path(value.split(':').next().unwrap_or_default()),
        };
        if missing {
            dropped.push(format!("{flag} {value}"));
        } else {
            kept.push(format!("{flag}={value}"));
        }
    }
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn gpu_and_missing_devices_are_dropped_and_named() {
        let opts = words(
            "--gpus all --ipc=host --ulimit memlock=-1 --device=/dev/infiniband --runtime nvidia -v /a:/b",
        );
        let (kept, dropped) = drop_missing_hardware(opts.clone(), |_| false, true);
        assert_eq!(kept, words("--ipc=host --ulimit=memlock=-1 -v /a:/b"));
        assert_eq!(
            dropped,
            ["--gpus all", "--device /dev/infiniband", "--runtime nvidia"]
        );
        // Where locked memory is capped, the memlock request goes too; other limits stay.
        let mut capped = opts;
        capped.extend(words("--ulimit stack=67108864"));
        let (kept, dropped) = drop_missing_hardware(capped, |_| false, false);
        assert_eq!(kept, words("--ipc=host -v /a:/b --ulimit=stack=67108864"));
        assert!(dropped.contains(&"--ulimit memlock=-1".to_string()));
    }

    #[test]
    fn present_hardware_is_kept() {
        let opts = words("--gpus=device=1 --device /dev/infiniband:/dev/infiniband");
        let (kept, dropped) = drop_missing_hardware(opts, |_| true, true);
        assert_eq!(
            kept,
            words("--gpus=device=1 --device=/dev/infiniband:/dev/infiniband")
        );
        assert!(dropped.is_empty());
    }
}
