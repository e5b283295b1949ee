//! The `page` and `perPage` query parameters, typed so that the OpenAPI
//! document shows their bounds and defaults and generated clients know
//! them. [`Page::parse`] enforces those bounds, with messages that name
//! them, so any unsigned integer parses here.

use std::borrow::Cow;
use std::marker::PhantomData;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult, Type};

use crate::domain::Page;
use crate::error::Error;

/// What a parameter's schema says of it.
pub trait Bounds: Send + Sync {
    const MINIMUM: u64;
    const MAXIMUM: Option<u64>;
    const DEFAULT: u64;
}

/// `page`: 1-based; how far it may go depends on `perPage`.
pub enum Number {}

impl Bounds for Number {
    const MINIMUM: u64 = 1;
    const MAXIMUM: Option<u64> = None;
    const DEFAULT: u64 = 1;
}

/// `perPage`.
pub enum Size {}

impl Bounds for Size {
    const MINIMUM: u64 = 1;
    const MAXIMUM: Option<u64> = Some(Page::MAX_SIZE);
    const DEFAULT: u64 = Page::DEFAULT_SIZE;
}

pub struct Param<B>(u64, PhantomData<B>);

pub type PageNumber = Param<Number>;
pub type PerPage = Param<Size>;

impl<B: Bounds> Type for Param<B> {
    const IS_REQUIRED: bool = true;

    type RawValueType = u64;

    type RawElementValueType = u64;

    fn name() -> Cow<'static, str> {
        u64::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new_with_format("integer", "uint64");
        // Exact: both are far below 2^53.
        schema.minimum = Some(B::MINIMUM as f64);
        schema.maximum = B::MAXIMUM.map(|maximum| maximum as f64);
        schema.default = Some(B::DEFAULT.into());
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&u64> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a u64> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl<B: Bounds> ParseFromParameter for Param<B> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        u64::parse_from_parameter(value)
            .map(|n| Self(n, PhantomData))
            .map_err(ParseError::propagate)
    }
}

/// The page the two parameters ask for.
pub fn page(number: Option<PageNumber>, size: Option<PerPage>) -> Result<Page, Error> {
    Page::parse(number.map(|n| n.0), size.map(|s| s.0)).map_err(Error::Validation)
}
