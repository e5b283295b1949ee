use std::fmt;

/// A role name: `[a-z][a-z0-9_-]{0,31}`. `user`, `admin` and `superadmin`
/// have meaning to Portcullis; others are for the applications' own use and
/// travel in the `roles` claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Role(String);

impl Role {
    pub const USER: &str = "user";
    pub const ADMIN: &str = "admin";
    pub const SUPERADMIN: &str = "superadmin";

    pub fn parse(input: &str) -> Result<Self, String> {
        let mut chars = input.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if first_ok && rest_ok && input.len() <= 32 {
            Ok(Self(input.to_owned()))
        } else {
            Err(format!(
                "{input:?} is not a role name (a lower-case letter, then up to 31 of a-z, 0-9, _ and -)"
            ))
        }
    }

    pub fn user() -> Self {
        Self(Self::USER.to_owned())
    }

    pub fn superadmin() -> Self {
        Self(Self::SUPERADMIN.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn names() {
        assert!(Role::parse("admin").is_ok());
        assert!(Role::parse("billing_viewer-2").is_ok());
        assert!(Role::parse("").is_err());
        assert!(Role::parse("Admin").is_err());
        assert!(Role::parse("1admin").is_err());
        assert!(Role::parse(&"a".repeat(33)).is_err());
    }
}
