//! `/t/{tenant}/me...`: the caller's account and sessions.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use uuid::Uuid;

use super::ApiTags;
use super::models::{NoContent, Session, User};
use super::problem::ApiResult;
use super::request::BearerAuth;
use crate::domain::SessionId;
use crate::service::Services;

pub struct MeApi;

#[OpenApi(tag = "ApiTags::Me")]
impl MeApi {
    /// The calling user
    #[oai(path = "/t/:tenant/me", method = "get", operation_id = "getMe")]
    async fn me(
        &self,
        services: Data<&Arc<Services>>,
        tenant: Path<String>,
        auth: BearerAuth,
    ) -> ApiResult<Json<User>> {
        let context = services.tenants.resolve(&tenant).await?;
        let principal = services.auth.authenticate(&context, auth.token()).await?;
        Ok(Json(principal.user.into()))
    }

    /// The calling user's live sessions
    ///
    /// Newest first; `current` marks the session of the token used.
    #[oai(
        path = "/t/:tenant/me/sessions",
        method = "get",
        operation_id = "listMySessions"
    )]
    async fn sessions(
        &self,
        services: Data<&Arc<Services>>,
        tenant: Path<String>,
        auth: BearerAuth,
    ) -> ApiResult<Json<Vec<Session>>> {
        let context = services.tenants.resolve(&tenant).await?;
        let principal = services.auth.authenticate(&context, auth.token()).await?;
        let sessions = services.sessions.list_own(&context, &principal).await?;
        Ok(Json(
            sessions
                .into_iter()
                .map(|(session, current)| Session::new(session, Some(current)))
                .collect(),
        ))
    }

    /// Revoke one of the calling user's sessions
    ///
    /// Its access and refresh tokens stop working at once. Revoking the
    /// current session is a logout. A session that is not the caller's is
    /// 404 `not_found`.
    #[oai(
        path = "/t/:tenant/me/sessions/:sessionId",
        method = "delete",
        operation_id = "revokeMySession"
    )]
    async fn revoke_session(
        &self,
        services: Data<&Arc<Services>>,
        tenant: Path<String>,
        #[oai(name = "sessionId")] session_id: Path<Uuid>,
        auth: BearerAuth,
    ) -> ApiResult<NoContent> {
        let context = services.tenants.resolve(&tenant).await?;
        let principal = services.auth.authenticate(&context, auth.token()).await?;
        services
            .sessions
            .revoke_own(&context, &principal, SessionId(session_id.0))
            .await?;
        Ok(NoContent::NoContent)
    }
}
