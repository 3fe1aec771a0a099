//! The emulator's state: one SQLite file in WAL mode.
//!
//! Every resource is kept as its Batch JSON document plus the few columns the service
//! queries on (id, state, creation order). Every change runs in one transaction, so a
//! kill at any moment leaves either the old or the new document, never half of one.

pub mod attempts;
pub mod docs;
pub mod sealed;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, Transaction};

pub use docs::Table;
pub use sealed::Sealer;

/// The schema version this build writes; stored in SQLite's `user_version`.
pub const SCHEMA_VERSION: i64 = 4;

/// What can go wrong while reading or writing the state file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation (file unreadable, disk full, corrupt database).
    #[error("the emulator state database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored document is not valid JSON; the file was edited or corrupted.
    #[error("a stored document is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The key that seals the state's secret fields could not be read or made.
    #[error("cannot read or make the key that seals the secrets of the emulator state {}: {source}", state.display())]
    SecretsKey {
        /// The state file.
        state: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file was written by a newer emulator whose schema this build does not know.
    #[error(
        "the state file has schema version {found}, newer than {supported} known to this build; use a newer batchyard or another state file"
    )]
    NewerSchema {
        /// Version found in the file.
        found: i64,
        /// Highest version this build supports.
        supported: i64,
    },
    /// The state file's permissions could not be set to owner-only.
    #[error("cannot make the emulator state file {} owner-only: {source}", path.display())]
    Permissions {
        /// The file.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The state lock was poisoned by a panic in another thread.
    #[error("the emulator state is unavailable after an internal failure")]
    Poisoned,
}

/// Handle on the state database. Cheap to share behind an `Arc`.
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) the state file and brings its schema up to date; its
    /// secret fields are sealed with the key of its private folder
    /// ([`crate::private_dir::for_state`]).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let sealer = Sealer::for_state(path).map_err(|source| StoreError::SecretsKey {
            state: path.to_path_buf(),
            source,
        })?;
        Self::open_sealed(path, &sealer)
    }

    /// [`Store::open`] with the secret fields sealed by `sealer`.
    pub fn open_sealed(path: &Path, sealer: &Sealer) -> Result<Self, StoreError> {
        private_files(path)?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // WAL keeps readers and the writer apart and makes each commit one append;
        // NORMAL sync is durable against a process kill (not a power cut), which is
        // the failure the emulator promises to survive.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Listing queries differ by their LIMIT and state count; the default 16
        // cached statements would evict them and prepare them again and again.
        conn.set_prepared_statement_cache_capacity(128);
        migrate(&conn)?;
        sealer.register(&conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }

    /// Runs `f` inside one transaction; commits when it returns `Ok`.
    pub fn write<T, E>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.lock()?;
        let tx = conn.transaction().map_err(StoreError::from)?;
        let out = f(&tx)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// Runs a read-only closure on the connection.
    pub fn read<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let conn = self.lock()?;
        f(&conn)
    }
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < 1 {
        conn.execute_batch(
            "BEGIN;
             CREATE TABLE pools (
                 id TEXT NOT NULL COLLATE NOCASE PRIMARY KEY,
                 state TEXT NOT NULL,
                 doc TEXT NOT NULL);
             CREATE TABLE nodes (
                 pool_id TEXT NOT NULL COLLATE NOCASE,
                 id TEXT NOT NULL COLLATE NOCASE,
                 state TEXT NOT NULL,
                 doc TEXT NOT NULL,
                 PRIMARY KEY (pool_id, id));
             CREATE TABLE jobs (
                 id TEXT NOT NULL COLLATE NOCASE PRIMARY KEY,
                 state TEXT NOT NULL,
                 doc TEXT NOT NULL);
             CREATE TABLE tasks (
                 job_id TEXT NOT NULL COLLATE NOCASE,
                 id TEXT NOT NULL COLLATE NOCASE,
                 state TEXT NOT NULL,
                 doc TEXT NOT NULL,
                 PRIMARY KEY (job_id, id));
             CREATE INDEX tasks_by_job_state ON tasks (job_id, state);
             CREATE TABLE task_attempts (
                 job_id TEXT NOT NULL COLLATE NOCASE,
                 task_id TEXT NOT NULL COLLATE NOCASE,
                 attempt INTEGER NOT NULL,
                 pool_id TEXT NOT NULL,
                 node_id TEXT NOT NULL,
                 pid INTEGER,
                 started TEXT NOT NULL,
                 ended TEXT,
                 exit_code INTEGER,
                 outcome TEXT,
                 PRIMARY KEY (job_id, task_id, attempt));
             CREATE INDEX task_attempts_open ON task_attempts (ended);
             PRAGMA user_version = 1;
             COMMIT;",
        )?;
    }
    if found < 2 {
        // A job's tasks in creation order (index entries end with the rowid), so a
        // listing page is a range read instead of a sort of the whole job.
        conn.execute_batch(
            "BEGIN;
             CREATE INDEX IF NOT EXISTS tasks_by_job ON tasks (job_id);
             PRAGMA user_version = 2;
             COMMIT;",
        )?;
    }
    if found < 3 {
        // What task counts need, as plain columns the store writes with each task
        // (`docs::insert`, `docs::put`), so counting is an index-only read and
        // writing a task parses no JSON in SQLite.
        conn.execute_batch(
            "BEGIN;
             DROP INDEX IF EXISTS tasks_counts;
             ALTER TABLE tasks ADD COLUMN result TEXT;
             ALTER TABLE tasks ADD COLUMN slots INTEGER NOT NULL DEFAULT 1;
             UPDATE tasks SET
                 result = json_extract(doc, '$.executionInfo.result'),
                 slots = COALESCE(json_extract(doc, '$.requiredSlots'), 1);
             CREATE INDEX tasks_counts ON tasks (job_id, state, result, slots);
             PRAGMA user_version = 3;
             COMMIT;",
        )?;
    }
    if found < 4 {
        // Only open attempts are looked up (after a restart): a partial index holds
        // just the running ones, instead of moving every attempt's entry when it ends.
        conn.execute_batch(
            "BEGIN;
             DROP INDEX IF EXISTS task_attempts_open;
             CREATE INDEX task_attempts_open ON task_attempts (job_id) WHERE ended IS NULL;
             PRAGMA user_version = 4;
             COMMIT;",
        )?;
    }
    Ok(())
}

/// The state holds the recipe's secrets (registry passwords, storage keys, task
/// environments): it is created owner-only, and a file left readable by others by an
/// older build is narrowed. SQLite gives its `-wal` and `-shm` files the database's
/// own mode when it creates them; ones that already exist are narrowed here too.
fn private_files(path: &Path) -> Result<(), StoreError> {
    let fail = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Permissions { path, source }
    };
    crate::state_lock::open(path).map_err(fail(path))?;
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        let side = std::path::PathBuf::from(name);
        if side.exists() {
            crate::state_lock::open(&side).map_err(fail(&side))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_versioned_and_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = Store::open(&path).unwrap();
        let (version, mode): (i64, String) = store
            .read(|c| -> Result<_, StoreError> {
                let v = c.pragma_query_value(None, "user_version", |r| r.get(0))?;
                let m = c.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
                Ok((v, m))
            })
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(mode, "wal");
        drop(store);
        // Reopening an up-to-date file is a no-op, not a second migration.
        Store::open(&path).unwrap();
    }

    #[test]
    fn version_one_files_gain_the_listing_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        // Back to the version 1 layout, holding one completed task.
        conn.execute_batch(
            r#"DROP INDEX tasks_by_job; DROP INDEX tasks_counts;
               ALTER TABLE tasks DROP COLUMN result; ALTER TABLE tasks DROP COLUMN slots;
               INSERT INTO tasks (job_id, id, state, doc) VALUES ('j', 't', 'completed',
                   '{"requiredSlots": 2, "executionInfo": {"result": "success"}}');
               PRAGMA user_version = 1;"#,
        )
        .unwrap();
        drop(conn);
        let store = Store::open(&path).unwrap();
        let plan = |sql: &str| -> String {
            store
                .read(|c| -> Result<_, StoreError> {
                    let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                    let rows = stmt.query_map([], |r| r.get::<_, String>(3))?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?.join("; "))
                })
                .unwrap()
        };
        let listing = plan(
            "SELECT rowid, doc FROM tasks WHERE rowid > 0 AND job_id = 'j' ORDER BY rowid LIMIT 10",
        );
        assert!(listing.contains("tasks_by_job "), "{listing}");
        assert!(!listing.contains("TEMP B-TREE"), "{listing}");
        let counts = plan(
            "SELECT state, result, COUNT(*), SUM(slots) FROM tasks WHERE job_id = 'j' GROUP BY 1, 2",
        );
        assert!(counts.contains("COVERING INDEX tasks_counts"), "{counts}");
        let (counts, slots) = store
            .read(|c| super::attempts::task_counts(c, "j"))
            .unwrap();
        assert_eq!(counts["succeeded"], 1);
        assert_eq!(slots["succeeded"], 2);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = Store::open(&path).err().unwrap();
        assert!(matches!(err, StoreError::NewerSchema { found: 99, .. }));
    }
}
