//! `--trace F.csv`, the users' trace format: a header with `request_arrived_at` (seconds from the
//! start), `request_num_prefill_tokens` and `request_num_decode_tokens` (other columns are
//! ignored). Each row becomes a request sent at its arrival time with a prompt of that many
//! tokens and that many output tokens (`ignore_eos` is turned on for traces).

use std::path::Path;

use super::synthetic::{no_tokenizer_note, prompts_for, TRACE_STREAMS};
use super::{TokenizerHandle, Workload, WorkloadError, WorkloadSpec};

pub const COL_ARRIVAL: &str = "request_arrived_at";
pub const COL_PREFILL: &str = "request_num_prefill_tokens";
pub const COL_DECODE: &str = "request_num_decode_tokens";

/// Latest accepted arrival time (about 116 days): a trace is replayed in real time.
pub const MAX_ARRIVAL_S: f64 = 1e7;

/// One row: (arrival seconds, prompt tokens, output tokens).
pub type TraceRow = (f64, u32, u32);

/// Reads and validates the rows, sorted by arrival time.
pub fn read_rows(path: &Path) -> Result<Vec<TraceRow>, WorkloadError> {
    let invalid = |message: String| WorkloadError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let bytes = super::read_input(path)?;
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes.as_slice());
    let headers = rdr
        .headers()
        .map_err(|e| invalid(format!("cannot read the header: {e}")))?
        .clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            invalid(format!(
                "missing column {name} (the header is: {})",
                headers.iter().collect::<Vec<_>>().join(",")
            ))
        })
    };
    let (ia, ip, id) = (col(COL_ARRIVAL)?, col(COL_PREFILL)?, col(COL_DECODE)?);
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| invalid(format!("line {line}: {e}")))?;
        let field = |j: usize, name: &str| {
            rec.get(j)
                .ok_or_else(|| invalid(format!("line {line}: no {name} value")))
        };
        let arrival: f64 = field(ia, COL_ARRIVAL)?
            .parse()
            .map_err(|_| invalid(format!("line {line}: {COL_ARRIVAL} is not a number")))?;
        if !(0.0..=MAX_ARRIVAL_S).contains(&arrival) {
            return Err(invalid(format!(
                "line {line}: {COL_ARRIVAL} must be a number of seconds from 0 to {MAX_ARRIVAL_S:e}, got {arrival}"
            )));
        }
        let count = |j: usize, name: &str| -> Result<u32, WorkloadError> {
            let raw = field(j, name)?;
            let v: f64 = raw
                .parse()
                .map_err(|_| invalid(format!("line {line}: {name} is not a number: {raw:?}")))?;
            if v.fract() != 0.0 || !(1.0..=f64::from(u32::MAX)).contains(&v) {
                return Err(invalid(format!(
                    "line {line}: {name} must be a whole number ≥ 1, got {raw}"
                )));
            }
            Ok(v as u32)
        };
        rows.push((arrival, count(ip, COL_PREFILL)?, count(id, COL_DECODE)?));
    }
    if rows.is_empty() {
        return Err(invalid("the trace has no rows".into()));
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(rows)
}

pub fn trace(
    path: &Path,
    spec: &WorkloadSpec,
    tok: Option<&TokenizerHandle>,
) -> Result<Workload, WorkloadError> {
    let mut rows = read_rows(path)?;
    if let Some(n) = spec.num_prompts {
        rows.truncate(n);
    }
    let shapes: Vec<_> = rows.iter().map(|&(a, p, d)| (p, d, Some(a))).collect();
    let warm: Vec<_> = rows
        .iter()
        .cycle()
        .take(spec.warmup)
        .map(|&(_, p, d)| (p, d, None))
        .collect();
    let (measured, inexact) = prompts_for(&shapes, spec.seed, TRACE_STREAMS.0, tok);
    let (warmup, _) = prompts_for(&warm, spec.seed, TRACE_STREAMS.1, tok);
    Ok(Workload {
        measured,
        warmup,
        approximate: no_tokenizer_note(tok),
        inexact_prompts: inexact,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::WorkloadSource;

    fn write(content: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t.csv");
        std::fs::write(&p, content).unwrap();
        (d, p)
    }

    #[test]
    fn reads_sorts_and_builds_requests() {
        let (_d, p) = write(
            "request_id,request_arrived_at,request_num_prefill_tokens,request_num_decode_tokens\n\
                             a,0.5,10,3\nb,0.0,4,2\nc, 1.25 ,7,1\n",
        );
        let spec = WorkloadSpec {
            source: WorkloadSource::Trace(p.clone()),
            num_prompts: Some(2),
            warmup: 3,
            seed: 0,
            max_tokens: 9,
        };
        let w = trace(&p, &spec, None).unwrap();
        assert_eq!(w.measured.len(), 2);
        assert_eq!(
            (w.measured[0].arrival, w.measured[0].max_tokens),
            (Some(0.0), 2)
        );
        assert_eq!(w.measured[0].prompt.split_whitespace().count(), 4);
        assert_eq!(
            (w.measured[1].arrival, w.measured[1].max_tokens),
            (Some(0.5), 3)
        );
        assert_eq!(w.warmup.len(), 3);
        assert!(w.warmup.iter().all(|r| r.arrival.is_none()));
        assert!(w.approximate.is_some());
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let (_d, p) = write("request_arrived_at,request_num_prefill_tokens\n0,1\n");
        assert!(read_rows(&p)
            .unwrap_err()
            .to_string()
            .contains("missing column request_num_decode_tokens"));
        let (_d, p) = write("request_arrived_at,request_num_prefill_tokens,request_num_decode_tokens\n0,1,2\n1,x,2\n");
        let e = read_rows(&p).unwrap_err().to_string();
        assert!(
            e.contains("line 3") && e.contains("request_num_prefill_tokens"),
            "{e}"
        );
        let (_d, p) = write(
            "request_arrived_at,request_num_prefill_tokens,request_num_decode_tokens\n-1,1,2\n",
        );
        assert!(read_rows(&p).unwrap_err().to_string().contains("line 2"));
        let (_d, p) = write(
            "request_arrived_at,request_num_prefill_tokens,request_num_decode_tokens\n0,0,2\n",
        );
        assert!(read_rows(&p).unwrap_err().to_string().contains("≥ 1"));
        let (_d, p) =
            write("request_arrived_at,request_num_prefill_tokens,request_num_decode_tokens\n");
        assert!(read_rows(&p).unwrap_err().to_string().contains("no rows"));
        assert!(matches!(
            read_rows(Path::new("/nonexistent/t.csv")),
            Err(WorkloadError::Io { .. })
        ));
    }
}
