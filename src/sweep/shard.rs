//! Sharding a sweep over the tasks of a Slurm job array or the pods of a Kubernetes Indexed
//! Job: `--shard K/N` runs only shard K's configurations.
//!
//! The assignment is a pure function of the grid: the configurations (after `--only-gpus`, in
//! the grid's own order) are dealt round-robin, configuration `i` to shard `i mod N`. A
//! configuration goes to one shard with all its repeats and load levels (its capacity search
//! too), so every shard starts each of its servers once per repeat, as an unsharded sweep
//! does. Nothing already on disk changes which shard a configuration belongs to; `--resume`
//! then skips, within the shard, what is already complete.

use std::fmt;

use super::grid::ServeConfig;

/// Environment variable giving the number of shards where the scheduler does not (a
/// Kubernetes Indexed Job's `completions`; the emitted Slurm scripts set it too).
pub const COUNT_ENV: &str = "MODELBENCH_SHARD_COUNT";
const SLURM_ID: &str = "SLURM_ARRAY_TASK_ID";
const SLURM_COUNT: &str = "SLURM_ARRAY_TASK_COUNT";
const SLURM_MIN: &str = "SLURM_ARRAY_TASK_MIN";
const SLURM_MAX: &str = "SLURM_ARRAY_TASK_MAX";
const SLURM_STEP: &str = "SLURM_ARRAY_TASK_STEP";
const K8S_INDEX: &str = "JOB_COMPLETION_INDEX";

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ShardError {
    #[error("--shard {0:?}: expected K/N with 0 <= K < N, e.g. 0/4")]
    Syntax(String),
    #[error("--shard {index}/{count}: {}", range_rule(*count))]
    OutOfRange { index: u64, count: u64 },
    #[error("--shard-from-env: neither SLURM_ARRAY_TASK_ID (Slurm job array) nor JOB_COMPLETION_INDEX (Kubernetes Indexed Job) is set")]
    NoIndex,
    #[error("--shard-from-env: {name}={value:?} is not a whole number")]
    NotANumber { name: &'static str, value: String },
    #[error("--shard-from-env: JOB_COMPLETION_INDEX is set but {COUNT_ENV} is not (set it to the Job's completions)")]
    NoK8sCount,
    #[error("--shard-from-env: SLURM_ARRAY_TASK_ID is set but neither {COUNT_ENV} nor SLURM_ARRAY_TASK_COUNT is")]
    NoSlurmCount,
    #[error("--shard-from-env: the job array is not one range 0..N-1 with step 1 ({what}); set {COUNT_ENV} to the number of shards and number the tasks from 0")]
    SlurmRange { what: String },
    #[error("--shard-from-env: shard {index} from {source_name}, but {count_name} gives {count} shard(s) (K must be from 0 to N-1)")]
    EnvOutOfRange {
        index: u64,
        count: u64,
        source_name: &'static str,
        count_name: &'static str,
    },
}

fn range_rule(count: u64) -> String {
    if count == 0 {
        "N must be at least 1".to_owned()
    } else if count > u64::from(u32::MAX) {
        format!("N must be at most {}", u32::MAX)
    } else {
        format!("K must be from 0 to N-1 (0 to {})", count - 1)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Parses `K/N`.
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(text.to_owned());
        let (k, n) = text.trim().split_once('/').ok_or_else(syntax)?;
        let whole = |s: &str| -> Result<u64, ShardError> {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            s.parse().map_err(|_| syntax())
        };
        let (index, count) = (whole(k)?, whole(n)?);
        Shard::checked(index, count).ok_or(ShardError::OutOfRange { index, count })
    }

    fn checked(index: u64, count: u64) -> Option<Shard> {
        let count = u32::try_from(count).ok().filter(|&c| c >= 1)?;
        let index = u32::try_from(index).ok().filter(|&k| k < count)?;
        Some(Shard { index, count })
    }

    /// Reads the shard from the scheduler's environment (`var` looks a variable up):
    ///
    /// - Slurm: K = `SLURM_ARRAY_TASK_ID`; N = `MODELBENCH_SHARD_COUNT` when set (then task ids
    ///   are shard numbers, so `sbatch --array=3,5` re-runs shards 3 and 5), else
    ///   `SLURM_ARRAY_TASK_COUNT`, with K = (ID − `SLURM_ARRAY_TASK_MIN`) for an array
    ///   that is one range of step 1 (`--array=1-8` works as 0-7);
    /// - Kubernetes: K = `JOB_COMPLETION_INDEX`, N = `MODELBENCH_SHARD_COUNT` (the Job's
    ///   `completions`; Kubernetes does not pass it).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Shard, ShardError> {
        let num = |name: &'static str| -> Result<Option<u64>, ShardError> {
            match var(name) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| ShardError::NotANumber { name, value: v }),
            }
        };
        let explicit = num(COUNT_ENV)?;
        let (index, count, source_name, count_name) = if let Some(id) = num(SLURM_ID)? {
            match explicit {
                Some(n) => (id, n, SLURM_ID, COUNT_ENV),
                None => {
                    let n = num(SLURM_COUNT)?.ok_or(ShardError::NoSlurmCount)?;
                    let min = num(SLURM_MIN)?.unwrap_or(0);
                    let max = num(SLURM_MAX)?;
                    let step = num(SLURM_STEP)?.unwrap_or(1);
                    if step != 1 || max.is_some_and(|m| m.checked_sub(min) != Some(n - 1)) {
                        return Err(ShardError::SlurmRange {
                            what: format!(
                                "min {min}, max {}, step {step}, count {n}",
                                max.map_or("?".into(), |m| m.to_string())
                            ),
                        });
                    }
                    let k = id.checked_sub(min).ok_or_else(|| ShardError::SlurmRange {
                        what: format!("task {id} below min {min}"),
                    })?;
                    (k, n, SLURM_ID, SLURM_COUNT)
                }
            }
        } else if let Some(i) = num(K8S_INDEX)? {
            (
                i,
                explicit.ok_or(ShardError::NoK8sCount)?,
                K8S_INDEX,
                COUNT_ENV,
            )
        } else {
            return Err(ShardError::NoIndex);
        };
        Shard::checked(index, count).ok_or(ShardError::EnvOutOfRange {
            index,
            count,
            source_name,
            count_name,
        })
    }

    /// Whether the configuration at position `i` of the grid is this shard's.
    pub fn owns(&self, i: usize) -> bool {
        i % self.count as usize == self.index as usize
    }

    /// This shard's configurations, in grid order.
    pub fn select(&self, configs: &[ServeConfig]) -> Vec<ServeConfig> {
        configs
            .iter()
            .enumerate()
            .filter(|(i, _)| self.owns(*i))
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// `shard1of4`, for file names.
    pub fn file_tag(&self) -> String {
        format!("shard{}of{}", self.index, self.count)
    }
}

/// The configurations needing exactly `gpus` GPUs (TP·DP·PP), in grid order.
pub fn with_gpus(configs: &[ServeConfig], gpus: u64) -> Vec<ServeConfig> {
    configs
        .iter()
        .filter(|c| c.gpus() == gpus)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::grid::GridSpec;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn parses_k_of_n_and_refuses_the_rest() {
        assert_eq!(Shard::parse("0/4"), Ok(Shard { index: 0, count: 4 }));
        assert_eq!(Shard::parse(" 3/4 "), Ok(Shard { index: 3, count: 4 }));
        assert_eq!(
            Shard::parse("4/4").unwrap_err().to_string(),
            "--shard 4/4: K must be from 0 to N-1 (0 to 3)"
        );
        assert_eq!(
            Shard::parse("0/0").unwrap_err().to_string(),
            "--shard 0/0: N must be at least 1"
        );
        for bad in ["", "1", "1/", "/2", "-1/2", "a/2", "1/2/3", "+1/2", "1.0/2"] {
            assert_eq!(
                Shard::parse(bad),
                Err(ShardError::Syntax(bad.into())),
                "{bad}"
            );
        }
        assert!(Shard::parse("0/99999999999").is_err());
    }

    #[test]
    fn reads_slurm_and_kubernetes_variables() {
        let s = |pairs: &[(&str, &str)]| Shard::from_env(env(pairs));
        // What Slurm sets for `--array=0-3`, task 2.
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "3"),
            ("SLURM_ARRAY_TASK_STEP", "1"),
        ];
        assert_eq!(s(&slurm), Ok(Shard { index: 2, count: 4 }));
        // `--array=1-4`: task 1 is shard 0.
        assert_eq!(
            s(&[
                ("SLURM_ARRAY_TASK_ID", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_MAX", "4"),
            ]),
            Ok(Shard { index: 0, count: 4 })
        );
        // A re-submitted subset (`--array=3,5`) needs the explicit count.
        let subset = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
            ("SLURM_ARRAY_TASK_MIN", "3"),
            ("SLURM_ARRAY_TASK_MAX", "5"),
        ];
        assert!(matches!(s(&subset), Err(ShardError::SlurmRange { .. })));
        let mut with_count = subset.to_vec();
        with_count.push(("MODELBENCH_SHARD_COUNT", "8"));
        assert_eq!(s(&with_count), Ok(Shard { index: 5, count: 8 }));
        // Kubernetes.
        assert_eq!(
            s(&[
                ("JOB_COMPLETION_INDEX", "1"),
                ("MODELBENCH_SHARD_COUNT", "3")
            ]),
            Ok(Shard { index: 1, count: 3 })
        );
        assert_eq!(
            s(&[("JOB_COMPLETION_INDEX", "1")]).unwrap_err().to_string(),
            "--shard-from-env: JOB_COMPLETION_INDEX is set but MODELBENCH_SHARD_COUNT is not (set it to the Job's completions)"
        );
        assert_eq!(s(&[]), Err(ShardError::NoIndex));
        assert_eq!(
            s(&[("SLURM_ARRAY_TASK_ID", "x")]).unwrap_err().to_string(),
            "--shard-from-env: SLURM_ARRAY_TASK_ID=\"x\" is not a whole number"
        );
        assert_eq!(
            s(&[("JOB_COMPLETION_INDEX", "3"), ("MODELBENCH_SHARD_COUNT", "3")])
                .unwrap_err()
                .to_string(),
            "--shard-from-env: shard 3 from JOB_COMPLETION_INDEX, but MODELBENCH_SHARD_COUNT gives 3 shard(s) (K must be from 0 to N-1)"
        );
        assert_eq!(
            s(&[("SLURM_ARRAY_TASK_ID", "0")]),
            Err(ShardError::NoSlurmCount)
        );
    }

    #[test]
    fn shards_partition_the_grid_in_order() {
        let configs = GridSpec::from_flags(&[1, 2], &[1, 2], &[], &[64, 128], &[])
            .unwrap()
            .expand();
        assert_eq!(configs.len(), 8);
        let mut seen = Vec::new();
        for k in 0..3 {
            let part = Shard { index: k, count: 3 }.select(&configs);
            assert_eq!(part.len(), if k < 2 { 3 } else { 2 });
            seen.extend(part);
        }
        assert_eq!(seen.len(), configs.len());
        for c in &configs {
            assert_eq!(seen.iter().filter(|s| *s == c).count(), 1, "{c}");
        }
        // More shards than configurations: the extra shards are empty.
        assert!(Shard {
            index: 9,
            count: 10
        }
        .select(&configs)
        .is_empty());
        assert_eq!(with_gpus(&configs, 2).len(), 4);
    }
}
