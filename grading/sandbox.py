"""The kernel that runs a student's code, inside a bubblewrap sandbox.

nbgrader runs each submission in a Jupyter kernel that `jupyter_client` starts as a plain child
process: with the instructor's user, files and network. `SandboxedKernelManager` starts it instead
under `bwrap` (Debian's `bubblewrap`), so that the student's code

* runs as an unprivileged user of its own (a uid from `UID_RANGE` that no other kernel uses at the
  time, when the grader is root; else the grader's own uid inside a user namespace);
* sees only what a kernel needs, read-only (/usr, /etc, the Python installation, the course's
  `seglib` package, `read_only_paths`) and a private copy of its own working folder, which is
  writable and thrown away afterwards: no course root, `solutions/`, gradebook, grading log,
  nor any other student's folder. The copy leaves out notebooks: nbgrader writes the notebook it
  runs into that folder first, hidden tests restored;
* has no network (a network namespace of its own: the kernel talks to the grader over unix
  sockets, jupyter_client's `ipc` transport, in a folder bound into the sandbox);
* has limits on address space, processes, CPU time and file size (`prlimit`), and every process it
  starts lives in a PID namespace that ends with the kernel (`--die-with-parent`);
* cannot put a `seglib/` folder of its own in front of the course's (`python -I`: the working
  folder is not on `sys.path`).

`SandboxedExecute` is nbgrader's `Execute` preprocessor with this kernel manager, and with every
output of the student's code capped at `max_output_chars` as it arrives (a 200 MB print does not
reach the notebook, the grader's memory or the feedback page). nbgrader_config.py puts it in
place of `Execute`. Where `bwrap` cannot run, the kernel refuses to start unless
`SandboxedKernelManager.unsafe_no_sandbox` is set (`python -m grading autograde --unsafe-no-sandbox`
sets it, and then the report says so for every student graded that way).
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from grading.outside import SERVER, OutsideChecker, imported_modules, new_names, outside_cells, shared_classes
from grading.verdict import Evidence
from nbformat.notebooknode import from_dict
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, List, Unicode

__all__ = ["SandboxedKernelManager", "SandboxedExecute", "sandbox_problem", "UNSAFE_ENV", "VERDICT_ENV", "UID_RANGE"]

# `python -m grading autograde --unsafe-no-sandbox` sets this for the nbgrader run it starts.
UNSAFE_ENV = "GRADING_UNSAFE_NO_SANDBOX"
# `python -m grading autograde` names a file here; test cells without evidence are written to it.
VERDICT_ENV = "GRADING_VERDICT_FILE"
# Host uids given to sandboxed kernels when the grader runs as root: one per kernel at a time.
UID_RANGE = range(61000, 61000 + 512)
# One lock per uid, for the whole machine whatever each grader's TMPDIR: two graders that took
# the same uid would kill each other's kernels when either one ends (`_kill_all`).
_LOCKS = Path("/run/grading-sandbox-uids")
# Environment variables the kernel may see (everything else, credentials included, is dropped).
PASS_ENV = ("PS6_DATA", "SEGLIB_DATA", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "NBGRADER_EXECUTION", "LANG", "TZ")


def _bwrap() -> str | None:
    return shutil.which("bwrap")


def sandbox_problem() -> str | None:
    """None when bubblewrap can start a sandbox here, else why not."""
    bwrap = _bwrap()
    if bwrap is None:
        return "bubblewrap (`bwrap`) is not installed: `make sandbox` (Debian: apt-get install bubblewrap)"
    base = [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"] if os.geteuid() else [
        bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent", "--ro-bind", "/", "/", "true"]
    try:
        run = subprocess.run(base, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap cannot run: {error}"
    if run.returncode != 0:
        return f"bwrap cannot create a sandbox here (user namespaces disabled?): {run.stderr.strip()[:200]}"
    return None


def _seglib_dir() -> Path | None:
    spec = importlib.util.find_spec("seglib")
    return Path(spec.origin).resolve().parent if spec and spec.origin else None


def _kill_all(uid: int, *, tries: int = 50) -> None:
    """SIGKILL every process of `uid` until none is left (a process may fork while others die)."""
    for _ in range(tries):
        subprocess.run(["pkill", "-KILL", "-U", str(uid)], capture_output=True)
        if subprocess.run(["pgrep", "-U", str(uid)], capture_output=True).returncode != 0:
            return
        time.sleep(0.1)


class SandboxedKernelManager(AsyncKernelManager):
    """An `AsyncKernelManager` whose Python kernel runs under bubblewrap (see the module docstring)."""

    unsafe_no_sandbox = Bool(False, help="Run kernels without the sandbox when bwrap is missing (student code can then read and change the course).").tag(config=True)
    read_only_paths = List(Unicode(), help="Further paths the kernel may read (data sets), bound read-only at the same place.").tag(config=True)
    address_space = Integer(8 << 30, help="RLIMIT_AS of the kernel, bytes (importing torch alone reserves about 3 GiB).").tag(config=True)
    max_processes = Integer(512, help="RLIMIT_NPROC: processes and threads of the kernel's user.").tag(config=True)
    cpu_seconds = Integer(3600, help="RLIMIT_CPU: CPU seconds of the kernel process, all threads together.").tag(config=True)
    max_file_size = Integer(256 << 20, help="RLIMIT_FSIZE: the largest file the kernel may write, bytes.").tag(config=True)

    sandboxed = Bool(False)  # whether the running kernel is sandboxed (set when it starts)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._box: Path | None = None
        self._uid_lock: Any = None
        self._uid: int | None = None

    def _unsafe(self) -> bool:
        return self.unsafe_no_sandbox or os.environ.get(UNSAFE_ENV) == "1"

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        problem = sandbox_problem()
        if problem is not None and not self._unsafe():
            raise RuntimeError(f"refusing to run student code without the sandbox: {problem}. Install it, or pass --unsafe-no-sandbox")
        self.sandboxed = problem is None
        if self.sandboxed:
            # A private folder per kernel: the sockets and connection file, and the working copy.
            # The kernel's sockets live in it, and a socket's path must fit in 108 bytes: under a
            # long TMPDIR, use /tmp.
            base = tempfile.gettempdir() if len(tempfile.gettempdir()) <= 64 else "/tmp"
            self._box = Path(tempfile.mkdtemp(prefix="grading-sandbox-", dir=base))
            (self._box / "ipc").mkdir()
            self.transport = "ipc"
            self.connection_file = str(self._box / "ipc" / "kernel.json")
            self.ip = str(self._box / "ipc" / "kernel")
            if self.kernel_spec is not None:
                self.kernel_spec.interrupt_mode = "message"  # a signal would reach bwrap, not the kernel
        return await super()._async_pre_start_kernel(**kw)

    def _take_uid(self) -> int:
        _LOCKS.mkdir(mode=0o700, parents=True, exist_ok=True)
        for uid in UID_RANGE:
            lock = open(_LOCKS / str(uid), "w")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock.close()
                continue
            self._uid_lock = lock
            return uid
        raise RuntimeError(f"no free sandbox uid in {UID_RANGE}: too many kernels at once")

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        if not self.sandboxed:
            return cmd
        assert self._box is not None
        cwd = Path(self._launch_args.get("cwd") or os.getcwd()).resolve()
        work = self._box / "work"
        # Copy the student's folder: plain files and folders only, never what a link points to, and
        # no notebooks: nbgrader has written the one it runs there with the hidden tests restored,
        # and code that read it could print them where the feedback keeps the output.
        shutil.copytree(cwd, work, symlinks=True, ignore=lambda d, names: [n for n in names if (Path(d) / n).is_symlink() or n.endswith(".ipynb")])
        root = os.geteuid() == 0
        if root:
            self._uid = self._take_uid()
            for path in [self._box, *self._box.rglob("*")]:
                os.lchown(path, self._uid, self._uid)
        python = [sys.executable, "-I", "-m", "ipykernel_launcher", *cmd[cmd.index("-m") + 2 :]] if "-m" in cmd else cmd
        return [*self._bwrap_args(cwd, work, root), *self._drop(root), *python]

    def _bwrap_args(self, cwd: Path, work: Path, root: bool) -> list[str]:
        assert self._box is not None
        args = [_bwrap()]
        # As root: no user namespace (setpriv below switches to a real unprivileged uid); otherwise
        # an unprivileged user namespace. Either way, no network, and a PID namespace of its own.
        args += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"] if root else ["--unshare-user", "--disable-userns"]
        args += ["--die-with-parent", "--new-session", "--clearenv"]
        args += ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
        for link in ("bin", "lib", "lib64", "sbin"):
            target = Path("/") / link
            if target.is_symlink():
                args += ["--symlink", os.readlink(target), str(target)]
            elif target.is_dir():
                args += ["--ro-bind", str(target), str(target)]
        args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm", "--perms", "1777", "--tmpfs", "/tmp"]
        for device in sorted(Path("/dev").glob("nvidia*")):  # a GPU, where the grading machine has one
            args += ["--dev-bind", str(device), str(device)]
        if Path("/dev/nvidiactl").exists():
            args += ["--ro-bind", "/sys", "/sys"]
        seglib = _seglib_dir()
        readable = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent}
        readable |= {Path(p).resolve() for p in self.read_only_paths}
        if seglib is not None:
            readable.add(seglib)
        if os.environ.get("SEGLIB_DATA"):
            readable.add(Path(os.environ["SEGLIB_DATA"]).resolve())
        if sys.prefix != str(Path(sys.prefix).resolve()):  # the venv through a link: bind that path too
            readable.add(Path(sys.prefix))
        readable = {p for p in readable if p.exists() and not any(p.is_relative_to(q) for q in ("/usr", "/etc"))}
        mounts = [*(("--ro-bind", p, p) for p in sorted(readable)), ("--bind", self._box / "ipc", self._box / "ipc"), ("--bind", work, cwd)]
        # Folders that bwrap creates above a mount point get the grader's umask (maybe 0700): the
        # kernel's user must be able to pass through them.
        parents = sorted({str(q) for _, _, dest in mounts for q in Path(dest).parents if str(q) != "/"}, key=len)
        for parent in parents:
            args += ["--perms", "0755", "--dir", parent]
        for kind, source, dest in mounts:
            args += [kind, str(source), str(dest)]
        args += ["--chdir", str(cwd)]
        env = {"HOME": "/tmp", "PATH": "/usr/bin:/bin", "IPYTHONDIR": "/tmp/.ipython", "MPLCONFIGDIR": "/tmp/.matplotlib", "MPLBACKEND": "Agg", "LANG": "C.UTF-8"}
        env |= {k: os.environ[k] for k in PASS_ENV if k in os.environ}
        for key, value in env.items():
            args += ["--setenv", key, value]
        return args

    def _drop(self, root: bool) -> list[str]:
        limits = ["prlimit", f"--as={self.address_space}", f"--nproc={self.max_processes}", f"--cpu={self.cpu_seconds}", f"--fsize={self.max_file_size}", "--core=0", "--"]
        if not root:
            return limits
        uid = str(self._uid)
        return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", *limits]

    async def _async_shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        try:
            await super()._async_shutdown_kernel(now=now, restart=restart)
        finally:
            if not restart:
                self._release()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        # nbclient calls only this, not shutdown, when the kernel died on its own.
        try:
            await super()._async_cleanup_resources(restart=restart)
        finally:
            if not restart:
                self._release()

    # AsyncKernelManager binds its base class's coroutines to these names: point them at the ones above.
    shutdown_kernel = _async_shutdown_kernel
    cleanup_resources = _async_cleanup_resources

    def _release(self) -> None:
        if self._uid is not None:  # no process of the uid may outlive the kernel (PID namespace aside)
            _kill_all(self._uid)
        if self._box is not None:
            # A process that was still exiting may have written one more file: try again.
            for _ in range(5):
                shutil.rmtree(self._box, ignore_errors=True)
                if not self._box.exists():
                    break
                time.sleep(0.2)
            self._box = None
        if self._uid_lock is not None:
            self._uid_lock.close()
            self._uid_lock, self._uid = None, None

    def __del__(self) -> None:
        try:
            self._release()
        except Exception:
            pass


class SandboxedExecute(Execute):
    """nbgrader's Execute with the kernel in the sandbox and every output capped as it arrives."""

    judge_outside = Bool(True, help="Run the test cells that allow it outside the student's kernel (grading/outside.py); False runs every test in the kernel, as plain nbgrader does.").tag(config=True)
    max_output_chars = Integer(100_000, help="Characters of output kept per cell; the rest is dropped as it arrives (errors are kept, shortened).").tag(config=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["kernel_manager_class"] = SandboxedKernelManager  # nbgrader's Execute passes its own
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):  # type: ignore[no-untyped-def]
        """Run the notebook; then fail (and report) every test cell without evidence it ran (grading/verdict.py)."""
        self._kept: dict[int, int] = {}
        self._checker_cells, self._outside = outside_cells(nb) if self.judge_outside else (set(), {})
        preload = imported_modules(nb.cells[i].source for i in sorted({*self._checker_cells, *self._outside}))
        self._checker = OutsideChecker(preload) if self._outside else None
        self._server = new_names()
        self._outside_problems: list[str] = []
        self._evidence = Evidence(nb, judged_outside=self._outside)
        self._evidence.instrument(nb)
        try:
            nb, resources = super().preprocess(nb, resources, km=km)
        finally:
            if self._checker is not None:
                self._checker.close()
            problems = self._outside_problems + self._evidence.judge(nb)
        if problems:
            self.log.warning("test cells without evidence: %s", problems)
            report = os.environ.get(VERDICT_ENV)
            if report:
                name = str((resources or {}).get("unique_key", "notebook"))
                with open(report, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"notebook": name, "problems": problems}) + "\n")
        return nb, resources

    def preprocess_cell(self, cell, resources, index):  # type: ignore[no-untyped-def]
        if cell.cell_type != "code":
            return super().preprocess_cell(cell, resources, index)
        before = self._evidence.code_before(index)
        if index == self._evidence.first_code and self._outside:
            before.insert(0, SERVER % self._server)
        for code in before:
            # Silent: no output, no history entry, not in `In`.
            reply = self.wait_for_reply(self.kc.execute(code, silent=True, store_history=False, allow_stdin=False))
            if not reply or reply["content"].get("status") != "ok":  # the test cells then show no evidence
                self.log.warning("the grader's own code failed in the kernel: %s", (reply or {}).get("content"))
        if index in self._outside:
            return self._judge_outside(cell, index), resources
        cell, resources = super().preprocess_cell(cell, resources, index)
        if index in self._checker_cells and self._outside:
            result = self._run_in_checker(cell.source, index, quiet=True)
            if result.get("status") != "ok":
                self.log.warning("a course cell failed in the checker: %s", str(result)[:500])
        return cell, resources

    def _run_in_checker(self, source: str, index: int, *, quiet: bool = False, fetch: list[str] | None = None, define: list[str] | None = None) -> dict:
        assert self._checker is not None
        if not self._checker.connected:
            pid = getattr(getattr(self.km, "provisioner", None), "pid", None) or os.getpid()
            # Without the network, like the kernel, where the kernel is reached through Unix
            # sockets (the sandbox's): the course's cells then decide as they did there (ps6 picks
            # its data set by whether it can download one).
            self._checker.connect(self.km.connection_file, *self._server, pid=pid, no_network=self.km.transport == "ipc")
        return self._checker.run(source, timeout=float(self.timeout or 300), fetch=fetch or [], quiet=quiet, define=define)

    def _judge_outside(self, cell, index):  # type: ignore[no-untyped-def]
        """A test cell run by the checker, not the kernel (grading/outside.py): its outputs are the checker's."""
        result = self._run_in_checker(cell.source, index, fetch=self._outside[index], define=shared_classes(cell.source))
        outputs = [o for o in result.get("outputs", []) if isinstance(o, dict)]
        if result.get("status") == "crashed":
            why = str(result.get("why", "the checker failed"))
            grade_id = _meta_id(cell)
            self._outside_problems.append(f"test cell {grade_id}: {why}")
            outputs.append({"output_type": "error", "ename": "GradingEvidenceError", "evalue": f"no points: {why}", "traceback": [f"GradingEvidenceError: {why}"]})
        kept, cell.outputs = 0, []
        for output in outputs:
            content = {k: v for k, v in output.items() if k != "output_type"}
            size = sum(len(v) if isinstance(v, str) else len(str(v)) for v in _texts(content))
            if kept + size > self.max_output_chars:
                content = _clip(content, max(self.max_output_chars - kept, 200))
            kept += size
            cell.outputs.append(from_dict({"output_type": output.get("output_type"), **content}))
        cell.execution_count = None
        return cell

    def output(self, outs, msg, display_id, cell_index):  # type: ignore[no-untyped-def]
        """Keep at most `max_output_chars` characters of a cell's output, counted over all its outputs."""
        content = msg.get("content", {})
        size = sum(len(v) if isinstance(v, str) else len(str(v)) for v in _texts(content))
        kept = self._kept.get(cell_index, 0)
        if kept + size > self.max_output_chars:
            if kept >= self.max_output_chars and msg.get("msg_type") != "error":
                return None
            msg = {**msg, "content": _clip(content, max(self.max_output_chars - kept, 200))}
            size = max(self.max_output_chars - kept, 0)
        self._kept[cell_index] = kept + size
        return super().output(outs, msg, display_id, cell_index)


def _meta_id(cell: Any) -> str:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return str(meta.get("grade_id", "?")) if isinstance(meta, dict) else "?"


def _texts(content: dict) -> list[Any]:
    texts: list[Any] = [content.get("text", "")]
    texts += list((content.get("data") or {}).values())
    texts += list(content.get("traceback") or [])
    texts += [content.get("evalue", "")]
    return texts


def _clip(content: dict, room: int) -> dict:
    """The message content with its text cut to `room` characters and a note that it was."""
    note = f"\n[output cut: more than {room} characters]\n"
    content = dict(content)
    if isinstance(content.get("text"), str):
        content["text"] = content["text"][:room] + note
    if isinstance(content.get("data"), dict):
        content["data"] = {k: (v[:room] + note if isinstance(v, str) else v) for k, v in content["data"].items() if k == "text/plain"} or {"text/plain": note}
    if content.get("traceback"):
        content["traceback"] = [line[:room] for line in content["traceback"]][:50]
    if isinstance(content.get("evalue"), str):
        content["evalue"] = content["evalue"][:room]
    return content
