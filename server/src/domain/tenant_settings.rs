use serde::{Deserialize, Serialize};

use super::PasswordPolicy;

/// A tenant's settings, stored as JSON on the tenant row. Every field has a
/// default, so rows written before a field existed read back sensibly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TenantSettings {
    /// Lifetime of access tokens, in seconds.
    pub access_token_ttl_seconds: u32,
    /// Absolute lifetime of a session and its refresh tokens, in seconds.
    pub refresh_token_ttl_seconds: u32,
    /// `aud` of access tokens; the tenant slug when unset.
    pub audience: Option<String>,
    /// Whether `POST /auth/register` is open. Always off in `system`.
    pub signup_enabled: bool,
    pub password_policy: PasswordPolicy,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            access_token_ttl_seconds: 15 * 60,
            refresh_token_ttl_seconds: 7 * 24 * 60 * 60,
            audience: None,
            signup_enabled: true,
            password_policy: PasswordPolicy::default(),
        }
    }
}
