//! A local server that speaks the Key Vault secrets protocol over TLS, and a managed
//! identity token endpoint, so that batchyard's real Key Vault client (Microsoft's
//! `azure_security_keyvault_secrets`) and its real credential chain are exercised end to
//! end.
//!
//! The protocol, from Microsoft's public documentation:
//! - Get Secret: `GET {vault}/secrets/{name}/{version}?api-version=...`, 200 with
//!   `{"value", "id", "attributes"}`
//!   (<https://learn.microsoft.com/rest/api/keyvault/secrets/get-secret/get-secret>);
//! - errors are `{"error": {"code", "message"}}`: `SecretNotFound` with 404, `Forbidden`
//!   with 403 (<https://learn.microsoft.com/azure/key-vault/general/rest-error-codes>);
//! - a request without a token gets 401 and `WWW-Authenticate: Bearer
//!   authorization="https://login.microsoftonline.com/{tenant}",
//!   resource="https://vault.azure.net"`
//!   (<https://learn.microsoft.com/azure/key-vault/general/authentication-requests-and-responses>);
//! - the App Service managed identity endpoint: `GET {IDENTITY_ENDPOINT}?resource=...&api-version=2019-08-01`
//!   with header `X-IDENTITY-HEADER`, answering `{"access_token", "expires_on" (unix
//!   seconds, as a string), "resource", "token_type"}`
//!   (<https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference>).
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// The vault's host name; the client connects to the local port instead
/// (`BATCHYARD_KEYVAULT_RESOLVE`) and trusts the test CA (`BATCHYARD_KEYVAULT_CA_FILE`).
pub const VAULT_HOST: &str = "byvault.vault.azure.net";
const TOKEN: &str = "test-token-for-key-vault";
const IDENTITY_HEADER: &str = "test-identity-header";

#[derive(Default)]
struct Vault {
    /// name → value.
    secrets: HashMap<String, String>,
    /// Names this identity may not read.
    forbidden: Vec<String>,
    /// Secret reads that reached the secret (with a valid token), by name.
    reads: HashMap<String, usize>,
}

/// The running servers; they stop with the test process.
pub struct KeyVaultServer {
    runtime: tokio::runtime::Runtime,
    vault: Arc<Mutex<Vault>>,
    vault_addr: SocketAddr,
    identity_addr: SocketAddr,
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl KeyVaultServer {
    /// Serves `secrets` (name, value); reading a name in `forbidden` answers 403.
    pub fn start(secrets: &[(&str, &str)], forbidden: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "batchyard test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec![VAULT_HOST.to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();

        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let vault = Arc::new(Mutex::new(Vault {
            secrets: secrets
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            forbidden: forbidden.iter().map(|s| (*s).to_owned()).collect(),
            ..Vault::default()
        }));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (vault_addr, identity_addr) = runtime.block_on(async {
            let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let vault_addr = tcp.local_addr().unwrap();
            let app = Router::new().fallback(get_secret).with_state(vault.clone());
            tokio::spawn(async move {
                axum::serve(TlsListener { tcp, acceptor }, app)
                    .await
                    .unwrap();
            });
            let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let identity_addr = tcp.local_addr().unwrap();
            let app = Router::new().route("/msi/token", axum::routing::get(token));
            tokio::spawn(async move {
                axum::serve(tcp, app).await.unwrap();
            });
            (vault_addr, identity_addr)
        });
        Self {
            runtime,
            vault,
            vault_addr,
            identity_addr,
            ca_file,
            _dir: dir,
        }
    }

    /// `{keyvault: URL}` for a secret of this vault.
    pub fn url(&self, name: &str) -> String {
        format!("https://{VAULT_HOST}/secrets/{name}")
    }

    /// The environment that points batchyard at this vault, with the managed identity
    /// endpoint as the credential chain's source of tokens.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "BATCHYARD_KEYVAULT_CA_FILE",
                self.ca_file.display().to_string(),
            ),
            (
                "BATCHYARD_KEYVAULT_RESOLVE",
                format!("{VAULT_HOST}={}", self.vault_addr),
            ),
            (
                "IDENTITY_ENDPOINT",
                format!("http://{}/msi/token", self.identity_addr),
            ),
            ("IDENTITY_HEADER", IDENTITY_HEADER.to_owned()),
        ]
    }

    /// How many times `name` was read with a valid token.
    pub fn reads(&self, name: &str) -> usize {
        let _ = &self.runtime;
        self.vault
            .lock()
            .unwrap()
            .reads
            .get(name)
            .copied()
            .unwrap_or(0)
    }
}

/// A TCP listener that hands axum TLS streams.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that refuses the certificate ends its handshake; wait for the next.
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        json!({"error": {"code": code, "message": message}}).to_string(),
    )
        .into_response()
}

async fn get_secret(
    State(vault): State<Arc<Mutex<Vault>>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TOKEN}"));
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            [(
                "www-authenticate",
                "Bearer authorization=\"https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000\", resource=\"https://vault.azure.net\"",
            )],
            json!({"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}}).to_string(),
        )
            .into_response();
    }
    if !uri.query().is_some_and(|q| q.contains("api-version=")) {
        return error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            "The api-version query parameter is missing".into(),
        );
    }
    let path: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let (name, version) = match path.as_slice() {
        ["secrets", name] => (*name, None),
        ["secrets", name, version] => (*name, Some(*version)),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("no such operation: {}", uri.path()),
            );
        }
    };
    let mut vault = vault.lock().unwrap();
    *vault.reads.entry(name.to_owned()).or_default() += 1;
    if vault.forbidden.iter().any(|f| f == name) {
        return error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "Caller is not authorized to perform action on resource. Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action' Resource: '{name}'"
            ),
        );
    }
    let Some(value) = vault.secrets.get(name) else {
        return error(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            format!("A secret with (name/id) {name} was not found in this key vault."),
        );
    };
    let version = version.unwrap_or("0123456789abcdef0123456789abcdef");
    (
        StatusCode::OK,
        [("content-type", "application/json; charset=utf-8")],
        json!({
            "value": value,
            "id": format!("https://{VAULT_HOST}/secrets/{name}/{version}"),
            "attributes": {
                "enabled": true,
                "created": 1_700_000_000,
                "updated": 1_700_000_000,
                "recoveryLevel": "Recoverable+Purgeable",
                "recoverableDays": 90
            }
        })
        .to_string(),
    )
        .into_response()
}

async fn token(headers: HeaderMap, Query(query): Query<HashMap<String, String>>) -> Response {
    if headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok())
        != Some(IDENTITY_HEADER)
    {
        return (StatusCode::BAD_REQUEST, "missing X-IDENTITY-HEADER").into_response();
    }
    if query.get("resource").map(String::as_str) != Some("https://vault.azure.net") {
        return (StatusCode::BAD_REQUEST, "unknown resource").into_response();
    }
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        json!({
            "access_token": TOKEN,
            "expires_on": expires.to_string(),
            "resource": "https://vault.azure.net",
            "token_type": "Bearer"
        })
        .to_string(),
    )
        .into_response()
}
