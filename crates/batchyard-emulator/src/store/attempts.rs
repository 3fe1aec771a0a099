//! Task attempts: one row per run of a task on a node (the task results table).
//!
//! The row is written before the process starts and closed when its exit is recorded.
//! After a kill, open rows name the processes that were running and whether their
//! exit was already written to the task directory.

use rusqlite::{Connection, params};

use super::StoreError;

/// One run of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Job id.
    pub job_id: String,
    /// Task id.
    pub task_id: String,
    /// Attempt number, from 1.
    pub attempt: i64,
    /// Pool the node belongs to.
    pub pool_id: String,
    /// Node that ran it.
    pub node_id: String,
    /// Process id of the process group leader, recorded with the attempt's end.
    pub pid: Option<i64>,
}

/// Records the start of an attempt.
pub fn open(conn: &Connection, attempt: &Attempt, started: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO task_attempts (job_id, task_id, attempt, pool_id, node_id, pid, started)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        attempt.job_id,
        attempt.task_id,
        attempt.attempt,
        attempt.pool_id,
        attempt.node_id,
        attempt.pid,
        started
    ])?;
    Ok(())
}

/// Closes an attempt with its outcome.
#[allow(clippy::too_many_arguments)]
pub fn close(
    conn: &Connection,
    job: &str,
    task: &str,
    attempt: i64,
    pid: Option<i64>,
    ended: &str,
    exit_code: Option<i64>,
    outcome: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE task_attempts SET ended = ?4, exit_code = ?5, outcome = ?6, pid = ?7
         WHERE job_id = ?1 AND task_id = ?2 AND attempt = ?3",
    )?
    .execute(params![job, task, attempt, ended, exit_code, outcome, pid])?;
    Ok(())
}

/// Attempts that were started and never closed.
pub fn open_attempts(conn: &Connection) -> Result<Vec<Attempt>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT job_id, task_id, attempt, pool_id, node_id, pid FROM task_attempts WHERE ended IS NULL",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Attempt {
            job_id: r.get(0)?,
            task_id: r.get(1)?,
            attempt: r.get(2)?,
            pool_id: r.get(3)?,
            node_id: r.get(4)?,
            pid: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Task counts of a job: (`taskCounts`, `taskSlotCounts`) in the service's shape.
/// An index-only read of `tasks_counts`: no document is parsed.
pub fn task_counts(
    conn: &Connection,
    job: &str,
) -> Result<(serde_json::Value, serde_json::Value), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT state, result, COUNT(*), SUM(slots)
         FROM tasks WHERE job_id = ?1 COLLATE NOCASE GROUP BY 1, 2",
    )?;
    let rows = stmt.query_map(params![job], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut tasks = [0i64; 5];
    let mut slots = [0i64; 5];
    for row in rows {
        let (state, result, n, s) = row?;
        let mut add = |i: usize| {
            tasks[i] += n;
            slots[i] += s;
        };
        match state.as_str() {
            "active" => add(0),
            "running" | "preparing" => add(1),
            "completed" => {
                add(2);
                add(if result.as_deref() == Some("success") {
                    3
                } else {
                    4
                });
            }
            _ => {}
        }
    }
    let shape = |v: [i64; 5]| serde_json::json!({"active": v[0], "running": v[1], "completed": v[2], "succeeded": v[3], "failed": v[4]});
    Ok((shape(tasks), shape(slots)))
}
