//! Shared pieces of the OData protocol: list paging with skip tokens, `$filter`,
//! `$select`, entity tags and the response shapes.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiResult};
use super::filter::{self, Filter};
use super::projection;
use crate::store::docs::{self, Table};
use crate::store::{Store, StoreError};

/// Query parameters of a request.
pub type Params = HashMap<String, String>;

tokio::task_local! {
    /// `http://host:port` of the emulator answering this request. Stored documents
    /// hold their URLs as paths, so they stay right when the emulator restarts on
    /// another port.
    pub static BASE_URL: String;
}

/// Prefixes every URL field held as a path (`url`, `nodeUrl`, ...) with the base URL.
pub fn absolute_urls(value: &mut Value) {
    let base = BASE_URL.try_with(Clone::clone).unwrap_or_default();
    absolutize(value, &base);
}

/// `url`, `nodeUrl`, `taskRootDirectoryUrl`...: compared without allocating, as
/// every key of every served document passes here.
fn names_a_url(key: &str) -> bool {
    key.len() >= 3 && key.as_bytes()[key.len() - 3..].eq_ignore_ascii_case(b"url")
}

pub(super) fn absolutize(value: &mut Value, base: &str) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                match field {
                    Value::String(text) if names_a_url(key) && text.starts_with('/') => {
                        *text = format!("{base}{text}");
                    }
                    _ => absolutize(field, base),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| absolutize(item, base)),
        _ => {}
    }
}

const JSON_TYPE: &str = "application/json;odata=minimalmetadata";

/// Parses a request body as a JSON object.
pub fn body_object(body: &[u8]) -> ApiResult<Value> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::invalid_body(e.to_string()))?;
    if !value.is_object() {
        return Err(ApiError::invalid_body(
            "the request body must be a JSON object",
        ));
    }
    Ok(value)
}

/// Checks a request body against the operation's model from the Batch spec
/// (`BatchPoolCreateOptions`, `BatchTaskCreateOptions`, ...): wrong types and missing
/// required properties are the client's error. The body itself is kept as sent, so
/// properties the emulator does not act on still read back unchanged.
pub fn check_model<'a, T: serde::Deserialize<'a>>(body: &'a Value) -> ApiResult<()> {
    match T::deserialize(body) {
        Ok(_) => Ok(()),
        Err(err) => {
            let text = err.to_string();
            match text
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
            {
                Some(field) => Err(ApiError::missing_property(field)),
                None => Err(ApiError::invalid_body(text)),
            }
        }
    }
}

/// Properties the spec marks `x-ms-secret` (BatchService.json: registry and CIFS
/// passwords, user account passwords, storage account keys, SAS keys, SSH private
/// keys): write-only, "not returned in GET responses" by the service. No other
/// property of any Batch model has one of these names, so they are removed wherever
/// they occur.
pub const SECRET_PROPERTIES: &[&str] = &["password", "accountKey", "sasKey", "sshPrivateKey"];

/// Whether a stored JSON text may hold a secret property (a cheap test on the text,
/// so documents without one are copied as they are).
pub fn may_hold_secret(text: &str) -> bool {
    SECRET_PROPERTIES
        .iter()
        .any(|name| text.contains(&format!("\"{name}\"")))
}

/// Removes every secret property (see [`SECRET_PROPERTIES`]) from a served value.
pub fn redact_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !SECRET_PROPERTIES.contains(&key.as_str()));
            map.values_mut().for_each(redact_secrets);
        }
        Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}

/// A document as served: without the emulator's private fields or secrets.
pub fn public(doc: &Value) -> Value {
    let mut out = doc.clone();
    if let Some(map) = out.as_object_mut() {
        map.remove("_emulator");
    }
    redact_secrets(&mut out);
    absolute_urls(&mut out);
    out
}

fn select(doc: Value, fields: Option<&[String]>) -> Value {
    let Some(fields) = fields else { return doc };
    let Value::Object(map) = doc else { return doc };
    let mut out = Map::new();
    for field in fields {
        let top = field.split('/').next().unwrap_or(field);
        if let Some(v) = map.get(top) {
            out.insert(top.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

fn select_fields(params: &Params) -> Option<Vec<String>> {
    params.get("$select").map(|s| {
        s.split(',')
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect()
    })
}

/// The OData context URL the service puts first in every JSON answer
/// (`odata.metadata`, e.g. `https://acct.region.batch.azure.com/$metadata#pools/@Element`).
pub fn context(kind: &str) -> String {
    let base = BASE_URL.try_with(Clone::clone).unwrap_or_default();
    format!("{base}/$metadata#{kind}")
}

/// The context of a single resource, from its path (`/pools/p/nodes/n` is a `nodes`
/// element).
fn element_context(doc: &Value) -> Option<String> {
    let url = doc.get("url")?.as_str()?;
    let mut parts = url.trim_start_matches('/').rsplit('/');
    parts.next()?;
    Some(context(&format!("{}/@Element", parts.next()?)))
}

/// A JSON answer with the resource's entity tag.
pub fn doc_response(doc: &Value, params: &Params) -> Response {
    let fields = select_fields(params);
    let mut body = select(public(doc), fields.as_deref());
    if let (Some(context), Some(map)) = (element_context(doc), body.as_object_mut()) {
        map.insert("odata.metadata".into(), Value::String(context));
    }
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    set_json(&mut response);
    set_tags(response.headers_mut(), doc);
    response
}

fn set_json(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_TYPE));
}

fn set_tags(headers: &mut HeaderMap, doc: &Value) {
    if let Some(etag) = doc.get("eTag").and_then(Value::as_str)
        && let Ok(v) = HeaderValue::from_str(etag)
    {
        headers.insert(header::ETAG, v);
    }
    if let Some(t) = doc
        .get("lastModified")
        .and_then(Value::as_str)
        .and_then(crate::clock::parse_time)
    {
        let when = std::time::SystemTime::from(t);
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(when)) {
            headers.insert(header::LAST_MODIFIED, v);
        }
    }
}

/// The answer to a create or update: status, entity tag, resource location.
pub fn written(status: StatusCode, doc: &Value) -> Response {
    let mut response = status.into_response();
    set_tags(response.headers_mut(), doc);
    let mut url = json!({ "url": doc.get("url").cloned().unwrap_or(Value::Null) });
    absolute_urls(&mut url);
    if let Some(url) = url["url"].as_str()
        && let Ok(v) = HeaderValue::from_str(url)
    {
        response.headers_mut().insert("dataserviceid", v.clone());
        if status == StatusCode::CREATED {
            response.headers_mut().insert(header::LOCATION, v);
        }
    }
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

fn etag_matches(condition: &str, etag: &str) -> bool {
    condition
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .any(|c| c == "*" || c == etag.trim_matches('"'))
}

/// Checks `If-Match` / `If-None-Match` against a resource. Writes fail with 412;
/// a read whose `If-None-Match` matches answers 304 (returned as `Ok(Some)`).
pub fn preconditions(headers: &HeaderMap, doc: &Value, write: bool) -> ApiResult<Option<Response>> {
    let etag = doc.get("eTag").and_then(Value::as_str).unwrap_or("");
    let header_text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(cond) = header_text("if-match")
        && !etag_matches(cond, etag)
    {
        return Err(ApiError::condition_not_met());
    }
    if let Some(cond) = header_text("if-none-match")
        && etag_matches(cond, etag)
    {
        if write {
            return Err(ApiError::condition_not_met());
        }
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        set_tags(response.headers_mut(), doc);
        return Ok(Some(response));
    }
    Ok(None)
}

/// Lists documents with `maxresults`, `$filter`, `$select` and `$skiptoken`.
pub fn list(
    store: &Store,
    table: Table,
    parent: Option<&str>,
    params: &Params,
    next_base: &str,
) -> ApiResult<Response> {
    let max = match params.get("maxresults") {
        None => 1000,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid_query(
                    "maxresults",
                    "maxresults must be between 1 and 1000",
                ));
            }
        },
    };
    let filter: Option<Filter> = match params.get("$filter").filter(|f| !f.trim().is_empty()) {
        None => None,
        Some(text) => Some(filter::parse(text).map_err(|e| ApiError::invalid_query("$filter", e))?),
    };
    let mut cursor = match params.get("$skiptoken") {
        None => 0,
        Some(token) => token.parse::<i64>().map_err(|_| {
            ApiError::invalid_query(
                "$skiptoken",
                "the skip token is not one this service issued",
            )
        })?,
    };
    let states = filter.as_ref().and_then(Filter::states);
    let state_refs: Option<Vec<&str>> = states
        .as_ref()
        .map(|s| s.iter().map(String::as_str).collect());
    let fields = select_fields(params);
    let base = BASE_URL.try_with(Clone::clone).unwrap_or_default();
    // The page is written straight into the response text; a document is parsed
    // only when a filter must look into it or its text cannot be copied.
    let mut body = String::from("{\"odata.metadata\":");
    body.push_str(&serde_json::to_string(&context(table.name())).map_err(StoreError::from)?);
    body.push_str(",\"value\":[");
    let mut count = 0;
    let mut more = false;
    let mut last_seq = 0;
    loop {
        let mut seen = 0;
        store.read(|c| -> Result<(), StoreError> {
            docs::list_stored(
                c,
                table,
                parent,
                cursor,
                state_refs.as_deref(),
                max + 1,
                |seq, text| {
                    seen += 1;
                    if more {
                        return Ok(());
                    }
                    cursor = seq;
                    let parsed = match &filter {
                        Some(filter) => {
                            let value: Value = serde_json::from_str(text)?;
                            if !filter.matches(&value) {
                                return Ok(());
                            }
                            Some(value)
                        }
                        None => None,
                    };
                    if count == max {
                        more = true;
                        return Ok(());
                    }
                    if count > 0 {
                        body.push(',');
                    }
                    let copied = parsed.is_none()
                        && projection::write_public(&mut body, text, fields.as_deref(), &base)
                            .is_ok();
                    if !copied {
                        let value = match parsed {
                            Some(value) => value,
                            None => serde_json::from_str(text)?,
                        };
                        body.push_str(&serde_json::to_string(&select(
                            public(&value),
                            fields.as_deref(),
                        ))?);
                    }
                    count += 1;
                    last_seq = seq;
                    Ok(())
                },
            )
        })?;
        // A short batch was the end of the table.
        if more || seen <= max {
            break;
        }
    }
    body.push(']');
    if more {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params.iter().filter(|(k, _)| *k != "$skiptoken") {
            query.append_pair(k, v);
        }
        query.append_pair("$skiptoken", &last_seq.to_string());
        let link = format!("{next_base}?{}", query.finish());
        body.push_str(",\"odata.nextLink\":");
        body.push_str(&serde_json::to_string(&link).map_err(StoreError::from)?);
    }
    body.push('}');
    let mut response = (StatusCode::OK, body).into_response();
    set_json(&mut response);
    Ok(response)
}

/// A required string property.
pub fn required_str<'a>(body: &'a Value, name: &str) -> ApiResult<&'a str> {
    match body.get(name) {
        None | Some(Value::Null) => Err(ApiError::missing_property(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::invalid_property(name, "must be a string")),
    }
}

/// Checks an id property against the service's rules.
pub fn required_id<'a>(body: &'a Value, name: &str) -> ApiResult<&'a str> {
    let id = required_str(body, name)?;
    if !crate::ids::is_valid_id(id) {
        return Err(ApiError::invalid_property(
            name,
            "The id may contain any combination of alphanumeric characters including hyphens and underscores, and cannot contain more than 64 characters.",
        ));
    }
    Ok(id)
}

/// Checks `metadata` items: each needs a name and a value.
pub fn check_metadata(body: &Value) -> ApiResult<()> {
    let Some(items) = body.get("metadata") else {
        return Ok(());
    };
    let Some(items) = items.as_array() else {
        return Err(ApiError::invalid_property(
            "metadata",
            "must be a list of name/value pairs",
        ));
    };
    for item in items {
        if !item.get("name").is_some_and(Value::is_string)
            || !item.get("value").is_some_and(Value::is_string)
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidMetadata",
                "Each metadata item needs a string name and value.",
            ));
        }
    }
    Ok(())
}
