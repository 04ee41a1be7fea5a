//! Request input read field by field, the way FastAPI (pydantic v2) reads a
//! model: every field is checked and every problem reported at once, each
//! with pydantic's `type`, wording and `ctx`, so clients written against
//! FastAPI read rampart's 422s unchanged (SPEC section 3).
//!
//! Written here rather than taken from a crate: serde stops at the first
//! error, and validator or garde check a value only after serde has built
//! it, so one field of the wrong type hides every other problem; and
//! pydantic's error vocabulary is the contract, not any crate's.
//!
//! A request type implements [`Model`] by asking [`Fields`] for each of its
//! fields in order; a field type implements [`Field`] by reading one
//! [`Raw`] value into itself or saying what is wrong with it ([`Problem`]).

mod fields;
mod issue;
mod problem;
mod values;

pub use fields::{Fields, Model, read_json, read_pairs};
pub use issue::{LocPart, Source, ValidationErrorBody, ValidationIssue};
pub use problem::{Invalid, Problem};
pub use values::{bounded_int, bounded_text};

/// The most problems one 422 lists: the first ones, in the usual order
/// (the model's fields, then the names it does not know). A body of many
/// thousand wrong keys is answered in a few kilobytes, not megabytes (SPEC
/// section 11; OWASP API4:2023).
pub const MAX_ISSUES: usize = 100;

/// One raw value: a JSON value, or the text of a form field or query
/// parameter (where every value is text and a field's type parses it).
#[derive(Clone, Copy, Debug)]
pub enum Raw<'a> {
    Json(&'a serde_json::Value),
    Text(&'a str),
}

/// A type one field's value is read into.
pub trait Field: Sized {
    fn read(raw: Raw<'_>) -> Result<Self, Invalid>;
}
