//! Checks made before apply that the plan's actions alone do not show: whether the
//! account's core quota can hold the pools (read through the Batch management API, which
//! the data plane has no equivalent of), and whether a pool's image or node agent is past
//! or near its Batch end of life (`GET /supportedimages`, `batchSupportEndOfLife`).

use std::sync::Arc;

use batchyard_batch::auth::{Authenticator, EntraIdAuth, NoAuth};
use batchyard_batch::{BatchClient, ListOptions};
use batchyard_reconcile::Intent;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::target::TargetInfo;

/// Warn this many days ahead of an end of life: Microsoft announces Batch image and agent
/// retirements at least a year ahead, the time a team needs to move.
const EOL_WARN_DAYS: i64 = 365;

/// The management API's scope for Entra ID tokens.
const MANAGEMENT_SCOPE: &str = "https://management.azure.com/.default";

/// `Microsoft.Batch/batchAccounts` API version read.
const MANAGEMENT_API_VERSION: &str = "2024-07-01";

/// The management endpoint (tests point it at a local server).
pub const MANAGEMENT_URL_ENV: &str = "BATCHYARD_MANAGEMENT_URL";

/// What the checks found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Preflight {
    /// Things that will make apply fail or the pools fall short.
    pub warnings: Vec<String>,
    /// Checks that could not be made, and why.
    pub notes: Vec<String>,
}

impl Preflight {
    /// Nothing to say.
    pub fn is_empty(&self) -> bool {
        self.warnings.is_empty() && self.notes.is_empty()
    }
}

/// Runs both checks.
pub async fn check(
    client: &BatchClient,
    info: &TargetInfo,
    account_resource_id: Option<&str>,
    intent: &Intent,
) -> Preflight {
    let mut out = Preflight::default();
    end_of_life(client, intent, &batchyard_cost::cache::today(), &mut out).await;
    quota(info, account_resource_id, intent, &mut out).await;
    out
}

/// Warns for each pool whose image and node agent the service dates as past or near
/// their end of support.
async fn end_of_life(client: &BatchClient, intent: &Intent, today: &str, out: &mut Preflight) {
    let mut images = Vec::new();
    let mut listing = client.list_supported_images(&ListOptions::default());
    while let Some(item) = listing.next().await {
        match item {
            Ok(image) => images.push(image),
            Err(e) => {
                out.notes.push(format!(
                    "image end of life not checked: GET /supportedimages failed: {e}"
                ));
                return;
            }
        }
    }
    let same = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    };
    for pool in &intent.pools {
        let Some(vm) = &pool.payload.virtual_machine_configuration else {
            continue;
        };
        let wanted = &vm.image_reference;
        let listed = images.iter().find(|i| {
            i.node_agent_sku_id
                .eq_ignore_ascii_case(&vm.node_agent_sku_id)
                && same(&i.image_reference.publisher, &wanted.publisher)
                && same(&i.image_reference.offer, &wanted.offer)
                && same(&i.image_reference.sku, &wanted.sku)
        });
        let Some(date) = listed.and_then(|i| i.batch_support_end_of_life.as_deref()) else {
            continue;
        };
        let day = date.get(..10).unwrap_or(date);
        let Some(left) = batchyard_cost::cache::days_between(today, day) else {
            continue;
        };
        let image = format!(
            "{}:{}:{}",
            wanted.publisher.as_deref().unwrap_or("?"),
            wanted.offer.as_deref().unwrap_or("?"),
            wanted.sku.as_deref().unwrap_or("?")
        );
        if left <= 0 {
            out.warnings.push(format!(
                "pool {}: Batch support for image {image} with node agent `{}` ended on {day} (GET /supportedimages): creating or growing the pool may fail; move it to a supported image",
                pool.id, vm.node_agent_sku_id
            ));
        } else if left <= EOL_WARN_DAYS {
            out.warnings.push(format!(
                "pool {}: Batch support for image {image} with node agent `{}` ends on {day}, in {left} days (GET /supportedimages)",
                pool.id, vm.node_agent_sku_id
            ));
        }
    }
}

/// The account's quotas, as the management API's `Microsoft.Batch/batchAccounts` GET
/// returns them under `properties` (`BatchAccountProperties` in Azure/azure-rest-api-specs
/// specification/batch/resource-manager/Microsoft.Batch/stable/2024-07-01/BatchManagement.json:
/// all four are read-only and, for `UserSubscription` accounts, not returned; the
/// per-family list may be null; when `dedicatedCoreQuotaPerVMFamilyEnforced` is true,
/// dedicated cores are limited by both the family list and the total, otherwise by the
/// total alone).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AccountQuotas {
    dedicated_core_quota: Option<u64>,
    low_priority_core_quota: Option<u64>,
    #[serde(rename = "dedicatedCoreQuotaPerVMFamily")]
    dedicated_core_quota_per_vm_family: Option<Vec<FamilyQuota>>,
    #[serde(rename = "dedicatedCoreQuotaPerVMFamilyEnforced")]
    dedicated_core_quota_per_vm_family_enforced: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FamilyQuota {
    name: String,
    core_quota: u64,
}

#[derive(Debug, Deserialize)]
struct Account {
    #[serde(default)]
    properties: AccountQuotas,
}

/// Compares the cores the recipe's fixed-size pools need with the account's quotas.
async fn quota(info: &TargetInfo, resource_id: Option<&str>, intent: &Intent, out: &mut Preflight) {
    let Some(resource_id) = resource_id.map(str::trim).filter(|r| !r.is_empty()) else {
        if info.kind == "endpoint" && info.url.contains(".batch.azure.com") {
            out.notes.push(
                "core quota not checked: give --account-resource-id (the Batch account's Azure resource id, /subscriptions/.../providers/Microsoft.Batch/batchAccounts/NAME) to read it through the management API".to_owned(),
            );
        }
        return;
    };
    let base = std::env::var(MANAGEMENT_URL_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "https://management.azure.com".to_owned());
    let base = base.trim_end_matches('/');
    if !base.starts_with("https://") && !crate::target::is_loopback(base) {
        out.notes.push(format!(
            "core quota not checked: {MANAGEMENT_URL_ENV} must be https (or this machine)"
        ));
        return;
    }
    let auth: Arc<dyn Authenticator> = if info.auth.starts_with("entra") {
        match EntraIdAuth::from_environment() {
            Ok(a) => Arc::new(a.with_scope(MANAGEMENT_SCOPE)),
            Err(e) => {
                out.notes.push(format!("core quota not checked: {e}"));
                return;
            }
        }
    } else if info.auth == "none" {
        Arc::new(NoAuth)
    } else {
        out.notes.push(
            "core quota not checked: the management API takes Microsoft Entra ID credentials, not the account's Shared Key (use --auth entra)".to_owned(),
        );
        return;
    };
    let url = format!(
        "{base}/{}?api-version={MANAGEMENT_API_VERSION}",
        resource_id.trim_start_matches('/')
    );
    let account = match get_account(&url, auth.as_ref()).await {
        Ok(a) => a,
        Err(note) => {
            out.notes.push(note);
            return;
        }
    };
    compare(&account.properties, intent, out);
}

async fn get_account(url: &str, auth: &dyn Authenticator) -> Result<Account, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .map_err(|e| format!("core quota not checked: {e}"))?;
    let mut request = client
        .get(url)
        .build()
        .map_err(|e| format!("core quota not checked: {e}"))?;
    auth.authorize(&mut request)
        .await
        .map_err(|e| format!("core quota not checked: no management token: {e}"))?;
    let response = client
        .execute(request)
        .await
        .map_err(|e| format!("core quota not checked: the management API did not answer: {e}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let code = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    match status.as_u16() {
        200 => serde_json::from_str(&body)
            .map_err(|e| format!("core quota not checked: the account could not be read: {e}")),
        401 | 403 => Err(format!(
            "core quota not checked: this principal may not read the Batch account through the management API (HTTP {} {code}); give it a role with Microsoft.Batch/batchAccounts/read on the account (Reader) to have plan check quotas",
            status.as_u16()
        )),
        404 => Err(format!(
            "core quota not checked: no Batch account at that --account-resource-id (HTTP 404 {code})"
        )),
        s => Err(format!(
            "core quota not checked: the management API answered HTTP {s} {code}"
        )),
    }
}

fn compare(q: &AccountQuotas, intent: &Intent, out: &mut Preflight) {
    let mut dedicated = Need::default();
    let mut spot = Need::default();
    // Dedicated cores per quota family, keyed as `family_key` spells it.
    let mut families: std::collections::BTreeMap<String, (String, Need)> = Default::default();
    for pool in &intent.pools {
        let p = &pool.payload;
        if p.enable_auto_scale == Some(true) {
            out.notes.push(format!(
                "pool {}: autoscale, its cores are not counted against the quota (the formula sets its size)",
                pool.id
            ));
            continue;
        }
        let Some(size) = pool.facts.size else {
            out.notes.push(format!(
                "pool {}: {} is not in batchyard's catalogue, its cores are not counted against the quota",
                pool.id, p.vm_size
            ));
            continue;
        };
        let n = |v: Option<i32>| v.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        let d = n(p.target_dedicated_nodes) * u64::from(size.vcpus);
        let s = n(p.target_low_priority_nodes) * u64::from(size.vcpus);
        dedicated.add(&pool.id, d);
        spot.add(&pool.id, s);
        if d == 0 || !q.dedicated_core_quota_per_vm_family_enforced {
            continue;
        }
        match &size.quota_family {
            Some(family) => families
                .entry(family_key(family))
                .or_insert_with(|| (family.clone(), Need::default()))
                .1
                .add(&pool.id, d),
            None => out.notes.push(format!(
                "pool {}: batchyard does not know which VM family {} counts against, its cores were checked against the account's total only",
                pool.id, size.name
            )),
        }
    }
    let advice = "nodes beyond it are not allocated (resize error AccountCoreQuotaReached); lower the node counts or ask for more quota";
    if let Some(have) = q.dedicated_core_quota
        && dedicated.cores > have
    {
        out.warnings.push(format!(
            "dedicated core quota: the recipe's pools need {} cores ({}), the account's quota is {have}: {advice}",
            dedicated.cores,
            dedicated.parts()
        ));
    }
    if let Some(have) = q.low_priority_core_quota
        && spot.cores > have
    {
        out.warnings.push(format!(
            "spot (low-priority) core quota: the recipe's pools need {} cores ({}), the account's quota is {have}: {advice}",
            spot.cores,
            spot.parts()
        ));
    }
    for (key, (name, need)) in &families {
        let listed = q
            .dedicated_core_quota_per_vm_family
            .iter()
            .flatten()
            .find(|f| family_key(&f.name) == *key);
        match listed {
            Some(f) if need.cores > f.core_quota => out.warnings.push(format!(
                "dedicated core quota of VM family {}: the recipe's pools need {} cores ({}), the account's quota for the family is {}: {advice}",
                f.name,
                need.cores,
                need.parts(),
                f.core_quota
            )),
            Some(_) => {}
            None => out.notes.push(format!(
                "VM family {name}: the account enforces dedicated core quotas per VM family but lists none for it ({} cores needed: {}); check the account's quotas",
                need.cores,
                need.parts()
            )),
        }
    }
}

/// Cores a set of pools needs, and which pools need them.
#[derive(Debug, Default)]
struct Need {
    cores: u64,
    pools: Vec<String>,
}

impl Need {
    fn add(&mut self, pool: &str, cores: u64) {
        if cores > 0 {
            self.cores += cores;
            self.pools.push(format!("pool {pool} {cores}"));
        }
    }

    fn parts(&self) -> String {
        self.pools.join(", ")
    }
}

/// Azure spells one family `standardNCASv3_T4Family`, `StandardNCASv3_T4Family` or
/// `Standard NCASv3_T4 Family` depending on the API: compare without case or spaces.
fn family_key(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_match_however_azure_spells_them() {
        assert_eq!(
            family_key("Standard NCASv3_T4 Family"),
            family_key("standardNCASv3_T4Family")
        );
        assert_ne!(
            family_key("standardDSv5Family"),
            family_key("standardDSv3Family")
        );
    }
}
