//! DynamoDB-typed values to JSON text, byte for byte as the Python codec writes it.

use std::cmp::Ordering;

use crate::python::{Object, Unsupported, Walk};

// Below orjson's own nesting limit (255), so that deeper input gets orjson's error.
const MAX_DEPTH: usize = 200;

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Write an image (an exact dict of typed values) as plain JSON and as typed JSON, appending to
/// `plain` and `typed`, and when given `shape`, its shape: its typed JSON with every value
/// blanked, as `changelake.schemas.type_census.image_shape_bytes` writes it. On `Unsupported`
/// each may hold a partial text: the caller cuts it off.
pub fn write_image(
    image: Object,
    plain: &mut Vec<u8>,
    typed: &mut Vec<u8>,
    shape: Option<&mut Vec<u8>>,
) -> Walk<()> {
    Images {
        plain,
        typed,
        shape,
    }
    .attributes(image, 0)
}

/// The JSON texts being written: plain values, the typed input as it came, and (when asked)
/// the shape.
struct Images<'a> {
    plain: &'a mut Vec<u8>,
    typed: &'a mut Vec<u8>,
    shape: Option<&'a mut Vec<u8>>,
}

impl Images<'_> {
    #[inline]
    fn both(&mut self, bytes: &[u8]) {
        self.plain.extend_from_slice(bytes);
        self.typed.extend_from_slice(bytes);
    }

    /// Structure every text shares: braces, brackets, commas, names.
    #[inline]
    fn all(&mut self, bytes: &[u8]) {
        self.both(bytes);
        self.shape_of(bytes);
    }

    #[inline]
    fn shape_of(&mut self, bytes: &[u8]) {
        if let Some(shape) = self.shape.as_deref_mut() {
            shape.extend_from_slice(bytes);
        }
    }

    /// A JSON string into every text, escaped once.
    fn all_string(&mut self, text: &str) {
        let start = self.plain.len();
        self.both_string(text);
        if let Some(shape) = self.shape.as_deref_mut() {
            shape.extend_from_slice(&self.plain[start..]);
        }
    }

    /// A JSON string into the plain and typed texts, escaped once.
    fn both_string(&mut self, text: &str) {
        let start = self.plain.len();
        write_string(self.plain, text);
        self.typed.extend_from_slice(&self.plain[start..]);
    }

    fn attributes(&mut self, map: Object, depth: usize) -> Walk<()> {
        self.all(b"{");
        for (index, (name, value)) in map.entries().enumerate() {
            if index > 0 {
                self.all(b",");
            }
            self.all_string(name.text()?);
            self.all(b":");
            self.value(value, depth + 1)?;
        }
        self.all(b"}");
        Ok(())
    }

    fn value(&mut self, value: Object, depth: usize) -> Walk<()> {
        if depth > MAX_DEPTH || !value.is_dict() || value.dict_len() != 1 {
            return Err(Unsupported);
        }
        let Some((tag, inner)) = value.entries().next() else {
            return Err(Unsupported);
        };
        let tag = tag.text()?;
        // The typed text opens `{"<tag>":`; every tag below is plain ASCII.
        self.typed.extend_from_slice(b"{\"");
        self.typed.extend_from_slice(tag.as_bytes());
        self.typed.extend_from_slice(b"\":");
        self.shape_of(b"{\"");
        self.shape_of(tag.as_bytes());
        self.shape_of(b"\":");
        match tag {
            "S" => {
                self.both_string(inner.text()?);
                self.shape_of(b"\"\"");
            }
            "N" => {
                let text = inner.text()?;
                if !is_json_number(text.as_bytes()) {
                    return Err(Unsupported);
                }
                self.plain.extend_from_slice(text.as_bytes());
                write_string(self.typed, text);
                self.shape_of(if fits_long(text) {
                    b"\"0\""
                } else {
                    b"\"0.5\""
                });
            }
            "M" if inner.is_dict() => self.attributes(inner, depth)?,
            "L" if inner.is_list() => {
                self.all(b"[");
                for (index, element) in inner.items().enumerate() {
                    if index > 0 {
                        self.all(b",");
                    }
                    self.value(element, depth + 1)?;
                }
                self.all(b"]");
            }
            "BOOL" if inner.is_true() => {
                self.both(b"true");
                self.shape_of(b"false");
            }
            "BOOL" if inner.is_false() => self.all(b"false"),
            "NULL" if inner.is_true() => {
                self.plain.extend_from_slice(b"null");
                self.typed.extend_from_slice(b"true");
                self.shape_of(b"true");
            }
            "B" => {
                self.both_string(&base64_text(inner)?);
                self.shape_of(b"\"\"");
            }
            "SS" if inner.is_list() => {
                let mut texts = Vec::with_capacity(inner.list_len());
                for element in inner.items() {
                    texts.push(element.text()?);
                }
                write_strings(self.typed, texts.iter().copied());
                texts.sort_unstable();
                write_strings(self.plain, texts.iter().copied());
                self.shape_of(b"[]");
            }
            "NS" if inner.is_list() => {
                let mut numbers = Vec::with_capacity(inner.list_len());
                for element in inner.items() {
                    numbers.push(Number::parse(element.text()?).ok_or(Unsupported)?);
                }
                write_strings(self.typed, numbers.iter().map(|n| n.text));
                numbers.sort_by(Number::cmp);
                self.plain.extend_from_slice(b"[");
                for (index, number) in numbers.iter().enumerate() {
                    if index > 0 {
                        self.plain.extend_from_slice(b",");
                    }
                    self.plain.extend_from_slice(number.text.as_bytes());
                }
                self.plain.extend_from_slice(b"]");
                let long = numbers.iter().all(|number| fits_long(number.text));
                self.shape_of(if long { b"[\"0\"]" } else { b"[\"0.5\"]" });
            }
            "BS" if inner.is_list() => {
                let mut texts = Vec::with_capacity(inner.list_len());
                for element in inner.items() {
                    texts.push(base64_text(element)?);
                }
                write_strings(self.typed, texts.iter().map(String::as_str));
                let mut decoded: Vec<Vec<u8>> = texts.iter().map(|t| decode_base64(t)).collect();
                decoded.sort_unstable();
                let sorted: Vec<String> = decoded.iter().map(|b| encode_base64(b)).collect();
                write_strings(self.plain, sorted.iter().map(String::as_str));
                self.shape_of(b"[]");
            }
            _ => return Err(Unsupported),
        }
        self.typed.push(b'}');
        self.shape_of(b"}");
        Ok(())
    }
}

/// Whether a JSON number is an integer without fraction or exponent within the signed 64-bit
/// range: the type census's rule (`changelake.schemas.type_census.fits_long`).
fn fits_long(text: &str) -> bool {
    !text.contains(['.', 'e', 'E']) && text.parse::<i64>().is_ok()
}

/// Base64 text of a binary value: canonical base64 text as is, `bytes` encoded.
pub fn base64_text(value: Object) -> Walk<String> {
    if let Some(bytes) = value.bytes() {
        return Ok(encode_base64(bytes));
    }
    let text = value.text()?;
    if !is_canonical_base64(text.as_bytes()) {
        return Err(Unsupported);
    }
    Ok(text.to_owned())
}

fn write_strings<'a>(out: &mut Vec<u8>, texts: impl Iterator<Item = &'a str>) {
    out.push(b'[');
    for (index, text) in texts.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_string(out, text);
    }
    out.push(b']');
}

/// A JSON string as orjson writes it: `"` `\\` and control characters escaped, nothing else.
fn write_string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut index = 0;
    while index < bytes.len() {
        // Skip eight plain bytes at a time.
        if let Some(word) = bytes.get(index..index + 8) {
            if !needs_escape(u64::from_le_bytes(word.try_into().unwrap_or_default())) {
                index += 8;
                continue;
            }
        }
        let byte = bytes[index];
        index += 1;
        if byte >= 0x20 && byte != b'"' && byte != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..index - 1]);
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(byte >> 4) as usize],
                HEX[(byte & 0xf) as usize],
            ]),
        }
        start = index;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Whether any of eight bytes is a control character, `"` or `\\` (exact: a borrow only runs
/// past a byte that matched).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    control | has_zero(word ^ (ONES * u64::from(b'"'))) | has_zero(word ^ (ONES * u64::from(b'\\')))
        != 0
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`: a JSON number, written as received.
pub fn is_json_number(text: &[u8]) -> bool {
    let mut at = usize::from(text.first() == Some(&b'-'));
    let digits = |from: usize| {
        text[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let whole = digits(at);
    if whole == 0 || (whole > 1 && text[at] == b'0') {
        return false;
    }
    at += whole;
    if text.get(at) == Some(&b'.') {
        let fraction = digits(at + 1);
        if fraction == 0 {
            return false;
        }
        at += 1 + fraction;
    }
    if matches!(text.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(text.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let exponent = digits(at);
        if exponent == 0 {
            return false;
        }
        at += exponent;
    }
    at == text.len()
}

/// A number of a set, ordered by value then by its text (as Python sorts `(Decimal(t), t)`).
struct Number<'a> {
    text: &'a str,
    negative: bool,
    /// Significant digits without leading or trailing zeros; empty for zero.
    digits: Vec<u8>,
    /// The value is `0.<digits> * 10**exponent`.
    exponent: i64,
}

impl<'a> Number<'a> {
    fn parse(text: &'a str) -> Option<Number<'a>> {
        let bytes = text.as_bytes();
        if !is_json_number(bytes) {
            return None;
        }
        let negative = bytes[0] == b'-';
        let mantissa_end = bytes
            .iter()
            .position(|b| matches!(b, b'e' | b'E'))
            .unwrap_or(bytes.len());
        let written_exponent: i64 = if mantissa_end < bytes.len() {
            let exponent = &text[mantissa_end + 1..];
            // Beyond any DynamoDB number (exponents -130..126): the Python codec decides.
            if exponent.trim_start_matches(['+', '-']).len() > 9 {
                return None;
            }
            exponent.parse().ok()?
        } else {
            0
        };
        let mantissa = &bytes[usize::from(negative)..mantissa_end];
        let point = mantissa
            .iter()
            .position(|&b| b == b'.')
            .unwrap_or(mantissa.len());
        let all: Vec<u8> = mantissa.iter().copied().filter(|&b| b != b'.').collect();
        let leading = all.iter().take_while(|&&b| b == b'0').count();
        let mut digits = all[leading..].to_vec();
        while digits.last() == Some(&b'0') {
            digits.pop();
        }
        let exponent = point as i64 - leading as i64 + written_exponent;
        Some(Number {
            text,
            negative,
            digits,
            exponent,
        })
    }

    fn cmp(&self, other: &Number) -> Ordering {
        self.value_cmp(other)
            .then_with(|| self.text.as_bytes().cmp(other.text.as_bytes()))
    }

    fn value_cmp(&self, other: &Number) -> Ordering {
        let sign = |n: &Number| match (n.digits.is_empty(), n.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        };
        let (mine, theirs) = (sign(self), sign(other));
        if mine != theirs || mine == 0 {
            return mine.cmp(&theirs);
        }
        let magnitude = self
            .exponent
            .cmp(&other.exponent)
            .then_with(|| self.digits.cmp(&other.digits));
        if mine < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

fn base64_value(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Standard base64 with padding whose unused bits are zero: it decodes and encodes to itself.
fn is_canonical_base64(text: &[u8]) -> bool {
    if !text.len().is_multiple_of(4) {
        return false;
    }
    let padding = text.iter().rev().take_while(|&&b| b == b'=').count();
    if padding > 2 {
        return false;
    }
    let data = &text[..text.len() - padding];
    if !data.iter().all(|&b| base64_value(b).is_some()) {
        return false;
    }
    let last = data.last().and_then(|&b| base64_value(b)).unwrap_or(0);
    match padding {
        1 => last & 0b11 == 0,
        2 => last & 0b1111 == 0,
        _ => true,
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let values: Vec<u8> = text.bytes().filter_map(base64_value).collect();
    let mut out = Vec::with_capacity(values.len() * 3 / 4);
    for chunk in values.chunks(4) {
        let word = chunk
            .iter()
            .enumerate()
            .fold(0u32, |word, (i, &v)| word | u32::from(v) << (18 - 6 * i));
        out.extend_from_slice(&word.to_be_bytes()[1..chunk.len()]);
    }
    out
}

pub fn encode_base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let word = chunk
            .iter()
            .enumerate()
            .fold(0u32, |word, (i, &b)| word | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64_ALPHABET[(word >> (18 - 6 * i) & 0x3f) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers() {
        for good in ["0", "-0", "42", "-1.5E-10", "1e5", "0.25", "10.0e+3"] {
            assert!(is_json_number(good.as_bytes()), "{good}");
        }
        for bad in ["", "-", "01", "+1", ".5", "1.", "1e", "1e+", "NaN", "1 "] {
            assert!(!is_json_number(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn long_numbers_are_integers_within_64_bits_without_fraction_or_exponent() {
        for long in [
            "0",
            "-0",
            "20",
            "9223372036854775807",
            "-9223372036854775808",
        ] {
            assert!(fits_long(long), "{long}");
        }
        for other in [
            "19.99",
            "1e2",
            "1E+2",
            "9223372036854775808",
            "100000000000000348436",
        ] {
            assert!(!fits_long(other), "{other}");
        }
    }

    #[test]
    fn numbers_sort_by_value_then_text() {
        let mut numbers: Vec<Number> = ["10", "-2", "1.0", "1", "0.5", "-0", "0", "1e1", "-10"]
            .iter()
            .map(|t| Number::parse(t).unwrap())
            .collect();
        numbers.sort_by(Number::cmp);
        let texts: Vec<&str> = numbers.iter().map(|n| n.text).collect();
        assert_eq!(
            texts,
            ["-10", "-2", "-0", "0", "0.5", "1", "1.0", "10", "1e1"]
        );
    }

    #[test]
    fn strings_escape_as_orjson_does() {
        let mut out = Vec::new();
        write_string(
            &mut out,
            "plain text, longer than eight\u{7f}\"\\\n\u{1f}é\t",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"plain text, longer than eight\u{7f}\\\"\\\\\\n\\u001fé\\t\""
        );
        for byte in 0u8..=0x7f {
            let word = u64::from_le_bytes([b'a', b'b', byte, b'c', b'd', b'e', b'f', b'g']);
            let expected = byte < 0x20 || byte == b'"' || byte == b'\\';
            assert_eq!(needs_escape(word), expected, "{byte}");
        }
    }

    #[test]
    fn base64_round_trip() {
        for bytes in [&b""[..], b"a", b"ab", b"abc", b"\xff\x00\x10"] {
            let text = encode_base64(bytes);
            assert!(is_canonical_base64(text.as_bytes()));
            assert_eq!(decode_base64(&text), bytes);
        }
        for bad in ["QR==", "QQ", "QQ==QQ==", "Q===", "QQ=A", "QQ-_"] {
            assert!(!is_canonical_base64(bad.as_bytes()), "{bad}");
        }
    }
}
