//! Python source text for values: what the runner writes into cells the kernel executes, and how
//! Python itself prints floats (nbformat files are written by Python's json module).

use serde_json::{Number, Value};

/// A Python literal that evaluates to `value`: strings survive any content (quotes, backslashes,
/// newlines, control characters, any unicode), numbers keep their type, objects become dicts.
pub fn literal(value: &Value) -> String {
    let mut out = String::new();
    write_literal(&mut out, value);
    out
}

fn write_literal(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&number_repr(n)),
        Value::String(s) => write_str_literal(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_literal(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str_literal(out, key);
                out.push_str(": ");
                write_literal(out, item);
            }
            out.push('}');
        }
    }
}

/// A double-quoted Python string literal. Printable characters stay as they are (so the injected
/// cell stays readable); quotes, backslashes and every control or line-breaking character are
/// escaped, so the literal is always one line of valid source.
fn write_str_literal(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || ('\u{7f}'..='\u{9f}').contains(&c) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            '\u{2028}' | '\u{2029}' | '\u{feff}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// How Python prints a JSON number: integers exactly as written, whatever their size; floats as
/// `repr(float)`.
pub fn number_repr(n: &Number) -> String {
    let text = n.to_string();
    let digits = text.strip_prefix('-').unwrap_or(&text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text;
    }
    text.parse::<f64>().map_or(text, float_repr)
}

/// Python's `repr(float)`: the shortest round-tripping digits, in positional notation when the
/// decimal exponent is in [-4, 16), else scientific with a signed two-digit exponent.
pub fn float_repr(f: f64) -> String {
    if !f.is_finite() {
        // Python's json writes these only with allow_nan; nbformat files never hold them.
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let sci = format!("{f:e}"); // e.g. "-1.2345e-7", shortest round-trip digits
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            let (int, frac) = digits.split_at(point as usize);
            format!("{int}.{frac}")
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{exp_sign}{:02}", exp.abs())
    }
}

/// The value of a simple Python literal as a parameters cell holds it: None, True, False, an
/// int, a float, or a single-line string (prefix `r` allowed, common escapes). Anything else
/// (expressions, containers, f-strings) gives `None`.
pub fn parse_literal(text: &str) -> Option<Value> {
    let text = text.trim();
    match text {
        "None" => return Some(Value::Null),
        "True" => return Some(Value::Bool(true)),
        "False" => return Some(Value::Bool(false)),
        _ => {}
    }
    if let Some(string) = parse_string(text) {
        return Some(Value::String(string));
    }
    let digits = text.replace('_', "");
    let body = digits.strip_prefix(['-', '+']).unwrap_or(&digits);
    if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        return digits.parse::<i64>().ok().map(Value::from);
    }
    let numeric = !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if numeric {
        return digits.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number);
    }
    None
}

fn parse_string(text: &str) -> Option<String> {
    let (raw, quoted) = match text.strip_prefix(['r', 'R']) {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let quote = quoted.chars().next().filter(|q| *q == '\'' || *q == '"')?;
    let inner = quoted.strip_prefix(quote)?.strip_suffix(quote)?;
    if inner.starts_with(quote) {
        return None; // a triple-quoted string
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == quote {
            return None; // two strings (implicit concatenation) or an expression
        }
        if c != '\\' || raw {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            'u' => out.push(char::from_u32(u32::from_str_radix(&chars.by_ref().take(4).collect::<String>(), 16).ok()?)?),
            escaped @ ('\\' | '\'' | '"') => out.push(escaped),
            _ => return None,
        }
    }
    Some(out)
}

/// Whether `name` can be assigned to in Python: an identifier that is not a keyword.
pub fn is_identifier(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else",
        "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
        "return", "try", "while", "with", "yield",
    ];
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
        && !KEYWORDS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_like_python_repr() {
        // Each pair: the value and CPython's repr of it.
        for (f, want) in [
            (0.018637, "0.018637"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (1e-05, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (123456789012345.6, "123456789012345.6"),
            (1.5e300, "1.5e+300"),
            (0.0, "0.0"),
            (100.0, "100.0"),
        ] {
            assert_eq!(float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn literals_of_every_json_kind() {
        assert_eq!(literal(&json!(null)), "None");
        assert_eq!(literal(&json!(true)), "True");
        assert_eq!(literal(&json!(42)), "42");
        assert_eq!(literal(&json!(-7)), "-7");
        assert_eq!(literal(&json!(1.0)), "1.0");
        let big: Value = serde_json::from_str("123456789012345678901234567890").unwrap();
        assert_eq!(literal(&big), "123456789012345678901234567890");
        let small: Value = serde_json::from_str("1.5E-7").unwrap();
        assert_eq!(literal(&small), "1.5e-07");
        assert_eq!(literal(&json!(["a", 1, {"k": false}])), "[\"a\", 1, {\"k\": False}]");
    }

    #[test]
    fn strings_are_escaped_to_one_line() {
        assert_eq!(literal(&json!("it's \"q\"\\")), r#""it's \"q\"\\""#);
        assert_eq!(literal(&json!("a\nb\r\tc\u{0}\u{7f}")), r#""a\nb\r\tc\x00\x7f""#);
        assert_eq!(literal(&json!("x\u{2028}y")), r#""x\u2028y""#);
        assert_eq!(literal(&json!("héllo ✓ 🚀")), "\"héllo ✓ 🚀\"");
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("run_date"));
        assert!(is_identifier("_x1"));
        assert!(is_identifier("días"));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier("class"));
        assert!(!is_identifier(""));
    }
}
