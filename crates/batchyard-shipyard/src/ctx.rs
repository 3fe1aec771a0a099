//! What a conversion accumulates: findings, env variables, and which keys were handled, so
//! that any key left over is reported instead of silently dropped.

use std::collections::HashSet;

use crate::doc::V;
use crate::finding::{EnvVar, Finding, Severity};

#[derive(Debug, Default)]
pub struct Ctx {
    pub findings: Vec<Finding>,
    pub env: Vec<EnvVar>,
    /// Template variables the user must give (`--var NAME=VALUE`), with what they hold.
    pub vars: Vec<EnvVar>,
    /// A job asked for auto scratch, so the pool needs the NFS export that stands in for it.
    pub scratch_used: bool,
    /// The storage container the set's data keys use (the recipe's `storage`).
    pub storage: Option<crate::data::StorageUse>,
}

impl Ctx {
    pub fn warn(&mut self, v: &V<'_>, message: impl Into<String>, instead: Option<&str>) {
        self.push(v, Severity::Warning, message, instead);
    }

    pub fn error(&mut self, v: &V<'_>, message: impl Into<String>, instead: Option<&str>) {
        self.push(v, Severity::Error, message, instead);
    }

    fn push(
        &mut self,
        v: &V<'_>,
        severity: Severity,
        message: impl Into<String>,
        instead: Option<&str>,
    ) {
        let mut f = v.finding(severity, message);
        f.instead = instead.map(str::to_owned);
        self.findings.push(f);
    }

    pub fn env(&mut self, name: &str, purpose: impl Into<String>) {
        if !self.env.iter().any(|e| e.name == name) {
            self.env.push(EnvVar {
                name: name.to_owned(),
                purpose: purpose.into(),
            });
        }
    }

    pub fn var(&mut self, name: &str, purpose: impl Into<String>) {
        if !self.vars.iter().any(|e| e.name == name) {
            self.vars.push(EnvVar {
                name: name.to_owned(),
                purpose: purpose.into(),
            });
        }
    }

    /// Reports every key of `v` that is neither in `handled` nor null, as not carried over.
    pub fn leftovers(&mut self, v: &V<'_>, handled: &[&str]) {
        let handled: HashSet<&str> = handled.iter().copied().collect();
        for (key, child) in v.entries() {
            if handled.contains(key.as_str()) || child.scalar().is_some_and(|s| s.is_null()) {
                continue;
            }
            self.warn(
                &child,
                format!("`{key}` has no batchyard equivalent and was not carried over"),
                Some("a raw `batch:` block on the pool, job or task for Batch fields the recipe does not model"),
            );
        }
    }
}
