//! When a task may run and what follows it: `depends_on`, `depends_on_range`, the time and
//! retry limits, and `exit_conditions`.

use super::Task;
use crate::ctx::Ctx;
use crate::emit::{Map, Y, s, seq};
use crate::jobs::exit_conditions;
use crate::pool::duration;

impl Task<'_> {
    /// `depends_on` ids and a `depends_on_range`, as one `depends_on` list.
    pub(super) fn dependencies(&self, ctx: &mut Ctx, m: &mut Map) {
        let t = self.spec;
        let mut deps: Vec<Y> = t
            .get("depends_on")
            .map(|x| x.items())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.text())
            .map(s)
            .collect();
        if let Some(r) = t.get("depends_on_range") {
            let ends: Vec<i64> = r.items().iter().filter_map(|v| v.i64()).collect();
            match ends.as_slice() {
                [a, b] if *a >= 0 && *b >= *a => {
                    let mut rm = Map::new();
                    rm.set("range", seq([Y::Int(*a), Y::Int(*b)]));
                    deps.push(Y::Map(rm));
                }
                _ => {
                    ctx.error(&r, "depends_on_range needs exactly two non-negative integers, start ≤ end (Shipyard requires it too)", None);
                }
            }
        }
        if !deps.is_empty() {
            m.set("depends_on", seq(deps));
        }
    }

    /// `max_wall_time`, `max_task_retries` and `retention_time` (the job's when the task
    /// has none).
    pub(super) fn constraints(&self, ctx: &mut Ctx, m: &mut Map) {
        let t = self.spec;
        let mut c = Map::new();
        if let Some(v) = t.get("max_wall_time")
            && let Some(x) = duration(ctx, &v)
        {
            c.set("max_wall_time", x);
        }
        if let Some(v) = t.get("max_task_retries").and_then(|v| v.i64()) {
            c.set("max_retries", Y::Int(v));
        }
        match t.get("retention_time") {
            Some(v) => {
                if let Some(x) = duration(ctx, &v) {
                    c.set("retention", x);
                }
            }
            None => {
                if let Some(x) = &self.job.retention {
                    c.set("retention", x.clone())
                        .comment("Shipyard: the job's retention_time.");
                }
            }
        }
        if !c.is_empty() {
            m.set("constraints", Y::Map(c));
        }
    }

    /// `exit_conditions.default.exit_options`, the task's or else the job's.
    pub(super) fn exit_conditions(&self, m: &mut Map) {
        let exit = self
            .spec
            .get("exit_conditions")
            .and_then(|e| exit_conditions(&e))
            .or_else(|| self.job.exit.clone());
        if let Some(e) = exit {
            m.set("exit_conditions", Y::Map(e));
        }
    }
}
