"""Self-test of the e2e checkers: a check with nothing to check must FAIL, never PASS.

usage: python3 scripts/e2e/test_checks.py      (run by scripts/test.sh; standard library only, < 2 s)

Each case hands check_run.py / check_sweep.py / lib.sh an empty or missing subject (no run folder,
an empty list of runs or requests, missing files, a checker that reports nothing) and asserts that
at least one FAIL is printed and no PASS claims anything about the missing subject.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK_RUN = os.path.join(HERE, "check_run.py")
CHECK_SWEEP = os.path.join(HERE, "check_sweep.py")
CHECK_LEVELS = os.path.join(HERE, "check_levels.py")
LIB = os.path.join(HERE, "lib.sh")


def run(*argv):
    p = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout.splitlines(), p.stderr


def results(requests, total=None):
    """A benchmark_results.json document with these per-request records."""
    return {
        "benchmark_config": {"model_name": "m", "tensor_parallel_size": 1, "data_parallel_size": 1,
                             "pipeline_parallel_size": 1, "max_num_batched_tokens": 2048, "max_num_seqs": 8},
        "benchmark_stats": {"summary": {"total_requests": len(requests) if total is None else total,
                                        "failed_requests": 0}},
        "individual_requests": requests,
    }


def write_run(folder, doc, files=("config.json", "benchmark.log", "server.log")):
    os.makedirs(folder, exist_ok=True)
    for f in files:
        with open(os.path.join(folder, f), "w", encoding="utf-8") as fh:
            fh.write("{}\n")
    with open(os.path.join(folder, "sweep_status.json"), "w", encoding="utf-8") as fh:
        json.dump({"status": "complete"}, fh)
    with open(os.path.join(folder, "benchmark_results.json"), "w", encoding="utf-8") as fh:
        json.dump(doc, fh)


REQUEST = {"request_id": 0, "input_tokens": 64, "output_tokens": 32, "time_to_first_token": 0.1,
           "total_latency": 0.5}


class CheckSweep(unittest.TestCase):
    def assert_only_fails(self, lines):
        self.assertTrue(any(line.startswith("FAIL ") for line in lines), lines)
        self.assertEqual([line for line in lines if line.startswith("PASS ")], [], lines)

    def test_no_run_folder_passes_nothing(self):
        with tempfile.TemporaryDirectory() as d:
            rc, out, _ = run(CHECK_SWEEP, d, "32", "16", "2048:8")
            self.assertEqual(rc, 0)
            self.assert_only_fails(out)

    def test_missing_model_folder_passes_nothing(self):
        with tempfile.TemporaryDirectory() as d:
            rc, out, _ = run(CHECK_SWEEP, os.path.join(d, "missing"), "32", "16", "2048:8")
            self.assertEqual(rc, 0)
            self.assert_only_fails(out)

    def test_an_empty_configuration_list_is_bad_usage(self):
        with tempfile.TemporaryDirectory() as d:
            rc, out, _ = run(CHECK_SWEEP, d, "32", "16", "")
            self.assertEqual(rc, 2, out)
            rc, out, _ = run(CHECK_SWEEP, d, "32", "0", "2048:8")
            self.assertEqual(rc, 2, out)

    def test_a_run_without_requests_fails_the_request_check(self):
        with tempfile.TemporaryDirectory() as d:
            write_run(os.path.join(d, "run_1"), results([], total=16))
            rc, out, _ = run(CHECK_SWEEP, d, "32", "16", "2048:8")
            self.assertEqual(rc, 0)
            failed = [line for line in out if line.startswith("FAIL every request succeeded")]
            self.assertEqual(len(failed), 1, out)

    def test_a_good_run_passes(self):
        with tempfile.TemporaryDirectory() as d:
            write_run(os.path.join(d, "run_1"), results([dict(REQUEST, request_id=i) for i in range(16)]))
            rc, out, _ = run(CHECK_SWEEP, d, "32", "16", "2048:8")
            self.assertEqual(rc, 0)
            self.assertEqual([line for line in out if not line.startswith("PASS ")], [], out)


class CheckRun(unittest.TestCase):
    def test_missing_run_folder_passes_nothing(self):
        with tempfile.TemporaryDirectory() as d:
            rc, out, _ = run(CHECK_RUN, os.path.join(d, "missing"), "/nonexistent", "/nonexistent",
                             "64", "32", "16", "m", "2048")
            self.assertEqual(rc, 0)
            self.assertTrue(any(line.startswith("FAIL ") for line in out), out)
            self.assertEqual([line for line in out if line.startswith("PASS ")], [], out)

    def test_zero_prompts_is_bad_usage(self):
        rc, out, _ = run(CHECK_RUN, "/nonexistent", "/nonexistent", "/nonexistent", "64", "32", "0", "m", "2048")
        self.assertEqual(rc, 2, out)

    def test_no_requests_and_no_metrics_fail(self):
        with tempfile.TemporaryDirectory() as d:
            write_run(d, results([], total=16))
            empty = os.path.join(d, "metrics.txt")
            open(empty, "w", encoding="utf-8").close()
            _, out, _ = run(CHECK_RUN, d, empty, empty, "64", "32", "16", "m", "2048")
            self.assertIn("FAIL every request succeeded", "\n".join(out))
            # requests but empty /metrics scrapes: every comparison with the server fails
            write_run(d, results([dict(REQUEST, request_id=i) for i in range(16)]))
            _, out, _ = run(CHECK_RUN, d, empty, empty, "64", "32", "16", "m", "2048")
            server = [line for line in out if "server" in line]
            self.assertEqual(len(server), 5, out)  # 4 comparisons, and no server_metrics block
            self.assertTrue(all(line.startswith("FAIL ") for line in server), out)


class CheckSelfCheck(unittest.TestCase):
    def test_a_missing_or_incomplete_block_or_a_mismatch_fails(self):
        with tempfile.TemporaryDirectory() as d:
            doc = results([dict(REQUEST, request_id=i) for i in range(16)])
            doc["benchmark_stats"]["summary"].update(total_input_tokens=1024, total_output_tokens=512)
            doc["server_metrics"] = {"complete": False, "prompt_tokens": 1024, "generation_tokens": 512,
                                     "self_check": ["TTFT mean: client 10.0 ms, server 30.0 ms, difference -20.0 "
                                                    "ms: MISMATCH: the client is below the server"]}
            write_run(d, doc)
            metrics = os.path.join(d, "metrics.txt")
            with open(metrics, "w", encoding="utf-8") as fh:
                fh.write("vllm:prompt_tokens_total 1024\nvllm:generation_tokens_total 512\n")
            empty = os.path.join(d, "empty.txt")
            open(empty, "w", encoding="utf-8").close()
            _, out, _ = run(CHECK_RUN, d, empty, metrics, "64", "32", "16", "m", "2048")
            text = "\n".join(out)
            for check in ("server_metrics block complete", "self-check TTFT client - server mean",
                          "self-check printed with the summary"):
                self.assertIn("FAIL " + check, text)
            self.assertIn("PASS server_metrics.prompt_tokens == client", text)


class LibSh(unittest.TestCase):
    def bash(self, script):
        env = dict(os.environ, REPO=os.path.dirname(os.path.dirname(HERE)), WORK=tempfile.gettempdir(),
                   VLLM_VENV="/nonexistent", MODELS_DIR="/nonexistent")
        p = subprocess.run(["bash", "-c", f'source "{LIB}"; {script}; echo "counts $PASSED $FAILED"'],
                           capture_output=True, text=True, env=env, timeout=60)
        return p.stdout

    def test_a_checker_that_reports_nothing_is_a_failure(self):
        out = self.bash("count_checks x true")
        self.assertIn("counts 0 1", out)
        out = self.bash("count_checks x echo 'PASS a: b'")
        self.assertIn("counts 1 0", out)

    def test_no_charts_is_a_failure(self):
        with tempfile.TemporaryDirectory() as d:
            out = self.bash(f'check_charts c "{d}"; check_charts c "{d}/missing"')
            self.assertIn("counts 0 4", out)

    def test_a_group_that_was_never_started_is_not_empty(self):
        out = self.bash('check g group_empty ""')
        self.assertIn("counts 0 1", out)

    def test_the_leak_detector_needs_a_tag(self):
        out = self.bash('E2E_TAG=""; check "no leak" no_tagged_left')
        self.assertIn("counts 0 1", out)


class CheckLevels(unittest.TestCase):
    def test_no_run_folder_passes_nothing(self):
        with tempfile.TemporaryDirectory() as d:
            _, out, _ = run(CHECK_LEVELS, os.path.join(d, "missing"), "1,2,4")
            self.assertTrue(any(line.startswith("FAIL ") for line in out), out)
            self.assertEqual([line for line in out if line.startswith("PASS ")], [], out)

    def test_falling_throughput_fails(self):
        with tempfile.TemporaryDirectory() as d:
            for i, (c, thr) in enumerate([(1, 100.0), (2, 90.0)]):
                doc = results([REQUEST])
                doc["benchmark_config"]["max_concurrency"] = c
                doc["benchmark_stats"]["summary"]["overall_throughput_tokens_per_sec"] = thr
                write_run(os.path.join(d, f"run_2025010{i}_000000"), doc)
            _, out, _ = run(CHECK_LEVELS, d, "1,2")
            self.assertTrue(any(line.startswith("FAIL output throughput") for line in out), out)


if __name__ == "__main__":
    unittest.main(verbosity=1)
