//! Service SAS tokens signed with the emulator's storage key, for its own nodes (the
//! `autoStorageContainerName` resource files) and for tests. The string-to-sign is the
//! one documented for version 2020-12-06 and later
//! (<https://learn.microsoft.com/rest/api/storageservices/create-service-sas>).

use std::time::SystemTime;

use crate::api::shared_key::sign;

/// The `sv` tokens are signed for.
pub const SAS_VERSION: &str = "2024-08-04";

fn iso(time: SystemTime) -> String {
    let t = time::OffsetDateTime::from(time);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A service SAS query string (without `?`) for a container (`blob` None) or a blob.
pub fn service_sas(
    account: &str,
    key: &str,
    container: &str,
    blob: Option<&str>,
    permissions: &str,
    expiry: SystemTime,
) -> String {
    let se = iso(expiry);
    let (sr, resource) = match blob {
        Some(blob) => ("b", format!("/blob/{account}/{container}/{blob}")),
        None => ("c", format!("/blob/{account}/{container}")),
    };
    // sp, st, se, resource, si, sip, spr, sv, sr, snapshot, ses, rscc, rscd, rsce, rscl, rsct
    let string = [
        permissions,
        "",
        &se,
        &resource,
        "",
        "",
        "",
        SAS_VERSION,
        sr,
        "",
        "",
        "",
        "",
        "",
        "",
        "",
    ]
    .join("\n");
    let sig = sign(key, &string).unwrap_or_default();
    format!(
        "sv={SAS_VERSION}&sr={sr}&sp={}&se={}&sig={}",
        encode(permissions),
        encode(&se),
        encode(&sig)
    )
}
