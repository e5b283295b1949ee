//! The tenant-settings form, derived from `TenantSettings` itself: every
//! field of its JSON form becomes an input named by its path
//! (`settings.passwordPolicy.minLength`), the same path the service's
//! validation errors name. So the form shows every setting, a setting
//! added later appears without touching this file, and each error lands
//! beside its field. The rules stay in `TenantSettings::validate`.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::domain::{FieldError, TenantSettings};

/// The settings whose values are one of a few words.
const CHOICES: [(&str, &[&str]); 2] = [
    ("settings.signingAlgorithm", &["EdDSA", "ES256", "RS256"]),
    (
        "settings.emailVerification",
        &["off", "optional", "required"],
    ),
];

/// A submitted form, by input name.
pub type Submitted = HashMap<String, String>;

pub struct Field {
    /// The input's name: the setting's path, `settings.` first.
    pub name: String,
    pub label: String,
    /// `number`, `text`, `checkbox`, `select` or `lines` (a textarea, one item a line).
    pub kind: &'static str,
    pub value: String,
    pub choices: &'static [&'static str],
    pub errors: Vec<String>,
}

pub struct Group {
    pub title: String,
    pub fields: Vec<Field>,
}

/// The form: the shape and the values of `settings`, or the values as
/// submitted when showing them again with `errors`.
pub fn groups(
    settings: &TenantSettings,
    submitted: Option<&Submitted>,
    errors: &mut Errors,
) -> Vec<Group> {
    let mut general = Group {
        title: "Tokens and sign-up".into(),
        fields: Vec::new(),
    };
    let mut nested = Vec::new();
    for (key, value) in as_object(settings) {
        let path = format!("settings.{key}");
        match value {
            Value::Object(inner) => {
                let mut group = Group {
                    title: label(&key),
                    fields: Vec::new(),
                };
                leaves(&path, "", &inner, submitted, &mut group.fields);
                nested.push(group);
            }
            leaf => general
                .fields
                .push(field(&path, label(&key), &leaf, submitted)),
        }
    }
    let mut groups = vec![general];
    groups.append(&mut nested);
    // Each error beside the first field it names (an error about a whole
    // limit, `settings.rateLimits.loginPerIp`, beside its `max`).
    errors.retain(|(name, message)| {
        let found = groups.iter_mut().flat_map(|g| &mut g.fields).find(|f| {
            f.name == *name
                || f.name
                    .strip_prefix(name.as_str())
                    .is_some_and(|rest| rest.starts_with('.'))
        });
        match found {
            Some(field) => {
                field.errors.push(message.clone());
                false
            }
            None => true,
        }
    });
    groups
}

fn leaves(
    path: &str,
    prefix: &str,
    object: &Map<String, Value>,
    submitted: Option<&Submitted>,
    fields: &mut Vec<Field>,
) {
    for (key, value) in object {
        let path = format!("{path}.{key}");
        let text = if prefix.is_empty() {
            label(key)
        } else {
            format!("{prefix}: {}", label(key).to_lowercase())
        };
        match value {
            Value::Object(inner) => leaves(&path, &label(key), inner, submitted, fields),
            leaf => fields.push(field(&path, text, leaf, submitted)),
        }
    }
}

fn field(path: &str, label: String, current: &Value, submitted: Option<&Submitted>) -> Field {
    let choices = CHOICES
        .iter()
        .find(|(name, _)| *name == path)
        .map_or(&[][..], |(_, choices)| *choices);
    let kind = match current {
        Value::Bool(_) => "checkbox",
        Value::Number(_) => "number",
        Value::Array(_) => "lines",
        _ if !choices.is_empty() => "select",
        _ => "text",
    };
    let value = match submitted {
        Some(form) => form.get(path).cloned().unwrap_or_default(),
        None => match current {
            Value::Bool(true) => "on".into(),
            Value::Bool(false) | Value::Null => String::new(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n"),
            Value::Object(_) => String::new(),
        },
    };
    Field {
        name: path.to_owned(),
        label,
        kind,
        value,
        choices,
        errors: Vec::new(),
    }
}

/// Field errors by input name (or by a path above several inputs).
pub type Errors = Vec<(String, String)>;

/// The service's validation errors, in the form's terms.
pub fn errors(errors: Vec<FieldError>) -> Errors {
    errors
        .into_iter()
        .map(|e| (e.field.to_owned(), e.message))
        .collect()
}

/// The settings as submitted, shaped like `current`; the errors name the
/// inputs that could not be read at all (the rules are checked later, by
/// the service).
pub fn parse(current: &TenantSettings, form: &Submitted) -> Result<TenantSettings, Errors> {
    let mut bad = Vec::new();
    let object = read_object("settings", as_object(current), form, &mut bad);
    if !bad.is_empty() {
        return Err(bad
            .into_iter()
            .map(|name| (name, "must be a whole number".to_owned()))
            .collect());
    }
    serde_json::from_value(Value::Object(object))
        .map_err(|e| vec![("settings".to_owned(), format!("cannot be read: {e}"))])
}

fn read_object(
    path: &str,
    shape: Map<String, Value>,
    form: &Submitted,
    bad: &mut Vec<String>,
) -> Map<String, Value> {
    shape
        .into_iter()
        .map(|(key, current)| {
            let path = format!("{path}.{key}");
            let value = match (current, form.get(&path)) {
                (Value::Object(inner), _) => Value::Object(read_object(&path, inner, form, bad)),
                // An unticked checkbox is not sent at all.
                (Value::Bool(_), submitted) => Value::Bool(submitted.is_some()),
                // Any other input not sent keeps its value (as in a PATCH).
                (current, None) => current,
                (current, Some(submitted)) => read_leaf(&path, current, submitted.trim(), bad),
            };
            (key, value)
        })
        .collect()
}

fn read_leaf(path: &str, current: Value, submitted: &str, bad: &mut Vec<String>) -> Value {
    match current {
        Value::Number(_) => match submitted.parse::<u32>() {
            Ok(n) => Value::from(n),
            Err(_) => {
                bad.push(path.to_owned());
                Value::Null
            }
        },
        Value::Array(_) => Value::Array(
            submitted
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(|line| Value::String(line.to_owned()))
                .collect(),
        ),
        // Text: empty means unset (the audience falls back to the slug).
        _ if submitted.is_empty() => Value::Null,
        _ => Value::String(submitted.to_owned()),
    }
}

fn as_object(settings: &TenantSettings) -> Map<String, Value> {
    match serde_json::to_value(settings) {
        Ok(Value::Object(object)) => object,
        _ => Map::new(),
    }
}

/// `accessTokenTtlSeconds` → `Access token TTL seconds`.
fn label(key: &str) -> String {
    let mut words = Vec::new();
    let mut word = String::new();
    for c in key.chars() {
        if c.is_uppercase() && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        word.push(c.to_ascii_lowercase());
    }
    words.push(word);
    let words: Vec<String> = words
        .into_iter()
        .map(|w| match w.as_str() {
            "ttl" | "ip" | "cors" => w.to_uppercase(),
            _ => w,
        })
        .collect();
    let text = words.join(" ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(label("accessTokenTtlSeconds"), "Access token TTL seconds");
        assert_eq!(label("loginPerIp"), "Login per IP");
        assert_eq!(label("audience"), "Audience");
    }

    #[test]
    fn every_setting_is_a_field_and_reads_back_unchanged() {
        let settings = TenantSettings {
            audience: Some("api".into()),
            cors_origins: vec!["https://a.example".into(), "https://b.example".into()],
            ..TenantSettings::default()
        };
        let groups = groups(&settings, None, &mut Vec::new());
        let form: Submitted = groups
            .iter()
            .flat_map(|g| &g.fields)
            .filter(|f| f.kind != "checkbox" || f.value == "on")
            .map(|f| (f.name.clone(), f.value.clone()))
            .collect();
        assert!(form.contains_key("settings.rateLimits.loginPerIp.perSeconds"));
        assert!(form.contains_key("settings.lockout.maxFailures"));
        assert_eq!(parse(&settings, &form).unwrap(), settings);
    }

    #[test]
    fn errors_land_beside_their_fields() {
        let mut errors = vec![
            (
                "settings.rateLimits.loginPerIp".to_owned(),
                "bad limit".to_owned(),
            ),
            ("settings.audience".to_owned(), "bad audience".to_owned()),
            ("elsewhere".to_owned(), "kept".to_owned()),
        ];
        let groups = groups(&TenantSettings::default(), None, &mut errors);
        let field = |name: &str| {
            groups
                .iter()
                .flat_map(|g| &g.fields)
                .find(|f| f.name == name)
                .unwrap()
        };
        assert_eq!(
            field("settings.rateLimits.loginPerIp.max").errors,
            ["bad limit"]
        );
        assert!(
            field("settings.rateLimits.loginPerIp.perSeconds")
                .errors
                .is_empty()
        );
        assert_eq!(field("settings.audience").errors, ["bad audience"]);
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn unreadable_numbers_are_refused() {
        let mut form = Submitted::new();
        form.insert("settings.accessTokenTtlSeconds".into(), "soon".into());
        assert!(parse(&TenantSettings::default(), &form).is_err());
    }
}
