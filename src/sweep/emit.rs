//! `sweep --emit slurm|k8s`: the same sweep as a Slurm job array or Kubernetes Indexed Jobs.
//!
//! modelbench schedules nothing itself: each engine's native unit of work (an array task, an
//! indexed pod) runs `modelbench sweep … --only-gpus G --shard-from-env`, i.e. one shard of
//! the configurations needing G GPUs. There is one array / Job per GPU count (a task's GPU
//! request is fixed), with one task / index per configuration. See docs/cluster.md.

use std::fmt::Write;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::shard::COUNT_ENV;

/// Where the results volume is mounted in a pod (the pod's `--output-dir`).
pub const K8S_RESULTS: &str = "/results";
/// Where the grid file is mounted in a pod (from a ConfigMap).
pub const K8S_GRID_DIR: &str = "/etc/modelbench";
/// Where the init container puts the modelbench binary.
pub const K8S_TOOLS_DIR: &str = "/modelbench/bin";
/// The Secret (key `OPENAI_API_KEY`) a pod reads the API key from, when the sweep uses one.
pub const K8S_API_KEY_SECRET: &str = "modelbench-api-key";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EmitError {
    #[error("--emit k8s needs --{0}")]
    Missing(&'static str),
    #[error("--job-name {0:?}: a Kubernetes name is lower-case letters, digits and '-', starting with a letter, at most 50 characters")]
    JobName(String),
    #[error("--gres {0:?}: expected gpu, gpu:TYPE or none")]
    Gres(String),
    #[error("--emit: {0} would be written into the script; pass secrets through the environment instead (OPENAI_API_KEY for --api-key; vLLM reads VLLM_API_KEY)")]
    Secret(String),
    #[error(
        "--emit: no configuration to run (every one needs more than --gpus, or the grid is empty)"
    )]
    Nothing,
    #[error("--emit: {0}")]
    Flag(String),
}

/// What the engine is asked for per task.
#[derive(Debug, Clone, PartialEq)]
pub enum Gres {
    /// No GPU request (CPU-only clusters).
    None,
    /// `--gres=gpu[:TYPE]:K`.
    Gpu(Option<String>),
}

impl Gres {
    pub fn parse(s: &str) -> Result<Gres, EmitError> {
        match s.trim() {
            "none" => Ok(Gres::None),
            "gpu" => Ok(Gres::Gpu(None)),
            t => match t.strip_prefix("gpu:") {
                Some(ty)
                    if !ty.is_empty()
                        && ty
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
                {
                    Ok(Gres::Gpu(Some(ty.to_owned())))
                }
                _ => Err(EmitError::Gres(s.to_owned())),
            },
        }
    }
}

/// The configurations needing one GPU count: one array / Job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Group {
    pub gpus: u64,
    pub configs: usize,
}

/// Everything `--emit` needs, resolved from the flags.
#[derive(Debug, Clone)]
pub struct EmitSettings {
    pub model: String,
    pub job_name: String,
    pub max_parallel: Option<u32>,
    pub setup: Option<String>,
    pub time_limit: Duration,
    pub gres: Gres,
    pub sbatch_args: Vec<String>,
    pub image: Option<String>,
    pub modelbench_image: Option<String>,
    pub pvc: Option<String>,
    /// The sweep authenticates: the task reads `OPENAI_API_KEY` from its environment.
    pub api_key: bool,
    /// `--grid`: the file's name and text (shipped to pods in a ConfigMap).
    pub grid_file: Option<String>,
    /// Capacity searches are not resumable: the tasks run without `--resume`.
    pub resumable: bool,
}

/// Parses a Slurm time limit: `MINUTES`, `MINUTES:SECONDS`, `HOURS:MINUTES:SECONDS`,
/// `DAYS-HOURS`, `DAYS-HOURS:MINUTES`, `DAYS-HOURS:MINUTES:SECONDS`.
pub fn parse_time_limit(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a time limit (MINUTES, H:MM:SS or D-HH:MM:SS)");
    let num = |p: &str| -> Result<u64, String> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 6 {
            return Err(bad());
        }
        p.parse().map_err(|_| bad())
    };
    let t = s.trim();
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(num(d)?), r),
        None => (None, t),
    };
    let parts: Vec<u64> = rest.split(':').map(num).collect::<Result<_, _>>()?;
    let secs = match (days, parts.as_slice()) {
        (None, [m]) => m * 60,
        (None, [m, s]) => m * 60 + s,
        (None, [h, m, s]) => h * 3600 + m * 60 + s,
        (Some(d), [h]) => d * 86400 + h * 3600,
        (Some(d), [h, m]) => d * 86400 + h * 3600 + m * 60,
        (Some(d), [h, m, s]) => d * 86400 + h * 3600 + m * 60 + s,
        _ => return Err(bad()),
    };
    if secs == 0 {
        return Err(format!("{s:?}: the time limit must be more than 0"));
    }
    Ok(Duration::from_secs(secs))
}

/// `D-HH:MM:SS` (or `H:MM:SS` under a day), as Slurm reads it.
pub fn format_time_limit(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86400, s % 86400 / 3600, s % 3600 / 60, s % 60);
    if days > 0 {
        format!("{days}-{h:02}:{m:02}:{sec:02}")
    } else {
        format!("{h}:{m:02}:{sec:02}")
    }
}

/// Flags of the laptop's command line that the tasks do not get, and whether each takes a
/// value. The tasks get `--only-gpus G --shard-from-env` (and `--resume`) instead.
const DROPPED: &[(&str, bool)] = &[
    ("--emit", true),
    ("--max-parallel", true),
    ("--setup", true),
    ("--time-limit", true),
    ("--gres", true),
    ("--sbatch-arg", true),
    ("--job-name", true),
    ("--image", true),
    ("--modelbench-image", true),
    ("--pvc", true),
    ("--shard", true),
    ("--only-gpus", true),
    ("--api-key", true),
    ("--dry-run", false),
    ("--shard-from-env", false),
    ("--resume", false),
];

/// The `sweep` arguments (after the word `sweep`) a task runs with: the laptop's, without the
/// `--emit` flags, the shard flags and the API key, with `replace` applied (flag → new value)
/// and refusing any other secret.
pub fn task_args(
    sweep_args: &[String],
    replace: &[(&str, String)],
) -> Result<Vec<String>, EmitError> {
    let mut out: Vec<String> = Vec::new();
    let mut it = sweep_args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (arg.as_str(), None),
        };
        if let Some((_, takes_value)) = DROPPED.iter().find(|(n, _)| *n == name) {
            if *takes_value && inline.is_none() {
                it.next();
            }
            continue;
        }
        if let Some((_, value)) = replace.iter().find(|(n, _)| *n == name) {
            if inline.is_none() {
                it.next();
            }
            out.push(name.to_owned());
            out.push(value.clone());
            continue;
        }
        out.push(arg.clone());
    }
    let masked = crate::secrets::mask_args(&out);
    if let Some((i, _)) = masked
        .iter()
        .zip(&out)
        .enumerate()
        .find(|(_, (m, o))| m != o)
    {
        // The flag whose value holds the secret: `--flag=value`, or the word before it.
        let flag = match out[i].split_once('=') {
            Some((f, _)) if f.starts_with("--") && !f.contains(' ') => Some(f),
            _ => i
                .checked_sub(1)
                .map(|j| out[j].as_str())
                .filter(|f| f.starts_with("--")),
        };
        let what = flag.map_or_else(|| "a secret".to_owned(), |f| format!("a secret in {f}"));
        return Err(EmitError::Secret(what));
    }
    Ok(out)
}

fn shell_quote(words: &[String]) -> String {
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    shlex::try_join(refs).unwrap_or_else(|_| words.join(" "))
}

fn group_name(settings: &EmitSettings, g: &Group) -> String {
    format!("{}-{}gpu", settings.job_name, g.gpus)
}

fn array_spec(settings: &EmitSettings, g: &Group) -> String {
    let last = g.configs.saturating_sub(1);
    let range = if last == 0 {
        "0".to_owned()
    } else {
        format!("0-{last}")
    };
    match settings.max_parallel {
        Some(p) => format!("{range}%{p}"),
        None => range,
    }
}

/// The tasks' command: `modelbench sweep <args> --only-gpus G --shard-from-env [--resume]`.
fn task_command(settings: &EmitSettings, args: &[String], g: &Group) -> Vec<String> {
    let mut cmd = vec!["sweep".to_owned()];
    cmd.extend(args.iter().cloned());
    cmd.extend([
        "--only-gpus".to_owned(),
        g.gpus.to_string(),
        "--shard-from-env".to_owned(),
    ]);
    if settings.resumable {
        cmd.push("--resume".to_owned());
    }
    cmd
}

/// One sbatch script for one GPU count.
fn sbatch_script(settings: &EmitSettings, args: &[String], g: &Group) -> String {
    let name = group_name(settings, g);
    let mut s = String::new();
    let _ = writeln!(s, "#!/bin/bash");
    let _ = writeln!(
        s,
        "# modelbench sweep of {}: {} configuration(s) needing {} GPU(s) (TP·DP·PP), one array task each.",
        settings.model, g.configs, g.gpus
    );
    let _ = writeln!(
        s,
        "# Written by `modelbench sweep --emit slurm`; see docs/cluster.md."
    );
    let _ = writeln!(s, "#SBATCH --job-name={name}");
    let _ = writeln!(s, "#SBATCH --array={}", array_spec(settings, g));
    let _ = writeln!(s, "#SBATCH --nodes=1");
    let _ = writeln!(s, "#SBATCH --ntasks=1");
    match &settings.gres {
        Gres::None => {}
        Gres::Gpu(None) => {
            let _ = writeln!(s, "#SBATCH --gres=gpu:{}", g.gpus);
        }
        Gres::Gpu(Some(ty)) => {
            let _ = writeln!(s, "#SBATCH --gres=gpu:{ty}:{}", g.gpus);
        }
    }
    let _ = writeln!(
        s,
        "#SBATCH --time={}",
        format_time_limit(settings.time_limit)
    );
    let _ = writeln!(s, "#SBATCH --output={name}_%A_%a.out");
    // A task whose node fails is queued again; with --resume it skips what is complete.
    let _ = writeln!(s, "#SBATCH --requeue");
    for a in &settings.sbatch_args {
        let _ = writeln!(s, "#SBATCH {a}");
    }
    let _ = writeln!(s, "set -euo pipefail");
    let _ = writeln!(
        s,
        "# Shard = SLURM_ARRAY_TASK_ID of {COUNT_ENV}; tasks may share a node, so each has its own port."
    );
    let _ = writeln!(s, "export {COUNT_ENV}={}", g.configs);
    let _ = writeln!(s, "MODELBENCH_PORT=$((20000 + SLURM_JOB_ID % 20000))");
    if settings.api_key {
        let _ = writeln!(
            s,
            "# The API key comes from OPENAI_API_KEY, exported before sbatch (sbatch passes the environment)."
        );
        let _ = writeln!(
            s,
            ": \"${{OPENAI_API_KEY:?export OPENAI_API_KEY before sbatch}}\""
        );
    }
    if let Some(setup) = &settings.setup {
        let _ = writeln!(s, "{setup}");
    }
    let mut cmd = vec!["modelbench".to_owned()];
    cmd.extend(task_command(settings, args, g));
    let _ = writeln!(s, "exec {} --port \"$MODELBENCH_PORT\"", shell_quote(&cmd));
    s
}

/// `--emit slurm`: with one GPU count, a script for `sbatch FILE`; with several, a bash script
/// that submits one array per GPU count (`bash FILE`).
pub fn slurm(
    settings: &EmitSettings,
    sweep_args: &[String],
    groups: &[Group],
) -> Result<String, EmitError> {
    if groups.is_empty() {
        return Err(EmitError::Nothing);
    }
    // `--port` is set per task (tasks may share a node).
    let args = without_flag(&task_args(sweep_args, &[])?, "--port");
    if let [g] = groups {
        return Ok(sbatch_script(settings, &args, g));
    }
    let mut s = String::new();
    let counts: Vec<String> = groups.iter().map(|g| g.gpus.to_string()).collect();
    let _ = writeln!(s, "#!/bin/bash");
    let _ = writeln!(
        s,
        "# modelbench sweep of {}: {} configuration(s) in {} job arrays, one per GPU count ({}).",
        settings.model,
        groups.iter().map(|g| g.configs).sum::<usize>(),
        groups.len(),
        counts.join(", ")
    );
    let _ = writeln!(
        s,
        "# Run it with `bash FILE`: it submits each array with sbatch. See docs/cluster.md."
    );
    let _ = writeln!(s, "set -euo pipefail");
    for g in groups {
        let tag = format!("MODELBENCH_SBATCH_{}GPU", g.gpus);
        let _ = writeln!(s, "sbatch <<'{tag}'");
        s.push_str(&sbatch_script(settings, &args, g));
        let _ = writeln!(s, "{tag}");
    }
    Ok(s)
}

fn without_flag(args: &[String], flag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == flag {
            it.next();
        } else if !a.starts_with(&format!("{flag}=")) {
            out.push(a.clone());
        }
    }
    out
}

fn valid_k8s_name(name: &str) -> bool {
    name.len() <= 50
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `--emit k8s`: a ConfigMap holding the grid file (with `--grid`), then one Indexed Job per
/// GPU count, as YAML documents.
pub fn k8s(
    settings: &EmitSettings,
    sweep_args: &[String],
    groups: &[Group],
) -> Result<String, EmitError> {
    let image = settings
        .image
        .as_deref()
        .ok_or(EmitError::Missing("image IMAGE"))?;
    let pvc = settings
        .pvc
        .as_deref()
        .ok_or(EmitError::Missing("pvc NAME"))?;
    if !valid_k8s_name(&settings.job_name) {
        return Err(EmitError::JobName(settings.job_name.clone()));
    }
    if groups.is_empty() {
        return Err(EmitError::Nothing);
    }
    let grid_map = format!("{}-grid", settings.job_name);
    let mut replace = vec![("--output-dir", K8S_RESULTS.to_owned())];
    if settings.grid_file.is_some() {
        replace.push(("--grid", format!("{K8S_GRID_DIR}/grid.toml")));
    }
    let mut args = task_args(sweep_args, &replace)?;
    if !args
        .iter()
        .any(|a| a == "--output-dir" || a.starts_with("--output-dir="))
    {
        args.extend(["--output-dir".to_owned(), K8S_RESULTS.to_owned()]);
    }
    let mut docs = Vec::new();
    if let Some(text) = &settings.grid_file {
        docs.push(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": grid_map, "labels": labels(None)},
            "data": {"grid.toml": text},
        }));
    }
    for g in groups {
        docs.push(job(settings, &args, g, image, pvc, &grid_map));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# modelbench sweep of {} as Kubernetes Indexed Jobs, one per GPU count; see docs/cluster.md.",
        settings.model
    );
    if settings.api_key {
        let _ = writeln!(
            out,
            "# The API key is read from the Secret {K8S_API_KEY_SECRET} (key OPENAI_API_KEY)."
        );
    }
    for d in &docs {
        out.push_str("---\n");
        yaml(d, 0, &mut out);
    }
    Ok(out)
}

fn labels(gpus: Option<u64>) -> Value {
    let mut m = Map::new();
    m.insert("app.kubernetes.io/name".into(), json!("modelbench"));
    m.insert("app.kubernetes.io/component".into(), json!("sweep"));
    if let Some(g) = gpus {
        m.insert("modelbench/gpus".into(), json!(g.to_string()));
    }
    Value::Object(m)
}

fn job(
    settings: &EmitSettings,
    args: &[String],
    g: &Group,
    image: &str,
    pvc: &str,
    grid_map: &str,
) -> Value {
    let bin = if settings.modelbench_image.is_some() {
        format!("{K8S_TOOLS_DIR}/modelbench")
    } else {
        "modelbench".to_owned()
    };
    let mut argv = vec![bin];
    argv.extend(task_command(settings, args, g));
    let command: Vec<String> = match &settings.setup {
        // `sh -c SCRIPT sh ARGS…`: the setup runs in the shell, then modelbench replaces it.
        Some(setup) => {
            let mut c = vec![
                "/bin/sh".to_owned(),
                "-c".to_owned(),
                format!("{setup}\nexec \"$@\""),
                "sh".to_owned(),
            ];
            c.extend(argv);
            c
        }
        None => argv,
    };
    let mut env = vec![json!({"name": COUNT_ENV, "value": g.configs.to_string()})];
    if settings.api_key {
        env.push(json!({
            "name": "OPENAI_API_KEY",
            "valueFrom": {"secretKeyRef": {"name": K8S_API_KEY_SECRET, "key": "OPENAI_API_KEY"}},
        }));
    }
    let mut mounts = vec![
        json!({"name": "results", "mountPath": K8S_RESULTS}),
        json!({"name": "dshm", "mountPath": "/dev/shm"}),
    ];
    let mut volumes = vec![
        json!({"name": "results", "persistentVolumeClaim": {"claimName": pvc}}),
        json!({"name": "dshm", "emptyDir": {"medium": "Memory"}}),
    ];
    if settings.grid_file.is_some() {
        mounts.push(json!({"name": "grid", "mountPath": K8S_GRID_DIR, "readOnly": true}));
        volumes.push(json!({"name": "grid", "configMap": {"name": grid_map}}));
    }
    let mut pod = json!({
        "restartPolicy": "Never",
        "activeDeadlineSeconds": settings.time_limit.as_secs(),
        "containers": [{
            "name": "sweep",
            "image": image,
            "command": command,
            "env": env,
            "resources": {"limits": {"nvidia.com/gpu": g.gpus}},
            "volumeMounts": mounts,
        }],
        "volumes": volumes,
    });
    if let Some(mb) = &settings.modelbench_image {
        let tools_mount = json!({"name": "modelbench-bin", "mountPath": K8S_TOOLS_DIR});
        pod["initContainers"] = json!([{
            "name": "modelbench",
            "image": mb,
            "command": ["cp", "/usr/local/bin/modelbench", format!("{K8S_TOOLS_DIR}/modelbench")],
            "volumeMounts": [tools_mount],
        }]);
        if let Some(m) = pod["containers"][0]["volumeMounts"].as_array_mut() {
            m.push(tools_mount);
        }
        if let Some(v) = pod["volumes"].as_array_mut() {
            v.push(json!({"name": "modelbench-bin", "emptyDir": {}}));
        }
    }
    let completions = g.configs;
    let parallelism = settings
        .max_parallel
        .map_or(completions, |p| (p as usize).min(completions));
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": group_name(settings, g), "labels": labels(Some(g.gpus))},
        "spec": {
            "completionMode": "Indexed",
            "completions": completions,
            "parallelism": parallelism,
            // One retry per configuration (a node that died); one failing configuration does
            // not fail the other indexes.
            "backoffLimitPerIndex": 1,
            "template": {
                "metadata": {"labels": labels(Some(g.gpus))},
                "spec": pod,
            },
        },
    })
}

/// A JSON value as block-style YAML; strings are written JSON-quoted (valid YAML
/// double-quoted scalars), so nothing is left to YAML's implicit typing.
fn yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                let key = scalar(&Value::String(k.clone()));
                match val {
                    Value::Object(o) if !o.is_empty() => {
                        let _ = writeln!(out, "{pad}{key}:");
                        yaml(val, indent + 2, out);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        let _ = writeln!(out, "{pad}{key}:");
                        yaml(val, indent, out);
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}{key}: {}", scalar(val));
                    }
                }
            }
        }
        Value::Array(a) => {
            for item in a {
                match item {
                    Value::Object(o) if !o.is_empty() => {
                        let mut inner = String::new();
                        yaml(item, indent + 2, &mut inner);
                        out.push_str(&pad);
                        out.push_str("- ");
                        out.push_str(&inner[indent + 2..]);
                    }
                    Value::Array(x) if !x.is_empty() => {
                        let _ = writeln!(out, "{pad}-");
                        yaml(item, indent + 2, out);
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}- {}", scalar(item));
                    }
                }
            }
        }
        _ => {
            let _ = writeln!(out, "{pad}{}", scalar(v));
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        Value::String(s) => {
            // Plain keys read better; anything else is quoted.
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:".contains(c))
                && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
                && !s.ends_with(':')
                && !matches!(
                    s.to_ascii_lowercase().as_str(),
                    "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
                )
            {
                s.clone()
            } else {
                serde_json::to_string(s).unwrap_or_default()
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EmitSettings {
        EmitSettings {
            model: "Org/M".into(),
            job_name: "mb".into(),
            max_parallel: Some(2),
            setup: Some("source /opt/vllm/bin/activate".into()),
            time_limit: Duration::from_secs(2 * 3600),
            gres: Gres::Gpu(None),
            sbatch_args: vec!["--partition=gpu".into()],
            image: Some("vllm/vllm-openai:v0.11.0".into()),
            modelbench_image: Some("registry.example/modelbench:1".into()),
            pvc: Some("bench-results".into()),
            api_key: true,
            grid_file: None,
            resumable: true,
        }
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    const ARGS: &str = "--model Org/M --tp 1,2 --serve-cmd vllm-serve --api-key sk-secret-1234 \
        --emit slurm --max-parallel 2 --setup=x --dry-run --output-dir out --port 9000 --concurrency 1,4";

    #[test]
    fn time_limits() {
        let t = |s: &str| parse_time_limit(s).map(|d| d.as_secs());
        assert_eq!(t("90"), Ok(5400));
        assert_eq!(t("1:30:00"), Ok(5400));
        assert_eq!(t("2-00"), Ok(172_800));
        assert_eq!(t("1-02:03:04"), Ok(93_784));
        for bad in ["", "0", "1:2:3:4", "a", "-1", "1.5"] {
            assert!(t(bad).is_err(), "{bad}");
        }
        assert_eq!(format_time_limit(Duration::from_secs(5400)), "1:30:00");
        assert_eq!(format_time_limit(Duration::from_secs(93_784)), "1-02:03:04");
    }

    #[test]
    fn task_args_drop_emit_flags_and_the_key_and_refuse_other_secrets() {
        let a = task_args(&words(ARGS), &[("--output-dir", "/results".into())]).unwrap();
        assert_eq!(
            a.join(" "),
            "--model Org/M --tp 1,2 --serve-cmd vllm-serve --output-dir /results --port 9000 --concurrency 1,4"
        );
        let leak = vec![
            "--model".to_owned(),
            "m".to_owned(),
            "--serve-extra".to_owned(),
            "--dtype float32 --api-key sk-abcdefgh".to_owned(),
        ];
        assert_eq!(
            task_args(&leak, &[]),
            Err(EmitError::Secret("a secret in --serve-extra".into()))
        );
        let leak = words("--model m --serve-arg=hf-token=hf_abcdefgh");
        assert_eq!(
            task_args(&leak, &[]),
            Err(EmitError::Secret("a secret in --serve-arg".into()))
        );
    }

    #[test]
    fn slurm_script_one_array_per_gpu_count() {
        let s = settings();
        let one = slurm(
            &s,
            &words(ARGS),
            &[Group {
                gpus: 2,
                configs: 3,
            }],
        )
        .unwrap();
        assert!(one.starts_with("#!/bin/bash\n"), "{one}");
        for line in [
            "#SBATCH --job-name=mb-2gpu",
            "#SBATCH --array=0-2%2",
            "#SBATCH --gres=gpu:2",
            "#SBATCH --time=2:00:00",
            "#SBATCH --partition=gpu",
            "export MODELBENCH_SHARD_COUNT=3",
            "source /opt/vllm/bin/activate",
            "exec modelbench sweep --model Org/M --tp '1,2' --serve-cmd vllm-serve --output-dir out \
             --concurrency '1,4' --only-gpus 2 --shard-from-env --resume --port \"$MODELBENCH_PORT\"",
        ] {
            assert!(one.lines().any(|l| l == line), "missing {line:?} in\n{one}");
        }
        assert!(!one.contains("sk-secret"), "{one}");
        let two = slurm(
            &EmitSettings {
                gres: Gres::None,
                max_parallel: None,
                ..s
            },
            &words(ARGS),
            &[
                Group {
                    gpus: 1,
                    configs: 1,
                },
                Group {
                    gpus: 2,
                    configs: 4,
                },
            ],
        )
        .unwrap();
        assert_eq!(
            two.matches("sbatch <<'MODELBENCH_SBATCH_").count(),
            2,
            "{two}"
        );
        assert!(two.contains("#SBATCH --array=0\n") && two.contains("#SBATCH --array=0-3\n"));
        assert!(!two.contains("--gres"), "{two}");
        assert!(
            two.contains("--only-gpus 1 --shard-from-env")
                && two.contains("--only-gpus 2 --shard-from-env")
        );
    }

    #[test]
    fn k8s_jobs_indices_resources_and_command() {
        let s = EmitSettings {
            grid_file: Some("tp = [1, 2]\n".into()),
            ..settings()
        };
        let y = k8s(
            &s,
            &words(ARGS),
            &[
                Group {
                    gpus: 1,
                    configs: 3,
                },
                Group {
                    gpus: 2,
                    configs: 1,
                },
            ],
        )
        .unwrap();
        assert_eq!(y.matches("\n---\n").count(), 3, "{y}");
        for want in [
            "kind: ConfigMap",
            "  name: mb-1gpu",
            "  name: mb-2gpu",
            "  completionMode: Indexed",
            "  completions: 3",
            "  parallelism: 2",
            "  completions: 1",
            "  parallelism: 1",
            "  backoffLimitPerIndex: 1",
            "nvidia.com/gpu: 1",
            "nvidia.com/gpu: 2",
            "claimName: bench-results",
            "image: vllm/vllm-openai:v0.11.0",
            "restartPolicy: Never",
            "activeDeadlineSeconds: 7200",
            "name: MODELBENCH_SHARD_COUNT",
            "value: \"3\"",
            "name: modelbench-api-key",
        ] {
            assert!(y.contains(want), "missing {want:?} in\n{y}");
        }
        // The command: setup in sh, then modelbench from the init container, pod paths.
        let cmd_1gpu = [
            "      - command:",
            "        - /bin/sh",
            "        - \"-c\"",
            "        - \"source /opt/vllm/bin/activate\\nexec \\\"$@\\\"\"",
            "        - sh",
            "        - /modelbench/bin/modelbench",
            "        - sweep",
            "        - \"--model\"",
            "        - Org/M",
            "        - \"--tp\"",
            "        - \"1,2\"",
        ]
        .join("\n");
        assert!(y.contains(&cmd_1gpu), "{y}");
        assert!(
            y.contains("- \"--output-dir\"\n        - /results\n"),
            "{y}"
        );
        assert!(
            y.contains("- \"--only-gpus\"\n        - \"1\"\n        - \"--shard-from-env\"\n        - \"--resume\"\n"),
            "{y}"
        );
        assert!(!y.contains("sk-secret"), "{y}");
        assert!(!y.contains("--dry-run") && !y.contains("--emit"), "{y}");
        assert_eq!(
            k8s(
                &EmitSettings {
                    pvc: None,
                    ..settings()
                },
                &[],
                &[Group {
                    gpus: 1,
                    configs: 1
                }]
            ),
            Err(EmitError::Missing("pvc NAME"))
        );
        assert!(matches!(
            k8s(
                &EmitSettings {
                    job_name: "Bad_Name".into(),
                    ..settings()
                },
                &[],
                &[Group {
                    gpus: 1,
                    configs: 1
                }]
            ),
            Err(EmitError::JobName(_))
        ));
    }

    #[test]
    fn gres_values() {
        assert_eq!(Gres::parse("none"), Ok(Gres::None));
        assert_eq!(Gres::parse("gpu:a100"), Ok(Gres::Gpu(Some("a100".into()))));
        assert!(Gres::parse("gpu:").is_err() && Gres::parse("tpu").is_err());
    }
}
