//! The response shapes of API.md, as OpenAPI objects.

use chrono::{DateTime, Utc};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use uuid::Uuid;

use crate::service::auth::TokenPair as ServiceTokenPair;
use crate::store::sessions::Session as StoredSession;
use crate::store::users::User as StoredUser;

/// A user of a tenant.
#[derive(Debug, Object)]
#[oai(rename = "User", rename_all = "camelCase")]
pub struct User {
    pub id: Uuid,
    /// Trimmed and lower-cased.
    pub email: String,
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
            locked: false,
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
#[derive(Debug, Object)]
#[oai(rename = "Session", rename_all = "camelCase")]
pub struct Session {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The last login or refresh (plain access-token use does not count).
    pub last_used_at: DateTime<Utc>,
    /// The absolute end; refreshing never extends it.
    pub expires_at: DateTime<Utc>,
    /// Client IP at the last login or refresh.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// On `/me/sessions`: whether this is the session of the calling token.
    #[oai(skip_serializing_if_is_none)]
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
