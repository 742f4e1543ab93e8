//! Per-app push quotas: token buckets for requests per second and bytes per second.

use parking_lot::Mutex;
use std::time::Instant;

/// A token bucket refilling at `rate` per second up to `burst`.
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
}

/// Admission control for one app's pushes.
pub struct Limiter {
    state: Mutex<(Instant, Option<Bucket>, Option<Bucket>)>,
}

impl Limiter {
    /// A limiter for `requests_per_sec` and `bytes_per_sec` (None = unlimited). The byte bucket
    /// holds at least one maximal push, so a slow quota still admits any valid request.
    pub fn new(requests_per_sec: Option<f64>, bytes_per_sec: Option<f64>) -> Limiter {
        let bucket = |rate: f64, min_burst: f64| Bucket {
            rate,
            burst: rate.max(min_burst),
            tokens: rate.max(min_burst),
        };
        Limiter {
            state: Mutex::new((
                Instant::now(),
                requests_per_sec.map(|r| bucket(r, 1.0)),
                bytes_per_sec.map(|r| bucket(r, pier_model::operation::MAX_BODY_BYTES as f64)),
            )),
        }
    }

    /// Takes one request of `bytes`, or says how many whole seconds to wait.
    pub fn admit(&self, bytes: u64) -> Result<(), u32> {
        let mut guard = self.state.lock();
        let (last, requests, body) = &mut *guard;
        let elapsed = last.elapsed().as_secs_f64();
        *last = Instant::now();
        let mut wait: f64 = 0.0;
        for (bucket, cost) in [(requests.as_mut(), 1.0), (body.as_mut(), bytes as f64)] {
            if let Some(b) = bucket {
                b.tokens = (b.tokens + elapsed * b.rate).min(b.burst);
                if b.tokens < cost {
                    wait = wait.max((cost - b.tokens) / b.rate);
                }
            }
        }
        if wait > 0.0 {
            return Err(wait.ceil().max(1.0) as u32);
        }
        if let Some(b) = requests.as_mut() {
            b.tokens -= 1.0;
        }
        if let Some(b) = body.as_mut() {
            b.tokens -= bytes as f64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_beyond_the_rate_and_says_how_long_to_wait() {
        let l = Limiter::new(Some(2.0), None);
        assert!(l.admit(10).is_ok());
        assert!(l.admit(10).is_ok());
        assert_eq!(l.admit(10), Err(1));
        let unlimited = Limiter::new(None, None);
        assert!((0..1000).all(|_| unlimited.admit(1 << 20).is_ok()));
        let bytes = Limiter::new(None, Some(1.0));
        assert!(
            bytes.admit(2 * 1024 * 1024).is_ok(),
            "one maximal push always fits the burst"
        );
        assert!(bytes.admit(1000).is_err());
    }
}
