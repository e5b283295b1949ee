//! `/t/{tenant}/.well-known/...`: what a relying party needs to verify our
//! tokens without calling us again.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::problem::ApiResult;
use crate::service::Services;

pub struct WellKnownApi;

/// A JSON Web Key Set (RFC 7517 §5).
#[derive(Object)]
#[oai(rename = "Jwks")]
struct Jwks {
    /// The tenant's public keys: the current signing key and any older key
    /// still inside its retirement window.
    keys: Vec<serde_json::Value>,
}

/// OpenID Provider metadata (OpenID Connect Discovery 1.0 §3), as far as
/// Portcullis implements it.
#[derive(Object)]
#[oai(rename = "OpenIdConfiguration")]
struct OpenIdConfiguration {
    /// `{publicUrl}/t/{tenant}`; the `iss` of every token of the tenant.
    issuer: String,
    jwks_uri: String,
    token_endpoint: String,
    /// The signing algorithms of the tenant's keys.
    id_token_signing_alg_values_supported: Vec<String>,
    response_types_supported: Vec<String>,
    subject_types_supported: Vec<String>,
    grant_types_supported: Vec<String>,
    claims_supported: Vec<String>,
}

#[derive(ApiResponse)]
enum JwksResponse {
    /// The key set. Cacheable for five minutes: after a rotation, the new
    /// key is published before it signs anything.
    #[oai(status = 200)]
    Ok(Json<Jwks>, #[oai(header = "Cache-Control")] String),
}

#[OpenApi(tag = "ApiTags::WellKnown")]
impl WellKnownApi {
    /// The tenant's public signing keys (JWKS)
    #[oai(
        path = "/t/:tenant/.well-known/jwks.json",
        method = "get",
        operation_id = "getJwks"
    )]
    async fn jwks(
        &self,
        services: Data<&Arc<Services>>,
        tenant: Path<String>,
    ) -> ApiResult<JwksResponse> {
        let context = services.tenants.resolve(&tenant).await?;
        let keys = context
            .keys
            .verifying
            .iter()
            .filter_map(|k| serde_json::to_value(&k.jwk).ok())
            .collect();
        Ok(JwksResponse::Ok(
            Json(Jwks { keys }),
            "public, max-age=300".into(),
        ))
    }

    /// Discovery document
    #[oai(
        path = "/t/:tenant/.well-known/openid-configuration",
        method = "get",
        operation_id = "getOpenIdConfiguration"
    )]
    async fn openid_configuration(
        &self,
        services: Data<&Arc<Services>>,
        tenant: Path<String>,
    ) -> ApiResult<Json<OpenIdConfiguration>> {
        let context = services.tenants.resolve(&tenant).await?;
        let issuer = context.issuer.clone();
        let mut algorithms: Vec<String> = context
            .keys
            .verifying
            .iter()
            .map(|k| format!("{:?}", k.algorithm))
            .collect();
        algorithms.sort();
        algorithms.dedup();
        let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
        Ok(Json(OpenIdConfiguration {
            jwks_uri: format!("{issuer}/.well-known/jwks.json"),
            token_endpoint: format!("{issuer}/auth/login"),
            issuer,
            id_token_signing_alg_values_supported: algorithms,
            response_types_supported: strings(&["token"]),
            subject_types_supported: strings(&["public"]),
            grant_types_supported: strings(&["password", "refresh_token"]),
            claims_supported: strings(&[
                "iss", "sub", "aud", "exp", "iat", "jti", "sid", "roles", "email",
            ]),
        }))
    }
}
