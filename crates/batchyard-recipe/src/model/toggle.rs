use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `auto`, `true` or `false`: `auto` lets the VM size decide (GPU and RDMA settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Toggle {
    /// Follow what the VM size offers.
    #[default]
    Auto,
    /// Required: an error when the VM size lacks it.
    On,
    /// Not used, even when the VM size has it.
    Off,
}

impl Toggle {
    /// Resolves `auto` against what the hardware offers.
    pub fn resolve(self, available: bool) -> bool {
        match self {
            Toggle::Auto => available,
            Toggle::On => true,
            Toggle::Off => false,
        }
    }
}

impl Serialize for Toggle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Toggle::Auto => s.serialize_str("auto"),
            Toggle::On => s.serialize_bool(true),
            Toggle::Off => s.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for Toggle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Toggle;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`auto`, `true` or `false`")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Toggle, E> {
                Ok(if v { Toggle::On } else { Toggle::Off })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Toggle, E> {
                match v {
                    "auto" => Ok(Toggle::Auto),
                    other => Err(E::invalid_value(serde::de::Unexpected::Str(other), &self)),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl JsonSchema for Toggle {
    fn schema_name() -> Cow<'static, str> {
        "Toggle".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`auto` (follow the VM size), `true` (required) or `false` (not used).",
            "anyOf": [{ "type": "boolean" }, { "const": "auto" }],
            "default": "auto"
        })
    }
}
