//! How the plain types read a raw value. JSON is read strictly by its type
//! (a string is no number, as the OpenAPI document says); text (forms,
//! query strings) is parsed.

use serde_json::{Value, json};

use super::{Field, Invalid, Problem, Raw};

impl Field for String {
    fn read(raw: Raw<'_>) -> Result<Self, Invalid> {
        match raw {
            Raw::Json(Value::String(text)) => Ok(text.clone()),
            Raw::Text(text) => Ok(text.to_owned()),
            Raw::Json(_) => Err(Problem::string_type().into()),
        }
    }
}

impl Field for i64 {
    fn read(raw: Raw<'_>) -> Result<Self, Invalid> {
        match raw {
            Raw::Text(text) => text.parse().map_err(|_| Problem::int_parsing().into()),
            Raw::Json(Value::Number(number)) => {
                if let Some(n) = number.as_i64() {
                    return Ok(n);
                }
                // JSON Schema's integer includes `5.0`; pydantic takes it too.
                match number.as_f64() {
                    Some(f) if f.fract() != 0.0 => Err(Problem::int_from_float().into()),
                    // Whole, but beyond i64 (a u64 or a huge float).
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
                    _ => Err(Problem::int_parsing().into()),
                }
            }
            Raw::Json(_) => Err(Problem::int_type().into()),
        }
    }
}

impl Field for f64 {
    fn read(raw: Raw<'_>) -> Result<Self, Invalid> {
        let value = match raw {
            Raw::Text(text) => text.trim().parse::<f64>().map_err(|_| Problem::float_parsing())?,
            Raw::Json(Value::Number(number)) => number.as_f64().ok_or_else(Problem::float_type)?,
            Raw::Json(_) => return Err(Problem::float_type().into()),
        };
        if value.is_finite() {
            Ok(value)
        } else {
            Err(Problem::finite_number().into())
        }
    }
}

impl<T: Field> Field for Vec<T> {
    fn read(raw: Raw<'_>) -> Result<Self, Invalid> {
        let Raw::Json(Value::Array(elements)) = raw else {
            return Err(Problem::list_type().into());
        };
        let mut values = Vec::with_capacity(elements.len());
        let mut problems = Vec::new();
        for (index, element) in elements.iter().enumerate() {
            match T::read(Raw::Json(element)) {
                Ok(value) => values.push(value),
                Err(Invalid(found)) => problems.extend(found.into_iter().map(|p| p.at_index(index))),
            }
        }
        if problems.is_empty() {
            Ok(values)
        } else {
            Err(Invalid(problems))
        }
    }
}

/// A JSON object, kept whole: a value another library reads (a WebAuthn
/// credential), which says itself what is wrong inside it.
impl Field for serde_json::Map<String, Value> {
    fn read(raw: Raw<'_>) -> Result<Self, Invalid> {
        match raw {
            Raw::Json(Value::Object(object)) => Ok(object.clone()),
            _ => Err(Problem::dict_type().into()),
        }
    }
}

/// A string of `min..=max` characters (Unicode scalar values, as JSON
/// Schema's `minLength`/`maxLength` count them).
pub fn bounded_text(raw: Raw<'_>, min: usize, max: usize) -> Result<String, Invalid> {
    let text = String::read(raw)?;
    let length = text.chars().count();
    if length < min {
        Err(Problem::string_too_short(min).into())
    } else if length > max {
        Err(Problem::string_too_long(max).into())
    } else {
        Ok(text)
    }
}

/// An integer in `min..=max`.
pub fn bounded_int(raw: Raw<'_>, min: i64, max: i64) -> Result<i64, Invalid> {
    let n = i64::read(raw)?;
    if n < min {
        Err(Problem::greater_than_equal(json!(min)).into())
    } else if n > max {
        Err(Problem::less_than_equal(json!(max)).into())
    } else {
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds<T: Field + std::fmt::Debug>(raw: Raw<'_>) -> Vec<&'static str> {
        T::read(raw).unwrap_err().0.iter().map(|p| p.kind).collect()
    }

    #[test]
    fn json_is_read_by_its_type_and_text_is_parsed() {
        assert_eq!(i64::read(Raw::Json(&json!(5))).unwrap(), 5);
        assert_eq!(i64::read(Raw::Json(&json!(5.0))).unwrap(), 5);
        assert_eq!(kinds::<i64>(Raw::Json(&json!(5.5))), ["int_from_float"]);
        assert_eq!(kinds::<i64>(Raw::Json(&json!("5"))), ["int_type"]);
        assert_eq!(i64::read(Raw::Text("5")).unwrap(), 5);
        assert_eq!(kinds::<i64>(Raw::Text("five")), ["int_parsing"]);
        assert_eq!(kinds::<i64>(Raw::Text("99999999999999999999")), ["int_parsing"]);
        assert_eq!(f64::read(Raw::Json(&json!(2))).unwrap(), 2.0);
        assert_eq!(kinds::<f64>(Raw::Json(&json!("2"))), ["float_type"]);
        assert_eq!(kinds::<f64>(Raw::Text("x")), ["float_parsing"]);
        assert_eq!(kinds::<f64>(Raw::Text("inf")), ["finite_number"]);
        assert_eq!(kinds::<String>(Raw::Json(&json!(1))), ["string_type"]);
        assert_eq!(kinds::<String>(Raw::Json(&Value::Null)), ["string_type"]);
    }

    #[test]
    fn a_list_reports_each_bad_element_at_its_index() {
        let invalid = Vec::<String>::read(Raw::Json(&json!(["a", 1, "b", false]))).unwrap_err();
        let at: Vec<_> = invalid.0.iter().map(|p| p.at.clone()).collect();
        assert_eq!(
            at,
            [
                vec![super::super::LocPart::Index(1)],
                vec![super::super::LocPart::Index(3)]
            ]
        );
        assert_eq!(kinds::<Vec<String>>(Raw::Json(&json!("a"))), ["list_type"]);
    }

    #[test]
    fn bounds_name_the_rule_broken() {
        assert_eq!(
            bounded_text(Raw::Json(&json!("")), 1, 3).unwrap_err().0[0].kind,
            "string_too_short"
        );
        assert_eq!(
            bounded_text(Raw::Json(&json!("éééé")), 1, 3).unwrap_err().0[0].kind,
            "string_too_long"
        );
        assert_eq!(bounded_text(Raw::Json(&json!("ééé")), 1, 3).unwrap(), "ééé");
        assert_eq!(
            bounded_int(Raw::Text("0"), 1, 100).unwrap_err().0[0].kind,
            "greater_than_equal"
        );
        assert_eq!(
            bounded_int(Raw::Text("101"), 1, 100).unwrap_err().0[0].kind,
            "less_than_equal"
        );
        assert_eq!(bounded_int(Raw::Text("100"), 1, 100).unwrap(), 100);
    }
}
