//! 95 % confidence intervals of the % difference (model 2 − model 1) / model 1 × 100 of each
//! compared metric, so that `compare` can tell a difference from noise. The method, its
//! assumptions and the coverage check by simulation are in docs/statistics.md.
//!
//! - **Per-request samples** (TTFT, total latency, token gaps in `individual_requests`):
//!   bootstrap over requests within each run — a replicate resamples the run's requests with
//!   replacement (a request's gaps stay together, as they are correlated) and recomputes the
//!   metric exactly as defined (numpy-linear percentile of the pooled samples). With several runs
//!   of a configuration, a replicate first resamples the runs, then the requests within each
//!   chosen run (two-level bootstrap), and averages the chosen runs' values as `compare` does.
//! - **Repeats on both sides (n ≥ 2)**: Welch's t interval on the run-level values (delta
//!   method for the ratio, Welch–Satterthwaite degrees of freedom); where the bootstrap exists
//!   too, the reported interval spans both.
//! - Throughput with a single run on a side has no interval (a run holds one throughput figure).
//!
//! Percentile interval (2.5 %, 97.5 %) of [`REPLICATES`] replicates, widened to contain the
//! point estimate when needed. Deterministic: the random numbers come from a fixed generator
//! seeded from the configuration, so the same inputs give the same intervals whatever the
//! thread order.
//!
//! Speed: a replicate's percentile is found from the request weights without pooling the
//! samples again: the run's samples are partitioned once around the percentile's rank
//! ([`QuantilePrep`]); a replicate then needs one weighted count per request plus a scan of a
//! small sorted window around the rank (exact; the rare replicate whose rank falls outside the
//! window is computed from all samples).

use crate::metrics::{diff_pct, Metric};
use crate::results::{ConfigKey, MetricValues, RunSummary};
use crate::stats::percentile_sorted;

/// Bootstrap replicates per interval: the usual choice for 95 % percentile intervals (the
/// Monte-Carlo error of an endpoint is then ~0.1 standard errors of the difference).
pub const REPLICATES: usize = 1000;
/// Confidence level of the intervals.
pub const LEVEL: f64 = 0.95;

/// Pools of up to this many samples are kept sorted whole (no window).
const SMALL_POOL: usize = 4096;

/// A 95 % interval of a % difference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiffCi {
    pub low: f64,
    pub high: f64,
    pub method: CiMethod,
}

impl DiffCi {
    /// The interval excludes 0.
    pub fn significant(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// How an interval was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiMethod {
    /// Bootstrap over requests (two-level with repeats).
    Bootstrap,
    /// Welch's t on run-level values (n ≥ 2 per side).
    Welch,
    /// The span of both.
    BootstrapAndWelch,
}

/// xoshiro256++ seeded by SplitMix64: small, fast and defined here, so the numbers (and the
/// charts) do not change with a dependency's version.
#[derive(Debug, Clone)]
pub struct Rng([u64; 4]);

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut s = seed;
        Rng([
            splitmix(&mut s),
            splitmix(&mut s),
            splitmix(&mut s),
            splitmix(&mut s),
        ])
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` (multiply-shift; the bias is below n / 2^64).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A seed that depends only on the configuration (and a stream number), never on thread order.
pub fn config_seed(key: &ConfigKey, stream: u64) -> u64 {
    let mut s = 0x6D6F_6465_6C62_656E_u64; // "modelben"
    for v in [
        u64::from(key.par.tp),
        u64::from(key.par.dp),
        u64::from(key.par.pp),
        key.max_num_batched_tokens.unwrap_or(u64::MAX),
        stream,
    ] {
        s ^= v;
        s = splitmix(&mut s);
    }
    s
}

/// One run's samples of one kind, grouped by request: request `i` holds
/// `values[offsets[i]..offsets[i + 1]]` (finite values only, in milliseconds).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Grouped {
    pub values: Vec<f64>,
    pub offsets: Vec<u32>,
}

impl Grouped {
    pub fn new() -> Grouped {
        Grouped {
            values: Vec::new(),
            offsets: vec![0],
        }
    }
    pub fn requests(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
    /// Ends the current request (its values were pushed to `values`).
    pub fn end_request(&mut self) {
        self.offsets.push(self.values.len() as u32);
    }
    fn of_request(&self, i: usize) -> &[f64] {
        &self.values[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }
}

fn by_value(a: &(f64, u32), b: &(f64, u32)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// Percentile `q` of one run's pooled samples, prepared for fast re-evaluation under request
/// weights (how often each request was drawn in a replicate).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantilePrep {
    /// The percentile as a fraction (0–1), as asked.
    q_fraction: f64,
    /// Percentiles above the median are found from the top: the samples are stored negated
    /// and `fraction` is 1 − `q_fraction`, so a p99 scan touches a few samples, not all.
    negate: bool,
    fraction: f64,
    /// Samples per request.
    counts: Vec<u32>,
    /// Per request: samples at sorted positions before the unweighted rank k0 (the window's
    /// `mid`); empty when that is none.
    below_mid: Vec<u32>,
    /// The samples at sorted positions `lo..hi` around k0, ascending, and their requests.
    vals: Vec<f64>,
    reqs: Vec<u32>,
    /// Index in the window of sorted position k0.
    mid: usize,
    /// The percentile of all samples (weights all 1).
    pub point: f64,
}

impl QuantilePrep {
    /// `None` when there is no sample.
    pub fn new(g: &Grouped, q: f64) -> Option<QuantilePrep> {
        let n_req = g.requests();
        let counts: Vec<u32> = g.offsets.windows(2).map(|w| w[1] - w[0]).collect();
        let q_fraction = q / 100.0;
        let negate = q_fraction > 0.5;
        let sign = if negate { -1.0 } else { 1.0 };
        let mut arr: Vec<(f64, u32)> = Vec::with_capacity(g.values.len());
        for i in 0..n_req {
            arr.extend(g.of_request(i).iter().map(|&v| (sign * v, i as u32)));
        }
        let n = arr.len();
        if n == 0 {
            return None;
        }
        let fraction = if negate { 1.0 - q_fraction } else { q_fraction };
        let k0 = (fraction * (n - 1) as f64).floor() as usize;
        let (lo, hi) = if n <= SMALL_POOL {
            (0, n)
        } else {
            arr.select_nth_unstable_by(k0, by_value);
            // How far a replicate's rank can move: the bootstrap s.d. of the count below the
            // percentile is sqrt(Σ (c_i − f·l_i)²); the window spans 6 of them on each side
            // (misses are computed exactly anyway).
            let mut c = vec![0u32; n_req];
            for &(_, r) in &arr[..k0] {
                c[r as usize] += 1;
            }
            let var: f64 = c
                .iter()
                .zip(&counts)
                .map(|(&c, &l)| (f64::from(c) - fraction * f64::from(l)).powi(2))
                .sum();
            let h = (6.0 * var.sqrt()).ceil() as usize + 16;
            let lo = k0.saturating_sub(h);
            let hi = (k0 + h + 2).min(n);
            if lo < k0 {
                arr[..k0].select_nth_unstable_by(lo, by_value);
            }
            let right = &mut arr[k0 + 1..];
            let j = hi - (k0 + 1);
            if j > 0 && j < right.len() {
                right.select_nth_unstable_by(j, by_value);
            }
            (lo, hi)
        };
        arr[lo..hi].sort_unstable_by(by_value);
        let mut below_mid = vec![0u32; n_req];
        for &(_, r) in &arr[..k0] {
            below_mid[r as usize] += 1;
        }
        let (sorted, reqs): (Vec<f64>, Vec<u32>) = arr[lo..hi].iter().copied().unzip();
        // The point value: ranks k0 and k0 + 1 both lie in the window.
        let rank = fraction * (n - 1) as f64;
        let frac = rank - k0 as f64;
        let a = sorted[k0 - lo];
        let b = sorted.get(k0 + 1 - lo).copied().unwrap_or(a);
        let point = sign * if k0 + 1 < n { a + (b - a) * frac } else { a };
        Some(QuantilePrep {
            q_fraction,
            negate,
            fraction,
            counts,
            below_mid: if k0 == 0 { Vec::new() } else { below_mid },
            vals: sorted,
            reqs,
            mid: k0 - lo,
            point,
        })
    }

    /// The percentile of the samples with request `i` counted `w[i]` times.
    pub fn eval(&self, g: &Grouped, w: &[u32]) -> f64 {
        let total: u64 = self
            .counts
            .iter()
            .zip(w)
            .map(|(&c, &w)| u64::from(c) * u64::from(w))
            .sum();
        if total == 0 {
            return f64::NAN;
        }
        let rank = self.fraction * (total - 1) as f64;
        let k = rank.floor() as u64;
        let frac = rank - k as f64;
        // Weighted position of the window's middle, then a short walk to rank k from there.
        let mid_cum: u64 = self
            .below_mid
            .iter()
            .zip(w)
            .map(|(&b, &w)| u64::from(b) * u64::from(w))
            .sum();
        let found = if mid_cum <= k {
            walk_up(&self.reqs, w, self.mid, mid_cum, k)
        } else {
            walk_down(&self.reqs, w, self.mid, mid_cum, k)
        };
        match found.and_then(|(j, after)| interpolate(&self.vals, &self.reqs, w, j, after, k, frac))
        {
            Some(v) if self.negate => -v,
            Some(v) => v,
            None => weighted_full(g, w, self.q_fraction),
        }
    }
}

/// From window index `from` (weighted position `cum` before it) upwards: the index whose
/// weighted range holds position `k`, with the weighted position after it.
fn walk_up(reqs: &[u32], w: &[u32], from: usize, cum: u64, k: u64) -> Option<(usize, u64)> {
    let mut c = cum;
    for (j, &r) in reqs.iter().enumerate().skip(from) {
        c += u64::from(w[r as usize]);
        if c > k {
            return Some((j, c));
        }
    }
    None
}

/// As [`walk_up`], downwards from just below `from` (weighted position `cum` > k there).
fn walk_down(reqs: &[u32], w: &[u32], from: usize, cum: u64, k: u64) -> Option<(usize, u64)> {
    let mut c = cum;
    for j in (0..from).rev() {
        let before = c - u64::from(w[reqs[j] as usize]);
        if before <= k {
            return Some((j, c));
        }
        c = before;
    }
    None
}

/// numpy's linear interpolation between weighted positions `k` (at index `j`, whose range
/// ends at `after`) and `k + 1`; `None` when the next drawn sample lies beyond the window.
fn interpolate(
    vals: &[f64],
    reqs: &[u32],
    w: &[u32],
    j: usize,
    after: u64,
    k: u64,
    frac: f64,
) -> Option<f64> {
    let a = vals[j];
    if frac == 0.0 || after > k + 1 {
        return Some(a);
    }
    (j + 1..vals.len())
        .find(|&i| w[reqs[i] as usize] > 0)
        .map(|i| a + (vals[i] - a) * frac)
}

/// The weighted percentile from all samples (the slow, always-exact path).
fn weighted_full(g: &Grouped, w: &[u32], fraction: f64) -> f64 {
    let mut pool: Vec<(f64, u32)> = Vec::new();
    let mut total = 0u64;
    for (i, &wi) in w.iter().enumerate().take(g.requests()) {
        if wi > 0 {
            let vals = g.of_request(i);
            pool.extend(vals.iter().map(|&v| (v, i as u32)));
            total += u64::from(wi) * vals.len() as u64;
        }
    }
    if total == 0 {
        return f64::NAN;
    }
    pool.sort_unstable_by(by_value);
    let (vals, reqs): (Vec<f64>, Vec<u32>) = pool.into_iter().unzip();
    let rank = fraction * (total - 1) as f64;
    let k = rank.floor() as u64;
    walk_up(&reqs, w, 0, 0, k)
        .and_then(|(j, after)| interpolate(&vals, &reqs, w, j, after, k, rank - k as f64))
        .unwrap_or(f64::NAN)
}

/// A run's per-request samples and, for each latency metric whose value they reproduce, the
/// prepared percentile. Indexed by [`Metric::index`]; throughput has none.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSamples {
    pub requests: usize,
    pub ttft: Grouped,
    pub total: Grouped,
    pub gaps: Grouped,
    preps: [Option<QuantilePrep>; 7],
}

/// Where a metric's samples come from, and which percentile.
fn sample_source(m: Metric) -> Option<(usize, f64)> {
    match m {
        Metric::Throughput => None,
        Metric::TotalLatencyP50 => Some((1, 50.0)),
        Metric::TotalLatencyP99 => Some((1, 99.0)),
        Metric::TtftP50 => Some((0, 50.0)),
        Metric::TtftP99 => Some((0, 99.0)),
        Metric::InterTokenP50 => Some((2, 50.0)),
        Metric::InterTokenP99 => Some((2, 99.0)),
    }
}

/// The recomputed value agrees with the file's (both in ms, written at full precision).
fn reproduces(recomputed: f64, file: f64) -> bool {
    (recomputed - file).abs() <= 1e-6 * file.abs().max(1e-9)
}

impl RunSamples {
    /// Prepares the metrics whose file value the samples reproduce (a file whose
    /// `individual_requests` is incomplete or computed differently gets no interval for that
    /// metric). `None` when no metric qualifies.
    pub fn new(
        ttft: Grouped,
        total: Grouped,
        gaps: Grouped,
        values: &MetricValues,
    ) -> Option<RunSamples> {
        let requests = total.requests();
        if requests == 0 || ttft.requests() != requests || gaps.requests() != requests {
            return None;
        }
        let mut preps: [Option<QuantilePrep>; 7] = Default::default();
        for m in Metric::ALL {
            let (Some((src, q)), Some(file)) = (sample_source(m), values.get(m)) else {
                continue;
            };
            let g = [&ttft, &total, &gaps][src];
            preps[m.index()] = QuantilePrep::new(g, q).filter(|p| reproduces(p.point, file));
        }
        preps.iter().any(Option::is_some).then_some(RunSamples {
            requests,
            ttft,
            total,
            gaps,
            preps,
        })
    }

    pub fn has(&self, m: Metric) -> bool {
        self.preps[m.index()].is_some()
    }

    fn eval(&self, m: Metric, w: &[u32]) -> f64 {
        match (&self.preps[m.index()], sample_source(m)) {
            (Some(p), Some((src, _))) => p.eval([&self.ttft, &self.total, &self.gaps][src], w),
            _ => f64::NAN,
        }
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7; relative error ~1e-15).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let t = x + 7.5;
    let sum: f64 = C[0] + (1..9).map(|i| C[i] / (x + i as f64)).sum::<f64>();
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// Regularised incomplete beta I_x(a, b) (continued fraction, as in Numerical Recipes).
fn inc_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - inc_beta(1.0 - x, b, a);
    }
    // Lentz's method.
    let tiny = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    if d.abs() < tiny {
        d = tiny;
    }
    d = 1.0 / d;
    let mut f = d;
    for m in 1..300 {
        let m = f64::from(m);
        for num in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + num * d;
            if d.abs() < tiny {
                d = tiny;
            }
            c = 1.0 + num / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            f *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * f / a
}

/// Two-sided 97.5 % quantile of Student's t with `df` (real, ≥ 1 here) degrees of freedom:
/// P(T ≤ t) = 1 − I_{df/(df+t²)}(df/2, 1/2) / 2, solved by bisection.
pub fn t975(df: f64) -> f64 {
    if df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if df > 1e7 {
        return 1.959_963_984_540_054;
    }
    let upper_tail = |t: f64| 0.5 * inc_beta(df / (df + t * t), df / 2.0, 0.5);
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while upper_tail(hi) > 0.025 {
        hi *= 2.0;
    }
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if upper_tail(mid) > 0.025 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// Welch's 95 % interval of (mean(v2) − mean(v1)) / mean(v1) × 100 from run-level values
/// (n ≥ 2 per side): delta method for the ratio of means, Welch–Satterthwaite df.
pub fn welch_pct(v1: &[f64], v2: &[f64]) -> Option<(f64, f64)> {
    let (n1, n2) = (v1.len() as f64, v2.len() as f64);
    if v1.len() < 2 || v2.len() < 2 {
        return None;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let var =
        |v: &[f64], m: f64| v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
    let (m1, m2) = (mean(v1), mean(v2));
    if m1 == 0.0 || !m1.is_finite() || !m2.is_finite() {
        return None;
    }
    let (s1, s2) = (var(v1, m1), var(v2, m2));
    let a = s2 / n2 / (m1 * m1);
    let b = m2 * m2 * s1 / n1 / m1.powi(4);
    let d = (m2 / m1 - 1.0) * 100.0;
    if a + b == 0.0 {
        return Some((d, d));
    }
    let df = (a + b).powi(2) / (a * a / (n2 - 1.0) + b * b / (n1 - 1.0));
    let half = t975(df) * (a + b).sqrt() * 100.0;
    Some((d - half, d + half))
}

/// One side's value of every metric in `metrics` for one replicate: resample the runs (when
/// there are several), then the requests of each chosen run; the mean over the chosen runs.
fn side_replicate(
    runs: &[&RunSamples],
    metrics: &[Metric],
    rng: &mut Rng,
    w: &mut Vec<u32>,
    out: &mut [f64],
) {
    out.fill(0.0);
    let n = runs.len();
    for _ in 0..n {
        let r = if n == 1 { runs[0] } else { runs[rng.below(n)] };
        w.clear();
        w.resize(r.requests, 0);
        for _ in 0..r.requests {
            w[rng.below(r.requests)] += 1;
        }
        for (o, &m) in out.iter_mut().zip(metrics) {
            *o += r.eval(m, w);
        }
    }
    for o in out.iter_mut() {
        *o /= n as f64;
    }
}

/// Bootstrap percentile intervals of the % difference for `metrics`.
fn bootstrap(
    s1: &[&RunSamples],
    s2: &[&RunSamples],
    metrics: &[Metric],
    seed: u64,
) -> Vec<Option<(f64, f64)>> {
    let mut rng1 = Rng::new(seed ^ 0x1111);
    let mut rng2 = Rng::new(seed ^ 0x2222);
    let k = metrics.len();
    let mut reps: Vec<Vec<f64>> = vec![Vec::with_capacity(REPLICATES); k];
    let (mut a, mut b) = (vec![0.0; k], vec![0.0; k]);
    let mut w = Vec::new();
    for _ in 0..REPLICATES {
        side_replicate(s1, metrics, &mut rng1, &mut w, &mut a);
        side_replicate(s2, metrics, &mut rng2, &mut w, &mut b);
        for j in 0..k {
            let d = (b[j] - a[j]) / a[j] * 100.0;
            if d.is_finite() {
                reps[j].push(d);
            }
        }
    }
    let tail = (1.0 - LEVEL) / 2.0 * 100.0;
    reps.into_iter()
        .map(|mut r| {
            if (r.len() as f64) < REPLICATES as f64 * 0.99 {
                return None;
            }
            r.sort_unstable_by(f64::total_cmp);
            Some((
                percentile_sorted(&r, tail)?,
                percentile_sorted(&r, 100.0 - tail)?,
            ))
        })
        .collect()
}

fn samples_of<'a>(side: &[&'a RunSummary]) -> Option<Vec<&'a RunSamples>> {
    side.iter().map(|r| r.samples.as_deref()).collect()
}

/// The interval of every metric's % difference between two groups of runs of one
/// configuration (model 1's and model 2's repeats); `None` where there is none.
pub fn diff_cis(side1: &[&RunSummary], side2: &[&RunSummary], seed: u64) -> [Option<DiffCi>; 7] {
    let mut out = [None; 7];
    if side1.is_empty() || side2.is_empty() {
        return out;
    }
    let mut boot: [Option<(f64, f64)>; 7] = [None; 7];
    if let (Some(a), Some(b)) = (samples_of(side1), samples_of(side2)) {
        let metrics: Vec<Metric> = Metric::ALL
            .into_iter()
            .filter(|&m| a.iter().chain(&b).all(|s| s.has(m)))
            .collect();
        if !metrics.is_empty() {
            for (m, ci) in metrics.iter().zip(bootstrap(&a, &b, &metrics, seed)) {
                boot[m.index()] = ci;
            }
        }
    }
    for m in Metric::ALL {
        let vals = |side: &[&RunSummary]| -> Vec<f64> {
            side.iter().filter_map(|r| r.values.get(m)).collect()
        };
        let (v1, v2) = (vals(side1), vals(side2));
        let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        let Some(point) = diff_pct(mean(&v1), mean(&v2)) else {
            continue;
        };
        let welch = welch_pct(&v1, &v2);
        let (lo, hi, method) = match (boot[m.index()], welch) {
            (Some(b), Some(w)) => (b.0.min(w.0), b.1.max(w.1), CiMethod::BootstrapAndWelch),
            (Some(b), None) => (b.0, b.1, CiMethod::Bootstrap),
            (None, Some(w)) => (w.0, w.1, CiMethod::Welch),
            (None, None) => continue,
        };
        out[m.index()] = Some(DiffCi {
            low: lo.min(point),
            high: hi.max(point),
            method,
        });
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn grouped(reqs: &[Vec<f64>]) -> Grouped {
        let mut g = Grouped::new();
        for r in reqs {
            g.values.extend(r);
            g.end_request();
        }
        g
    }

    fn numpy(mut v: Vec<f64>, q: f64) -> f64 {
        v.sort_unstable_by(f64::total_cmp);
        percentile_sorted(&v, q).unwrap()
    }

    #[test]
    fn weighted_percentile_matches_pooling_the_resampled_requests() {
        let mut rng = Rng::new(7);
        // 300 requests of 0..60 gaps each (some empty), values with ties.
        let reqs: Vec<Vec<f64>> = (0..300)
            .map(|i| {
                let n = rng.below(60);
                let scale = 1.0 + (i % 7) as f64 * 0.1;
                (0..n)
                    .map(|_| (rng.unit() * 50.0).round() / 10.0 * scale)
                    .collect()
            })
            .collect();
        let g = grouped(&reqs);
        assert!(g.values.len() > SMALL_POOL);
        for q in [50.0, 99.0, 1.0, 100.0, 0.0, 90.0] {
            let p = QuantilePrep::new(&g, q).unwrap();
            // Equal up to rounding (percentiles above the median are computed from the top).
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
            let want = numpy(g.values.clone(), q);
            assert!(close(p.point, want), "q={q}: {} vs {want}", p.point);
            for _ in 0..200 {
                let mut w = vec![0u32; reqs.len()];
                for _ in 0..reqs.len() {
                    w[rng.below(reqs.len())] += 1;
                }
                let pooled: Vec<f64> = reqs
                    .iter()
                    .zip(&w)
                    .flat_map(|(r, &k)| (0..k).flat_map(move |_| r.iter().copied()))
                    .collect();
                let (got, want) = (p.eval(&g, &w), numpy(pooled, q));
                assert!(close(got, want), "q={q}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn t_quantiles_and_welch() {
        // Closed forms for df = 1 (Cauchy) and 2; tabulated values otherwise.
        let cauchy = (std::f64::consts::PI * 0.475).tan();
        assert!((t975(1.0) - cauchy).abs() < 1e-9, "{}", t975(1.0));
        let df2 = 0.95 * (2.0f64 / (4.0 * 0.975 * 0.025)).sqrt();
        assert!((t975(2.0) - df2).abs() < 1e-9, "{}", t975(2.0));
        for (df, t) in [(5.0, 2.5706), (10.0, 2.2281), (30.0, 2.0423), (1e9, 1.96)] {
            assert!((t975(df) - t).abs() < 1e-4, "df {df}: {}", t975(df));
        }
        assert!(t975(2.5) < t975(2.0) && t975(2.5) > t975(3.0));
        // Equal groups: an interval around 0.
        let (lo, hi) = welch_pct(&[10.0, 12.0, 11.0], &[11.0, 10.0, 12.0]).unwrap();
        assert!(lo < 0.0 && hi > 0.0 && (lo + hi).abs() < 1e-9);
        // A clear shift with little spread.
        let (lo, hi) = welch_pct(&[100.0, 101.0, 99.0], &[80.0, 81.0, 79.0]).unwrap();
        assert!(lo < -20.0 && hi < -17.0 && lo > -23.0, "{lo} {hi}");
        assert_eq!(welch_pct(&[1.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn rng_is_fixed() {
        let mut r = Rng::new(1);
        let a: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        let mut r = Rng::new(1);
        let b: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(a, b);
        let mut r = Rng::new(2);
        assert!((0..1000).all(|_| r.below(7) < 7));
    }

    /// A run of `n` requests drawn from a latency model with request-level correlation:
    /// TTFT lognormal (median 50 ms, σ 0.3), `gaps` token gaps per request sharing a request factor
    /// (lognormal, σ 0.2) times independent noise (lognormal, σ 0.3), all scaled by `scale`.
    pub(crate) fn simulated_run(rng: &mut Rng, n: usize, gaps: usize, scale: f64) -> RunSummary {
        let normal = |rng: &mut Rng| {
            // Box–Muller
            let (u, v) = (1.0 - rng.unit(), rng.unit());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        };
        let (mut ttft, mut total, mut gap) = (Grouped::new(), Grouped::new(), Grouped::new());
        for _ in 0..n {
            let first = 50.0 * (0.3 * normal(rng)).exp() * scale;
            let factor = (0.2 * normal(rng)).exp();
            let mut sum = first;
            for _ in 0..gaps {
                let g = 12.0 * factor * (0.3 * normal(rng)).exp() * scale;
                sum += g;
                gap.values.push(g);
            }
            ttft.values.push(first);
            total.values.push(sum);
            for g in [&mut ttft, &mut total, &mut gap] {
                g.end_request();
            }
        }
        let mut values = MetricValues::default();
        for m in Metric::ALL {
            if let Some((src, q)) = sample_source(m) {
                let mut v = [&ttft, &total, &gap][src].values.clone();
                v.sort_unstable_by(f64::total_cmp);
                values.set(m, percentile_sorted(&v, q));
            }
        }
        values.set(Metric::Throughput, Some(1000.0 * scale));
        let samples = RunSamples::new(ttft, total, gap, &values).map(std::sync::Arc::new);
        assert!(samples
            .as_ref()
            .is_some_and(|s| Metric::ALL[1..].iter().all(|m| s.has(*m))));
        RunSummary {
            dir: std::path::PathBuf::from("sim"),
            model_name: None,
            definitions: None,
            config: ConfigKey {
                par: crate::results::Parallelism {
                    tp: 1,
                    dp: 1,
                    pp: 1,
                },
                max_num_batched_tokens: None,
                load: crate::results::Load::NONE,
            },
            other_config: String::new(),
            settings: Vec::new(),
            values,
            goodput: Default::default(),
            tpot_mean_ms: None,
            samples,
            partial: None,
            invalid_values: Vec::new(),
            server_version: None,
            server_view: None,
        }
    }

    /// For `pairs` simulated comparisons (one run of `n` requests per side, model 2 scaled by
    /// `shift`): per metric, how many intervals exclude 0 with model 2 higher and lower, and how
    /// many contain the point estimate.
    pub(crate) fn simulate(pairs: usize, n: usize, shift: f64, seed: u64) -> Vec<[usize; 3]> {
        let mut out = vec![[0usize; 3]; 7];
        let mut rng = Rng::new(seed);
        for p in 0..pairs {
            let a = simulated_run(&mut rng, n, 32, 1.0);
            let b = simulated_run(&mut rng, n, 32, shift);
            let cis = diff_cis(&[&a], &[&b], seed ^ p as u64);
            for m in Metric::ALL {
                let Some(ci) = cis[m.index()] else { continue };
                let d = diff_pct(a.values.get(m), b.values.get(m)).unwrap();
                let o = &mut out[m.index()];
                o[0] += usize::from(ci.low > 0.0);
                o[1] += usize::from(ci.high < 0.0);
                o[2] += usize::from(ci.low <= d && d <= ci.high);
            }
        }
        out
    }

    fn report(label: &str, pairs: usize, r: &[[usize; 3]]) {
        for m in &Metric::ALL[1..] {
            let [up, down, _] = r[m.index()];
            eprintln!(
                "{label}: {:<20} excludes 0: {:>5.1} % (higher {up}, lower {down} of {pairs})",
                m.key(),
                (up + down) as f64 / pairs as f64 * 100.0
            );
        }
    }

    #[test]
    fn null_pairs_are_mostly_within_noise_and_a_20_percent_shift_is_found() {
        let pairs = 40;
        let null = simulate(pairs, 200, 1.0, 1);
        report("null", pairs, &null);
        let shifted = simulate(pairs, 200, 1.2, 2);
        report("shift +20 %", pairs, &shifted);
        for m in &Metric::ALL[1..] {
            let [up, down, inside] = null[m.index()];
            assert!(
                up + down <= 6,
                "{m:?}: {up}+{down} of {pairs} null pairs significant"
            );
            assert_eq!(
                inside, pairs,
                "{m:?}: the point estimate lies in the interval"
            );
        }
        for m in [
            Metric::TtftP50,
            Metric::TotalLatencyP50,
            Metric::InterTokenP50,
        ] {
            let [up, down, _] = shifted[m.index()];
            assert!(
                up >= pairs - 2 && down == 0,
                "{m:?}: {up} higher, {down} lower"
            );
        }
        // Throughput from one run per side: no interval.
        assert_eq!(null[Metric::Throughput.index()], [0, 0, 0]);
    }

    #[test]
    fn repeats_span_the_two_level_bootstrap_and_welch() {
        let mut rng = Rng::new(5);
        let a: Vec<RunSummary> = (0..2)
            .map(|_| simulated_run(&mut rng, 100, 8, 1.0))
            .collect();
        let b: Vec<RunSummary> = (0..3)
            .map(|_| simulated_run(&mut rng, 100, 8, 1.0))
            .collect();
        let (ra, rb): (Vec<&RunSummary>, Vec<&RunSummary>) =
            (a.iter().collect(), b.iter().collect());
        let cis = diff_cis(&ra, &rb, 9);
        for m in &Metric::ALL[1..] {
            let ci = cis[m.index()].unwrap();
            assert_eq!(ci.method, CiMethod::BootstrapAndWelch, "{m:?}");
            let vals = |s: &[&RunSummary]| {
                s.iter()
                    .filter_map(|r| r.values.get(*m))
                    .collect::<Vec<_>>()
            };
            let (lo, hi) = welch_pct(&vals(&ra), &vals(&rb)).unwrap();
            assert!(
                ci.low <= lo && ci.high >= hi,
                "{m:?}: {ci:?} vs Welch {lo} {hi}"
            );
        }
        // Throughput: Welch only (no per-request samples); one run per side: nothing.
        assert_eq!(cis[0].map(|c| c.method), Some(CiMethod::Welch));
        assert_eq!(diff_cis(&ra[..1], &rb[..1], 9)[0], None);
        // Same inputs, same seed: the same intervals.
        assert_eq!(diff_cis(&ra, &rb, 9), cis);
    }

    /// The coverage check of docs/statistics.md (release build, about a minute):
    /// `cargo test --release --lib coverage_simulation -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn coverage_simulation() {
        let pairs = 2000;
        let t = std::time::Instant::now();
        report("null", pairs, &simulate(pairs, 200, 1.0, 11));
        report("shift +20 %", pairs, &simulate(pairs, 200, 1.2, 12));
        report("shift +5 %", pairs, &simulate(pairs, 200, 1.05, 13));
        eprintln!("{:.1} s", t.elapsed().as_secs_f64());
    }
}
