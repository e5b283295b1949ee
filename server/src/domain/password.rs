use serde::{Deserialize, Serialize};

use super::Secret;

/// A plaintext password that passed its tenant's policy. It only ever lives
/// inside a [`Secret`], so it cannot be logged by accident.
#[derive(Debug, Clone)]
pub struct Password(Secret<String>);

/// The rules a new password must follow. Lengths count characters, not
/// bytes. The upper bound exists because argon2 work grows with input
/// length and nobody types 1,000 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PasswordPolicy {
    pub min_length: u32,
    pub max_length: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 128,
        }
    }
}

impl Password {
    /// Checks a password being set (register, change, reset) against the policy.
    pub fn parse_new(input: String, policy: &PasswordPolicy) -> Result<Self, String> {
        let chars = input.chars().count();
        let (min, max) = (policy.min_length as usize, policy.max_length as usize);
        if chars == 0 {
            return Err("is required".into());
        }
        if chars < min {
            return Err(format!("must be at least {} characters", policy.min_length));
        }
        if chars > max {
            return Err(format!("must be at most {} characters", policy.max_length));
        }
        Ok(Self(Secret::new(input)))
    }

    /// A password being checked (login): no policy, because the policy may
    /// have changed since it was set, but still bounded so an attacker
    /// cannot make us hash megabytes.
    pub fn parse_attempt(input: String) -> Result<Self, String> {
        if input.is_empty() {
            return Err("is required".into());
        }
        if input.len() > 4096 {
            return Err("is too long".into());
        }
        Ok(Self(Secret::new(input)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

#[cfg(test)]
mod tests {
    use super::{Password, PasswordPolicy};

    #[test]
    fn policy_bounds() {
        let policy = PasswordPolicy::default();
        assert!(Password::parse_new("short".into(), &policy).is_err());
        assert!(Password::parse_new("long enough".into(), &policy).is_ok());
        assert!(Password::parse_new("x".repeat(129), &policy).is_err());
        // Characters, not bytes: eight multi-byte characters pass.
        assert!(Password::parse_new("ééééééé€".into(), &policy).is_ok());
    }

    #[test]
    fn debug_does_not_show_the_password() {
        let password = Password::parse_attempt("hunter22".into()).unwrap();
        assert!(!format!("{password:?}").contains("hunter22"));
    }
}
