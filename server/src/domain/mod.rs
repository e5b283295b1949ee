//! Domain types: input is parsed into these once, at the edge, and
//! everything behind the edge takes them. This module imports neither poem
//! nor sea-orm.

mod email;
mod ids;
mod name;
mod page;
mod password;
mod role;
mod secret;
mod tenant_settings;
mod tenant_slug;

pub use email::Email;
pub use ids::{SessionId, TenantId, UserId};
pub use name::DisplayName;
pub use page::Page;
pub use password::{Password, PasswordPolicy};
pub use role::Role;
pub use secret::Secret;
pub use tenant_settings::{
    EmailVerification, Limit, Lockout, RateLimits, SigningAlgorithm, TenantSettings,
};
pub use tenant_slug::TenantSlug;

/// One rejected input field, as listed in a `validation_failed` problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Collects field errors so a request reports every bad field at once
/// instead of only the first.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// Keeps the parsed value, or records why `field` was rejected.
    pub fn check<T>(&mut self, field: &'static str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(message) => {
                self.errors.push(FieldError::new(field, message));
                None
            }
        }
    }

    /// Like [`Validator::check`], for inputs that can break several rules
    /// at once (a password): each message becomes its own entry for `field`.
    pub fn check_all<T>(
        &mut self,
        field: &'static str,
        parsed: Result<T, Vec<String>>,
    ) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(messages) => {
                self.errors.extend(
                    messages
                        .into_iter()
                        .map(|message| FieldError::new(field, message)),
                );
                None
            }
        }
    }

    /// `Ok(())` when every check passed. Call after all checks, before
    /// using the `Option`s they returned.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}
