//! Durations as the spec and the environment write them: `500ms`, `30s`, `10m` (or `10min`),
//! `1h`, `1d`; `0` needs no unit. One parser for both: the generator reports its errors at
//! their place in the spec, the runtime when it reads the environment at start.

use std::time::Duration;

/// `text` as a duration, or what is wrong with it.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| {
        format!("`{text}` is not a duration; write e.g. `500ms`, `30s`, `10m`, `1h`, `1d`")
    })?;
    let millis: u64 = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "" => {
            return Err(format!(
                "`{text}` has no unit; write e.g. `{text}s` or `{text}ms`"
            ))
        }
        other => {
            return Err(format!(
                "unknown duration unit `{other}` in `{text}`; use ms, s, m, h or d"
            ))
        }
    };
    number
        .checked_mul(millis)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{text}` is too long a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_the_spec() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse(" 5s "), Ok(Duration::from_secs(5)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("0"), Ok(Duration::ZERO), "zero needs no unit");
        assert!(parse("5").unwrap_err().contains("has no unit"));
        assert!(parse("5 days")
            .unwrap_err()
            .contains("unknown duration unit"));
        assert!(parse("99999999999999999999h").is_err());
        assert!(parse("s").is_err());
    }
}
