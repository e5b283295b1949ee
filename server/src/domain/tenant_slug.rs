use std::fmt;

/// A tenant's slug as it appears in `/t/{tenant}/...`:
/// `^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$` (API.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantSlug(String);

impl TenantSlug {
    pub const SYSTEM: &str = "system";
    pub const DEFAULT: &str = "default";

    pub fn parse(input: &str) -> Result<Self, String> {
        let bytes = input.as_bytes();
        let edge_ok = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let valid = (1..=63).contains(&bytes.len())
            && bytes.first().is_some_and(edge_ok)
            && bytes.last().is_some_and(edge_ok)
            && bytes.iter().all(|b| edge_ok(b) || *b == b'-');
        if valid {
            Ok(Self(input.to_owned()))
        } else {
            Err(
                "must be 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'"
                    .into(),
            )
        }
    }

    pub fn system() -> Self {
        Self(Self::SYSTEM.to_owned())
    }

    pub fn is_system(&self) -> bool {
        self.0 == Self::SYSTEM
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::TenantSlug;

    #[test]
    fn accepts_the_pattern() {
        for ok in ["a", "0", "default", "acme-corp", "a1-b2", &"a".repeat(63)] {
            assert!(TenantSlug::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_the_rest() {
        for bad in [
            "",
            "-a",
            "a-",
            "Acme",
            "a_b",
            "a.b",
            "a b",
            &"a".repeat(64),
            "é",
        ] {
            assert!(TenantSlug::parse(bad).is_err(), "{bad}");
        }
    }
}
