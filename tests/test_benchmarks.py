"""The benchmark scripts run end to end (on tiny settings: the real runs are measurements, not tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True, timeout=300)


def test_unet_benchmark_reports_and_judges_the_threshold():
    tiny = ("--budget", "1", "--train", "32", "--val", "10", "--threads", "1")
    run = _bench("unet_synthetic.py", *tiny, "--threshold", "0")
    assert run.returncode == 0 and "PASS" in run.stdout, run.stdout + run.stderr
    assert "mIoU without test-time augmentation" in run.stdout and "with flip test-time augmentation" in run.stdout
    # A threshold no model reaches fails, with exit status 1.
    run = _bench("unet_synthetic.py", *tiny, "--threshold", "1.01")
    assert run.returncode == 1 and "FAIL" in run.stdout, run.stdout + run.stderr


def test_sliding_window_benchmark_runs():
    run = _bench("sliding_window.py", "--size", "20", "24", "--patch-size", "8", "--channels", "4", "--hidden", "8", "--repeats", "1", "--threads", "1")
    assert run.returncode == 0, run.stdout + run.stderr


def test_confusion_matrix_benchmark_compares_with_torchmetrics_and_judges_the_goals():
    tiny = ("--size", "32", "64", "--repeats", "2", "--threads", "1")
    run = _bench("confusion_matrix.py", *tiny, "--max-vs-torchmetrics", "100", "--max-vs-copy", "1000000")
    assert run.returncode == 0 and "PASS" in run.stdout, run.stdout + run.stderr
    assert "seglib / torchmetrics" in run.stdout and "seglib / copy" in run.stdout
    # Goals nothing can reach fail, with exit status 1.
    run = _bench("confusion_matrix.py", *tiny, "--max-vs-torchmetrics", "0")
    assert run.returncode == 1 and "FAIL" in run.stdout, run.stdout + run.stderr


def test_validation_overhead_benchmark_runs():
    tiny = ("--size", "16", "--batch", "1", "--label-size", "32", "64", "--repeats", "1", "--threads", "1")
    run = _bench("validation_overhead.py", *tiny, "--max-overhead", "1000")
    assert run.returncode == 0 and "PASS" in run.stdout, run.stdout + run.stderr
    assert "checks per forward" in run.stdout and "metric update" in run.stdout
    run = _bench("validation_overhead.py", *tiny, "--max-overhead", "0")
    assert run.returncode == 1 and "FAIL" in run.stdout, run.stdout + run.stderr
