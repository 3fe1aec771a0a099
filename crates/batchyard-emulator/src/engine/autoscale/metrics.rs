//! Reads a pool's task and node counts from the store, as one sample.

use rusqlite::{Connection, params};

use super::history::Counts;
use crate::store::StoreError;

/// The counts of `pool` now. Succeeded and failed tasks cost a read of every completed
/// task's document, so they are counted only when the formula reads them.
pub fn sample(conn: &Connection, pool: &str, with_completed: bool) -> Result<Counts, StoreError> {
    let mut counts = Counts::default();
    // Index-only over (job_id, state): cheap however many tasks are queued.
    let mut stmt = conn.prepare_cached(
        "SELECT j.state, t.state, COUNT(*) FROM jobs j JOIN tasks t ON t.job_id = j.id
         WHERE json_extract(j.doc, '$.poolInfo.poolId') = ?1 COLLATE NOCASE
           AND t.state IN ('active', 'preparing', 'running')
         GROUP BY 1, 2",
    )?;
    let rows = stmt.query_map(params![pool], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (job_state, task_state, n) = row?;
        let n = n as f64;
        match task_state.as_str() {
            // Queued tasks of a disabled or ending job never start, so they are not demand.
            "active" if job_state == "active" => counts.active += n,
            "running" | "preparing" => counts.running += n,
            _ => {}
        }
    }
    if with_completed {
        let mut stmt = conn.prepare_cached(
            "SELECT json_extract(t.doc, '$.executionInfo.result'), COUNT(*)
             FROM jobs j JOIN tasks t ON t.job_id = j.id
             WHERE json_extract(j.doc, '$.poolInfo.poolId') = ?1 COLLATE NOCASE
               AND t.state = 'completed'
             GROUP BY 1",
        )?;
        let rows = stmt.query_map(params![pool], |r| {
            Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (result, n) = row?;
            if result.as_deref() == Some("success") {
                counts.succeeded += n as f64;
            } else {
                counts.failed += n as f64;
            }
        }
    }
    let mut stmt =
        conn.prepare_cached("SELECT state, COUNT(*) FROM nodes WHERE pool_id = ?1 GROUP BY state")?;
    let rows = stmt.query_map(params![pool], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (state, n) = row?;
        counts.nodes += n as f64;
        if state == "preempted" {
            counts.preempted += n as f64;
        }
    }
    Ok(counts)
}
