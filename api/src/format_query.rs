//! `GET/POST /loki/api/v1/format_query?query=...`: the query in Loki's
//! pretty form (`syntax.Prettify`, see `balsa_logql::pretty`), as Loki's
//! `pkg/loki/format_query_handler.go` serves it:
//!
//! - valid query: 200 `{"status":"success","data":"<pretty form>"}`;
//! - invalid query: 400 `{"status":"invalid-query","error":"<parse error>"}`.
//!
//! The body is encoded like Go's `json.Encoder` (HTML-safe escapes, trailing
//! newline), so it is byte-for-byte what Loki sends.

use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::params::Params;

/// Formats `query`: the status code and JSON body of the response.
pub fn format_response(query: &str) -> (StatusCode, String) {
    match balsa_logql::parse_expr(query) {
        Ok(e) => {
            let pretty = balsa_logql::pretty(&e);
            let mut body = String::from(r#"{"status":"success""#);
            // Loki's response omits an empty `data` (`omitempty`).
            if !pretty.is_empty() {
                body.push_str(r#","data":"#);
                push_go_json_string(&mut body, &pretty);
            }
            body.push_str("}\n");
            (StatusCode::OK, body)
        }
        Err(err) => {
            let mut body = String::from(r#"{"status":"invalid-query","error":"#);
            push_go_json_string(&mut body, &err.to_string());
            body.push_str("}\n");
            (StatusCode::BAD_REQUEST, body)
        }
    }
}

/// The handler. Like Go's `Request.FormValue`, a `query` in a form body wins
/// over one in the URL, and the first value of a repeated key is used.
pub async fn format_query(headers: HeaderMap, RawQuery(raw): RawQuery, body: Bytes) -> Response {
    let is_form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let form = if is_form { Params::parse(None, Some(body.as_ref())) } else { Params::default() };
    let url = Params::parse(raw.as_deref(), None);
    let query = form.all("query").first().or(url.all("query").first()).copied().unwrap_or("");
    let (status, body) = format_response(query);
    (status, [("content-type", "application/json; charset=utf-8")], body).into_response()
}

/// Appends `s` as a JSON string the way Go's `encoding/json` writes it:
/// `<`, `>`, `&`, U+2028 and U+2029 are escaped, as are control characters.
fn push_go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::Request;
    use balsa_push::LimitsConfig;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::testing::{StaticBackend, app_state};

    #[test]
    fn formats_valid_queries() {
        let (status, body) = format_response(r#"{app="foo"}|json|level="error""#);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "{\"status\":\"success\",\"data\":\"{app=\\\"foo\\\"} | json | level=\\\"error\\\"\"}\n");

        let long = r#"sum by (namespace, app) (count_over_time({namespace="production", app="api-gateway"} |= "error" != "healthcheck" | json | status >= 500 [5m]))"#;
        let (status, body) = format_response(long);
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["data"],
            "sum by (namespace, app)(\n  count_over_time(\n    {namespace=\"production\", app=\"api-gateway\"} |= \"error\" != \"healthcheck\" | json | status>=500 [5m]\n  )\n)"
        );
        assert!(body.contains("\\n  count_over_time(\\n"), "newlines are escaped: {body}");
        assert!(body.contains("status\\u003e=500"), "'>' is escaped like Go's encoder: {body}");
        assert!(body.ends_with("}\n"));
    }

    #[test]
    fn reports_parse_errors() {
        let (status, body) = format_response(r#"{app="foo""#);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            "{\"status\":\"invalid-query\",\"error\":\"parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,\"}\n"
        );
        let (status, body) = format_response("");
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body, "{\"status\":\"invalid-query\",\"error\":\"parse error : syntax error: unexpected $end\"}\n");
        let (status, body) = format_response(r#"{a=~".*"}"#);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("queries require at least one regexp or equality matcher"), "{body}");
    }

    #[test]
    fn go_json_escapes() {
        let mut s = String::new();
        push_go_json_string(&mut s, "a\"b\\c\u{1}<>&\u{2028}é\t");
        assert_eq!(s, "\"a\\\"b\\\\c\\u0001\\u003c\\u003e\\u0026\\u2028é\\t\"");
    }

    async fn call(req: Request<Body>) -> (StatusCode, String) {
        let app = crate::router(app_state(Arc::new(StaticBackend::new(Vec::new())), LimitsConfig::default(), 0));
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status();
        assert_eq!(resp.headers()["content-type"], "application/json; charset=utf-8");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn format_query_route_get_and_post() {
        let q = "/loki/api/v1/format_query?query=%7Bapp%3D%22foo%22%7D%20%7C%3D%20%22x%22";
        let (status, body) = call(Request::get(q).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "{\"status\":\"success\",\"data\":\"{app=\\\"foo\\\"} |= \\\"x\\\"\"}\n");

        // A form body wins over the URL, as with Go's FormValue.
        let req = Request::post("/loki/api/v1/format_query?query=%7B")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("query=sum(rate(%7Ba%3D%22b%22%7D%5B5m%5D))"))
            .unwrap();
        let (status, body) = call(req).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "{\"status\":\"success\",\"data\":\"sum(rate({a=\\\"b\\\"}[5m]))\"}\n");

        let (status, body) =
            call(Request::get("/loki/api/v1/format_query?query=%7Ba%3D%22b%22%7D%20x").body(Body::empty()).unwrap())
                .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            "{\"status\":\"invalid-query\",\"error\":\"parse error at line 1, col 9: syntax error: unexpected IDENTIFIER\"}\n"
        );

        let (status, body) = call(Request::get("/loki/api/v1/format_query").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.starts_with("{\"status\":\"invalid-query\""), "{body}");
    }
}
