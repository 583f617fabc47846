//! PostgreSQL's binary NUMERIC, to and from exact decimal text. (rust_decimal tops out at 28
//! digits; NUMERIC holds up to 131072 before the point, so the runner keeps the digits as text.)
//!
//! Wire format: ndigits i16, weight i16 (of the first base-10000 digit), sign u16, dscale u16
//! (decimal digits after the point), then ndigits base-10000 digits as i16.

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;
const POSITIVE_INFINITY: u16 = 0xD000;
const NEGATIVE_INFINITY: u16 = 0xF000;

pub fn decode(raw: &[u8]) -> Result<String, String> {
    let word = |i: usize| raw.get(i * 2..i * 2 + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or("truncated NUMERIC");
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = usize::from(word(3)?);
    match sign {
        NAN => return Ok("NaN".into()),
        POSITIVE_INFINITY => return Ok("Infinity".into()),
        NEGATIVE_INFINITY => return Ok("-Infinity".into()),
        POSITIVE | NEGATIVE => {}
        _ => return Err(format!("bad NUMERIC sign {sign:#x}")),
    }
    let digits: Vec<u16> = (0..ndigits).map(|i| word(4 + i)).collect::<Result<_, _>>()?;
    let digit_at = |position: i64| usize::try_from(position).ok().and_then(|p| digits.get(p)).copied().unwrap_or(0);
    let mut text = String::new();
    if sign == NEGATIVE {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for position in 0..=weight {
            let group = digit_at(position);
            if position == 0 {
                text.push_str(&group.to_string());
            } else {
                text.push_str(&format!("{group:04}"));
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::with_capacity(dscale + 4);
        let mut position = weight + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", digit_at(position)));
            position += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

pub fn encode(text: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let bad = || format!("`{text}` is not a decimal number");
    let (sign, digits) = match text {
        "NaN" | "Infinity" | "inf" | "-Infinity" | "-inf" => {
            let sign = match text {
                "NaN" => NAN,
                "Infinity" | "inf" => POSITIVE_INFINITY,
                _ => NEGATIVE_INFINITY,
            };
            push_header(out, 0, 0, sign, 0);
            return Ok(());
        }
        _ => match text.strip_prefix('-') {
            Some(rest) => (NEGATIVE, rest),
            None => (POSITIVE, text.strip_prefix('+').unwrap_or(text)),
        },
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (int.is_empty() && frac.is_empty()) || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let int = int.trim_start_matches('0');
    let dscale = u16::try_from(frac.len()).map_err(|_| bad())?;
    // Align to base-10000 groups: pad the integer part on the left, the fraction on the right.
    let int_padded = format!("{}{int}", "0".repeat((4 - int.len() % 4) % 4));
    let frac_padded = format!("{frac}{}", "0".repeat((4 - frac.len() % 4) % 4));
    let groups: Vec<u16> = int_padded
        .as_bytes()
        .chunks(4)
        .chain(frac_padded.as_bytes().chunks(4))
        .map(|chunk| chunk.iter().fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0')))
        .collect();
    let mut weight = i64::try_from(int_padded.len() / 4).map_err(|_| bad())? - 1;
    let leading_zeros = groups.iter().take_while(|g| **g == 0).count();
    weight -= i64::try_from(leading_zeros).map_err(|_| bad())?;
    let significant = &groups[leading_zeros..];
    let trailing_zeros = significant.iter().rev().take_while(|g| **g == 0).count();
    let significant = &significant[..significant.len() - trailing_zeros];
    let (weight, sign) = if significant.is_empty() { (0, POSITIVE) } else { (weight, sign) };
    let ndigits = u16::try_from(significant.len()).map_err(|_| bad())?;
    let weight = i16::try_from(weight).map_err(|_| bad())?;
    push_header(out, ndigits, weight, sign, dscale);
    for group in significant {
        out.extend_from_slice(&group.to_be_bytes());
    }
    Ok(())
}

fn push_header(out: &mut Vec<u8>, ndigits: u16, weight: i16, sign: u16, dscale: u16) {
    for word in [ndigits, weight as u16, sign, dscale] {
        out.extend_from_slice(&word.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_trip_exactly() {
        for text in [
            "0",
            "1",
            "-1",
            "12345.6789",
            "0.0001",
            "0.00001234",
            "-0.50",
            "10000",
            "99999999999999999999999999999999999999.000000000000000000001",
            "3.14159265358979323846264338327950288419716939937510",
            "NaN",
            "Infinity",
            "-Infinity",
            "100.000",
        ] {
            let mut raw = Vec::new();
            encode(text, &mut raw).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(decode(&raw).as_deref(), Ok(text), "{text}");
        }
    }

    #[test]
    fn known_wire_bytes() {
        // SELECT 12345.678::numeric in binary: ndigits 3, weight 1, sign 0, dscale 3, [1, 2345, 6780]
        let raw = [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c];
        assert_eq!(decode(&raw).as_deref(), Ok("12345.678"));
        let mut out = Vec::new();
        encode("12345.678", &mut out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, raw);
    }

    #[test]
    fn bad_text_is_refused() {
        for text in ["", ".", "1e5", "1.2.3", "abc", "--1"] {
            assert!(encode(text, &mut Vec::new()).is_err(), "{text}");
        }
    }
}
