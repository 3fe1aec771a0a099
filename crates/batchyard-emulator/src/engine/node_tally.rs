//! Node documents touched by one transaction (running task and slot counts),
//! read once and written once however many tasks start or end on them.

use std::collections::HashMap;

use rusqlite::Connection;
use serde_json::{Value, json};

use super::docs_util::{int, set_state, text};
use crate::store::StoreError;
use crate::store::docs::{self, Table};

/// Pending node changes, keyed by (pool, node) as spelled by the caller.
#[derive(Default)]
pub(super) struct NodeTally {
    nodes: HashMap<(String, String), Option<Value>>,
}

impl NodeTally {
    /// Adds `tasks` running tasks taking `slots` slots to a node (negative when they
    /// end); `succeeded` counts a successful end.
    pub(super) fn count(
        &mut self,
        conn: &Connection,
        pool: &str,
        node: &str,
        tasks: i64,
        slots: i64,
        succeeded: bool,
    ) -> Result<(), StoreError> {
        let entry_key = (pool.to_string(), node.to_string());
        if !self.nodes.contains_key(&entry_key) {
            let doc = docs::get(conn, Table::Nodes, pool, node)?.map(|d| d.value);
            self.nodes.insert(entry_key.clone(), doc);
        }
        if let Some(Some(doc)) = self.nodes.get_mut(&entry_key) {
            count_on_node(doc, tasks, slots, succeeded);
        }
        Ok(())
    }

    /// Writes every changed node.
    pub(super) fn write(self, conn: &Connection) -> Result<(), StoreError> {
        for ((pool, node), doc) in self.nodes {
            if let Some(doc) = doc {
                docs::put(conn, Table::Nodes, &pool, &node, &doc)?;
            }
        }
        Ok(())
    }
}

fn count_on_node(node: &mut Value, tasks: i64, slots: i64, succeeded: bool) {
    let running = (int(node, "runningTasksCount", 0) + tasks).max(0);
    node["runningTasksCount"] = json!(running);
    node["runningTaskSlotsCount"] = json!((int(node, "runningTaskSlotsCount", 0) + slots).max(0));
    if tasks > 0 {
        node["totalTasksRun"] = json!(int(node, "totalTasksRun", 0) + 1);
        if text(node, "state") != "running" {
            set_state(node, "running");
        }
    } else if running == 0 && text(node, "state") == "running" {
        set_state(node, "idle");
    }
    if succeeded {
        node["totalTasksSucceeded"] = json!(int(node, "totalTasksSucceeded", 0) + 1);
    }
}
