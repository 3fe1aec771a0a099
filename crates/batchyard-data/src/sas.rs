//! Service SAS tokens for a container, signed with the account key.
//!
//! The string to sign is the one of Azure Storage's "Create a service SAS" for versions
//! 2020-12-06 and later (blob service): permissions, start, expiry, canonicalized resource
//! `/blob/ACCOUNT/CONTAINER`, identifier, IP, protocol, version, resource, snapshot time,
//! encryption scope and the five response-header overrides, joined by `\n`; the signature
//! is base64(HMAC-SHA256(key, string)). The same layout is used by Microsoft's Python
//! package (`azure.storage.blob._shared_access_signature`), which the emulator's tests
//! use to check this.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use time::OffsetDateTime;
use time::format_description::well_known::Iso8601;

/// The service version the tokens are signed for.
pub const SAS_VERSION: &str = "2022-11-02";

/// A container SAS: what it grants and until when.
#[derive(Debug, Clone)]
pub struct ContainerSas<'a> {
    /// The storage account's name.
    pub account: &'a str,
    /// The container's name.
    pub container: &'a str,
    /// Permissions in the service's order, e.g. `r`, `rl`, `racwl`.
    pub permissions: &'a str,
    /// When it stops working.
    pub expiry: OffsetDateTime,
}

impl ContainerSas<'_> {
    /// The query string (without `?`) signed with `key` (the decoded account key).
    pub fn sign(&self, key: &[u8]) -> String {
        let expiry = iso_seconds(self.expiry);
        let resource = format!("/blob/{}/{}", self.account, self.container);
        // sp, st, se, resource, si, sip, spr, sv, sr, snapshot, ses, rscc, rscd, rsce, rscl, rsct
        let fields = [
            self.permissions,
            "",
            &expiry,
            &resource,
            "",
            "",
            "",
            SAS_VERSION,
            "c",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ];
        let to_sign = fields.join("\n");
        let signature = sign(key, &to_sign);
        format!(
            "sv={SAS_VERSION}&sr=c&sp={}&se={}&sig={}",
            encode(self.permissions),
            encode(&expiry),
            encode(&signature)
        )
    }
}

/// An account SAS for the blob service, container and object level: what batchyard's own
/// requests use with an account key (creating a container needs more than a container
/// SAS). String to sign for version 2020-12-06 and later ("Create an account SAS"):
/// account, permissions, services, resource types, start, expiry, IP, protocol, version
/// and encryption scope, each followed by `\n`.
#[derive(Debug, Clone)]
pub struct AccountSas<'a> {
    /// The storage account's name.
    pub account: &'a str,
    /// Permissions in the service's order, e.g. `racwdl`.
    pub permissions: &'a str,
    /// When it stops working.
    pub expiry: OffsetDateTime,
}

impl AccountSas<'_> {
    /// The query string (without `?`) signed with `key` (the decoded account key).
    pub fn sign(&self, key: &[u8]) -> String {
        let expiry = iso_seconds(self.expiry);
        let to_sign = format!(
            "{}\n{}\nb\nco\n\n{expiry}\n\n\n{SAS_VERSION}\n\n",
            self.account, self.permissions
        );
        let signature = sign(key, &to_sign);
        format!(
            "sv={SAS_VERSION}&ss=b&srt=co&sp={}&se={}&sig={}",
            encode(self.permissions),
            encode(&expiry),
            encode(&signature)
        )
    }
}

fn sign(key: &[u8], text: &str) -> String {
    // HMAC accepts keys of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(text.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// `2026-12-03T10:00:00Z`: whole seconds, as the service writes them.
fn iso_seconds(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(&Iso8601::DEFAULT).map_or_else(
        |_| String::new(),
        |s| {
            // Iso8601::DEFAULT writes `2026-12-03T10:00:00.000000000Z`.
            match s.split_once('.') {
                Some((head, _)) => format!("{head}Z"),
                None => s,
            }
        },
    )
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query string with its `sig` value replaced, for logs and errors.
pub fn redact(query: &str) -> String {
    query
        .split('&')
        .map(|kv| {
            if kv.starts_with("sig=") {
                "sig=REDACTED"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `text` with the value of every `sig=` parameter replaced (error messages may quote a
/// request URL).
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("sig=") {
        out.push_str(&rest[..at + 4]);
        out.push_str("REDACTED");
        let tail = &rest[at + 4..];
        let end = tail
            .find(|c: char| c == '&' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently with Python's hmac and base64 modules.
    const ACCOUNT_SIG: &str = "1upTnIFL7pQJmLztAnLN34+/yXemBGjYuxBJcB4f8hA=";

    #[test]
    fn the_account_sas_signs_the_documented_layout() {
        let expiry = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let q = AccountSas {
            account: "acct",
            permissions: "racwdl",
            expiry,
        }
        .sign(b"not-a-real-key");
        // python3: base64(hmac(key, "acct\nracwdl\nb\nco\n\n2027-01-15T08:00:00Z\n\n\n2022-11-02\n\n", sha256))
        let sts = "acct\nracwdl\nb\nco\n\n2027-01-15T08:00:00Z\n\n\n2022-11-02\n\n";
        assert_eq!(sign(b"not-a-real-key", sts), ACCOUNT_SIG);
        assert!(q.ends_with(&format!("&sig={}", encode(ACCOUNT_SIG))), "{q}");
        assert!(q.starts_with("sv=2022-11-02&ss=b&srt=co&sp=racwdl&se=2027-01-15T08%3A00%3A00Z"));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_documented_layout() {
        let key = b"not-a-real-key";
        let expiry = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let sas = ContainerSas {
            account: "acct",
            container: "data",
            permissions: "rl",
            expiry,
        };
        let q = sas.sign(key);
        let expected_sts =
            "rl\n\n2027-01-15T08:00:00Z\n/blob/acct/data\n\n\n\n2022-11-02\nc\n\n\n\n\n\n\n";
        assert_eq!(expected_sts.split('\n').count(), 16);
        let sig = sign(key, expected_sts);
        // Computed independently: python3 hmac.new(key, sts, sha256), base64.
        assert_eq!(sig, "H9uKswN02Xqu5Jj1x4C4uzqaToH2Pt5ZzADfPyiETGI=");
        assert_eq!(
            q,
            format!(
                "sv=2022-11-02&sr=c&sp=rl&se=2027-01-15T08%3A00%3A00Z&sig={}",
                encode(&sig)
            )
        );
        assert!(redact(&q).ends_with("sig=REDACTED"));
        assert_eq!(
            redact_text("GET http://x/c?sv=1&sig=abc%2F&sp=r failed"),
            "GET http://x/c?sv=1&sig=REDACTED&sp=r failed"
        );
        assert!(!redact(&q).contains(&encode(&sig)));
    }
}
