//! When a client sends a call again: a 429 or 503 answer, or a connection that failed, for
//! a call that is safe to repeat, after the wait the server asked for (`Retry-After`, else
//! the `RateLimit` header's reset), else a growing backoff; with jitter, a bounded number of
//! attempts, and never past the call's deadline.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

/// How a client retries; [`Retry::default`] is on, [`Retry::never`] is off.
#[derive(Debug, Clone)]
pub struct Retry {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The longest wait between two attempts; a server asking for longer is not waited for
    /// (its answer is returned).
    pub max_wait: Duration,
    /// The first backoff when the server names no wait; doubled at each attempt.
    pub backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 3,
            max_wait: Duration::from_secs(30),
            backoff: Duration::from_millis(100),
        }
    }
}

impl Retry {
    /// No retries: every call is sent once.
    pub fn never() -> Retry {
        Retry {
            attempts: 1,
            ..Retry::default()
        }
    }

    /// Whether an answer of `status` is worth another attempt.
    pub(crate) fn retries_status(status: u16) -> bool {
        status == 429 || status == 503
    }

    /// The wait before attempt `attempt + 1` (`attempt` counts from 1): what the answer's
    /// headers ask for, else the backoff; with up to a tenth more of jitter, so that clients
    /// told the same time do not all come back at once. `None` when it exceeds `max_wait`.
    pub(crate) fn wait(&self, attempt: u32, headers: Option<&HeaderMap>) -> Option<Duration> {
        let asked = headers.and_then(|headers| retry_after(headers).or_else(|| reset(headers)));
        let base = asked.unwrap_or_else(|| {
            self.backoff
                .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        });
        let wait = base + jitter(base / 10);
        (base <= self.max_wait).then_some(wait.min(self.max_wait))
    }
}

/// `Retry-After`: seconds, or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    Some(
        date.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The reset (`t=`) of the `RateLimit` header (draft-ietf-httpapi-ratelimit-headers), when
/// nothing remains (`r=0`).
fn reset(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get("ratelimit")?.to_str().ok()?;
    let mut remaining = None;
    let mut reset = None;
    for param in text.split(';').skip(1) {
        match param.trim().split_once('=') {
            Some(("r", value)) => remaining = value.trim().parse::<u64>().ok(),
            Some(("t", value)) => reset = value.trim().parse::<u64>().ok(),
            _ => {}
        }
    }
    (remaining == Some(0)).then_some(Duration::from_secs(reset?))
}

/// A duration in `[0, bound]`.
fn jitter(bound: Duration) -> Duration {
    if bound.is_zero() {
        return Duration::ZERO;
    }
    let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_server_named_wait_comes_first_with_bounded_jitter() {
        let retry = Retry::default();
        let asked = headers(&[("retry-after", "2"), ("ratelimit", "\"p\";r=0;t=9")]);
        let wait = retry.wait(1, Some(&asked)).unwrap();
        assert!(wait >= Duration::from_secs(2) && wait <= Duration::from_millis(2200));
        let reset = headers(&[("ratelimit", "\"p\";r=0;t=3")]);
        let wait = retry.wait(1, Some(&reset)).unwrap();
        assert!(wait >= Duration::from_secs(3) && wait <= Duration::from_millis(3300));
    }

    #[test]
    fn without_a_named_wait_the_backoff_doubles() {
        let retry = Retry::default();
        let first = retry.wait(1, None).unwrap();
        let third = retry.wait(3, None).unwrap();
        assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(110));
        assert!(third >= Duration::from_millis(400) && third <= Duration::from_millis(440));
    }

    #[test]
    fn a_wait_longer_than_the_bound_is_not_waited() {
        let retry = Retry {
            max_wait: Duration::from_secs(5),
            ..Retry::default()
        };
        assert_eq!(
            retry.wait(1, Some(&headers(&[("retry-after", "60")]))),
            None
        );
        let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3600));
        let mut far = HeaderMap::new();
        far.insert("retry-after", HeaderValue::from_str(&date).unwrap());
        assert_eq!(retry.wait(1, Some(&far)), None);
    }
}
