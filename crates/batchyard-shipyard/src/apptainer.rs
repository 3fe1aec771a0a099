//! Singularity tasks → host tasks that run the image with Apptainer (Singularity's
//! successor, whose command line Shipyard's `singularity exec|run` invocations keep).
//!
//! Shipyard installed Singularity from its node prep and ran `singularity exec|run <options>
//! <image> <command>` on the host; for MPI, `mpirun` ran on the host and launched the
//! container on every node. The import does the same with `apptainer`, installed by the
//! pool's start task when the image lacks it. The start task never fails the node over it:
//! where Apptainer cannot be installed, tasks fail with a message saying so.

use crate::pool::shell_single_quote;

/// Makes sure every rank's node has `apptainer`, or says clearly that it does not.
pub const CHECK: &str = "command -v apptainer >/dev/null 2>&1 || { echo \"apptainer is not installed on this node (the pool's start task installs it on Ubuntu and Enterprise Linux images); the Singularity image cannot run\" >&2; exit 127; }";

/// The start task step: nothing when `apptainer` is already there; a link when the image has
/// SingularityCE (same command line); else the distribution's package. It always succeeds,
/// so a node where the install fails stays usable and the tasks report the problem.
pub fn setup_step(library: bool) -> String {
    let mut script = String::from(concat!(
        "if command -v apptainer >/dev/null 2>&1; then :; ",
        "elif command -v singularity >/dev/null 2>&1; then ln -sf \"$(command -v singularity)\" /usr/local/bin/apptainer; ",
        "elif grep -qi '^ID=ubuntu' /etc/os-release 2>/dev/null; then ",
        "{ add-apt-repository -y ppa:apptainer/ppa && apt-get update && apt-get install -y apptainer; } ",
        "|| echo 'installing Apptainer failed; Singularity tasks will fail on this node' >&2; ",
        "elif command -v dnf >/dev/null 2>&1; then ",
        "{ dnf install -y epel-release && dnf install -y apptainer; } ",
        "|| echo 'installing Apptainer failed; Singularity tasks will fail on this node' >&2; ",
        "else echo 'Apptainer is not installed and this OS has no known package for it; Singularity tasks will fail on this node' >&2; fi",
    ));
    if library {
        // Apptainer has no default library:// endpoint; Shipyard's images live in the Sylabs
        // library.
        script.push_str(concat!(
            "; if command -v apptainer >/dev/null 2>&1; then ",
            "apptainer remote add --global --no-login SylabsCloud cloud.sylabs.io >/dev/null 2>&1; ",
            "apptainer remote use --global SylabsCloud >/dev/null 2>&1; fi",
        ));
    }
    script.push_str("; true");
    script
}

/// `apptainer exec|run <options> <image> <command>`: the command stays shell text, as
/// Shipyard's task runner evaluated it in a shell on the host.
pub fn invocation(cmd: &str, options: &[String], image: &str, command: &str) -> String {
    let mut parts = vec!["apptainer".to_owned(), cmd.to_owned()];
    parts.extend(options.iter().cloned());
    parts.push(image.to_owned());
    parts.push(command.to_owned());
    parts.join(" ")
}

/// A single-node task: the check, then the container.
pub fn host_command(invocation: &str) -> String {
    format!(
        "/bin/bash -c {}",
        shell_single_quote(&format!("{CHECK}; {invocation}"))
    )
}

/// The coordination command of an MPI task: every node checks before `mpirun` starts.
pub fn coordination(user: Option<&str>) -> String {
    let script = match user {
        Some(c) => format!("{CHECK}; {c}"),
        None => CHECK.to_owned(),
    };
    format!("/bin/bash -c {}", shell_single_quote(&script))
}

/// Options Shipyard removed for InfiniBand and multi-instance tasks: they would put the
/// container in its own network namespace or hide the host's devices and files.
pub fn drop_isolation(options: &mut Vec<String>) {
    options.retain(|o| {
        !matches!(
            o.as_str(),
            "-c" | "--contain" | "-C" | "--containall" | "-n" | "--net"
        )
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::process::Command;

    use super::*;

    fn bash(script: &str, path: &str) -> std::process::Output {
        Command::new("/bin/bash")
            .arg("-c")
            .arg(script)
            .env("PATH", path)
            .output()
            .unwrap()
    }

    #[test]
    fn a_missing_apptainer_fails_the_task_with_a_message() {
        let out = bash(&format!("{CHECK}; echo ran"), "/nonexistent");
        assert_eq!(out.status.code(), Some(127));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("apptainer is not installed on this node"),
            "{err}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("ran"));
    }

    #[test]
    fn the_setup_step_parses_and_never_fails() {
        // With no tool on PATH every branch is a no-op or a message; the step still succeeds.
        let dir = std::env::temp_dir().join(format!("apptainer-setup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for library in [false, true] {
            let out = bash(&setup_step(library), dir.to_str().unwrap());
            assert!(out.status.success(), "{out:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn isolation_options_are_dropped() {
        let mut o: Vec<String> = ["--containall", "-B /x:/y", "--net", "--cleanenv"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        drop_isolation(&mut o);
        assert_eq!(o, ["-B /x:/y", "--cleanenv"]);
    }
}
