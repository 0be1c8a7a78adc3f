//! Aggregate statistics over samples: percentiles with linear interpolation (numpy's default,
//! `numpy.percentile(x, q)` with `method="linear"`), mean, min, max.

/// Percentile `q` (0–100) of `sorted` (ascending, finite) with linear interpolation between
/// the two closest ranks, exactly as numpy's default: rank = q/100 · (n − 1).
/// `None` for an empty slice.
pub fn percentile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (q / 100.0).clamp(0.0, 1.0) * (n - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// Mean of the values; `None` when empty.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// The percentiles the users' format reports for every latency group.
pub const REPORTED_PERCENTILES: [f64; 4] = [50.0, 90.0, 95.0, 99.0];

/// avg, p50, p90, p95, p99, max of one group of samples (NaN samples are dropped first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Distribution {
    pub count: usize,
    pub avg: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
}

impl Distribution {
    /// `None` when there is no finite sample.
    pub fn of(samples: &[f64]) -> Option<Distribution> {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let p = |q| percentile_sorted(&v, q).unwrap_or(f64::NAN);
        Some(Distribution {
            count: v.len(),
            avg: mean(&v).unwrap_or(f64::NAN),
            p50: p(50.0),
            p90: p(90.0),
            p95: p(95.0),
            p99: p(99.0),
            min: v[0],
            max: v[v.len() - 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4], [50, 90, 99]) == [2.5, 3.7, 3.97]
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile_sorted(&v, 50.0), Some(2.5));
        assert!((percentile_sorted(&v, 90.0).unwrap() - 3.7).abs() < 1e-12);
        assert!((percentile_sorted(&v, 99.0).unwrap() - 3.97).abs() < 1e-12);
        assert_eq!(percentile_sorted(&v, 0.0), Some(1.0));
        assert_eq!(percentile_sorted(&v, 100.0), Some(4.0));
        assert_eq!(percentile_sorted(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile_sorted(&[], 50.0), None);
        // numpy.percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 95) == 95.5
        let w: Vec<f64> = (1..=10).map(|i| f64::from(i) * 10.0).collect();
        assert!((percentile_sorted(&w, 95.0).unwrap() - 95.5).abs() < 1e-12);
    }

    #[test]
    fn distribution_drops_nan_and_sorts() {
        let d = Distribution::of(&[3.0, f64::NAN, 1.0, 2.0]).unwrap();
        assert_eq!((d.count, d.min, d.max, d.p50, d.avg), (3, 1.0, 3.0, 2.0, 2.0));
        assert!(Distribution::of(&[f64::NAN]).is_none());
    }
}
