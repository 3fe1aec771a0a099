//! Whether a live task still is what the recipe asks for. Batch tasks cannot change, so
//! the fields compared are those a task is defined by that the listing returns: the
//! command line and the environment. Compared on borrowed data: a plan against a large
//! job runs this once per task.

use batchyard_batch::models::BatchTaskCreateOptions;

use crate::observe::LiveTask;

/// Which compared fields of a live task differ from the desired one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drift {
    /// The command line differs.
    pub command: bool,
    /// The environment settings differ (as a set of `NAME=VALUE`; order is not kept by
    /// the service, and a missing value equals an empty one).
    pub env: bool,
}

impl Drift {
    /// Whether anything differs.
    pub fn any(self) -> bool {
        self.command || self.env
    }
}

/// Compares a desired task with its live counterpart.
pub fn drift(want: &BatchTaskCreateOptions, live: &LiveTask) -> Drift {
    Drift {
        command: live.command_line.as_deref() != Some(want.command_line.as_str()),
        env: !same_env(want, &live.env),
    }
}

/// `live` is sorted by name, then value (see [`crate::observe::live_tasks`]).
fn same_env(want: &BatchTaskCreateOptions, live: &[(String, String)]) -> bool {
    let want = want.environment_settings.as_deref().unwrap_or_default();
    if want.len() != live.len() {
        return false;
    }
    if want.is_empty() {
        return true;
    }
    let mut pairs: Vec<(&str, &str)> = want
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_deref().unwrap_or_default()))
        .collect();
    pairs.sort_unstable();
    pairs
        .iter()
        .zip(live)
        .all(|(w, (name, value))| w.0 == name && w.1 == value)
}

#[cfg(test)]
mod tests {
    use batchyard_batch::models::EnvironmentSetting;

    use super::*;

    fn desired(command: &str, env: &[(&str, Option<&str>)]) -> BatchTaskCreateOptions {
        BatchTaskCreateOptions {
            id: "t".into(),
            command_line: command.into(),
            environment_settings: (!env.is_empty()).then(|| {
                env.iter()
                    .map(|(name, value)| EnvironmentSetting {
                        name: (*name).into(),
                        value: value.map(str::to_owned),
                    })
                    .collect()
            }),
            ..Default::default()
        }
    }

    fn live(command: Option<&str>, env: &[(&str, &str)]) -> LiveTask {
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        env.sort();
        LiveTask {
            id: "t".into(),
            command_line: command.map(str::to_owned),
            env,
        }
    }

    #[test]
    fn equal_tasks_do_not_drift_whatever_the_environment_order() {
        let want = desired("run", &[("B", Some("2")), ("A", Some("1")), ("C", None)]);
        let got = live(Some("run"), &[("C", ""), ("A", "1"), ("B", "2")]);
        assert_eq!(drift(&want, &got), Drift::default());
        assert!(!drift(&desired("run", &[]), &live(Some("run"), &[])).any());
    }

    #[test]
    fn each_field_is_told_apart() {
        let want = desired("run", &[("A", Some("1"))]);
        let other_command = drift(&want, &live(Some("run "), &[("A", "1")]));
        assert_eq!(
            other_command,
            Drift {
                command: true,
                env: false
            }
        );
        assert!(drift(&want, &live(None, &[("A", "1")])).command);
        assert!(drift(&want, &live(Some("run"), &[("A", "2")])).env);
        assert!(drift(&want, &live(Some("run"), &[("a", "1")])).env);
        assert!(drift(&want, &live(Some("run"), &[])).env);
        assert!(drift(&want, &live(Some("run"), &[("A", "1"), ("B", "")])).env);
        assert!(!drift(&want, &live(Some("run"), &[("A", "1")])).any());
    }
}
