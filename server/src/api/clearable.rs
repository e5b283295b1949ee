//! A request field that may be left out (no change), set, or sent as
//! `null` (cleared). poem-openapi's `MaybeUndefined` parses all three but
//! gives the field its inner type's schema, which says nothing of `null`,
//! so generated clients could not send it; this wrapper marks the schema
//! `nullable` (OpenAPI 3.0).

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{MaybeUndefined, ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

pub struct Clearable<T>(MaybeUndefined<T>);

impl<T> Clearable<T> {
    /// `None`: leave as it is; `Some(None)`: clear; `Some(Some(v))`: set.
    pub fn change(self) -> Option<Option<T>> {
        match self.0 {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(value) => Some(Some(value)),
        }
    }
}

impl<T: Type> Type for Clearable<T> {
    const IS_REQUIRED: bool = false;

    type RawValueType = T::RawValueType;

    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        format!("clearable_{}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        match T::schema_ref() {
            MetaSchemaRef::Inline(mut schema) => {
                schema.nullable = true;
                MetaSchemaRef::Inline(schema)
            }
            // OpenAPI 3.0 ignores siblings of `$ref`: wrap it.
            reference @ MetaSchemaRef::Reference(_) => {
                MetaSchemaRef::Inline(Box::new(MetaSchema {
                    all_of: vec![reference],
                    nullable: true,
                    ..MetaSchema::ANY
                }))
            }
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_raw_value()
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        self.0.raw_element_iter()
    }

    fn is_none(&self) -> bool {
        self.0.is_none()
    }
}

impl<T: ParseFromJSON> ParseFromJSON for Clearable<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        MaybeUndefined::parse_from_json(value)
            .map(Self)
            .map_err(ParseError::propagate)
    }
}

impl<T: ToJSON> ToJSON for Clearable<T> {
    fn to_json(&self) -> Option<Value> {
        self.0.to_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_null_and_a_value_are_three_changes() {
        let parse = |v| Clearable::<String>::parse_from_json(v).map(Clearable::change);
        assert_eq!(parse(None).ok(), Some(None));
        assert_eq!(parse(Some(Value::Null)).ok(), Some(Some(None)));
        assert_eq!(
            parse(Some(Value::from("Ada"))).ok(),
            Some(Some(Some("Ada".to_owned())))
        );
        assert!(parse(Some(serde_json::json!(["Ada"]))).is_err());
    }

    #[test]
    fn the_schema_admits_null() {
        let MetaSchemaRef::Inline(schema) = Clearable::<String>::schema_ref() else {
            panic!("a string's schema is inline");
        };
        assert_eq!((schema.ty, schema.nullable), ("string", true));
    }

    #[test]
    fn a_referenced_schema_is_wrapped() {
        let MetaSchemaRef::Inline(schema) = Clearable::<crate::api::models::User>::schema_ref()
        else {
            panic!("the wrapper is inline");
        };
        assert!(schema.nullable);
        assert!(matches!(schema.all_of[..], [MetaSchemaRef::Reference(_)]));
    }
}
