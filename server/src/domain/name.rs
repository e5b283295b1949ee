/// A user's display name: trimmed, 1–200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

const MAX_CHARS: usize = 200;

impl DisplayName {
    /// An absent or blank name is `None`: the name is optional everywhere.
    pub fn parse_optional(input: Option<&str>) -> Result<Option<Self>, String> {
        let Some(name) = input.map(str::trim).filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        if name.chars().count() > MAX_CHARS {
            return Err(format!("must be at most {MAX_CHARS} characters"));
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Some(Self(name.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::DisplayName;

    #[test]
    fn blank_is_none() {
        assert_eq!(DisplayName::parse_optional(None), Ok(None));
        assert_eq!(DisplayName::parse_optional(Some("  ")), Ok(None));
    }

    #[test]
    fn trims_and_limits() {
        let name = DisplayName::parse_optional(Some(" Ada ")).unwrap().unwrap();
        assert_eq!(name.as_str(), "Ada");
        assert!(DisplayName::parse_optional(Some(&"x".repeat(201))).is_err());
        assert!(DisplayName::parse_optional(Some("a\u{7}b")).is_err());
    }
}
