use super::FieldError;

/// A page of a listing: 1-based `number`, `size` items (1–100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u64,
    pub size: u64,
}

/// The first page, of the default size.
impl Default for Page {
    fn default() -> Self {
        Self {
            number: 1,
            size: Self::DEFAULT_SIZE,
        }
    }
}

impl Page {
    pub const DEFAULT_SIZE: u64 = 20;
    pub const MAX_SIZE: u64 = 100;

    /// From the `page` and `perPage` query parameters.
    pub fn parse(number: Option<u64>, size: Option<u64>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let number = number.unwrap_or(1);
        if number == 0 {
            errors.push(FieldError::new("page", "must be 1 or more"));
        }
        let size = size.unwrap_or(Self::DEFAULT_SIZE);
        if !(1..=Self::MAX_SIZE).contains(&size) {
            errors.push(FieldError::new(
                "perPage",
                format!("must be between 1 and {}", Self::MAX_SIZE),
            ));
        }
        // The database takes the offset as a signed 64-bit integer.
        let offset_fits = number
            .saturating_sub(1)
            .checked_mul(size)
            .is_some_and(|offset| i64::try_from(offset).is_ok());
        if !offset_fits {
            errors.push(FieldError::new("page", "is past any possible result"));
        }
        if errors.is_empty() {
            Ok(Self { number, size })
        } else {
            Err(errors)
        }
    }

    pub fn offset(self) -> u64 {
        self.number.saturating_sub(1).saturating_mul(self.size)
    }

    pub fn limit(self) -> u64 {
        self.size
    }
}

#[cfg(test)]
mod tests {
    use super::Page;

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(
            Page::parse(None, None).unwrap(),
            Page {
                number: 1,
                size: 20
            }
        );
        assert_eq!(Page::parse(Some(3), Some(10)).unwrap().offset(), 20);
        assert_eq!(Page::parse(Some(0), Some(101)).unwrap_err().len(), 2);
        assert!(Page::parse(None, Some(100)).is_ok());
        // Offsets past i64::MAX are refused, not handed to the database.
        let last = (i64::MAX as u64) / 20 + 1;
        assert!(Page::parse(Some(last), None).is_ok());
        assert!(Page::parse(Some(last + 1), None).is_err());
        assert!(Page::parse(Some(u64::MAX), Some(100)).is_err());
    }
}
