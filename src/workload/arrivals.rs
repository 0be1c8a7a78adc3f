//! Open-loop arrival times: gamma-distributed gaps with mean 1/rate and shape = burstiness
//! (burstiness 1 is a Poisson process; below 1 burstier, above 1 more regular), as vLLM's
//! `bench serve` draws them. The first request is due at 0.

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Gamma};

use super::item_seed;

/// Lowest accepted finite rate (one request every 10⁶ s): below it, due times overflow clocks.
pub const MIN_RATE: f64 = 1e-6;

/// `--request-rate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    PerSecond(f64),
    /// `inf`: everything at once.
    Infinite,
}

impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Rate, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("inf") || t.eq_ignore_ascii_case("infinity") {
            return Ok(Rate::Infinite);
        }
        match t.parse::<f64>() {
            Ok(r) if r.is_infinite() && r > 0.0 => Ok(Rate::Infinite),
            Ok(r) if r.is_finite() && r > 0.0 => Ok(Rate::PerSecond(r)),
            _ => Err(format!(
                "expected a number of requests per second > 0 or `inf`, got {s:?}"
            )),
        }
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rate::PerSecond(r) => write!(f, "{r}"),
            Rate::Infinite => f.write_str("inf"),
        }
    }
}

/// Due times (seconds from the start) of `n` requests.
pub fn offsets(n: usize, rate: Rate, burstiness: f64, seed: u64) -> Vec<f64> {
    let Rate::PerSecond(rate) = rate else {
        return vec![0.0; n];
    };
    let mut rng = StdRng::seed_from_u64(item_seed(seed, 31, 0));
    // shape·scale = mean gap = 1/rate. Validated settings guarantee shape > 0 and rate > 0.
    let gamma = Gamma::new(burstiness, 1.0 / (rate * burstiness)).ok();
    let mut t = 0.0;
    (0..n)
        .map(|i| {
            if i > 0 {
                t += gamma.as_ref().map_or(1.0 / rate, |g| g.sample(&mut rng));
            }
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!("inf".parse::<Rate>(), Ok(Rate::Infinite));
        assert_eq!("2.5".parse::<Rate>(), Ok(Rate::PerSecond(2.5)));
        assert!("0".parse::<Rate>().is_err());
        assert!("-1".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
        assert!("NaN".parse::<Rate>().is_err());
    }

    #[test]
    fn gaps_have_the_requested_mean_and_shape() {
        let n = 20_000;
        for b in [0.5, 1.0, 4.0] {
            let o = offsets(n, Rate::PerSecond(50.0), b, 3);
            assert_eq!(o[0], 0.0);
            assert!(o.windows(2).all(|w| w[1] >= w[0]));
            let gaps: Vec<f64> = o.windows(2).map(|w| w[1] - w[0]).collect();
            let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
            let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
            assert!((mean - 0.02).abs() < 0.001, "b={b} mean={mean}");
            // gamma: coefficient of variation² = 1/shape
            let cv2 = var / (mean * mean);
            assert!((cv2 - 1.0 / b).abs() < 0.1 / b, "b={b} cv2={cv2}");
        }
        assert_eq!(offsets(3, Rate::Infinite, 1.0, 0), vec![0.0; 3]);
        assert_eq!(
            offsets(4, Rate::PerSecond(1.0), 1.0, 9),
            offsets(4, Rate::PerSecond(1.0), 1.0, 9)
        );
    }
}
