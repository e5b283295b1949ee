//! JSON request bodies. poem-openapi's own `Json<T>` reports a missing or
//! mistyped field without naming it, and demands a Content-Type even for an
//! empty body; these extractors name every bad field (from `T`'s own
//! schema) and let cookie-only requests carry no body at all (API.md).

use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde_json::Value;

use crate::domain::FieldError;

/// A required JSON body.
pub struct JsonBody<T>(pub T);

/// A JSON body that may be absent (no bytes, no Content-Type needed).
pub struct OptionalJsonBody<T>(pub Option<T>);

/// The body could not be read as `T`; becomes 400 `validation_failed`.
#[derive(Debug, thiserror::Error)]
#[error("invalid request body")]
pub struct BodyError(pub Vec<FieldError>);

impl poem::error::ResponseError for BodyError {
    fn status(&self) -> poem::http::StatusCode {
        poem::http::StatusCode::BAD_REQUEST
    }
}

/// The body was not sent as JSON; becomes 415 `unsupported_media_type`.
#[derive(Debug, thiserror::Error)]
#[error("the request body must be application/json")]
pub struct NotJson;

impl poem::error::ResponseError for NotJson {
    fn status(&self) -> poem::http::StatusCode {
        poem::http::StatusCode::UNSUPPORTED_MEDIA_TYPE
    }
}

fn request_meta<T: Type>(required: bool) -> MetaRequest {
    MetaRequest {
        description: None,
        content: vec![MetaMediaType {
            content_type: "application/json",
            schema: T::schema_ref(),
        }],
        required,
    }
}

fn is_json(request: &Request) -> bool {
    let Some(content_type) = request.content_type() else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads the body: `None` when it is empty and `optional`.
async fn read<T: ParseFromJSON>(
    request: &Request,
    body: &mut RequestBody,
    optional: bool,
) -> poem::Result<Option<T>> {
    let bytes = body.take()?.into_vec().await?;
    if bytes.is_empty() && optional {
        return Ok(None);
    }
    if !is_json(request) {
        return Err(NotJson.into());
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        BodyError(vec![FieldError::new(
            "body",
            format!("is not valid JSON ({e})"),
        )])
    })?;
    match T::parse_from_json(Some(value.clone())) {
        Ok(parsed) => Ok(Some(parsed)),
        Err(_) => Err(BodyError(explain::<T>(&value)).into()),
    }
}

/// Names what is wrong with `value` by walking `T`'s schema: the missing
/// required fields and the fields of the wrong JSON type. Only on the error
/// path, so the cost does not matter.
fn explain<T: Type>(value: &Value) -> Vec<FieldError> {
    let mut registry = Registry::new();
    T::register(&mut registry);
    let schema = match T::schema_ref() {
        MetaSchemaRef::Reference(name) => registry.schemas.remove(&name),
        MetaSchemaRef::Inline(schema) => Some(*schema),
    };
    let (Some(schema), Value::Object(object)) = (schema, value) else {
        return vec![FieldError::new("body", "must be a JSON object")];
    };
    let mut errors = Vec::new();
    for (name, property) in &schema.properties {
        match object.get(*name) {
            None | Some(Value::Null) if schema.required.contains(name) => {
                errors.push(FieldError::new(name, "is required"));
            }
            None | Some(Value::Null) => {}
            Some(found) => {
                if let MetaSchemaRef::Inline(inner) = property
                    && let Some(message) = type_mismatch(inner, found)
                {
                    errors.push(FieldError::new(name, message));
                }
            }
        }
    }
    if errors.is_empty() {
        errors.push(FieldError::new("body", "does not match the expected shape"));
    }
    errors
}

fn type_mismatch(schema: &MetaSchema, found: &Value) -> Option<String> {
    let ok = match schema.ty {
        "string" => found.is_string(),
        "integer" => found.is_i64() || found.is_u64(),
        "number" => found.is_number(),
        "boolean" => found.is_boolean(),
        "array" => found.is_array(),
        "object" => found.is_object(),
        _ => true,
    };
    (!ok).then(|| format!("must be of type {}", schema.ty))
}

impl<'a, T: ParseFromJSON + Send> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(request_meta::<T>(true))
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match read::<T>(request, body, false).await? {
            Some(value) => Ok(Self(value)),
            None => Err(BodyError(vec![FieldError::new("body", "is required")]).into()),
        }
    }
}

impl<'a, T: ParseFromJSON + Send> ApiExtractor<'a> for OptionalJsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(request_meta::<T>(false))
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        read::<T>(request, body, true).await.map(Self)
    }
}
