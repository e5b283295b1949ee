//! `/t/{tenant}/admin/...`: tenant administration. Every operation passes
//! `Services::authorize_tenant_admin` first.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use super::body::JsonBody;
use super::clearable::Clearable;
use super::models::{AuditEvent, AuditEventPage, NoContent, Session, User, UserPage};
use super::paging::{self, PageNumber, PerPage};
use super::problem::ApiResult;
use super::request::{BearerAuth, client_info};
use crate::domain::{FieldError, SessionId, UserId};
use crate::error::Error;
use crate::service::Services;
use crate::service::admin::{NewUser, UserChanges};
use crate::service::audit::AuditKind;
use crate::store::audit::AuditFilter;

pub struct AdminApi;

#[derive(Object)]
#[oai(rename_all = "camelCase")]
struct CreateUserRequest {
    email: String,
    /// Optional: without one the user is mailed a link to choose it (valid
    /// as long as a verification link, default 24 h) and cannot log in until then.
    password: Option<String>,
    name: Option<String>,
    /// Role names (`[a-z][a-z0-9_-]{0,31}`); `user` is always added.
    /// `superadmin` only in tenant `system`, granted by a superadmin.
    roles: Option<Vec<String>>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
struct UpdateUserRequest {
    /// `null` clears the name.
    name: Clearable<String>,
    /// Replaces the roles (`user` is always kept).
    roles: Option<Vec<String>>,
    /// Disabling revokes every session at once; re-enabling revives none.
    disabled: Option<bool>,
    /// `false` lifts a lockout (after too many failed logins) and forgets
    /// the failures; `true` is refused (use `disabled`).
    locked: Option<bool>,
}

#[derive(ApiResponse)]
enum Created {
    /// The user was created.
    #[oai(status = 201)]
    Created(Json<User>),
}

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminApi {
    /// List or search users
    ///
    /// `q` matches a part of the email or name, case-insensitively.
    /// `perPage` is 1–100 (default 20).
    #[oai(
        path = "/t/:tenant/admin/users",
        method = "get",
        operation_id = "adminListUsers"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list_users(
        &self,
        services: Data<&Arc<Services>>,
        auth: BearerAuth,
        tenant: Path<String>,
        q: Query<Option<String>>,
        page: Query<Option<PageNumber>>,
        #[oai(name = "perPage")] per_page: Query<Option<PerPage>>,
        req: &Request,
    ) -> ApiResult<Json<UserPage>> {
        let (tenant, _) = services
            .authorize_tenant_admin(&tenant, auth.token(), client_info(req))
            .await?;
        let page = paging::page(page.0, per_page.0)?;
        let (users, total) = services
            .admin
            .list_users(&tenant, q.0.as_deref(), page)
            .await?;
        Ok(Json(UserPage {
            items: users.into_iter().map(User::from).collect(),
            page: page.number,
            per_page: page.size,
            total,
        }))
    }

    /// Create a user
    #[oai(
        path = "/t/:tenant/admin/users",
        method = "post",
        operation_id = "adminCreateUser"
    )]
    async fn create_user(
        &self,
        services: Data<&Arc<Services>>,
        auth: BearerAuth,
        tenant: Path<String>,
        body: JsonBody<CreateUserRequest>,
        req: &Request,
    ) -> ApiResult<Created> {
        let (tenant, actor) = services
            .authorize_tenant_admin(&tenant, auth.token(), client_info(req))
            .await?;
        let JsonBody(body) = body;
        let user = services
            .admin
            .create_user(
                &actor,
                &tenant,
                NewUser {
                    email: body.email,
                    password: body.password,
                    name: body.name,
                    roles: body.roles,
                },
            )
            .await?;
        Ok(Created::Created(Json(user.into())))
    }

    /// Get a user
    #[oai(
        path = "/t/:tenant/admin/users/:userId",
        method = "get",
        operation_id = "adminGetUser"
    )]
    async fn get_user(
        &self,
        services: Data<&Arc<Services>>,
        auth: BearerAuth,
        tenant: Path<String>,
        #[oai(name = "userId")] user_id: Path<Uuid>,
        req: &Request,
    ) -> ApiResult<Json<User>> {
        let (tenant, _) = services
            .authorize_tenant_admin(&tenant, auth.token(), client_info(req))
            .await?;
        let user = services.admin.get_user(&tenant, UserId(user_id.0)).await?;
        Ok(Json(user.into()))
    }

    /// Update a user's name, roles or disabled state
    ///
    /// Administrators cannot disable, delete or demote their own account.
    #[oai(
        path = "/t/:tenant/admin/users/:userId",
        method = "patch",
        operation_id = "adminUpdateUser"
    )]
    async fn update_user(
        &self,
        services: Data<&Arc<Services>>,
        auth: BearerAuth,
        tenant: Path<String>,
        #[oai(name = "userId")] user_id: Path<Uuid>,
        body: JsonBody<UpdateUserRequest>,
        req: &Request,
    ) -> ApiResult<Json<User>> {
        let (tenant, actor) = services
            .authorize_tenant_admin(&tenant, auth.token(), client_info(req))
            .await?;
        let JsonBody(body) = body;
        let changes = UserChanges {
            name: body.name.change(),
            roles: body.roles,
            disabled: body.disabled,
            locked: body.locked,
        };
        let user = services
            .admin
            .update_user(&actor, &tenant, UserId(user_id.0), changes)
            .await?;
        Ok(Json(user.into()))
    }

    /// Delete a user
    ///
    /// Their sessions and tokens go with them.
    #[oai(
        path = "/t/:tenant/admin/users/:userId",
        method = "delete",
        operation_id = "adminDeleteUser"
    )]
    async fn delete_user(
        &self,
        services: Data<&Arc<Services>>,
        auth: BearerAuth,
        tenant: Path<String>,
        #[oai(name = "userId")] user_id: Path<Uuid>,
        req: &Request,
    ) -> ApiResult<NoContent> {
        let (tenant, actor) = services
            .authorize_tenant_admin(&tenant, auth.token(), client_info(req))
            .await?;
        services
            .admin
            .delete_user(&actor, &tenant, UserId(user_id.0))
            .await?;
        Ok(NoContent::NoContent)
    }

    /// A user's live sessions
    #[oai(
        path = "/t/:tenant/admin/users/:userId/sessions",
        method = "get",
        operation_id = "adminListUserSessions"
    )]
    async fn user_sessions(
        &self,
        services: Data<&Arc<Services>>,
        auth: BearerAuth,
        tenant: Path<String>,
        #[oai(name = "userId")] user_id: Path<Uuid>,
        req: &Request,
    ) -> ApiResult<Json<Vec<Session>>> {
        let (tenant, _) = services
            .authorize_tenant_admin(&tenant, auth.token(), client_info(req))
            .await?;
        let sessions = services
            .admin
            .user_sessions(&tenant, UserId(user_id.0))
            .await?;
        Ok(Json(
            sessions
                .into_iter()
                .map(|s| Session::new(s, None))
                .collect(),
        ))
    }

    /// Revoke a session
    ///
    /// Its access and refresh tokens stop working at once.
    #[oai(
        path = "/t/:tenant/admin/sessions/:sessionId",
        method = "delete",
        operation_id = "adminRevokeSession"
    )]
    async fn revoke_session(
        &self,
        services: Data<&Arc<Services>>,
        auth: BearerAuth,
        tenant: Path<String>,
        #[oai(name = "sessionId")] session_id: Path<Uuid>,
        req: &Request,
    ) -> ApiResult<NoContent> {
        let (tenant, actor) = services
            .authorize_tenant_admin(&tenant, auth.token(), client_info(req))
            .await?;
        services
            .admin
            .revoke_session(&actor, &tenant, SessionId(session_id.0))
            .await?;
        Ok(NoContent::NoContent)
    }

    /// The tenant's audit log
    ///
    /// Newest first. `userId` matches the actor or the subject; `type` an
    /// event type (see `AuditEvent.type`); `from` (inclusive) and `to`
    /// (exclusive) bound the time.
    #[oai(
        path = "/t/:tenant/admin/audit-events",
        method = "get",
        operation_id = "adminListAuditEvents"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn audit_events(
        &self,
        services: Data<&Arc<Services>>,
        auth: BearerAuth,
        tenant: Path<String>,
        #[oai(name = "userId")] user_id: Query<Option<Uuid>>,
        #[oai(name = "type")] kind: Query<Option<String>>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        page: Query<Option<PageNumber>>,
        #[oai(name = "perPage")] per_page: Query<Option<PerPage>>,
        req: &Request,
    ) -> ApiResult<Json<AuditEventPage>> {
        let (tenant, _) = services
            .authorize_tenant_admin(&tenant, auth.token(), client_info(req))
            .await?;
        let page = paging::page(page.0, per_page.0)?;
        let kind = match kind.0 {
            Some(text) => Some(
                AuditKind::parse(&text)
                    .ok_or_else(|| {
                        Error::Validation(vec![FieldError::new("type", "is not an event type")])
                    })?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        let filter = AuditFilter {
            user: user_id.0.map(UserId),
            kind,
            from: from.0,
            to: to.0,
        };
        let (events, total) = services.admin.audit_events(&tenant, &filter, page).await?;
        Ok(Json(AuditEventPage {
            items: events.into_iter().map(AuditEvent::from).collect(),
            page: page.number,
            per_page: page.size,
            total,
        }))
    }
}
