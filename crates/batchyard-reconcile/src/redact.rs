//! Secret-bearing values blanked out of what plans show. The target's answers are not
//! trusted to leave secrets out (an emulator, a proxy or a future API version may return
//! an account key), so every live value passes through here before it reaches a plan.

use serde_json::Value;

/// What a redacted value reads as.
pub const REDACTED: &str = "(redacted)";

/// Keys (compared without case) whose values are secrets in the Batch API: storage account
/// keys and SAS of mounts, registry and user account passwords, and their kin.
const SECRET_KEYS: &[&str] = &[
    "password",
    "accountkey",
    "saskey",
    "sastoken",
    "secret",
    "clientsecret",
    "accesskey",
    "connectionstring",
    "primarykey",
    "secondarykey",
];

/// Whether values under `key` are secrets.
pub fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k))
}

/// Blanks, in place, every value under a secret key, and the query of every URL that
/// carries a SAS signature (`sig=`). Placeholders the recipe wrote (`(secret from env
/// NAME)`) are no secret and stay, so plans still say where a value comes from.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_secret_key(key) && !is_placeholder(v) && !v.is_null() {
                    *v = Value::String(REDACTED.into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::String(text) => {
            if let Some(clean) = without_sas(text) {
                *text = clean;
            }
        }
        _ => {}
    }
}

fn is_placeholder(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.starts_with("(secret from ") && s.ends_with(')'))
}

/// A URL with a SAS (`sig=` in its query) without its query; `None` for anything else.
fn without_sas(text: &str) -> Option<String> {
    let (base, query) = text.split_once('?')?;
    let signed = query
        .split('&')
        .any(|p| p.len() > 4 && p[..4].eq_ignore_ascii_case("sig="));
    signed.then(|| format!("{base}?(SAS redacted)"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_passwords_and_sas_are_blanked_and_placeholders_kept() {
        let mut v = json!({
            "mountConfiguration": [{
                "azureFileShareConfiguration": { "accountName": "acct", "accountKey": "a2V5" },
                "azureBlobFileSystemConfiguration": { "sasKey": "sv=2024&sig=abc" }
            }],
            "containerConfiguration": { "containerRegistries": [
                { "registryServer": "r.io", "username": "u", "password": "hunter2" },
                { "registryServer": "s.io", "password": "(secret from env ACR)" }
            ]},
            "userAccounts": [{ "name": "admin", "Password": "p" }],
            "resourceFiles": [{ "httpUrl": "https://a.blob.core.windows.net/c/f?sv=1&SIG=xyz" }],
            "plain": "https://example.com/x?y=1"
        });
        redact(&mut v);
        let text = v.to_string();
        for secret in ["a2V5", "sig=abc", "hunter2", "\"p\"", "xyz"] {
            assert!(!text.contains(secret), "{secret} left in {text}");
        }
        assert_eq!(
            v["containerConfiguration"]["containerRegistries"][1]["password"],
            "(secret from env ACR)"
        );
        assert_eq!(v["plain"], "https://example.com/x?y=1");
        assert_eq!(
            v["resourceFiles"][0]["httpUrl"],
            "https://a.blob.core.windows.net/c/f?(SAS redacted)"
        );
    }
}
