use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A secret, written as `{env: NAME}` or `{keyvault: URL}`: the value itself never appears
/// in a recipe. Rendered output, plans and logs show only where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Secret {
    /// Read from this environment variable when the recipe is applied.
    Env(#[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))] String),
    /// Read from this Azure Key Vault secret URL when the recipe is applied.
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
