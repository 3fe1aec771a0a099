//! Why a node failed its start task: the tail of the start task's stderr, read through
//! the node files API (`startup/stderr.txt` from the node's root), with every secret value
//! this process knows replaced by its redacted form.

use batchyard_batch::BatchClient;
use batchyard_compile::DesiredPool;
use batchyard_recipe::model::Secret;

use crate::observe::NodeFailure;

/// The start task's stderr, from the node's root directory.
pub const STDERR_PATH: &str = "startup/stderr.txt";
/// Lines of stderr kept per node.
pub const STDERR_LINES: usize = 20;
/// Bytes read from the end of the file at most, so a huge stderr costs one small request.
pub const STDERR_BYTES: u64 = 4096;
/// Failed nodes whose stderr is read, per pool: a pool of many failed nodes almost always
/// fails the same way, and each read is a request.
pub const NODES_WITH_STDERR: usize = 5;

/// Environment variables holding this process's own credentials.
const CREDENTIAL_VARIABLES: &[&str] = &["AZURE_BATCH_ACCESS_KEY", "AZURE_CLIENT_SECRET"];

/// Values shorter than this are not redacted: they would blank out ordinary words.
const MIN_SECRET_LEN: usize = 4;

/// Secret values, each with the text shown in its place.
#[derive(Debug, Clone, Default)]
pub struct Redactions(Vec<(String, String)>);

impl Redactions {
    /// The values of the pools' `{env: NAME}` secrets that are set, and this process's
    /// credentials. Key Vault values are added by [`Redactions::with_values`] where they
    /// were read.
    pub fn of_pools(pools: &[DesiredPool]) -> Self {
        let mut redactions = Self::default();
        for slot in pools.iter().flat_map(|p| &p.secrets) {
            if let Secret::Env(name) = &slot.secret
                && let Ok(value) = std::env::var(name)
            {
                redactions.add(&value, &slot.secret.to_string());
            }
        }
        for name in CREDENTIAL_VARIABLES {
            if let Ok(value) = std::env::var(name) {
                redactions.add(&value, &format!("(secret from env {name})"));
            }
        }
        redactions
    }

    /// Adds the values read for this command (Key Vault secrets included).
    pub fn with_values(mut self, values: &batchyard_secrets::SecretValues) -> Self {
        for (secret, value) in values.iter() {
            self.add(value, &secret.to_string());
        }
        self
    }

    /// Adds a value; a value of several lines is also redacted line by line, since a tail
    /// may begin inside it.
    pub fn add(&mut self, value: &str, shown: &str) {
        let mut parts = vec![value.trim()];
        if value.contains('\n') {
            parts.extend(value.lines().map(str::trim));
        }
        for part in parts {
            if part.len() >= MIN_SECRET_LEN && !self.0.iter().any(|(v, _)| v == part) {
                self.0.push((part.to_owned(), shown.to_owned()));
            }
        }
        // Longest first, so a value containing another is replaced whole.
        self.0.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    }

    /// `text` with every known value replaced.
    pub fn apply(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (value, shown) in &self.0 {
            if text.contains(value.as_str()) {
                text = text.replace(value.as_str(), shown);
            }
        }
        text
    }
}

/// Reads the start task's stderr of up to `limit` nodes in `starttaskfailed` that have
/// none yet into their [`NodeFailure::start_task_stderr`], at the same time.
pub async fn add_start_task_stderr(
    client: &BatchClient,
    pool_id: &str,
    failures: &mut [NodeFailure],
    redactions: &Redactions,
    limit: usize,
) {
    let wanted = failures
        .iter_mut()
        .filter(|f| f.state == "starttaskfailed" && f.start_task_stderr.is_none())
        .take(limit);
    let reads = wanted.map(|f| async move {
        f.start_task_stderr =
            Some(start_task_stderr(client, pool_id, &f.node_id, redactions).await);
    });
    futures::future::join_all(reads).await;
}

/// The last [`STDERR_LINES`] lines of a node's start task stderr (at most
/// [`STDERR_BYTES`]), redacted; or a note in parentheses saying why there are none.
pub async fn start_task_stderr(
    client: &BatchClient,
    pool_id: &str,
    node_id: &str,
    redactions: &Redactions,
) -> String {
    let size = match client
        .get_node_file_properties(pool_id, node_id, STDERR_PATH)
        .await
    {
        Ok(p) => p.content_length.unwrap_or(0),
        Err(e) if e.is_not_found() => return format!("({STDERR_PATH} not found on the node)"),
        Err(e) => return format!("({STDERR_PATH} unreadable: {e})"),
    };
    if size == 0 {
        return "(stderr is empty)".to_owned();
    }
    let start = size.saturating_sub(STDERR_BYTES);
    match client
        .get_node_file(pool_id, node_id, STDERR_PATH, Some((start, None)))
        .await
    {
        Ok(bytes) => tail(&bytes, start > 0, redactions),
        Err(e) => format!("({STDERR_PATH} unreadable: {e})"),
    }
}

/// The shown part of a file's end: without the first line when the read began inside it
/// (it may be the end of a secret), redacted, then the last lines.
fn tail(bytes: &[u8], cut: bool, redactions: &Redactions) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = if cut {
        text.split_once('\n').map_or("", |(_, rest)| rest)
    } else {
        &text
    };
    let text = redactions.apply(text);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let shown = lines[lines.len().saturating_sub(STDERR_LINES)..].join("\n");
    if shown.is_empty() {
        "(stderr is empty)".to_owned()
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactions(values: &[&str]) -> Redactions {
        let mut r = Redactions::default();
        for v in values {
            r.add(v, "(secret)");
        }
        r
    }

    #[test]
    fn the_tail_keeps_the_last_lines_and_drops_a_cut_first_line() {
        let text: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let shown = tail(text.as_bytes(), false, &Redactions::default());
        assert_eq!(shown.lines().count(), STDERR_LINES);
        assert!(shown.starts_with("line 10\n"));
        assert!(shown.ends_with("line 29"));
        assert_eq!(tail(b"ret-part\nok\n", true, &Redactions::default()), "ok");
        assert_eq!(
            tail(b"no newline at all", true, &Redactions::default()),
            "(stderr is empty)"
        );
        assert_eq!(
            tail(b"\n\n", false, &Redactions::default()),
            "(stderr is empty)"
        );
    }

    #[test]
    fn secrets_are_replaced_whole_and_line_by_line() {
        let r = redactions(&[
            "hunter22",
            "hunter22-long",
            "-----BEGIN-----\nAAAAbbbbCCCC\n-----END-----",
        ]);
        assert_eq!(
            tail(b"pw=hunter22-long and hunter22\n", false, &r),
            "pw=(secret) and (secret)"
        );
        assert_eq!(tail(b"key: AAAAbbbbCCCC\n", false, &r), "key: (secret)");
        // Too short to redact without blanking ordinary words.
        assert_eq!(tail(b"a b\n", false, &redactions(&["a"])), "a b");
    }
}
