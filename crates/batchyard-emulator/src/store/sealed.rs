//! Secret fields sealed at rest. The properties the Batch spec marks `x-ms-secret`
//! (registry, CIFS and user passwords, storage account and SAS keys, SSH private keys;
//! [`crate::api::odata::SECRET_PROPERTIES`]) are written to the database encrypted with
//! ChaCha20-Poly1305 under a key kept outside the state's folder
//! ([`crate::private_dir`]), and read in clear only by [`Sealer::open_value`], where the
//! engine needs one. The service never serves them back in any case.
//!
//! A sealed value is the string `sealed:v1:` + base64(nonce ‖ ciphertext ‖ tag); the
//! property's name is the associated data, so a value cannot be moved to another field.
//! Sealing happens in SQL (`batchyard_seal(doc)`, registered on the store's connection),
//! so every write of a document, whichever code makes it, goes through it.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit as _, Nonce};
use serde_json::Value;

use crate::api::odata::{SECRET_PROPERTIES, may_hold_secret};

/// What every sealed value starts with.
pub const PREFIX: &str = "sealed:v1:";
/// The key file's name in the private folder.
pub const KEY_FILE: &str = "store.key";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// Seals and opens secret fields with one state's key.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

/// A sealed value could not be opened: another key, or an edited database.
#[derive(Debug, thiserror::Error)]
#[error(
    "a sealed secret of the emulator state cannot be opened (the state was moved, or its key in the private folder replaced)"
)]
pub struct OpenError;

impl Sealer {
    /// The sealer of the state file `state`, its key read from (or made in) the
    /// private folder of that state.
    pub fn for_state(state: &std::path::Path) -> std::io::Result<Self> {
        Self::in_dir(&crate::private_dir::for_state(state)?)
    }

    /// The sealer whose key is the file [`KEY_FILE`] of `dir`, made when missing.
    pub fn in_dir(dir: &std::path::Path) -> std::io::Result<Self> {
        let key = crate::private_dir::read_or_make(
            dir,
            KEY_FILE,
            |bytes| bytes.len() == KEY_LEN,
            || rand::random::<[u8; KEY_LEN]>().to_vec(),
        )?;
        Ok(Self::with_key(&key))
    }

    fn with_key(key: &[u8]) -> Self {
        let mut bytes = [0u8; KEY_LEN];
        bytes.copy_from_slice(&key[..KEY_LEN]);
        Self {
            cipher: ChaCha20Poly1305::new(&Key::from(bytes)),
        }
    }

    /// `doc` (a document's JSON text) with every secret property's value sealed; values
    /// already sealed are kept. Text without a secret property comes back unparsed.
    pub fn seal_text(&self, doc: &str) -> Result<String, serde_json::Error> {
        if !may_hold_secret(doc) {
            return Ok(doc.to_owned());
        }
        let mut value: Value = serde_json::from_str(doc)?;
        self.seal_value(&mut value);
        serde_json::to_string(&value)
    }

    /// Seals every secret property of `value`, wherever it is.
    pub fn seal_value(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if SECRET_PROPERTIES.contains(&key.as_str()) {
                        if let Value::String(text) = v
                            && !text.starts_with(PREFIX)
                        {
                            *text = self.seal(key, text);
                        }
                    } else {
                        self.seal_value(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.seal_value(v)),
            _ => {}
        }
    }

    fn seal(&self, property: &str, clear: &str) -> String {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let payload = Payload {
            msg: clear.as_bytes(),
            aad: property.as_bytes(),
        };
        // Encryption fails only for messages beyond ChaCha20's 256 GiB limit.
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }

    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "the engine reads no secret yet (it logs in to no registry)"
        )
    )]
    /// The clear value of the secret property `property` as stored (`stored` sealed, or
    /// in clear from a database written before sealing).
    pub fn open_value(&self, property: &str, stored: &str) -> Result<String, OpenError> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| OpenError)?;
        if bytes.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(nonce);
        let clear = self
            .cipher
            .decrypt(
                &Nonce::from(n),
                Payload {
                    msg: sealed,
                    aad: property.as_bytes(),
                },
            )
            .map_err(|_| OpenError)?;
        String::from_utf8(clear).map_err(|_| OpenError)
    }

    /// Registers `batchyard_seal(text)` on `conn`: the document text with its secret
    /// properties sealed.
    pub fn register(&self, conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        let sealer = self.clone();
        conn.create_scalar_function(
            "batchyard_seal",
            1,
            rusqlite::functions::FunctionFlags::SQLITE_UTF8,
            move |ctx| {
                let text: String = ctx.get(0)?;
                sealer
                    .seal_text(&text)
                    .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_properties_are_sealed_and_open_again() {
        let dir = tempfile::tempdir().unwrap();
        let sealer = Sealer::in_dir(dir.path()).unwrap();
        let doc = json!({
            "id": "p",
            "virtualMachineConfiguration": {"containerConfiguration": {"containerRegistries": [
                {"registryServer": "r.io", "username": "u", "password": "pw-clear-1"}]}},
            "mountConfiguration": [{"azureBlobFileSystemConfiguration":
                {"accountName": "a", "sasKey": "sv=1&sig=clear", "containerName": "c"}}],
        });
        let sealed = sealer.seal_text(&doc.to_string()).unwrap();
        assert!(
            !sealed.contains("pw-clear-1") && !sealed.contains("sig=clear"),
            "{sealed}"
        );
        assert!(sealed.contains("\"username\":\"u\""), "{sealed}");
        // Sealing twice keeps the sealed value.
        assert_eq!(sealer.seal_text(&sealed).unwrap(), sealed);
        let back: Value = serde_json::from_str(&sealed).unwrap();
        let password = back
            .pointer("/virtualMachineConfiguration/containerConfiguration/containerRegistries/0/password")
            .and_then(Value::as_str)
            .unwrap();
        assert_eq!(
            sealer.open_value("password", password).unwrap(),
            "pw-clear-1"
        );
        // Bound to its property and to its key.
        assert!(sealer.open_value("accountKey", password).is_err());
        let other = tempfile::tempdir().unwrap();
        let other = Sealer::in_dir(other.path()).unwrap();
        assert!(other.open_value("password", password).is_err());
        // The same key file gives the same sealer.
        let again = Sealer::in_dir(dir.path()).unwrap();
        assert_eq!(
            again.open_value("password", password).unwrap(),
            "pw-clear-1"
        );
        // Text without a secret property is left as it is.
        assert_eq!(
            sealer.seal_text(r#"{"id": "t"}"#).unwrap(),
            r#"{"id": "t"}"#
        );
    }
}
