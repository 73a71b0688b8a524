//! Who a request is for: `fake` when auth is off (the header is ignored, as
//! in Loki), else the `X-Scope-OrgID` header, required and validated.

use axum::http::{HeaderMap, StatusCode};
use balsa_model::TenantId;

use crate::error::ApiError;
use crate::router::ApiConfig;

pub const ORG_ID_HEADER: &str = "X-Scope-OrgID";

/// Loki's `no org id`, followed by what to do about it.
pub const NO_ORG_ID: &str = "no org id: this server runs with auth_enabled: true, so every request must carry the \
X-Scope-OrgID header naming the tenant (for example: curl -H 'X-Scope-OrgID: tenant1' ...). \
In Grafana, set it on the Loki data source under HTTP headers (Header: X-Scope-OrgID, Value: your tenant); \
in Promtail, Alloy or Fluent Bit, set the tenant_id option of the Loki client. \
Or set auth_enabled: false to use the single tenant 'fake'.";

pub fn tenant_of(headers: &HeaderMap, auth_enabled: bool) -> Result<TenantId, ApiError> {
    if !auth_enabled {
        return Ok(TenantId::single());
    }
    let Some(raw) = headers.get(ORG_ID_HEADER) else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, NO_ORG_ID));
    };
    let raw = raw.to_str().map_err(|_| ApiError::bad_request("X-Scope-OrgID is not valid text"))?.trim();
    if raw.is_empty() {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, NO_ORG_ID));
    }
    if raw.contains('|') {
        return Err(ApiError::bad_request(MULTIPLE_ORG_IDS));
    }
    TenantId::parse(raw).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The tenant of a read (query, labels, series). Several tenants (`a|b`)
/// are read together when `multi_tenant_queries_enabled`; otherwise they
/// pass Loki's frontend and fail in its querier, which does not count that
/// as a client error: 500 there, 400 for a push.
pub fn read_tenant_of(headers: &HeaderMap, config: &ApiConfig) -> Result<TenantId, ApiError> {
    if config.auth_enabled
        && config.multi_tenant_queries_enabled
        && let Some(raw) = headers.get(ORG_ID_HEADER).and_then(|v| v.to_str().ok())
        && raw.contains('|')
    {
        return TenantId::parse_many(raw.trim()).map_err(|e| ApiError::bad_request(e.to_string()));
    }
    tenant_of(headers, config.auth_enabled).map_err(|mut e| {
        if e.message == MULTIPLE_ORG_IDS {
            e.status = StatusCode::INTERNAL_SERVER_ERROR;
        }
        e
    })
}

const MULTIPLE_ORG_IDS: &str = "multiple org IDs present";

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = v {
            h.insert(ORG_ID_HEADER, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn auth_off_ignores_the_header() {
        assert_eq!(tenant_of(&headers(Some("team-a")), false).unwrap().as_str(), "fake");
        assert_eq!(tenant_of(&headers(None), false).unwrap().as_str(), "fake");
    }

    #[test]
    fn auth_on_requires_and_validates_the_header() {
        let e = tenant_of(&headers(None), true).unwrap_err();
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        assert!(e.message.starts_with("no org id"));
        assert!(e.message.contains("X-Scope-OrgID") && e.message.contains("Grafana"));
        assert_eq!(tenant_of(&headers(Some("team-a")), true).unwrap().as_str(), "team-a");
        assert_eq!(tenant_of(&headers(Some("a/b")), true).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(tenant_of(&headers(Some("a|b")), true).unwrap_err().message, "multiple org IDs present");
        assert_eq!(tenant_of(&headers(Some("a|b")), true).unwrap_err().status, StatusCode::BAD_REQUEST);
        let auth = config(true, false);
        assert_eq!(read_tenant_of(&headers(Some("a|b")), &auth).unwrap_err().status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(read_tenant_of(&headers(None), &auth).unwrap_err().status, StatusCode::UNAUTHORIZED);
    }

    fn config(auth_enabled: bool, multi_tenant_queries_enabled: bool) -> ApiConfig {
        ApiConfig {
            auth_enabled,
            multi_tenant_queries_enabled,
            max_recv_msg_size: 0,
            max_decompressed_size: 0,
            version: String::new(),
            revision: String::new(),
        }
    }

    #[test]
    fn several_tenants_are_read_together_only_when_enabled() {
        let multi = config(true, true);
        assert_eq!(read_tenant_of(&headers(Some("b|a|b")), &multi).unwrap().as_str(), "a|b");
        assert_eq!(read_tenant_of(&headers(Some("a|b/c")), &multi).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(read_tenant_of(&headers(Some("a")), &multi).unwrap().as_str(), "a");
        // Pushes never take several tenants, and auth off ignores the header.
        assert_eq!(tenant_of(&headers(Some("a|b")), true).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(read_tenant_of(&headers(Some("a|b")), &config(false, true)).unwrap().as_str(), "fake");
    }
}
