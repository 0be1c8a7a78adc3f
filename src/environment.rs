//! What a run ran on, recorded in `run_info` (docs/metrics.md, "The server's own view"):
//! the server's version (`GET /version`, vLLM) and its `/v1/models` entry for the served model,
//! the host's CPU and GPUs (`nvidia-smi`, when present). Nothing here can fail a run: what is
//! not known is recorded as `null`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::results::write::Ordered;

/// Longest wait for `/version` or `/v1/models`, and for `nvidia-smi`.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The server's side: `/version` and the served model's `/v1/models` entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerInfo {
    /// `version` of `GET /version` (vLLM).
    pub version: Option<String>,
    /// The `/v1/models` entry whose `id` is the served model: `id`, `root`, `max_model_len`.
    pub model: Option<Value>,
}

impl ServerInfo {
    /// Asks the server (`base_url` with or without `/v1`); each answer that is missing or
    /// malformed leaves its field empty.
    pub async fn fetch(
        base_url: &str,
        model: &str,
        tls: &crate::client::tls::TlsSettings,
    ) -> ServerInfo {
        let Ok(api) = crate::client::api_root(base_url) else {
            return ServerInfo::default();
        };
        let Ok(client) = crate::client::tls::side_client(tls)
            .timeout(PROBE_TIMEOUT)
            .build()
        else {
            return ServerInfo::default();
        };
        let get = |url: reqwest::Url| {
            let client = client.clone();
            async move {
                let r = client.get(url).send().await.ok()?;
                if !r.status().is_success() {
                    return None;
                }
                serde_json::from_slice::<Value>(&r.bytes().await.ok()?).ok()
            }
        };
        let mut root = api.clone();
        let path = api.path().trim_end_matches('/');
        root.set_path(&format!(
            "{}/version",
            path.strip_suffix("/v1").unwrap_or(path)
        ));
        let mut models = api.clone();
        models.set_path(&format!("{}/models", api.path().trim_end_matches('/')));
        let (v, m) = tokio::join!(get(root), get(models));
        ServerInfo {
            version: v.and_then(|v| v["version"].as_str().map(str::to_owned)),
            model: m.and_then(|m| model_entry(&m, model)),
        }
    }
}

/// The entry of `model` in a `/v1/models` answer, reduced to `id`, `root`, `max_model_len`.
fn model_entry(list: &Value, model: &str) -> Option<Value> {
    let e = list["data"]
        .as_array()?
        .iter()
        .find(|e| e["id"].as_str() == Some(model))?;
    Some(json!({
        "id": e["id"],
        "root": e.get("root").cloned().unwrap_or(Value::Null),
        "max_model_len": e.get("max_model_len").cloned().unwrap_or(Value::Null),
    }))
}

/// The host: CPU model and logical cores (`/proc/cpuinfo`), GPUs from `nvidia-smi`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostInfo {
    pub cpu_model: Option<String>,
    pub cpu_cores: Option<usize>,
    /// `name`, `memory_total_mib`, `driver_version` per GPU; `None` without `nvidia-smi`.
    pub gpus: Option<Vec<Value>>,
}

impl HostInfo {
    /// Reads the host (runs `nvidia-smi` if it is on the PATH, for at most [`PROBE_TIMEOUT`]).
    pub async fn read() -> HostInfo {
        // A small file of the kernel's: read at once, before any request is in flight.
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        HostInfo {
            cpu_model: cpu_model(&cpuinfo),
            cpu_cores: std::thread::available_parallelism()
                .ok()
                .map(|n| n.get())
                .or_else(|| {
                    let n = cpuinfo
                        .lines()
                        .filter(|l| l.starts_with("processor"))
                        .count();
                    (n > 0).then_some(n)
                }),
            gpus: nvidia_smi().await,
        }
    }
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name") || l.starts_with("Model"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

async fn nvidia_smi() -> Option<Vec<Value>> {
    let run = tokio::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=name,memory.total,driver_version",
            "--format=csv,noheader,nounits",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(PROBE_TIMEOUT, run).await.ok()?.ok()?;
    if !out.status.success() {
        return None;
    }
    Some(gpu_lines(&String::from_utf8_lossy(&out.stdout)))
}

fn gpu_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            json!({
                "name": f.first().copied(),
                "memory_total_mib": f.get(1).and_then(|m| m.parse::<u64>().ok()),
                "driver_version": f.get(2).copied(),
            })
        })
        .collect()
}

/// Appends the environment to `run_info`. `server_command`: the command that started the
/// server (sweep), already masked.
pub fn record(
    info: &mut Ordered,
    server: &ServerInfo,
    host: &HostInfo,
    server_command: Option<&str>,
) {
    info.push("server_version", server.version.clone());
    info.push("served_model", server.model.clone());
    info.push("server_command", server_command.map(str::to_owned));
    info.push("host_cpu_model", host.cpu_model.clone());
    info.push("host_cpu_cores", host.cpu_cores);
    info.push("gpus", host.gpus.clone().map(Value::from));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_models_entry_and_the_host() {
        let list = json!({"object": "list", "data": [
            {"id": "other", "root": "/x"},
            {"id": "tiny", "root": "/models/tiny", "max_model_len": 1024, "permission": []}]});
        assert_eq!(
            model_entry(&list, "tiny"),
            Some(json!({"id": "tiny", "root": "/models/tiny", "max_model_len": 1024}))
        );
        assert_eq!(model_entry(&list, "missing"), None);
        assert_eq!(
            cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n"),
            Some("AMD EPYC 7B13".into())
        );
        assert_eq!(
            gpu_lines("NVIDIA A100-SXM4-80GB, 81920, 535.104.05\n"),
            vec![
                json!({"name": "NVIDIA A100-SXM4-80GB", "memory_total_mib": 81920, "driver_version": "535.104.05"})
            ]
        );
    }
}
