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
