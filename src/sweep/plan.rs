//! The sweep's plan: which configuration runs, how many times, and which are skipped (too many
//! GPUs for `--gpus`, or already complete with `--resume`).

use std::fmt::Write;

use super::command::{display, ServeTemplate};
use super::grid::ServeConfig;

/// One server start + benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    pub config: ServeConfig,
    /// 1-based repeat number.
    pub repeat: u32,
    pub repeats: u32,
}

impl PlannedRun {
    /// `tp=1 dp=1 pp=1 mnbt=4096 (repeat 2/3)`; no suffix without repeats.
    pub fn label(&self) -> String {
        if self.repeats > 1 {
            format!("{} (repeat {}/{})", self.config, self.repeat, self.repeats)
        } else {
            self.config.to_string()
        }
    }
}

/// A configuration that is not run, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedConfig {
    pub config: ServeConfig,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub runs: Vec<PlannedRun>,
    pub skipped: Vec<SkippedConfig>,
}

/// Builds the plan. `done(config)` is the number of complete results it already has (0
/// without `--resume`); only the missing repeats are planned.
pub fn make_plan(
    configs: &[ServeConfig],
    gpus: Option<u32>,
    repeats: u32,
    done: impl Fn(&ServeConfig) -> usize,
) -> Plan {
    let mut plan = Plan::default();
    for config in configs {
        if let Some(max) = gpus {
            if config.gpus() > u64::from(max) {
                let reason = format!(
                    "needs {} GPUs (TP·DP·PP), more than --gpus {max}",
                    config.gpus()
                );
                plan.skipped.push(SkippedConfig {
                    config: config.clone(),
                    reason,
                });
                continue;
            }
        }
        let have = u32::try_from(done(config)).unwrap_or(u32::MAX);
        if have >= repeats {
            let reason = if have == 1 {
                "already has a complete result".to_owned()
            } else {
                format!("already has {have} complete results")
            };
            plan.skipped.push(SkippedConfig {
                config: config.clone(),
                reason,
            });
            continue;
        }
        for repeat in have + 1..=repeats {
            plan.runs.push(PlannedRun {
                config: config.clone(),
                repeat,
                repeats,
            });
        }
    }
    plan
}

/// The `--dry-run` output: every server command, then the skipped configurations.
pub fn render(plan: &Plan, template: &ServeTemplate, model: &str) -> String {
    let mut out = String::new();
    let n = plan.runs.len();
    let _ = writeln!(
        out,
        "Sweep plan for {model}: {n} run(s), {} configuration(s) skipped",
        plan.skipped.len()
    );
    let _ = writeln!(
        out,
        "Each server listens on {}; the benchmark runs against it.",
        template.base_url()
    );
    for (i, run) in plan.runs.iter().enumerate() {
        let _ = writeln!(out, "[{}/{n}] {}", i + 1, run.label());
        let _ = writeln!(out, "  {}", display(&template.argv(&run.config)));
    }
    for s in &plan.skipped {
        let _ = writeln!(out, "skipped: {}: {}", s.config, s.reason);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::grid::GridSpec;

    #[test]
    fn gpus_repeats_and_resume() {
        let configs = GridSpec::from_flags(&[1, 4], &[1, 2], &[], &[], &[])
            .unwrap()
            .expand();
        let plan = make_plan(&configs, Some(4), 2, |c| {
            usize::from(c.key.par.tp == 1 && c.key.par.dp == 1)
        });
        let labels: Vec<String> = plan.runs.iter().map(PlannedRun::label).collect();
        assert_eq!(
            labels,
            [
                "tp=1 dp=1 pp=1 mnbt=default (repeat 2/2)",
                "tp=1 dp=2 pp=1 mnbt=default (repeat 1/2)",
                "tp=1 dp=2 pp=1 mnbt=default (repeat 2/2)",
                "tp=4 dp=1 pp=1 mnbt=default (repeat 1/2)",
                "tp=4 dp=1 pp=1 mnbt=default (repeat 2/2)"
            ]
        );
        assert_eq!(plan.skipped.len(), 1);
        assert_eq!(
            plan.skipped[0].reason,
            "needs 8 GPUs (TP·DP·PP), more than --gpus 4"
        );
        let all_done = make_plan(&configs, None, 1, |_| 1);
        assert!(all_done.runs.is_empty());
        assert_eq!(all_done.skipped[0].reason, "already has a complete result");
    }

    #[test]
    fn renders_every_command() {
        let configs = GridSpec::from_flags(&[1, 2], &[], &[], &[64], &[])
            .unwrap()
            .expand();
        let t = ServeTemplate::new("vllm serve", "m", None, None, 8000).unwrap();
        let text = render(&make_plan(&configs, Some(1), 1, |_| 0), &t, "m");
        assert!(
            text.contains("[1/1] tp=1 dp=1 pp=1 mnbt=64\n  vllm serve m --tensor-parallel-size 1"),
            "{text}"
        );
        assert!(
            text.contains("skipped: tp=2 dp=1 pp=1 mnbt=64: needs 2 GPUs"),
            "{text}"
        );
    }
}
