//! `/admin/tenants...`: platform administration, for superadmins (role
//! `superadmin` in tenant `system`) only.

use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::body::JsonBody;
use super::models::{NoContent, Tenant, TenantPage};
use super::paging::{self, PageNumber, PerPage};
use super::problem::ApiResult;
use super::request::{BearerAuth, client_info};
use super::settings::SettingsPatch;
use crate::service::Services;
use crate::service::platform::TenantChanges;

pub struct PlatformApi;

#[derive(Object)]
#[oai(rename_all = "camelCase")]
struct CreateTenantRequest {
    /// `^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`; the tenant's address `/t/{slug}`.
    slug: String,
    /// A display name, 1–200 characters.
    name: String,
    /// Settings to differ from the defaults.
    settings: Option<SettingsPatch>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
struct UpdateTenantRequest {
    name: Option<String>,
    /// Only the fields given change; the result is validated as a whole.
    settings: Option<SettingsPatch>,
}

#[derive(ApiResponse)]
enum Created {
    /// The tenant was created, with its first signing key.
    #[oai(status = 201)]
    Created(Json<Tenant>),
}

#[OpenApi(tag = "ApiTags::Platform")]
impl PlatformApi {
    /// List tenants
    #[oai(path = "/admin/tenants", method = "get", operation_id = "listTenants")]
    async fn list(
        &self,
        services: Data<&Arc<Services>>,
        auth: BearerAuth,
        page: Query<Option<PageNumber>>,
        #[oai(name = "perPage")] per_page: Query<Option<PerPage>>,
        req: &Request,
    ) -> ApiResult<Json<TenantPage>> {
        services
            .authorize_superadmin(auth.token(), client_info(req))
            .await?;
        let page = paging::page(page.0, per_page.0)?;
        let (tenants, total) = services.platform.list_tenants(page).await?;
        Ok(Json(TenantPage {
            items: tenants.into_iter().map(Tenant::from).collect(),
            page: page.number,
            per_page: page.size,
            total,
        }))
    }

    /// Create a tenant
    ///
    /// Creates the tenant with its first signing key. Answers 409
    /// `tenant_exists` when another tenant has the slug, 400
    /// `validation_failed` for a malformed slug, name or setting.
    #[oai(
        path = "/admin/tenants",
        method = "post",
        operation_id = "createTenant"
    )]
    async fn create(
        &self,
        services: Data<&Arc<Services>>,
        auth: BearerAuth,
        body: JsonBody<CreateTenantRequest>,
        req: &Request,
    ) -> ApiResult<Created> {
        let actor = services
            .authorize_superadmin(auth.token(), client_info(req))
            .await?;
        let JsonBody(body) = body;
        let patch = body.settings.unwrap_or_default();
        let tenant = services
            .platform
            .create_tenant(&actor, &body.slug, &body.name, |s| patch.apply(s))
            .await?;
        Ok(Created::Created(Json(tenant.into())))
    }

    /// Get a tenant
    #[oai(
        path = "/admin/tenants/:tenant",
        method = "get",
        operation_id = "getTenant"
    )]
    async fn get(
        &self,
        services: Data<&Arc<Services>>,
        auth: BearerAuth,
        tenant: Path<String>,
        req: &Request,
    ) -> ApiResult<Json<Tenant>> {
        services
            .authorize_superadmin(auth.token(), client_info(req))
            .await?;
        Ok(Json(services.tenants.get(&tenant).await?.into()))
    }

    /// Update a tenant's name or settings
    ///
    /// Takes effect on this instance at once and on others sharing the
    /// database within 5 seconds (their tenant cache lifetime).
    #[oai(
        path = "/admin/tenants/:tenant",
        method = "patch",
        operation_id = "updateTenant"
    )]
    async fn update(
        &self,
        services: Data<&Arc<Services>>,
        auth: BearerAuth,
        tenant: Path<String>,
        body: JsonBody<UpdateTenantRequest>,
        req: &Request,
    ) -> ApiResult<Json<Tenant>> {
        let actor = services
            .authorize_superadmin(auth.token(), client_info(req))
            .await?;
        let JsonBody(body) = body;
        let changes = TenantChanges {
            name: body.name,
            settings: body.settings.map(|patch| move |s: &mut _| patch.apply(s)),
        };
        let tenant = services
            .platform
            .update_tenant(&actor, &tenant, changes)
            .await?;
        Ok(Json(tenant.into()))
    }

    /// Delete a tenant and everything in it
    ///
    /// Users, sessions, tokens, keys and audit events go, in one
    /// transaction. `system` cannot be deleted.
    #[oai(
        path = "/admin/tenants/:tenant",
        method = "delete",
        operation_id = "deleteTenant"
    )]
    async fn delete(
        &self,
        services: Data<&Arc<Services>>,
        auth: BearerAuth,
        tenant: Path<String>,
        req: &Request,
    ) -> ApiResult<NoContent> {
        let actor = services
            .authorize_superadmin(auth.token(), client_info(req))
            .await?;
        services.platform.delete_tenant(&actor, &tenant).await?;
        Ok(NoContent::NoContent)
    }

    /// Rotate the tenant's signing key
    ///
    /// The new key (of the tenant's `signingAlgorithm`) signs from now on.
    /// The old key stays in the JWKS and keeps verifying until the tokens it
    /// signed have expired (the access-token lifetime, plus 5 s for other
    /// instances' caches), then it is retired. Returns the new public JWK.
    #[oai(
        path = "/admin/tenants/:tenant/keys/rotate",
        method = "post",
        operation_id = "rotateTenantKey"
    )]
    async fn rotate(
        &self,
        services: Data<&Arc<Services>>,
        auth: BearerAuth,
        tenant: Path<String>,
        req: &Request,
    ) -> ApiResult<Json<serde_json::Value>> {
        let actor = services
            .authorize_superadmin(auth.token(), client_info(req))
            .await?;
        let jwk = services.platform.rotate_key(&actor, &tenant).await?;
        Ok(Json(jwk))
    }
}
