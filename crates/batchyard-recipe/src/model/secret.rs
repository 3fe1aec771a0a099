use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A secret, written as `{env: NAME}` or `{keyvault: URL}`: the value itself never appears
/// in a recipe. Rendered output, plans and logs show only where it comes from. `validate`
/// checks the form of a Key Vault URL; `plan`, `apply` and `run` read every secret the
/// recipe uses before anything is changed, and one that cannot be read (an unset or empty
/// variable, a missing secret, no permission) is an error at its place, so a green plan
/// means apply will not fail on a secret. Rolling a key: see docs/cli.md, "Secrets and
/// rolling a key".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Secret {
    /// Read from this environment variable, which must be set and not empty.
    Env(#[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))] String),
    /// Read from this Azure Key Vault secret, `https://VAULT.vault.azure.net/secrets/NAME`
    /// (the latest version) or `.../NAME/VERSION`, with the credentials batchyard uses for
    /// Batch with Microsoft Entra ID; the identity needs the role "Key Vault Secrets User"
    /// on the vault, or a `get` permission on secrets in its access policies.
    Keyvault(
        #[schemars(regex(pattern = r"^https://"))]
        String,
    ),
}

impl std::fmt::Display for Secret {
    /// The redacted form used everywhere a secret would otherwise be printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Env(name) => write!(f, "(secret from env {name})"),
            Secret::Keyvault(url) => write!(f, "(secret from key vault {url})"),
        }
    }
}

/// A Key Vault secret's address, taken apart: the vault's URL, the secret's name and,
/// when the recipe pins one, its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVaultRef {
    /// `https://VAULT.vault.azure.net` (no trailing slash).
    pub vault_url: String,
    /// The secret's name.
    pub name: String,
    /// The secret's version; the latest one when absent.
    pub version: Option<String>,
}

impl KeyVaultRef {
    /// Parses a secret identifier as Key Vault shows it (`az keyvault secret show --query
    /// id`): `https://HOST/secrets/NAME` or `https://HOST/secrets/NAME/VERSION`. The host
    /// may be any domain (sovereign clouds have their own); names are 1-127 letters, digits
    /// and dashes, as Key Vault allows
    /// (<https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates#objects-identifiers-and-versioning>).
    pub fn parse(url: &str) -> Result<Self, String> {
        const FORM: &str =
            "write it as https://VAULT.vault.azure.net/secrets/NAME (or .../NAME/VERSION)";
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("a Key Vault secret URL starts with https://; {FORM}"))?;
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let mut parts = rest.trim_end_matches('/').split('/');
        let host = parts.next().unwrap_or_default();
        if host.is_empty() || !host.contains('.') {
            return Err(format!("`{url}` names no vault host; {FORM}"));
        }
        if parts.next() != Some("secrets") {
            return Err(format!(
                "`{url}` is not a secret's URL (no /secrets/); {FORM}"
            ));
        }
        let name = parts.next().unwrap_or_default();
        if !valid_name(name) {
            return Err(format!(
                "`{name}` is not a Key Vault secret name (1-127 letters, digits and dashes); {FORM}"
            ));
        }
        let version = parts.next().map(str::to_owned);
        if let Some(v) = &version
            && !v.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(format!(
                "`{v}` is not a secret version (letters and digits); {FORM}"
            ));
        }
        if parts.next().is_some() {
            return Err(format!(
                "`{url}` has more after the secret's version; {FORM}"
            ));
        }
        Ok(Self {
            vault_url: format!("https://{host}"),
            name: name.to_owned(),
            version,
        })
    }
}

fn valid_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::KeyVaultRef;

    #[test]
    fn parses_the_forms_key_vault_uses() {
        let latest =
            KeyVaultRef::parse("https://my-vault.vault.azure.net/secrets/db-pass").unwrap();
        assert_eq!(latest.vault_url, "https://my-vault.vault.azure.net");
        assert_eq!(latest.name, "db-pass");
        assert_eq!(latest.version, None);
        let pinned = KeyVaultRef::parse(
            "https://my-vault.vault.azure.net/secrets/db-pass/0123456789abcdef0123456789abcdef",
        )
        .unwrap();
        assert_eq!(
            pinned.version.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert!(KeyVaultRef::parse("https://v.vault.azure.net/secrets/x/").is_ok());
    }

    #[test]
    fn rejects_what_is_not_a_secret_url() {
        for bad in [
            "http://v.vault.azure.net/secrets/x",
            "https://v.vault.azure.net/keys/x",
            "https://v.vault.azure.net/secrets/",
            "https://v.vault.azure.net/secrets/bad_name",
            "https://v.vault.azure.net/secrets/x/v1/extra",
            "https://v.vault.azure.net/secrets/x/not-a-version",
            "https:///secrets/x",
        ] {
            let e = KeyVaultRef::parse(bad).unwrap_err();
            assert!(
                e.contains("https://VAULT.vault.azure.net/secrets/NAME"),
                "{bad}: {e}"
            );
        }
    }
}
