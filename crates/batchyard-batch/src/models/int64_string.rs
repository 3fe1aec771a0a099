//! `int64` values that the spec sends as JSON strings (`"type": "string", "format":
//! "int64"`, e.g. `contentLength`, `readIOps`). Serialized as strings like the service
//! does; a plain JSON number is accepted too, because being strict here would only make
//! responses fail to parse.

use serde::{Deserialize, Deserializer, Serializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrNumber<'a> {
    Number(i64),
    String(std::borrow::Cow<'a, str>),
}

impl StringOrNumber<'_> {
    fn into_i64<E: serde::de::Error>(self) -> Result<i64, E> {
        match self {
            StringOrNumber::Number(n) => Ok(n),
            StringOrNumber::String(s) => s
                .trim()
                .parse()
                .map_err(|_| E::custom(format!("expected an integer in a string, found {s:?}"))),
        }
    }
}

pub(crate) fn serialize<S: Serializer>(value: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    StringOrNumber::deserialize(deserializer)?.into_i64()
}
