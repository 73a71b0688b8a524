//! `POST /otlp/v1/logs`: OTLP/HTTP logs (protobuf or JSON, optionally
//! gzip), mapped as Loki 3.7 maps them ([`balsa_push::otlp`]) and then
//! validated, rate-limited and written exactly as a Loki push.
//!
//! As Loki's `OTLPPushHandler`: success is 204 with no body; a failure is its
//! status code (500 becomes 503, which OTLP clients retry) with a protobuf
//! `google.rpc.Status` body (`code` 0, the message). A missing tenant is the
//! same plain-text 401 as on every other endpoint (Loki's auth middleware).

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use balsa_push::otlp;

use crate::error::{ApiError, ApiResult};
use crate::push::ingest;
use crate::router::AppState;
use crate::tenant::tenant_of;

/// Bodies larger than this are decoded off the async workers.
const INLINE_DECODE_BYTES: usize = 256 * 1024;

pub async fn logs(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let tenant = match tenant_of(&headers, state.config.auth_enabled) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    // A body over distributor.max_recv_msg_size: 413, in OTLP's form too.
    let body = match body {
        Ok(b) => b,
        Err(rejection) => return otlp_error(ApiError::new(rejection.status(), rejection.body_text())),
    };
    match handle(&state, &headers, &tenant, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => otlp_error(e),
    }
}

async fn handle(state: &AppState, headers: &HeaderMap, tenant: &balsa_model::TenantId, body: Bytes) -> ApiResult<()> {
    let started = Instant::now();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let content_type = header("content-type");
    let content_encoding = header("content-encoding");
    let max = state.config.max_decompressed_size;
    let limits = state.validator.limits_for(tenant.as_str());
    let now_ns = state.now_ns();
    let received_bytes = body.len();
    let large = body.len() > INLINE_DECODE_BYTES;
    let run = {
        let limits = limits.clone();
        move || {
            let req = otlp::decode(content_type.as_deref(), content_encoding.as_deref(), &body, max)?;
            otlp::to_push_request(&req, &limits.otlp_config, &limits.discover_service_name, now_ns)
        }
    };
    let mapped = if large {
        tokio::task::spawn_blocking(run).await.map_err(|e| ApiError::bad_request(format!("decode task: {e}")))?
    } else {
        run()
    }?;
    metrics::counter!("balsa_otlp_log_records_received_total", "tenant" => tenant.to_string())
        .increment(mapped.request.line_count() as u64);
    // Loki's OTLP path discovers service_name itself; when it left a stream
    // without one on purpose, the validator must not add it.
    let own;
    let validator = if mapped.skip_service_name_discovery {
        let mut l = (*limits).clone();
        l.discover_service_name.clear();
        own = balsa_push::Validator::new(l);
        Some(&own)
    } else {
        None
    };
    ingest(state, tenant, mapped.request, received_bytes, validator, started).await
}

/// Loki's `OTLPError`.
fn otlp_error(e: ApiError) -> Response {
    let status = if e.status == StatusCode::INTERNAL_SERVER_ERROR { StatusCode::SERVICE_UNAVAILABLE } else { e.status };
    (status, [("content-type", "application/octet-stream")], otlp::error_body(&e.message)).into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::http::Request;
    use balsa_model::{PushRequest, StreamReader, TenantId};
    use balsa_push::{LimitsConfig, Overrides, Validator, parse_runtime_config};
    use futures::future::BoxFuture;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::backend::{Backend, BackendError, PushOutcome};
    use crate::testing::app_state;

    const NOW_NS: i64 = 1_700_000_000_000_000_000;

    /// Records what is written; `fail` makes every push an internal error.
    #[derive(Default)]
    struct Capture {
        pushed: Mutex<Vec<(TenantId, PushRequest)>>,
        fail: bool,
    }

    impl Backend for Capture {
        fn push(&self, tenant: TenantId, req: PushRequest) -> BoxFuture<'_, Result<PushOutcome, BackendError>> {
            self.pushed.lock().unwrap().push((tenant, req));
            let fail = self.fail;
            Box::pin(async move {
                if fail { Err(BackendError::Internal("disk on fire".into())) } else { Ok(PushOutcome::default()) }
            })
        }
        fn readers(&self) -> BoxFuture<'_, Result<Vec<Arc<dyn StreamReader>>, BackendError>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn ready(&self) -> Result<(), String> {
            Ok(())
        }
    }

    fn body(service: &str, extra: &str) -> String {
        format!(
            r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{service}"}}}},
            {{"key":"team","value":{{"stringValue":"core"}}}}]}},
            "scopeLogs":[{{"scope":{{"name":"app.db"}},"logRecords":[{{"timeUnixNano":"{NOW_NS}","severityNumber":13,
            "severityText":"WARNING","body":{{"stringValue":"disk almost full"}}{extra}}}]}}]}}]}}"#
        )
    }

    async fn call(st: &AppState, ct: &str, tenant: Option<&str>, body: String) -> (StatusCode, Vec<u8>) {
        let mut req = Request::post("/otlp/v1/logs").header("content-type", ct);
        if let Some(t) = tenant {
            req = req.header("x-scope-orgid", t);
        }
        let resp = crate::router(st.clone()).oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
        let status = resp.status();
        (status, resp.into_body().collect().await.unwrap().to_bytes().to_vec())
    }

    #[tokio::test]
    async fn a_push_goes_through_validation_and_the_write_path() {
        let backend = Arc::new(Capture::default());
        let st = app_state(backend.clone(), LimitsConfig::default(), NOW_NS);
        let (status, resp) = call(&st, "application/json", None, body("checkout", "")).await;
        assert_eq!((status, resp.len()), (StatusCode::NO_CONTENT, 0));
        let pushed = backend.pushed.lock().unwrap();
        let (tenant, req) = &pushed[0];
        assert_eq!(tenant.as_str(), "fake");
        assert_eq!(req.streams[0].labels.canonical(), r#"{service_name="checkout"}"#);
        let e = &req.streams[0].entries[0];
        assert_eq!((e.ts_ns, e.line.as_str()), (NOW_NS, "disk almost full"));
        let md: Vec<(&str, &str)> = e.structured_metadata.iter().map(|p| (p.name.as_str(), p.value.as_str())).collect();
        // detected_level from severity_text (a level field), normalized, as Loki's field detection.
        assert_eq!(
            md,
            vec![
                ("severity_number", "13"),
                ("severity_text", "WARNING"),
                ("team", "core"),
                ("scope_name", "app.db"),
                ("detected_level", "warn")
            ]
        );
    }

    #[tokio::test]
    async fn errors_are_otlp_status_messages() {
        let backend = Arc::new(Capture::default());
        let st = app_state(backend.clone(), LimitsConfig::default(), NOW_NS);
        for (ct, b, status, msg) in [
            ("application/json", "{".to_string(), 400, "invalid OTLP JSON body"),
            ("application/x-protobuf", "\u{7f}\u{7f}".to_string(), 400, "invalid OTLP protobuf body"),
            ("text/plain", body("x", ""), 400, "content type: text/plain is not supported"),
            (
                "application/json",
                body("x", r#","timeUnixNano":"1""#).replace(&format!(r#""timeUnixNano":"{NOW_NS}","#), ""),
                400,
                "timestamp too old",
            ),
        ] {
            let (got, resp) = call(&st, ct, None, b).await;
            assert_eq!(got.as_u16(), status, "{msg}");
            let text = String::from_utf8_lossy(&resp);
            assert!(text.contains(msg), "{msg}: {text}");
            // A google.rpc.Status: field 2 (message), code 0 left out.
            assert_eq!(resp[0], 0x12, "{msg}");
        }
        assert!(backend.pushed.lock().unwrap().is_empty());
        // A body over max_recv_msg_size.
        let mut small = app_state(backend.clone(), LimitsConfig::default(), NOW_NS);
        small.config = Arc::new(crate::ApiConfig { max_recv_msg_size: 100, ..(*small.config).clone() });
        let (got, resp) = call(&small, "application/json", None, body("x", "")).await;
        assert_eq!((got, resp[0]), (StatusCode::PAYLOAD_TOO_LARGE, 0x12));
        // A failing write: 500 becomes 503, which OTLP clients retry.
        let st = app_state(Arc::new(Capture { fail: true, ..Default::default() }), LimitsConfig::default(), NOW_NS);
        let (got, resp) = call(&st, "application/json", None, body("x", "")).await;
        assert_eq!(got, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp, balsa_push::otlp::error_body("internal error, see the server logs"));
    }

    #[tokio::test]
    async fn tenants_and_their_otlp_config() {
        let backend = Arc::new(Capture::default());
        let overrides = Arc::new(Overrides::new(LimitsConfig::default()));
        let runtime = "overrides:\n  teams:\n    otlp_config:\n      resource_attributes:\n        attributes_config:\n          - action: index_label\n            attributes: [team]\n      log_attributes:\n        - action: drop\n          regex: .*\n";
        overrides.set(parse_runtime_config(&[("r.yaml".into(), runtime.into())], overrides.defaults()).unwrap());
        let mut st = app_state(backend.clone(), LimitsConfig::default(), NOW_NS);
        st.config = Arc::new(crate::ApiConfig { auth_enabled: true, ..(*st.config).clone() });
        st.validator = Arc::new(Validator::with_overrides(overrides));
        // No tenant: the plain 401 of every endpoint.
        let (got, _) = call(&st, "application/json", None, body("x", "")).await;
        assert_eq!(got, StatusCode::UNAUTHORIZED);
        let (got, _) = call(&st, "application/json", Some("teams"), body("x", "")).await;
        assert_eq!(got, StatusCode::NO_CONTENT);
        let (got, _) = call(&st, "application/json", Some("other"), body("x", "")).await;
        assert_eq!(got, StatusCode::NO_CONTENT);
        let pushed = backend.pushed.lock().unwrap();
        assert_eq!(pushed[0].0.as_str(), "teams");
        assert_eq!(pushed[0].1.streams[0].labels.canonical(), r#"{service_name="x", team="core"}"#);
        assert_eq!(pushed[1].0.as_str(), "other");
        assert_eq!(pushed[1].1.streams[0].labels.canonical(), r#"{service_name="x"}"#);
    }
}
