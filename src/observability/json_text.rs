//! Text as JSON strings, escaped where it is written: into the
//! subscriber's `fmt::Write` buffer or an access line's bytes, without an
//! intermediate string (serde_json's escaper writes only to `io::Write`).

use std::fmt;

/// Writes `text` as a JSON string. serde_json's escaper only writes to
/// `io::Write`; the subscriber's buffer is a `fmt::Write`.
pub(super) fn write_json_str(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    write_escaped(out, text)?;
    out.write_char('"')
}

/// `text` escaped for the inside of a JSON string.
pub(super) fn write_escaped(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    // Ids, routes, names and addresses need no escape: one copy.
    if !needs_escape(text) {
        return out.write_str(text);
    }
    let mut start = 0;
    for (i, c) in text.char_indices() {
        let escaped = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.write_str(&text[start..i])?;
        if escaped.is_empty() {
            write!(out, "\\u{:04x}", c as u32)?;
        } else {
            out.write_str(escaped)?;
        }
        start = i + c.len_utf8();
    }
    out.write_str(&text[start..])
}

/// Whether `text` holds a character a JSON string must escape. (Folded
/// without stopping early, so the check vectorizes.)
pub(super) fn needs_escape(text: &str) -> bool {
    !text
        .bytes()
        .fold(true, |plain, b| plain & (b != b'"') & (b != b'\\') & (b >= 0x20))
}

/// Escapes what is formatted through it: a `Debug` or `Display` value goes
/// into the line without a `String` of its own.
pub(super) struct Escaping<'a, W>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write_escaped(self.0, text)
    }
}

/// `value`, formatted, as a JSON string.
pub(super) fn write_json_display(out: &mut impl fmt::Write, value: fmt::Arguments<'_>) -> fmt::Result {
    out.write_char('"')?;
    fmt::write(&mut Escaping(out), value)?;
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_values_are_escaped_as_they_are_written() {
        let mut out = String::new();
        write_json_display(&mut out, format_args!("{:?}", "a\"b")).unwrap();
        assert_eq!(out, r#""\"a\\\"b\"""#);
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "\"a\\\"b\"");
    }

    #[test]
    fn strings_are_escaped_as_json() {
        let mut out = String::new();
        write_json_str(&mut out, "a\"b\\c\nd\u{1}é").unwrap();
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "a\"b\\c\nd\u{1}é");
    }
}
