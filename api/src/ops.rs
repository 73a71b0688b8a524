//! Operations endpoints: readiness, metrics, build info, effective config.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::router::AppState;

pub async fn ready(State(state): State<AppState>) -> Response {
    match state.backend.ready() {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("Ingester not ready: {why}\n")).into_response(),
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    ([("content-type", "text/plain; version=0.0.4; charset=utf-8")], (state.metrics)()).into_response()
}

pub async fn buildinfo(State(state): State<AppState>) -> Response {
    let body = json!({
        "version": state.config.version,
        "revision": state.config.revision,
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    });
    ([("content-type", "application/json")], body.to_string()).into_response()
}

#[derive(Deserialize)]
pub struct ConfigQuery {
    #[serde(default)]
    mode: String,
}

pub async fn config(State(state): State<AppState>, Query(q): Query<ConfigQuery>) -> Response {
    match q.mode.as_str() {
        "" | "diffs" | "defaults" | "ignored" => {
            ([("content-type", "text/plain; charset=utf-8")], (state.config_yaml)(&q.mode)).into_response()
        }
        other => {
            (StatusCode::BAD_REQUEST, format!("unknown value for mode query parameter: {other:?}\n")).into_response()
        }
    }
}
