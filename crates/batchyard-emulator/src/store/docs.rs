//! Generic access to the four document tables.
//!
//! Pools and jobs are keyed by id; nodes by (pool, id); tasks by (job, id). `parent`
//! carries the pool or job id for the two child tables. Creation order is SQLite's
//! rowid, which also serves as the paging cursor.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::StoreError;

/// The document tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Pools, keyed by id.
    Pools,
    /// Compute nodes, keyed by (pool id, node id).
    Nodes,
    /// Jobs, keyed by id.
    Jobs,
    /// Tasks, keyed by (job id, task id).
    Tasks,
}

impl Table {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Pools => "pools",
            Table::Nodes => "nodes",
            Table::Jobs => "jobs",
            Table::Tasks => "tasks",
        }
    }

    fn parent_column(self) -> Option<&'static str> {
        match self {
            Table::Nodes => Some("pool_id"),
            Table::Tasks => Some("job_id"),
            Table::Pools | Table::Jobs => None,
        }
    }

    fn key_clause(self) -> String {
        match self.parent_column() {
            Some(parent) => format!("{parent} = ?1 AND id = ?2"),
            None => "?1 = ?1 AND id = ?2".to_string(),
        }
    }
}

/// One stored document and its creation order.
#[derive(Debug, Clone)]
pub struct Doc {
    /// Creation order (rowid); increasing within a table.
    pub seq: i64,
    /// The resource in its Batch JSON shape.
    pub value: Value,
}

impl Doc {
    /// The document's `state` field, or "" when it has none.
    pub fn state(&self) -> &str {
        self.value
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// `value.pointer(path)` for a path of object keys without `~` escapes, without the
/// allocations `pointer` makes for every segment: documents are read on every task
/// start, end and insert.
pub fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/').skip(1).try_fold(value, |v, key| v.get(key))
}

fn state_of(doc: &Value) -> &str {
    doc.get("state").and_then(Value::as_str).unwrap_or("")
}

/// The columns a task row keeps beside its document for task counts: its result
/// and its slot count.
fn task_columns(doc: &Value) -> (Option<&str>, i64) {
    (
        at(doc, "/executionInfo/result").and_then(Value::as_str),
        doc.get("requiredSlots")
            .and_then(Value::as_i64)
            .unwrap_or(1),
    )
}

/// The document text as stored: with its secret properties sealed (see
/// [`super::sealed`]). Only texts that name one go through SQLite's `batchyard_seal`.
fn seal(conn: &Connection, text: String) -> Result<String, StoreError> {
    if !crate::api::odata::may_hold_secret(&text) {
        return Ok(text);
    }
    Ok(conn
        .prepare_cached("SELECT batchyard_seal(?1)")?
        .query_row([&text], |r| r.get(0))?)
}

fn decode(seq: i64, text: &str) -> Result<Doc, StoreError> {
    Ok(Doc {
        seq,
        value: serde_json::from_str(text)?,
    })
}

/// Reads one document.
pub fn get(
    conn: &Connection,
    table: Table,
    parent: &str,
    id: &str,
) -> Result<Option<Doc>, StoreError> {
    let sql = format!(
        "SELECT rowid, doc FROM {} WHERE {}",
        table.name(),
        table.key_clause()
    );
    let row = conn
        .prepare_cached(&sql)?
        .query_row(params![parent, id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?;
    row.map(|(seq, text)| decode(seq, &text)).transpose()
}

/// Inserts a new document; returns false (and changes nothing) when the id exists.
pub fn insert(
    conn: &Connection,
    table: Table,
    parent: &str,
    id: &str,
    doc: &Value,
) -> Result<bool, StoreError> {
    let text = seal(conn, serde_json::to_string(doc)?)?;
    let changed = if table == Table::Tasks {
        let (result, slots) = task_columns(doc);
        conn.prepare_cached(
            "INSERT OR IGNORE INTO tasks (job_id, id, state, doc, result, slots)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![parent, id, state_of(doc), text, result, slots])?
    } else {
        let sql = match table.parent_column() {
            Some(parent_col) => format!(
                "INSERT OR IGNORE INTO {} ({parent_col}, id, state, doc) VALUES (?1, ?2, ?3, ?4)",
                table.name()
            ),
            None => format!(
                "INSERT OR IGNORE INTO {} (id, state, doc) SELECT ?2, ?3, ?4 WHERE ?1 = ?1",
                table.name()
            ),
        };
        conn.prepare_cached(&sql)?
            .execute(params![parent, id, state_of(doc), text])?
    };
    Ok(changed == 1)
}

/// Replaces an existing document; returns false when it does not exist.
pub fn put(
    conn: &Connection,
    table: Table,
    parent: &str,
    id: &str,
    doc: &Value,
) -> Result<bool, StoreError> {
    let text = seal(conn, serde_json::to_string(doc)?)?;
    let changed = if table == Table::Tasks {
        let (result, slots) = task_columns(doc);
        conn.prepare_cached(
            "UPDATE tasks SET state = ?3, doc = ?4, result = ?5, slots = ?6
             WHERE job_id = ?1 AND id = ?2",
        )?
        .execute(params![parent, id, state_of(doc), text, result, slots])?
    } else {
        let sql = format!(
            "UPDATE {} SET state = ?3, doc = ?4 WHERE {}",
            table.name(),
            table.key_clause()
        );
        conn.prepare_cached(&sql)?
            .execute(params![parent, id, state_of(doc), text])?
    };
    Ok(changed == 1)
}

/// Deletes one document; returns false when it did not exist.
pub fn delete(conn: &Connection, table: Table, parent: &str, id: &str) -> Result<bool, StoreError> {
    let sql = format!("DELETE FROM {} WHERE {}", table.name(), table.key_clause());
    Ok(conn.prepare_cached(&sql)?.execute(params![parent, id])? == 1)
}

/// Deletes every child of a pool (its nodes) or of a job (its tasks).
pub fn delete_children(conn: &Connection, table: Table, parent: &str) -> Result<usize, StoreError> {
    let Some(parent_col) = table.parent_column() else {
        return Ok(0);
    };
    let sql = format!("DELETE FROM {} WHERE {parent_col} = ?1", table.name());
    Ok(conn.prepare_cached(&sql)?.execute(params![parent])?)
}

/// Lists documents in creation order, after the cursor `after_seq`, at most `limit`,
/// optionally only those whose state is one of `states`.
pub fn list(
    conn: &Connection,
    table: Table,
    parent: Option<&str>,
    after_seq: i64,
    states: Option<&[&str]>,
    limit: usize,
) -> Result<Vec<Doc>, StoreError> {
    let mut out = Vec::new();
    list_stored(
        conn,
        table,
        parent,
        after_seq,
        states,
        limit,
        |seq, text| {
            out.push(decode(seq, text)?);
            Ok(())
        },
    )?;
    Ok(out)
}

/// [`list`], handing each document's stored JSON text and creation order to `each`
/// instead of parsing it.
pub fn list_stored(
    conn: &Connection,
    table: Table,
    parent: Option<&str>,
    after_seq: i64,
    states: Option<&[&str]>,
    limit: usize,
    mut each: impl FnMut(i64, &str) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let parent = parent.filter(|_| table.parent_column().is_some());
    let mut args: Vec<&str> = Vec::new();
    args.extend(parent);
    args.extend(states.into_iter().flatten());
    let sql = list_sql(
        table,
        parent.is_some(),
        states.map_or(0, <[&str]>::len),
        limit,
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    stmt.raw_bind_parameter(1, after_seq)?;
    for (i, arg) in args.iter().enumerate() {
        stmt.raw_bind_parameter(i + 2, arg)?;
    }
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let text = row.get_ref(1)?.as_str().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
        })?;
        each(seq, text)?;
    }
    Ok(())
}

/// The listing query: `?1` the cursor, then the parent id if any, then the states.
fn list_sql(table: Table, parent: bool, states: usize, limit: usize) -> String {
    let mut sql = format!("SELECT rowid, doc FROM {} WHERE rowid > ?1", table.name());
    let mut next = 2;
    if let (true, Some(col)) = (parent, table.parent_column()) {
        // The column is NOCASE already; saying so again keeps SQLite from marking the
        // plan as depending on the bound value, which with ORDER BY made every reuse
        // of the cached statement prepare it again.
        sql.push_str(&format!(" AND {col} = ?{next} COLLATE NOCASE"));
        next += 1;
    }
    if states > 0 {
        let marks: Vec<String> = (next..next + states).map(|i| format!("?{i}")).collect();
        sql.push_str(&format!(" AND state IN ({})", marks.join(",")));
    }
    sql.push_str(&format!(
        " ORDER BY rowid LIMIT {}",
        limit.min(i64::MAX as usize)
    ));
    sql
}

/// Whether a job has a task that is not completed. Asks the (job, state) index for
/// each unfinished state, so it costs the same for 10 tasks as for 100,000.
pub fn has_unfinished_tasks(conn: &Connection, job: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM tasks
             WHERE job_id = ?1 AND state IN ('active', 'preparing', 'running'))",
        )?
        .query_row(params![job], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use serde_json::json;

    #[test]
    fn at_reads_what_pointer_reads() {
        let doc = json!({"executionInfo": {"result": "success", "retryCount": 2}, "id": "t"});
        for path in [
            "",
            "/id",
            "/executionInfo/result",
            "/executionInfo/retryCount",
            "/missing/x",
            "/id/x",
        ] {
            assert_eq!(at(&doc, path), doc.pointer(path), "{path}");
        }
    }

    #[test]
    fn listing_reuses_its_prepared_statement() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        store
            .read(|c| -> Result<(), StoreError> {
                for cursor in 0..10 {
                    list(c, Table::Tasks, Some("job"), cursor, Some(&["active"]), 4)?;
                }
                let stmt = c.prepare_cached(&list_sql(Table::Tasks, true, 1, 4))?;
                assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn tasks_are_keyed_by_job_and_listed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        store
            .write(|tx| -> Result<(), StoreError> {
                for i in 0..5 {
                    let doc = json!({"id": format!("t{i}"), "state": if i % 2 == 0 {"active"} else {"completed"}});
                    assert!(insert(tx, Table::Tasks, "job", &format!("t{i}"), &doc)?);
                }
                // Same task id in another job is a different task.
                assert!(insert(tx, Table::Tasks, "other", "t0", &json!({"state": "active"}))?);
                // Ids are case-insensitive, as in Batch.
                assert!(!insert(tx, Table::Tasks, "JOB", "T0", &json!({"state": "active"}))?);
                Ok(())
            })
            .unwrap();
        store
            .read(|c| -> Result<(), StoreError> {
                let page = list(c, Table::Tasks, Some("job"), 0, None, 2)?;
                let ids: Vec<_> = page.iter().map(|d| d.value["id"].clone()).collect();
                assert_eq!(ids, vec![json!("t0"), json!("t1")]);
                let rest = list(
                    c,
                    Table::Tasks,
                    Some("job"),
                    page[1].seq,
                    Some(&["active"]),
                    10,
                )?;
                let ids: Vec<_> = rest.iter().map(|d| d.value["id"].clone()).collect();
                assert_eq!(ids, vec![json!("t2"), json!("t4")]);
                Ok(())
            })
            .unwrap();
    }
}
