//! The server command line of one configuration:
//! `<serve-cmd> MODEL --tensor-parallel-size T --data-parallel-size D --pipeline-parallel-size P
//! [--max-num-batched-tokens M] --host 127.0.0.1 --port PORT [the configuration's other flags]
//! [--served-model-name NAME] [--serve-extra args]`.

use super::grid::{normalize_flag, ServeConfig};

/// The address every server listens on (loopback only).
pub const HOST: &str = "127.0.0.1";

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{flag}: {message}")]
    Flag { flag: &'static str, message: String },
}

/// Everything of the server command line that does not depend on the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeTemplate {
    /// `--serve-cmd`, split like a shell would (program first).
    pub program: Vec<String>,
    /// The model argument given to the server (`--serve-model`, else `--model`).
    pub model_arg: String,
    /// `--served-model-name` to add when the model argument is not the served name.
    pub served_name: Option<String>,
    /// `--serve-extra`, split like a shell would.
    pub extra: Vec<String>,
    pub port: u16,
}

fn split(flag: &'static str, raw: &str) -> Result<Vec<String>, CommandError> {
    shlex::split(raw).ok_or_else(|| CommandError::Flag {
        flag,
        message: format!("cannot split {raw:?} (unbalanced quotes?)"),
    })
}

impl ServeTemplate {
    pub fn new(
        serve_cmd: &str,
        model: &str,
        serve_model: Option<&str>,
        serve_extra: Option<&str>,
        port: u16,
    ) -> Result<ServeTemplate, CommandError> {
        let program = split("--serve-cmd", serve_cmd)?;
        if program.is_empty() {
            return Err(CommandError::Flag {
                flag: "--serve-cmd",
                message: "is empty".into(),
            });
        }
        let extra = match serve_extra {
            Some(raw) => split("--serve-extra", raw)?,
            None => Vec::new(),
        };
        for word in &extra {
            let Some(flag) = word.strip_prefix("--") else {
                continue;
            };
            let name = flag.split('=').next().unwrap_or(flag);
            if let Err(message) = normalize_flag(name) {
                return Err(CommandError::Flag {
                    flag: "--serve-extra",
                    message,
                });
            }
            if name == "served-model-name" && serve_model.is_some() {
                return Err(CommandError::Flag {
                    flag: "--serve-extra",
                    message: "--served-model-name is set from --model when --serve-model is given"
                        .into(),
                });
            }
        }
        if port == 0 {
            return Err(CommandError::Flag {
                flag: "--port",
                message: "must be a port number from 1 to 65535".into(),
            });
        }
        let (model_arg, served_name) = match serve_model {
            Some(path) if path != model => (path.to_owned(), Some(model.to_owned())),
            _ => (model.to_owned(), None),
        };
        Ok(ServeTemplate {
            program,
            model_arg,
            served_name,
            extra,
            port,
        })
    }

    /// The full argument vector (program first) for one configuration.
    pub fn argv(&self, config: &ServeConfig) -> Vec<String> {
        let mut out = self.program.clone();
        out.push(self.model_arg.clone());
        let mut flags = config.serve_flags();
        let extra_count = config.extra_flags().len();
        let extra = flags.split_off(flags.len() - extra_count);
        out.extend(flags);
        out.extend([
            "--host".to_owned(),
            HOST.to_owned(),
            "--port".to_owned(),
            self.port.to_string(),
        ]);
        out.extend(extra);
        if let Some(name) = &self.served_name {
            out.extend(["--served-model-name".to_owned(), name.clone()]);
        }
        out.extend(self.extra.iter().cloned());
        out
    }

    /// The server's base URL.
    pub fn base_url(&self) -> String {
        format!("http://{HOST}:{}", self.port)
    }
}

/// A command line as a shell would need it typed (quoted where needed).
/// Secrets (`--api-key K`, `--hf-token T`, …) are masked: this is only ever shown or recorded.
pub fn display(argv: &[String]) -> String {
    crate::secrets::mask_command_line(argv)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::grid::GridSpec;

    #[test]
    fn builds_the_documented_command() {
        let t = ServeTemplate::new(
            "'/opt/my venv/bin/vllm' serve",
            "Org/M",
            None,
            Some("--dtype bfloat16 --enforce-eager"),
            8001,
        )
        .unwrap();
        let cfg = &GridSpec::from_flags(&[2], &[], &[], &[4096], &["max-num-seqs=64".into()])
            .unwrap()
            .expand()[0];
        let argv = t.argv(cfg);
        assert_eq!(
            display(&argv),
            "'/opt/my venv/bin/vllm' serve Org/M --tensor-parallel-size 2 --data-parallel-size 1 \
             --pipeline-parallel-size 1 --max-num-batched-tokens 4096 --host 127.0.0.1 --port 8001 \
             --max-num-seqs 64 --dtype bfloat16 --enforce-eager"
        );
        assert_eq!(t.base_url(), "http://127.0.0.1:8001");
    }

    #[test]
    fn serve_model_adds_served_model_name() {
        let t = ServeTemplate::new("vllm serve", "tiny", Some("/m/tiny"), None, 8000).unwrap();
        let argv = t.argv(
            &GridSpec::from_flags(&[], &[], &[], &[], &[])
                .unwrap()
                .expand()[0],
        );
        assert_eq!(argv[2], "/m/tiny");
        assert_eq!(argv[argv.len() - 2..], ["--served-model-name", "tiny"]);
    }

    #[test]
    fn rejects_bad_templates() {
        for (cmd, extra, want) in [
            ("", None, "--serve-cmd: is empty"),
            ("'vllm serve", None, "--serve-cmd: cannot split"),
            (
                "vllm serve",
                Some("--port 9"),
                "--serve-extra: --port is set by the sweep",
            ),
            ("vllm serve", Some("--tensor-parallel-size=2"), "use --tp"),
            (
                "vllm serve",
                Some("--served-model-name x"),
                "--served-model-name",
            ),
        ] {
            let e = ServeTemplate::new(cmd, "m", Some("/p"), extra, 8000)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{cmd:?} {extra:?}: {e}");
        }
    }
}
