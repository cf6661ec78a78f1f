"""The sandbox when the grader is not root (grading/sandbox.py's user-namespace branch).

An instructor grading on a laptop or a shared server runs as an ordinary user. There the kernel
cannot get a uid of its own; it runs in an unprivileged user namespace instead. This test drops
to `nobody` (setpriv, so it needs root to start), starts one sandboxed kernel there, and asks it
to break out: read a course file beside the student's folder, write into the Python environment
and the course package, open a network connection, and leave a process behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOBODY = 65534

pytestmark = [
    pytest.mark.grading,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop to nobody"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap: make sandbox"),
]

# What the student's code tries, from inside the kernel; it prints one JSON line of findings.
ATTACK = textwrap.dedent(
    """
    import json, os, socket, subprocess
    found = {"uid": os.getuid(), "cwd_files": sorted(os.listdir("."))}
    def attempt(name, action):
        try:
            action()
            found[name] = "succeeded"
        except Exception as error:
            found[name] = type(error).__name__
    attempt("read_course_secret", lambda: open(COURSE + "/solutions/secret.txt").read())
    attempt("write_venv", lambda: open(PREFIX + "/planted.py", "w").write("x"))
    attempt("write_seglib", lambda: open(SEGLIB + "/planted.py", "w").write("x"))
    attempt("network", lambda: socket.create_connection(("127.0.0.1", 22), timeout=2))
    open("answer.txt", "w").write("mine")
    subprocess.Popen(["sleep", "300"], start_new_session=True)
    print(json.dumps(found))
    """
)

DRIVER = textwrap.dedent(
    """
    import asyncio, json, sys
    sys.path.insert(0, sys.argv[1])
    from grading.sandbox import SandboxedKernelManager

    async def main(student, code, packages):
        km = SandboxedKernelManager(kernel_name="python3", read_only_paths=[packages])
        await km.start_kernel(cwd=student)
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=120)
        lines = []
        reply = await kc.execute_interactive(code, timeout=120, output_hook=lambda msg: lines.append(msg["content"].get("text", "")))
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
        print("SANDBOXED", km.sandboxed, reply["content"]["status"])
        print("".join(lines).strip().splitlines()[-1])

    asyncio.run(main(*sys.argv[2:5]))
    """
)


def _python_for(course: Path) -> Path:
    """A Python that `nobody` can run, seeing this environment's packages read-only.

    This machine's interpreter may live where `nobody` cannot go (here: under /root), so the test
    makes a venv from the system's Python of the same version and points it at our packages.
    """
    import sysconfig

    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.exists():
        pytest.skip(f"no {system} for the unprivileged grader")
    venv = course / "venv"
    subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)], check=True)
    packages = Path(sysconfig.get_paths()["purelib"])
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "course.pth").write_text(f"{packages}\n")
    for path in [venv, *venv.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644 | (path.stat().st_mode & 0o111))
    return venv / "bin" / "python"


def test_a_kernel_started_by_an_unprivileged_grader_stays_in_its_sandbox():
    import sysconfig

    import seglib

    course = Path(tempfile.mkdtemp(prefix="grading-unprivileged-"))
    try:
        os.chmod(course, 0o755)
        (course / "solutions").mkdir(mode=0o755)
        (course / "solutions" / "secret.txt").write_text("the reference answer")
        student = course / "submitted" / "alice"
        student.mkdir(parents=True)
        (student / "notebook.ipynb").write_text("{}")
        (student / "data.csv").write_text("1,2\n")
        for path in [course / "submitted", student, student / "notebook.ipynb", student / "data.csv", course / "solutions" / "secret.txt"]:
            os.chown(path, NOBODY, NOBODY)
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        code = f"COURSE, PREFIX, SEGLIB = {str(course)!r}, {sysconfig.get_paths()['purelib']!r}, {str(Path(seglib.__file__).parent)!r}\n" + ATTACK
        python = _python_for(course)
        home = course / "home"
        home.mkdir()
        os.chown(home, NOBODY, NOBODY)
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8"}
        run = subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--", str(python), "-c", DRIVER, str(ROOT), str(student), code, sysconfig.get_paths()["purelib"]],
            capture_output=True, text=True, timeout=300, env=env, cwd=student,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        sandboxed, found = run.stdout.strip().splitlines()[-2:]
        assert sandboxed == "SANDBOXED True ok"
        found = json.loads(found)
        # The grader's own uid (in its user namespace): the kernel is no one else.
        assert found["uid"] == NOBODY
        assert found["cwd_files"] == ["data.csv"]  # its own copy of the folder, without notebooks, nothing else
        assert found["read_course_secret"] == "FileNotFoundError"  # the course root is not mounted
        assert found["write_venv"] in {"OSError", "PermissionError"}  # read-only
        assert found["write_seglib"] in {"OSError", "PermissionError"}
        assert found["network"] == "OSError" or found["network"].endswith("Error") and found["network"] != "succeeded"
        assert not (student / "answer.txt").exists()  # it wrote to a private copy
        leftover = subprocess.run(["pgrep", "-u", str(NOBODY), "-f", "sleep 300"], capture_output=True, text=True)
        assert leftover.stdout == "", "a process of the student's run outlived it"
    finally:
        subprocess.run(["pkill", "-KILL", "-u", str(NOBODY), "-f", "sleep 300"], capture_output=True)
        shutil.rmtree(course, ignore_errors=True)
