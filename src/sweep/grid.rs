//! The grid of `vllm serve` configurations: from command-line flags (`--tp 1,2 --serve-arg
//! max-num-seqs=64,256`) or from a TOML file (`--grid sweep.toml`, see docs/sweep.md), expanded
//! into the list of configurations in a stable order (TP, then DP, PP, max_num_batched_tokens,
//! then the other flags).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::results::{ConfigKey, Parallelism};

/// Flags the sweep sets itself; they cannot be given as `--serve-arg` axes or `--serve-extra`.
pub const RESERVED_FLAGS: [(&str, &str); 8] = [
    ("tensor-parallel-size", "--tp"),
    ("data-parallel-size", "--dp"),
    ("pipeline-parallel-size", "--pp"),
    ("max-num-batched-tokens", "--max-num-batched-tokens"),
    ("host", "the sweep (always 127.0.0.1)"),
    ("port", "--port"),
    // The sweep talks to its own servers over plain HTTP on loopback (`run` measures https).
    (
        "ssl-keyfile",
        "plain HTTP: a sweep's servers are on 127.0.0.1 (benchmark an https server with run)",
    ),
    (
        "ssl-certfile",
        "plain HTTP: a sweep's servers are on 127.0.0.1 (benchmark an https server with run)",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum GridError {
    #[error("{flag}: {message}")]
    Flag { flag: &'static str, message: String },
    #[error("cannot read grid file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("grid file {path}: {message}")]
    File { path: PathBuf, message: String },
}

/// The value of one extra `vllm serve` flag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServeValue {
    /// `--flag VALUE`.
    Text(String),
    /// `true`: the bare switch `--flag`; `false`: the flag is left out.
    Switch(bool),
}

impl ServeValue {
    /// As recorded in `benchmark_config` and `sweep_status.json`: numbers as numbers.
    pub fn to_json(&self) -> Value {
        match self {
            ServeValue::Switch(b) => Value::Bool(*b),
            ServeValue::Text(s) => {
                if let Ok(i) = s.parse::<i64>() {
                    json!(i)
                } else if let Some(f) = s.parse::<f64>().ok().filter(|f| f.is_finite()) {
                    json!(f)
                } else {
                    Value::String(s.clone())
                }
            }
        }
    }
}

impl fmt::Display for ServeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeValue::Text(s) => f.write_str(s),
            ServeValue::Switch(b) => write!(f, "{b}"),
        }
    }
}

/// One `vllm serve` configuration of a sweep.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServeConfig {
    pub key: ConfigKey,
    /// Other serve flags (name without the leading `--`) and their values.
    pub extra: BTreeMap<String, ServeValue>,
}

impl ServeConfig {
    /// GPUs the configuration needs (TP·DP·PP).
    pub fn gpus(&self) -> u64 {
        self.key.par.gpus()
    }

    /// The flags this configuration adds to the server command line (parallelism first).
    pub fn serve_flags(&self) -> Vec<String> {
        let p = self.key.par;
        let mut out = vec![
            "--tensor-parallel-size".to_owned(),
            p.tp.to_string(),
            "--data-parallel-size".to_owned(),
            p.dp.to_string(),
            "--pipeline-parallel-size".to_owned(),
            p.pp.to_string(),
        ];
        if let Some(m) = self.key.max_num_batched_tokens {
            out.extend(["--max-num-batched-tokens".to_owned(), m.to_string()]);
        }
        out.extend(self.extra_flags());
        out
    }

    /// Just the extra flags (after `--host`/`--port` on the command line).
    pub fn extra_flags(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, value) in &self.extra {
            match value {
                ServeValue::Text(v) => out.extend([format!("--{name}"), v.clone()]),
                ServeValue::Switch(true) => out.push(format!("--{name}")),
                ServeValue::Switch(false) => {}
            }
        }
        out
    }

    /// Extra flags as recorded in `benchmark_config` (`max-num-seqs` → `max_num_seqs`).
    pub fn extra_config(&self) -> BTreeMap<String, Value> {
        self.extra
            .iter()
            .map(|(k, v)| (k.replace('-', "_"), masked_json(k, v)))
            .collect()
    }

    /// The identity used by `--resume` to match a result to this configuration.
    pub fn identity(&self) -> Value {
        let p = self.key.par;
        let extra: serde_json::Map<String, Value> = self
            .extra
            .iter()
            .map(|(k, v)| (k.clone(), masked_json(k, v)))
            .collect();
        json!({
            "tensor_parallel_size": p.tp,
            "data_parallel_size": p.dp,
            "pipeline_parallel_size": p.pp,
            "max_num_batched_tokens": self.key.max_num_batched_tokens,
            "serve_args": extra,
        })
    }
}

/// A server flag's value as recorded (in results, labels and the resume identity): masked when
/// the flag names a secret (`--serve-arg api-key=…`); the server itself gets the real value.
fn masked_json(flag: &str, v: &ServeValue) -> Value {
    if crate::secrets::is_secret_name(flag) {
        Value::from(crate::secrets::MASK)
    } else {
        v.to_json()
    }
}

impl fmt::Display for ServeConfig {
    /// `tp=2 dp=1 pp=1 mnbt=4096 max-num-seqs=64`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.key.par;
        write!(f, "tp={} dp={} pp={}", p.tp, p.dp, p.pp)?;
        match self.key.max_num_batched_tokens {
            Some(m) => write!(f, " mnbt={m}")?,
            None => write!(f, " mnbt=default")?,
        }
        for (k, v) in &self.extra {
            if crate::secrets::is_secret_name(k) {
                write!(f, " {k}={}", crate::secrets::MASK)?;
            } else {
                write!(f, " {k}={v}")?;
            }
        }
        Ok(())
    }
}

/// The grid before expansion: one list of values per axis, plus explicit configurations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GridSpec {
    pub tp: Vec<u32>,
    pub dp: Vec<u32>,
    pub pp: Vec<u32>,
    pub max_num_batched_tokens: Vec<u64>,
    /// Other serve flags as axes, in the order given.
    pub serve_args: Vec<(String, Vec<ServeValue>)>,
    /// Whether the axes' product is part of the grid (false when a TOML file lists only
    /// `[[config]]` entries).
    pub product: bool,
    /// Configurations listed one by one (TOML `[[config]]`), added after the product.
    pub explicit: Vec<ServeConfig>,
}

/// One value of a grid axis: a whole number written in decimal digits, spaces around it
/// ignored (no sign, exponent, fraction or separators). The one number syntax of every grid
/// written as text: `sweep`'s `--tp/--dp/--pp/--max-num-batched-tokens` values (clap splits
/// them at commas and hands each piece here) and `summarize --expected-grid`.
pub fn parse_whole(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty value".to_owned());
    }
    if !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{t:?} is not a whole number"));
    }
    t.parse::<u64>().map_err(|_| format!("{t} is too large"))
}

/// [`parse_whole`] for a value that must fit in 32 bits (TP, DP, PP).
pub fn parse_whole_u32(text: &str) -> Result<u32, String> {
    let v = parse_whole(text)?;
    u32::try_from(v).map_err(|_| format!("{v} is too large"))
}

/// `values` without repeats, in order (the first of equal values is kept).
fn without_repeats<T: PartialEq>(values: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The one rule for the values of an axis, whatever its syntax (text, flags, TOML): every
/// value at least 1 and fitting `T`; repeated values are dropped (the first is kept).
pub fn axis_values<T: TryFrom<u64> + Copy + PartialEq>(
    name: &str,
    values: &[u64],
) -> Result<Vec<T>, String> {
    let checked = values
        .iter()
        .map(|&v| match v {
            0 => Err(format!("{name}: values must be at least 1")),
            v => T::try_from(v).map_err(|_| format!("{name}: {v} is too large")),
        })
        .collect::<Result<Vec<T>, String>>()?;
    Ok(without_repeats(checked))
}

/// A comma-separated list (`1, 2,4`): values trimmed; an empty value (`1,,2`, a trailing comma)
/// is an error; repeated values are dropped (the first is kept).
pub fn split_list<'a>(name: &str, text: &'a str) -> Result<Vec<&'a str>, String> {
    let values: Vec<&str> = text.split(',').map(str::trim).collect();
    if values.contains(&"") {
        return Err(format!("{name}: {text:?} has an empty value"));
    }
    Ok(without_repeats(values))
}

/// One numeric axis written as text (`1,2,4`): [`split_list`], [`parse_whole`] and
/// [`axis_values`].
pub fn parse_axis<T: TryFrom<u64> + Copy + PartialEq>(
    name: &str,
    text: &str,
) -> Result<Vec<T>, String> {
    let numbers = split_list(name, text)?
        .into_iter()
        .map(|v| parse_whole(v).map_err(|e| format!("{name}: {e}")))
        .collect::<Result<Vec<u64>, String>>()?;
    axis_values(name, &numbers)
}

/// Checks a serve flag name (leading dashes allowed) and returns it without them.
pub fn normalize_flag(raw: &str) -> Result<String, String> {
    let name = raw.trim().trim_start_matches('-');
    if name.is_empty() {
        return Err(format!("{raw:?} is not a flag name"));
    }
    if name.chars().any(|c| c.is_whitespace() || c == '=') {
        return Err(format!("{raw:?} is not a flag name (no spaces or '=')"));
    }
    let dashed = name.replace('_', "-");
    if let Some((_, use_instead)) = RESERVED_FLAGS.iter().find(|(f, _)| *f == dashed) {
        return Err(format!("--{name} is set by the sweep; use {use_instead}"));
    }
    Ok(name.to_owned())
}

/// Parses one `--serve-arg FLAG=V1,V2` value.
pub fn parse_serve_arg(raw: &str) -> Result<(String, Vec<ServeValue>), String> {
    let (flag, values) = raw
        .split_once('=')
        .ok_or_else(|| format!("{raw:?} is not FLAG=V1,V2"))?;
    let flag = normalize_flag(flag)?;
    let values = split_list(&format!("--{flag}"), values)?
        .into_iter()
        .map(|v| ServeValue::Text(v.to_owned()))
        .collect();
    Ok((flag, values))
}

/// [`axis_values`] for a command-line axis (already split and parsed by clap).
fn flag_axis<T: TryFrom<u64> + Copy + PartialEq + Into<u64>>(
    values: &[T],
    flag: &'static str,
) -> Result<Vec<T>, GridError> {
    let raw: Vec<u64> = values.iter().map(|&v| v.into()).collect();
    axis_values(flag, &raw).map_err(|e| GridError::Flag {
        flag,
        message: e
            .trim_start_matches(flag)
            .trim_start_matches(": ")
            .to_owned(),
    })
}

impl GridSpec {
    /// The grid from the command-line axes.
    pub fn from_flags(
        tp: &[u32],
        dp: &[u32],
        pp: &[u32],
        mnbt: &[u64],
        serve_args: &[String],
    ) -> Result<GridSpec, GridError> {
        let (tp, dp, pp) = (
            flag_axis(tp, "--tp")?,
            flag_axis(dp, "--dp")?,
            flag_axis(pp, "--pp")?,
        );
        let mnbt = flag_axis(mnbt, "--max-num-batched-tokens")?;
        let mut axes: Vec<(String, Vec<ServeValue>)> = Vec::new();
        for raw in serve_args {
            let (flag, values) = parse_serve_arg(raw).map_err(|message| GridError::Flag {
                flag: "--serve-arg",
                message,
            })?;
            if axes.iter().any(|(f, _)| *f == flag) {
                return Err(GridError::Flag {
                    flag: "--serve-arg",
                    message: format!("--{flag} is given twice"),
                });
            }
            axes.push((flag, values));
        }
        Ok(GridSpec {
            tp,
            dp,
            pp,
            max_num_batched_tokens: mnbt,
            serve_args: axes,
            product: true,
            explicit: Vec::new(),
        })
    }

    /// The grid from a TOML file (format in docs/sweep.md).
    pub fn from_toml_file(path: &Path) -> Result<GridSpec, GridError> {
        let text = std::fs::read_to_string(path).map_err(|source| GridError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        GridSpec::from_toml(&text).map_err(|message| GridError::File {
            path: path.to_path_buf(),
            message,
        })
    }

    pub fn from_toml(text: &str) -> Result<GridSpec, String> {
        let raw: TomlGrid =
            toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))?;
        fn axis<T: TryFrom<u64> + Copy + PartialEq>(
            name: &str,
            v: Option<OneOrMany<u64>>,
        ) -> Result<Vec<T>, String> {
            axis_values(name, &v.map(OneOrMany::into_vec).unwrap_or_default())
        }
        let mut spec = GridSpec {
            tp: axis("tp", raw.tp)?,
            dp: axis("dp", raw.dp)?,
            pp: axis("pp", raw.pp)?,
            max_num_batched_tokens: axis("max_num_batched_tokens", raw.max_num_batched_tokens)?,
            serve_args: Vec::new(),
            product: true,
            explicit: Vec::new(),
        };
        for (flag, values) in raw.serve_args {
            let name = normalize_flag(&flag).map_err(|e| format!("serve_args: {e}"))?;
            let values = match values {
                toml::Value::Array(many) => many,
                one => vec![one],
            };
            let values = values
                .iter()
                .map(|v| toml_serve_value(v, &flag))
                .collect::<Result<Vec<_>, _>>()?;
            if values.is_empty() {
                return Err(format!("serve_args.{flag}: no values"));
            }
            spec.serve_args.push((name, without_repeats(values)));
        }
        for (i, c) in raw.config.into_iter().enumerate() {
            let n = i + 1;
            let par = |v: Option<u64>, name: &str| -> Result<u32, String> {
                match v.unwrap_or(1) {
                    0 => Err(format!("config #{n}: {name} must be at least 1")),
                    x => u32::try_from(x)
                        .map_err(|_| format!("config #{n}: {name} {x} is too large")),
                }
            };
            if c.max_num_batched_tokens == Some(0) {
                return Err(format!(
                    "config #{n}: max_num_batched_tokens must be at least 1"
                ));
            }
            let mut extra = BTreeMap::new();
            for (flag, v) in c.serve_args {
                let name =
                    normalize_flag(&flag).map_err(|e| format!("config #{n}: serve_args: {e}"))?;
                extra.insert(name, toml_serve_value(&v, &flag)?);
            }
            spec.explicit.push(ServeConfig {
                key: ConfigKey {
                    par: Parallelism {
                        tp: par(c.tp, "tp")?,
                        dp: par(c.dp, "dp")?,
                        pp: par(c.pp, "pp")?,
                    },
                    max_num_batched_tokens: c.max_num_batched_tokens,
                    load: crate::results::Load::NONE,
                },
                extra,
            });
        }
        spec.product = !(spec.tp.is_empty()
            && spec.dp.is_empty()
            && spec.pp.is_empty()
            && spec.max_num_batched_tokens.is_empty()
            && spec.serve_args.is_empty());
        if !spec.product && spec.explicit.is_empty() {
            return Err("defines no configurations (give tp/dp/pp/max_num_batched_tokens/serve_args or [[config]])".into());
        }
        Ok(spec)
    }

    /// Every configuration, in order, without duplicates. Missing axes default to 1 (TP, DP,
    /// PP) or to the server default (max_num_batched_tokens: the flag is not passed).
    pub fn expand(&self) -> Vec<ServeConfig> {
        let or_one = |v: &[u32]| if v.is_empty() { vec![1] } else { v.to_vec() };
        let mnbt: Vec<Option<u64>> = if self.max_num_batched_tokens.is_empty() {
            vec![None]
        } else {
            self.max_num_batched_tokens
                .iter()
                .copied()
                .map(Some)
                .collect()
        };
        // The product of the extra axes, in the order given (last axis varies fastest).
        let mut extras: Vec<BTreeMap<String, ServeValue>> = vec![BTreeMap::new()];
        for (flag, values) in &self.serve_args {
            extras = extras
                .iter()
                .flat_map(|base| {
                    values.iter().map(move |v| {
                        let mut m = base.clone();
                        m.insert(flag.clone(), v.clone());
                        m
                    })
                })
                .collect();
        }
        let mut out: Vec<ServeConfig> = Vec::new();
        let mut push = |c: ServeConfig| {
            if !out.contains(&c) {
                out.push(c);
            }
        };
        if self.product {
            for &tp in &or_one(&self.tp) {
                for &dp in &or_one(&self.dp) {
                    for &pp in &or_one(&self.pp) {
                        for &m in &mnbt {
                            for extra in &extras {
                                push(ServeConfig {
                                    key: ConfigKey {
                                        par: Parallelism { tp, dp, pp },
                                        max_num_batched_tokens: m,
                                        load: crate::results::Load::NONE,
                                    },
                                    extra: extra.clone(),
                                });
                            }
                        }
                    }
                }
            }
        }
        for c in &self.explicit {
            push(c.clone());
        }
        out
    }
}

fn toml_serve_value(v: &toml::Value, flag: &str) -> Result<ServeValue, String> {
    match v {
        toml::Value::String(s) if !s.is_empty() => Ok(ServeValue::Text(s.clone())),
        toml::Value::Integer(i) => Ok(ServeValue::Text(i.to_string())),
        toml::Value::Float(f) => Ok(ServeValue::Text(f.to_string())),
        toml::Value::Boolean(b) => Ok(ServeValue::Switch(*b)),
        other => Err(format!(
            "serve_args.{flag}: {other} is not a string, number or boolean"
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(x) => vec![x],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlGrid {
    tp: Option<OneOrMany<u64>>,
    dp: Option<OneOrMany<u64>>,
    pp: Option<OneOrMany<u64>>,
    max_num_batched_tokens: Option<OneOrMany<u64>>,
    #[serde(default)]
    serve_args: BTreeMap<String, toml::Value>,
    #[serde(default)]
    config: Vec<TomlConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlConfig {
    tp: Option<u64>,
    dp: Option<u64>,
    pp: Option<u64>,
    max_num_batched_tokens: Option<u64>,
    #[serde(default)]
    serve_args: BTreeMap<String, toml::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(spec: &GridSpec) -> Vec<String> {
        spec.expand().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn flags_expand_in_order_with_defaults() {
        let s = GridSpec::from_flags(&[1, 2], &[], &[], &[4096], &["max-num-seqs=64,256".into()])
            .unwrap();
        assert_eq!(
            labels(&s),
            [
                "tp=1 dp=1 pp=1 mnbt=4096 max-num-seqs=64",
                "tp=1 dp=1 pp=1 mnbt=4096 max-num-seqs=256",
                "tp=2 dp=1 pp=1 mnbt=4096 max-num-seqs=64",
                "tp=2 dp=1 pp=1 mnbt=4096 max-num-seqs=256"
            ]
        );
        let none = GridSpec::from_flags(&[], &[], &[], &[], &[]).unwrap();
        assert_eq!(labels(&none), ["tp=1 dp=1 pp=1 mnbt=default"]);
        assert_eq!(
            none.expand()[0].serve_flags().len(),
            6,
            "no --max-num-batched-tokens when not given"
        );
    }

    #[test]
    fn bad_flags_are_named() {
        let e = GridSpec::from_flags(&[0], &[], &[], &[], &[])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--tp:"), "{e}");
        for (arg, want) in [
            ("max-num-seqs", "FLAG=V1,V2"),
            ("=1", "not a flag name"),
            ("port=1,2", "--port"),
            ("ssl-keyfile=k.pem", "plain HTTP"),
            ("--tensor_parallel_size=2", "use --tp"),
            ("x=1,,2", "empty value"),
        ] {
            let e = GridSpec::from_flags(&[], &[], &[], &[], &[arg.into()])
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("--serve-arg:") && e.contains(want),
                "{arg}: {e}"
            );
        }
        let e =
            GridSpec::from_flags(&[], &[], &[], &[], &["a=1".into(), "--a=2".into()]).unwrap_err();
        assert!(e.to_string().contains("twice"));
    }

    #[test]
    fn toml_axes_scalars_switches_and_explicit_configs() {
        let s = GridSpec::from_toml(
            r#"
            tp = [1, 2]
            pp = 1
            max_num_batched_tokens = [4096]
            [serve_args]
            max-num-seqs = [64]
            enforce-eager = true
            [[config]]
            tp = 8
            max_num_batched_tokens = 20480
            serve_args = { max-num-seqs = 128 }
            "#,
        )
        .unwrap();
        let l = labels(&s);
        assert_eq!(l.len(), 3);
        assert_eq!(
            l[0],
            "tp=1 dp=1 pp=1 mnbt=4096 enforce-eager=true max-num-seqs=64"
        );
        assert_eq!(l[2], "tp=8 dp=1 pp=1 mnbt=20480 max-num-seqs=128");
        let flags = s.expand()[0].extra_flags();
        assert_eq!(flags, ["--enforce-eager", "--max-num-seqs", "64"]);
        let cfg = s.expand()[0].extra_config();
        assert_eq!(cfg["max_num_seqs"], json!(64));
        assert_eq!(cfg["enforce_eager"], json!(true));
    }

    #[test]
    fn toml_explicit_only_and_errors() {
        let s = GridSpec::from_toml("[[config]]\ntp = 2\n[[config]]\ndp = 2\n").unwrap();
        assert_eq!(
            labels(&s),
            ["tp=2 dp=1 pp=1 mnbt=default", "tp=1 dp=2 pp=1 mnbt=default"]
        );
        for (text, want) in [
            ("", "no configurations"),
            ("tpp = [1]", "unknown field"),
            ("tp = [0]", "at least 1"),
            ("tp = [\"a\"]", "tp"),
            ("[serve_args]\nport = [1]", "--port"),
            ("[serve_args]\nx = [[1]]", "not a string"),
            ("[[config]]\npp = 0", "config #1"),
        ] {
            let e = GridSpec::from_toml(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn identity_and_values() {
        assert_eq!(ServeValue::Text("0.9".into()).to_json(), json!(0.9));
        assert_eq!(ServeValue::Text("auto".into()).to_json(), json!("auto"));
        let s = GridSpec::from_flags(&[2], &[], &[], &[], &["max-num-seqs=8".into()]).unwrap();
        let id = s.expand()[0].identity();
        assert_eq!(id["tensor_parallel_size"], json!(2));
        assert_eq!(id["max_num_batched_tokens"], Value::Null);
        assert_eq!(id["serve_args"]["max-num-seqs"], json!(8));
    }
}
