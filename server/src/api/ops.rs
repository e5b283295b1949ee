//! `/health`, `/ready` and `/metrics`, for load balancers, orchestrators
//! and monitoring.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use super::problem::ApiResult;
use crate::error::Error;
use crate::service::Services;
use crate::store;

pub struct OpsApi;

#[derive(Object)]
struct Status {
    /// `ok` or `ready`.
    status: String,
}

#[OpenApi(tag = "ApiTags::Operations")]
impl OpsApi {
    /// Liveness: the process is up
    ///
    /// Touches nothing else, so it stays fast while the server is busy.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> Json<Status> {
        Json(Status {
            status: "ok".into(),
        })
    }

    /// Readiness: the database answers
    ///
    /// 503 `unavailable` when it does not.
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self, services: Data<&Arc<Services>>) -> ApiResult<Json<Status>> {
        store::ping(&services.db)
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        Ok(Json(Status {
            status: "ready".into(),
        }))
    }

    /// Metrics in the Prometheus text format
    ///
    /// `portcullis_http_responses_total{class}`, `portcullis_http_429_total`,
    /// `portcullis_http_503_total`, `portcullis_rate_limit_keys` (keys the
    /// in-process rate limiters track; idle ones are forgotten every 30 s)
    /// and `portcullis_uptime_seconds`. Per process. Unauthenticated and
    /// free of user data; expose it to your monitoring network only.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(&self, services: Data<&Arc<Services>>) -> PlainText<String> {
        PlainText(services.metrics.render(services.limits.tracked_keys()))
    }
}
