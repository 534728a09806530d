//! Quantities with units: durations (`500us`, `2s`, `1m`), sizes (`512B`,
//! `10KiB`) and ratios (`0.5%`).
//!
//! Units are mandatory in scenario files: a bare `5` could mean seconds or
//! milliseconds, and a benchmark that guesses is a benchmark that lies.

use std::fmt;
use std::time::Duration;

/// Splits `"10.5KiB"` into `(10.5, "KiB")`, trimming blanks between them.
fn split_number(text: &str) -> Option<(f64, &str)> {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(text.len());
    if end == 0 {
        return None;
    }
    let number: String = text[..end].chars().filter(|c| *c != '_').collect();
    let value: f64 = number.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    Some((value, text[end..].trim()))
}

/// Parses a duration such as `250ns`, `500us`, `10ms`, `2s`, `1.5m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let help = "write a number with a unit: ns, us, ms, s, m or h (e.g. `500us`, `2s`)";
    let (value, unit) =
        split_number(text).ok_or_else(|| format!("`{text}` is not a duration; {help}"))?;
    let nanos_per_unit = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        "" => return Err(format!("`{text}` has no unit; {help}")),
        other => {
            return Err(format!(
                "`{other}` in `{text}` is not a duration unit; {help}"
            ))
        }
    };
    let nanos = value * nanos_per_unit;
    if nanos > u64::MAX as f64 {
        return Err(format!("`{text}` is too long a duration"));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// Parses a size such as `512B`, `10KiB`, `1.5MiB`, `2GiB` (also decimal `kB`, `MB`, `GB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let help = "write a number with a unit: B, KiB, MiB, GiB (or kB, MB, GB), e.g. `10KiB`";
    let (value, unit) =
        split_number(text).ok_or_else(|| format!("`{text}` is not a size; {help}"))?;
    let factor = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "" => return Err(format!("`{text}` has no unit; {help}")),
        other => return Err(format!("`{other}` in `{text}` is not a size unit; {help}")),
    };
    Ok((value * factor).round() as u64)
}

/// Parses a percentage such as `0.5%` into a fraction (`0.005`).
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let help = "write a percentage with a `%` sign, e.g. `0.5%`";
    match split_number(text) {
        Some((value, "%")) => Ok(value / 100.0),
        _ => Err(format!("`{text}` is not a percentage; {help}")),
    }
}

/// Parses an operation rate such as `1000/s`, `1000` or `2.5k/s` into operations per second.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let help = "write operations per second, e.g. `5000/s` or `5k/s`";
    let (value, unit) =
        split_number(text).ok_or_else(|| format!("`{text}` is not a rate; {help}"))?;
    let unit = unit.strip_suffix("/s").unwrap_or(unit);
    let factor = match unit.trim() {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        other => return Err(format!("`{other}` in `{text}` is not a rate unit; {help}")),
    };
    Ok(value * factor)
}

/// Formats nanoseconds with a unit chosen for 3-4 significant digits.
pub fn format_nanos(nanos: f64) -> String {
    let abs = nanos.abs();
    let (value, unit) = if abs < 1e3 {
        (nanos, "ns")
    } else if abs < 1e6 {
        (nanos / 1e3, "us")
    } else if abs < 1e9 {
        (nanos / 1e6, "ms")
    } else {
        (nanos / 1e9, "s")
    };
    format!("{}{unit}", significant(value))
}

/// Formats bytes with a binary unit.
pub fn format_bytes(bytes: f64) -> String {
    let abs = bytes.abs();
    let (value, unit) = if abs < 1024.0 {
        (bytes, "B")
    } else if abs < 1024.0 * 1024.0 {
        (bytes / 1024.0, "KiB")
    } else if abs < 1024.0 * 1024.0 * 1024.0 {
        (bytes / 1024.0 / 1024.0, "MiB")
    } else {
        (bytes / 1024.0 / 1024.0 / 1024.0, "GiB")
    };
    format!("{}{unit}", significant(value))
}

/// Rounds to about four significant digits without scientific notation.
pub fn significant(value: f64) -> String {
    let abs = value.abs();
    let decimals = if abs == 0.0 || abs >= 1000.0 {
        0
    } else if abs >= 100.0 {
        1
    } else if abs >= 10.0 {
        2
    } else {
        3
    };
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A duration written with a unit in a scenario file.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

impl fmt::Debug for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", format_nanos(self.0.as_nanos() as f64))
    }
}

impl<'de> serde::Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = unit_string(deserializer, "a duration such as `500us` or `2s`")?;
        parse_duration(&text)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{}ns", self.0.as_nanos()))
    }
}

impl schemars::JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration with a unit: ns, us, ms, s, m, h (e.g. `500us`, `2s`, `1m`).",
            "pattern": r"^\s*[0-9][0-9_]*(\.[0-9]+)?\s*(ns|us|µs|ms|s|m|min|h)\s*$"
        })
    }
}

/// A size written with a unit in a scenario file (`64B`, `1KiB`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Size(pub u64);

impl fmt::Debug for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", format_bytes(self.0 as f64))
    }
}

impl<'de> serde::Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = unit_string(deserializer, "a size such as `64B` or `1KiB`")?;
        parse_size(&text)
            .map(Size)
            .map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{}B", self.0))
    }
}

impl schemars::JsonSchema for Size {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Size".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A size with a unit: B, KiB, MiB, GiB (e.g. `64B`, `1KiB`).",
            "pattern": r"^\s*[0-9][0-9_]*(\.[0-9]+)?\s*(B|KiB|MiB|GiB|KB|MB|GB|kB)\s*$"
        })
    }
}

/// A percentage written with a `%` sign (`90%`), kept as a fraction in [0, 1].
#[derive(Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Percent(pub f64);

impl fmt::Debug for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", significant(self.0 * 100.0))
    }
}

impl<'de> serde::Deserialize<'de> for Percent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = unit_string(deserializer, "a percentage such as `90%`")?;
        let value = parse_percent(&text).map_err(serde::de::Error::custom)?;
        if !(0.0..=1.0).contains(&value) {
            return Err(serde::de::Error::custom(format!(
                "`{text}` is outside 0%..100%"
            )));
        }
        Ok(Percent(value))
    }
}

impl schemars::JsonSchema for Percent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Percent".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A percentage with a `%` sign, 0% to 100% (e.g. `90%`).",
            "pattern": r"^\s*[0-9][0-9_]*(\.[0-9]+)?\s*%\s*$"
        })
    }
}

/// A value size: one size (`256B`) or an inclusive range (`64B..4KiB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeRange {
    /// Smallest size, bytes.
    pub min: u64,
    /// Largest size, bytes.
    pub max: u64,
}

impl<'de> serde::Deserialize<'de> for SizeRange {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = unit_string(deserializer, "a size such as `256B` or a range `64B..4KiB`")?;
        let (min, max) = match text.split_once("..") {
            Some((a, b)) => (
                parse_size(a).map_err(serde::de::Error::custom)?,
                parse_size(b).map_err(serde::de::Error::custom)?,
            ),
            None => {
                let v = parse_size(&text).map_err(serde::de::Error::custom)?;
                (v, v)
            }
        };
        if min > max {
            return Err(serde::de::Error::custom(format!(
                "`{text}`: the range runs backwards; write the smaller size first"
            )));
        }
        if max > 512 * 1024 * 1024 {
            return Err(serde::de::Error::custom(format!(
                "`{text}`: values above 512MiB are not supported (Redis' own limit)"
            )));
        }
        Ok(SizeRange { min, max })
    }
}

impl schemars::JsonSchema for SizeRange {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SizeRange".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A size (`256B`, `4KiB`) or an inclusive range of sizes (`64B..4KiB`), drawn per key."
        })
    }
}

/// A cache capacity: a number of entries (`10000`) or a size (`64MiB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// At most this many entries.
    Entries(u64),
    /// At most this many bytes of keys and values.
    Bytes(u64),
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capacity::Entries(n) => write!(f, "{n}"),
            Capacity::Bytes(b) => write!(f, "{}", format_bytes(*b as f64)),
        }
    }
}

impl Capacity {
    /// `1000` for entries, `64MiB` for bytes.
    pub fn label(&self) -> String {
        self.to_string()
    }
}

// Entries as a number, bytes as `<n>B`: what the deserializer reads back.
impl serde::Serialize for Capacity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Capacity::Entries(n) => serializer.serialize_u64(*n),
            Capacity::Bytes(b) => serializer.serialize_str(&format!("{b}B")),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Capacity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Capacity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of entries (`10000`) or a size (`64MiB`)")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Capacity, E> {
                if v == 0 {
                    return Err(E::custom("a capacity must be at least 1 entry"));
                }
                Ok(Capacity::Entries(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Capacity, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("capacity `{v}` is negative")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Capacity, E> {
                let plain: String = v.trim().chars().filter(|c| *c != '_').collect();
                if let Ok(n) = plain.parse::<u64>() {
                    return self.visit_u64(n);
                }
                match parse_size(v) {
                    Ok(0) => Err(E::custom("a capacity must be above 0B")),
                    Ok(b) => Ok(Capacity::Bytes(b)),
                    Err(e) => Err(E::custom(format!(
                        "capacity `{v}` is neither a number of entries nor a size: {e}"
                    ))),
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl schemars::JsonSchema for Capacity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Capacity".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Entries (`10000`) or bytes of keys and values (`64MiB`).",
            "type": ["integer", "string"]
        })
    }
}

/// Reads a scalar as text, refusing bare numbers with a hint about units.
fn unit_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
    expecting: &'static str,
) -> Result<String, D::Error> {
    struct V(&'static str);
    impl serde::de::Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
            Err(E::custom(format!("`{v}` has no unit; expected {}", self.0)))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
            self.visit_u64(v.unsigned_abs())
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
            Err(E::custom(format!("`{v}` has no unit; expected {}", self.0)))
        }
    }
    deserializer.deserialize_any(V(expecting))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_units() {
        assert_eq!(parse_duration("500us").unwrap(), Duration::from_micros(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(
            parse_duration("1.5ms").unwrap(),
            Duration::from_micros(1500)
        );
        assert_eq!(
            parse_duration(" 10 ms ").unwrap(),
            Duration::from_millis(10)
        );
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
        assert!(parse_duration("5 parsecs").unwrap_err().contains("parsecs"));
        assert!(parse_duration("ms").is_err());
    }

    #[test]
    fn sizes_binary_and_decimal() {
        assert_eq!(parse_size("512B").unwrap(), 512);
        assert_eq!(parse_size("10KiB").unwrap(), 10 * 1024);
        assert_eq!(parse_size("1.5MiB").unwrap(), 1536 * 1024);
        assert_eq!(parse_size("2kB").unwrap(), 2000);
        assert!(parse_size("10").unwrap_err().contains("no unit"));
        assert!(parse_size("10Kb").is_err());
    }

    #[test]
    fn percents_and_rates() {
        assert!((parse_percent("0.5%").unwrap() - 0.005).abs() < 1e-12);
        assert_eq!(parse_percent("0%").unwrap(), 0.0);
        assert!(parse_percent("0.5").is_err());
        assert_eq!(parse_rate("5000/s").unwrap(), 5000.0);
        assert_eq!(parse_rate("5k/s").unwrap(), 5000.0);
        assert!(parse_rate("5/min").is_err());
    }

    #[test]
    fn capacities_and_ranges() {
        let cap = |t: &str| serde_json::from_str::<Capacity>(t);
        assert_eq!(cap("1000").unwrap(), Capacity::Entries(1000));
        assert_eq!(cap("\"10_000\"").unwrap(), Capacity::Entries(10_000));
        assert_eq!(cap("\"64MiB\"").unwrap(), Capacity::Bytes(64 << 20));
        assert!(cap("0").is_err());
        assert!(cap("\"lots\"").unwrap_err().to_string().contains("neither"));
        let range = |t: &str| serde_json::from_str::<SizeRange>(t);
        assert_eq!(
            range("\"64B..4KiB\"").unwrap(),
            SizeRange { min: 64, max: 4096 }
        );
        assert_eq!(range("\"256B\"").unwrap(), SizeRange { min: 256, max: 256 });
        assert!(range("\"4KiB..64B\"")
            .unwrap_err()
            .to_string()
            .contains("backwards"));
        assert!(range("256").is_err());
        let pct = |t: &str| serde_json::from_str::<Percent>(t);
        assert_eq!(pct("\"90%\"").unwrap(), Percent(0.9));
        assert!(pct("\"150%\"").is_err());
        assert!(pct("0.9").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_nanos(950.0), "950ns");
        assert_eq!(format_nanos(1234.0), "1.234us");
        assert_eq!(format_nanos(10_000_000.0), "10ms");
        assert_eq!(format_bytes(10240.0), "10KiB");
        assert_eq!(significant(12.3456), "12.35");
    }
}
