//! Uploading a task's `outputFiles` after its process exits, per
//! `uploadOptions.uploadCondition` (BatchService.json `OutputFileUploadCondition`:
//! `tasksuccess` on exit code 0, `taskfailure` on a non-zero exit code,
//! `taskcompletion` either way), to `destination.container.containerUrl` with its SAS.
//!
//! Destination names follow `OutputFileBlobContainerDestination.path`: for a pattern
//! without wildcards, `path` is the blob name (the file's name when omitted); with
//! wildcards, `path` is a virtual directory prepended to each match's path relative
//! to the pattern's fixed leading directories.
//!
//! A failed upload fails the task with category `usererror` and one of Batch's codes
//! (`FileUploadAccessDenied`, `FileUploadContainerNotFound`, `FileUploadConflict`,
//! `FileUploadMiscError`; TaskFailureInformationCodes). As on a Batch node, what was
//! uploaded and what failed is written to `fileuploadout.txt` and `fileuploaderr.txt`
//! in the task directory.

use std::path::Path;

use serde_json::Value;

use super::blob_client::{self, Transfer, redacted};
use super::docs_util::text;
use super::executor::{Outcome, RunFailure};
use super::file_pattern;
use crate::store::docs::at;

/// Whether an output file's condition holds for how the process ended.
fn wanted(output: &Value, exit_code: i64) -> bool {
    let condition = at(output, "/uploadOptions/uploadCondition")
        .and_then(Value::as_str)
        .unwrap_or("taskcompletion")
        .to_ascii_lowercase();
    match condition.as_str() {
        "tasksuccess" => exit_code == 0,
        "taskfailure" => exit_code != 0,
        _ => true,
    }
}

/// Expands `$NAME` and `${NAME}` from the task's environment (Linux nodes expand
/// environment variables in the pattern before applying it).
fn expand_env(pattern: &str, env: &[(String, String)]) -> String {
    let lookup = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
            .unwrap_or_default()
    };
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], &braced[end + 1..]),
                None => ("", after),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
        } else {
            out.push_str(&lookup(name));
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

fn blob_name(path: &str, wildcard: bool, relative: &str) -> String {
    let path = path.trim_matches('/');
    match (wildcard, path.is_empty()) {
        (_, true) => relative.to_string(),
        (false, false) => path.to_string(),
        (true, false) => format!("{path}/{relative}"),
    }
}

fn failure_for(e: &Transfer, file: &str, container: &str) -> RunFailure {
    let (code, what) = match e {
        Transfer::Status(401 | 403, _) => (
            "FileUploadAccessDenied",
            "access to the container was denied: the SAS must grant write",
        ),
        Transfer::Status(404, _) => ("FileUploadContainerNotFound", "the container was not found"),
        Transfer::Status(409 | 412, _) => (
            "FileUploadConflict",
            "the blob conflicts with an existing one",
        ),
        _ => ("FileUploadMiscError", "the upload failed"),
    };
    RunFailure {
        category: "usererror",
        code,
        message: format!(
            "The output file {file} could not be uploaded to {container}: {what} ({e})."
        ),
    }
}

/// Uploads the output files whose condition holds. Returns the first failure; the
/// other files are still attempted.
pub async fn upload_all(
    outputs: &[Value],
    working_dir: &Path,
    task_dir: &Path,
    env: &[(String, String)],
    outcome: &Outcome,
) -> Option<RunFailure> {
    // Files are uploaded after the process exits; a run stopped, or one that never
    // started, uploads nothing.
    let exit_code = outcome.exit_code.filter(|_| !outcome.killed)?;
    let mut log = String::new();
    let mut errors = String::new();
    let mut first_failure = None;
    for output in outputs.iter().filter(|o| wanted(o, exit_code)) {
        let pattern = expand_env(text(output, "filePattern"), env);
        let container = at(output, "/destination/container/containerUrl")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let path = at(output, "/destination/container/path")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let headers: Vec<(String, String)> = at(output, "/destination/container/uploadHeaders")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|h| (text(h, "name").to_string(), text(h, "value").to_string()))
            .filter(|(n, _)| !n.is_empty())
            .collect();
        let container_url = match blob_client::checked(container) {
            Ok(url) => url,
            Err(e) => {
                let failure = failure_for(&e, &pattern, &redacted(container));
                errors.push_str(&format!("{}\n", failure.message));
                first_failure.get_or_insert(failure);
                continue;
            }
        };
        let wildcard = file_pattern::has_wildcards(&pattern);
        for (file, relative) in file_pattern::expand(working_dir, &pattern) {
            let name = blob_name(path, wildcard, &relative);
            let url = blob_client::blob_url(&container_url, &name);
            match blob_client::upload(url, &file, &headers).await {
                Ok(()) => log.push_str(&format!(
                    "uploaded {} to {}/{name}\n",
                    file.display(),
                    redacted(container)
                )),
                Err(e) => {
                    let failure =
                        failure_for(&e, &file.display().to_string(), &redacted(container));
                    errors.push_str(&format!("{}\n", failure.message));
                    first_failure.get_or_insert(failure);
                }
            }
        }
    }
    // The logs are a convenience for the user; failing to write them changes nothing.
    let _ = tokio::fs::write(task_dir.join("fileuploadout.txt"), log).await;
    let _ = tokio::fs::write(task_dir.join("fileuploaderr.txt"), errors).await;
    first_failure
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_follow_the_exit_code() {
        let with = |c: &str| json!({"uploadOptions": {"uploadCondition": c}});
        assert!(wanted(&with("taskSuccess"), 0));
        assert!(!wanted(&with("tasksuccess"), 1));
        assert!(wanted(&with("taskFailure"), 2));
        assert!(!wanted(&with("taskfailure"), 0));
        assert!(wanted(&with("taskCompletion"), 0) && wanted(&with("taskcompletion"), 3));
    }

    #[test]
    fn destinations_follow_the_path_rules() {
        assert_eq!(
            blob_name("out/result.txt", false, "r.txt"),
            "out/result.txt"
        );
        assert_eq!(blob_name("", false, "r.txt"), "r.txt");
        assert_eq!(
            blob_name("logs/t1/", true, "sub/a.txt"),
            "logs/t1/sub/a.txt"
        );
        assert_eq!(blob_name("", true, "sub/a.txt"), "sub/a.txt");
    }

    #[test]
    fn environment_variables_expand_in_patterns() {
        let env = vec![("AZ_BATCH_TASK_DIR".to_string(), "/n/t".to_string())];
        assert_eq!(
            expand_env("$AZ_BATCH_TASK_DIR/std*.txt", &env),
            "/n/t/std*.txt"
        );
        assert_eq!(expand_env("${AZ_BATCH_TASK_DIR}/x", &env), "/n/t/x");
        assert_eq!(expand_env("a$", &env), "a$");
    }
}
