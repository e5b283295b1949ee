use std::collections::HashSet;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use super::{Email, Secret};

/// A plaintext password, NFKC-normalised, that passed its tenant's policy
/// (or, for a login attempt, the length bound). It only ever lives inside a
/// [`Secret`], so it cannot be logged by accident.
#[derive(Debug, Clone)]
pub struct Password(Secret<String>);

/// The rules a new password must follow (register, change, reset, and the
/// admin API: all of them go through [`Password::parse_new`]). Lengths
/// count Unicode scalar values after NFKC normalisation, not bytes. The
/// upper bound exists because argon2 work grows with input length and
/// nobody types 1,000 characters.
///
/// Following NIST SP 800-63B §5.1.1.2, the defaults are length plus a
/// blocklist of common passwords, and composition rules are off: they push
/// people to `Password1!` rather than to longer passwords. A tenant that
/// must have them can switch each one on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PasswordPolicy {
    pub min_length: u32,
    pub max_length: u32,
    /// At least one upper-case letter.
    pub require_uppercase: bool,
    /// At least one lower-case letter.
    pub require_lowercase: bool,
    /// At least one digit.
    pub require_digit: bool,
    /// At least one character that is neither a letter nor a digit.
    pub require_symbol: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 128,
            require_uppercase: false,
            require_lowercase: false,
            require_digit: false,
            require_symbol: false,
        }
    }
}

/// The 30,000 most common passwords of the Xato corpus, as ranked by
/// zxcvbn (`src/frequency_lists.rs` of the MIT-licensed `zxcvbn` crate
/// 3.1.1, one entry a line, all lower case). Bundled so the check needs no
/// network and never leaks the password to a third party.
const COMMON_PASSWORDS: &str = include_str!("../../data/common-passwords.txt");

/// Built on first use; compared in lower case, as the list is.
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    COMMON_PASSWORDS
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

/// An email local part shorter than this is not looked for inside the
/// password: `a@example.com` must not forbid every password with an `a`.
const MIN_LOCAL_PART_CHARS: usize = 3;

/// Login attempts longer than this are refused before hashing, whatever
/// the policy, so an attacker cannot make us hash megabytes.
const MAX_ATTEMPT_BYTES: usize = 4096;

/// A composition rule: whether the policy asks for it, the test a
/// character passes, and what to tell a person whose password has none.
type CompositionRule = (bool, fn(char) -> bool, &'static str);

impl Password {
    /// Checks a password being set (register, change, reset) against the
    /// policy and returns every rule it breaks, one message each. `email`
    /// is the account's, when known: a password that contains its local
    /// part is the first thing an attacker tries.
    pub fn parse_new(
        input: String,
        policy: &PasswordPolicy,
        email: Option<&Email>,
    ) -> Result<Self, Vec<String>> {
        let password = normalize(&input);
        if password.is_empty() {
            return Err(vec!["is required".into()]);
        }
        let chars = password.chars().count();
        let lower = password.to_lowercase();
        let mut errors = Vec::new();
        if chars < policy.min_length as usize {
            errors.push(format!(
                "must be at least {} characters long",
                policy.min_length
            ));
        }
        if chars > policy.max_length as usize {
            errors.push(format!(
                "must be at most {} characters long",
                policy.max_length
            ));
        }
        if COMMON.contains(lower.as_str()) {
            errors.push(
                "is one of the most common passwords; choose one that is harder to guess".into(),
            );
        }
        let local_part = email
            .and_then(|e| e.as_str().split('@').next())
            .filter(|local| local.chars().count() >= MIN_LOCAL_PART_CHARS);
        if local_part.is_some_and(|local| lower.contains(&local.to_lowercase())) {
            errors.push("must not contain the part of your email address before the @".into());
        }
        let rules: [CompositionRule; 4] = [
            (
                policy.require_uppercase,
                char::is_uppercase,
                "must contain an upper-case letter",
            ),
            (
                policy.require_lowercase,
                char::is_lowercase,
                "must contain a lower-case letter",
            ),
            (
                policy.require_digit,
                |c| c.is_numeric(),
                "must contain a digit",
            ),
            (
                policy.require_symbol,
                |c| !c.is_alphanumeric(),
                "must contain a symbol (a character that is neither a letter nor a digit, such as ! or a space)",
            ),
        ];
        for (required, present, message) in rules {
            if required && !password.chars().any(present) {
                errors.push(message.into());
            }
        }
        if errors.is_empty() {
            Ok(Self(Secret::new(password)))
        } else {
            Err(errors)
        }
    }

    /// A password being checked (login, current password): no policy,
    /// because the policy may have changed since it was set, but still
    /// bounded. Normalised like a new one, so the same keystrokes from
    /// another keyboard or OS hash the same.
    pub fn parse_attempt(input: String) -> Result<Self, String> {
        if input.is_empty() {
            return Err("is required".into());
        }
        if input.len() > MAX_ATTEMPT_BYTES {
            return Err("is too long".into());
        }
        Ok(Self(Secret::new(normalize(&input))))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

/// NFKC (NIST SP 800-63B §5.1.1.2): what is counted is what is hashed.
fn normalize(input: &str) -> String {
    input.nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::{COMMON, COMMON_PASSWORDS, Password, PasswordPolicy};
    use crate::domain::Email;

    fn errors(input: &str, policy: &PasswordPolicy, email: Option<&str>) -> Vec<String> {
        let email = email.map(|e| Email::parse(e).unwrap());
        match Password::parse_new(input.into(), policy, email.as_ref()) {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        }
    }

    #[test]
    fn policy_bounds() {
        let policy = PasswordPolicy::default();
        assert_eq!(
            errors("short", &policy, None),
            ["must be at least 8 characters long"]
        );
        assert!(errors("long enough", &policy, None).is_empty());
        assert_eq!(
            errors(&"x".repeat(129), &policy, None),
            ["must be at most 128 characters long"]
        );
        // Characters, not bytes: eight multi-byte characters pass.
        assert!(errors("ééééééé€", &policy, None).is_empty());
        assert_eq!(errors("", &policy, None), ["is required"]);
    }

    #[test]
    fn length_counts_after_nfkc() {
        let policy = PasswordPolicy::default();
        // "ﬀ" (one ligature) is "ff" after NFKC: seven characters become eight.
        assert!(errors("ﬀabcdef", &policy, None).is_empty());
        // A decomposed "é" (e + combining accent) is one character after NFKC.
        assert_eq!(
            errors("abcdefe\u{301}", &policy, None),
            ["must be at least 8 characters long"]
        );
        let composed = Password::parse_new("abcdefgé".into(), &policy, None).unwrap();
        let decomposed = Password::parse_new("abcdefge\u{301}".into(), &policy, None).unwrap();
        assert_eq!(composed.expose(), decomposed.expose());
        let attempt = Password::parse_attempt("abcdefge\u{301}".into()).unwrap();
        assert_eq!(attempt.expose(), composed.expose());
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        let policy = PasswordPolicy::default();
        for common in ["password", "PASSWORD", "12345678", "Iloveyou", "trustno1"] {
            let found = errors(common, &policy, None);
            assert!(
                found.iter().any(|m| m.contains("most common passwords")),
                "{common}: {found:?}"
            );
        }
    }

    #[test]
    fn the_bundled_list_is_large_and_lower_case() {
        assert!(COMMON.len() >= 10_000, "{}", COMMON.len());
        for line in COMMON_PASSWORDS.lines() {
            assert_eq!(line, line.to_lowercase(), "{line}");
        }
    }

    #[test]
    fn the_email_local_part_is_refused() {
        let policy = PasswordPolicy::default();
        let found = errors(
            "my-Alice.Smith-pw",
            &policy,
            Some("alice.smith@example.com"),
        );
        assert_eq!(
            found,
            ["must not contain the part of your email address before the @"]
        );
        // Very short local parts are not looked for.
        assert!(errors("a long passphrase", &policy, Some("a@example.com")).is_empty());
    }

    #[test]
    fn composition_rules_each_report_their_own_message() {
        let policy = PasswordPolicy {
            require_uppercase: true,
            require_lowercase: true,
            require_digit: true,
            require_symbol: true,
            ..PasswordPolicy::default()
        };
        let found = errors("abcdefghij", &policy, None);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.iter().any(|m| m.contains("upper-case")));
        assert!(found.iter().any(|m| m.contains("digit")));
        assert!(found.iter().any(|m| m.contains("symbol")));
        assert!(errors("Abcdefgh1!", &policy, None).is_empty());
        // Several failures at once: too short, and no digit.
        let both = errors("Ab!", &policy, None);
        assert_eq!(both.len(), 2, "{both:?}");
    }

    #[test]
    fn composition_rules_are_off_by_default() {
        assert!(errors("abcdefghij", &PasswordPolicy::default(), None).is_empty());
    }

    #[test]
    fn debug_does_not_show_the_password() {
        let password = Password::parse_attempt("hunter22".into()).unwrap();
        assert!(!format!("{password:?}").contains("hunter22"));
    }
}
