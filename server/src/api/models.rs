//! The response shapes of API.md, as OpenAPI objects.

use chrono::{DateTime, Utc};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use uuid::Uuid;

use super::settings::Settings;
use crate::service::auth::TokenPair as ServiceTokenPair;
use crate::store::audit::AuditRecord;
use crate::store::sessions::Session as StoredSession;
use crate::store::tenants::Tenant as StoredTenant;
use crate::store::users::User as StoredUser;

/// A user of a tenant. Optional fields are absent when unset, never `null`.
#[derive(Debug, Object)]
#[oai(rename = "User", rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct User {
    pub id: Uuid,
    /// Trimmed and lower-cased.
    pub email: String,
    /// Display name; absent when the user has none.
    pub name: Option<String>,
    /// Every user has `user`; `admin` administers the tenant.
    pub roles: Vec<String>,
    pub email_verified: bool,
    pub disabled: bool,
    /// Whether logins are currently refused after too many failures.
    pub locked: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<StoredUser> for User {
    fn from(user: StoredUser) -> Self {
        Self {
            id: user.id.0,
            email: user.email,
            name: user.name,
            roles: user.roles,
            email_verified: user.email_verified,
            disabled: user.disabled,
            locked: user.locked_until.is_some_and(|until| until > Utc::now()),
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// Tokens issued by login and refresh.
#[derive(Debug, Object)]
#[oai(rename = "TokenPair", rename_all = "camelCase")]
pub struct TokenPair {
    /// A JWT (`typ: at+jwt`) signed with the tenant's current key;
    /// verifiable from the tenant's JWKS.
    pub access_token: String,
    /// Opaque; present it to `/auth/refresh` for a new pair. Single use:
    /// each refresh retires it, and presenting a retired token again revokes
    /// the session.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u32,
    /// Seconds until the session, and so every refresh token, ends.
    pub refresh_expires_in: u32,
}

impl From<ServiceTokenPair> for TokenPair {
    fn from(pair: ServiceTokenPair) -> Self {
        Self {
            access_token: pair.access_token.expose().clone(),
            refresh_token: pair.refresh_token.expose().clone(),
            token_type: "Bearer".into(),
            expires_in: pair.expires_in,
            refresh_expires_in: pair.refresh_expires_in,
        }
    }
}

/// A login session: one device or client, kept alive by refresh tokens.
/// Optional fields are absent when unknown, never `null`.
#[derive(Debug, Object)]
#[oai(
    rename = "Session",
    rename_all = "camelCase",
    skip_serializing_if_is_none
)]
pub struct Session {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The last login or refresh (plain access-token use does not count).
    pub last_used_at: DateTime<Utc>,
    /// The absolute end; refreshing never extends it.
    pub expires_at: DateTime<Utc>,
    /// Client IP at the last login or refresh.
    pub ip: Option<String>,
    /// `User-Agent` at the last login or refresh; absent when none was sent.
    pub user_agent: Option<String>,
    /// On `/me/sessions`: whether this is the session of the calling token.
    pub current: Option<bool>,
}

impl Session {
    pub fn new(session: StoredSession, current: Option<bool>) -> Self {
        Self {
            id: session.id.0,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            expires_at: session.expires_at,
            ip: session.ip,
            user_agent: session.user_agent,
            current,
        }
    }
}

/// The answer of operations that return nothing.
#[derive(ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

/// A page of users.
#[derive(Debug, Object)]
#[oai(rename = "UserPage", rename_all = "camelCase")]
pub struct UserPage {
    pub items: Vec<User>,
    /// 1-based page number.
    pub page: u64,
    pub per_page: u64,
    /// How many users match, over all pages.
    pub total: u64,
}

/// A tenant: an isolated user pool.
#[derive(Debug, Object)]
#[oai(rename = "Tenant", rename_all = "camelCase")]
pub struct Tenant {
    pub slug: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub settings: Settings,
}

impl From<StoredTenant> for Tenant {
    fn from(tenant: StoredTenant) -> Self {
        Self {
            slug: tenant.slug.to_string(),
            name: tenant.name,
            created_at: tenant.created_at,
            settings: tenant.settings.into(),
        }
    }
}

/// A page of tenants, in slug order.
#[derive(Debug, Object)]
#[oai(rename = "TenantPage", rename_all = "camelCase")]
pub struct TenantPage {
    pub items: Vec<Tenant>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

/// One security event of a tenant's audit log. Optional fields are absent
/// when unknown, never `null`.
#[derive(Debug, Object)]
#[oai(
    rename = "AuditEvent",
    rename_all = "camelCase",
    skip_serializing_if_is_none
)]
pub struct AuditEvent {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// e.g. `login.succeeded`, `login.failed`, `refresh.reuse_detected`,
    /// `logout`, `logout.all`, `user.created`, `user.updated`,
    /// `user.disabled`, `user.enabled`, `user.deleted`, `user.roles_changed`,
    /// `session.revoked`, `tenant.created`, `tenant.updated`,
    /// `tenant.deleted`, `key.rotated`, `password.changed`,
    /// `password.reset_requested`, `password.reset_completed`, `email.verified`.
    #[oai(rename = "type")]
    pub kind: String,
    /// The user who acted, when known.
    pub actor_user_id: Option<Uuid>,
    /// The user acted upon, when any.
    pub subject_user_id: Option<Uuid>,
    /// The client's IP, for events a request caused.
    pub ip: Option<String>,
    /// The client's `User-Agent`, when it sent one.
    pub user_agent: Option<String>,
    /// Event-specific facts (ids, reasons, counts); never a secret.
    pub detail: serde_json::Value,
}

impl From<AuditRecord> for AuditEvent {
    fn from(record: AuditRecord) -> Self {
        Self {
            id: record.id,
            occurred_at: record.occurred_at,
            kind: record.kind,
            actor_user_id: record.actor.map(|u| u.0),
            subject_user_id: record.subject.map(|u| u.0),
            ip: record.ip,
            user_agent: record.user_agent,
            detail: record.detail,
        }
    }
}

/// A page of audit events, newest first.
#[derive(Debug, Object)]
#[oai(rename = "AuditEventPage", rename_all = "camelCase")]
pub struct AuditEventPage {
    pub items: Vec<AuditEvent>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

/// The answer of requests whose effect happens later (a mail is sent).
#[derive(Debug, Object)]
#[oai(rename = "Accepted", rename_all = "camelCase")]
pub struct Accepted {
    /// What happens next, for people.
    pub message: String,
}

impl Accepted {
    pub fn new(message: &str) -> Self {
        Self {
            message: message.to_owned(),
        }
    }
}

/// 202 with an [`Accepted`] body.
#[derive(ApiResponse)]
pub enum AcceptedResponse {
    /// Accepted; any mail is sent in the background.
    #[oai(status = 202)]
    Accepted(Json<Accepted>),
}
