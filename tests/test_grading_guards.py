"""Fast checks of the grader's guards on small inputs (the adversarial class in
test_grading_adversarial.py runs them all end to end through nbgrader, in the sandbox)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient.exceptions import DeadKernelError

import seglib.ops
from seglib.testing import check_tensor, unavailable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grading.course import Course  # noqa: E402
from grading.feedback import HideHiddenTests  # noqa: E402
from grading.intake import check_submission, not_regular_files  # noqa: E402
from grading.verdict import Evidence  # noqa: E402


class _Agree(type):
    def __eq__(cls, other):
        return True

    __hash__ = type.__hash__


class LookAlike(metaclass=_Agree):
    """Its type compares equal to every type, torch.Tensor included."""


def test_check_tensor_refuses_a_type_that_claims_to_be_a_tensor():
    assert type(LookAlike()) in (torch.Tensor,)  # the old `in` check let it through
    with pytest.raises(AssertionError, match="expected a torch.Tensor, got LookAlike"):
        check_tensor(LookAlike(), torch.zeros(2))


def test_check_tensor_uses_the_torch_functions_it_imported(monkeypatch):
    monkeypatch.setattr(torch, "isclose", lambda a, b, **kwargs: torch.ones_like(a, dtype=torch.bool))
    with pytest.raises(AssertionError, match="1 of 2 values differ"):
        check_tensor(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 2.0]))


def test_unavailable_also_switches_off_copies_that_share_the_code():
    original = seglib.ops.nearest_upsample
    copy = types.FunctionType(original.__code__, original.__globals__)
    x = torch.arange(4.0).reshape(1, 1, 2, 2)
    with unavailable(original):
        with pytest.raises(RuntimeError, match="switched off"):
            copy(x, 2)
    assert torch.equal(copy(x, 2), torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest"))  # restored


def _notebook(*cells: tuple[str, dict]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for source, meta in cells:
        cell = nbformat.v4.new_code_cell(source)
        if meta:
            cell.metadata["nbgrader"] = meta
        nb.cells.append(cell)
    return nb


def _stream(text: str) -> nbformat.NotebookNode:
    return nbformat.from_dict({"output_type": "stream", "name": "stdout", "text": text})


def _signed(evidence: Evidence, nonce: str, verdict: str) -> str:
    """The line the kernel's probe prints: nonce, verdict and their signature (grading/verdict.py)."""
    mac = hashlib.blake2b(f"{nonce} {verdict}".encode(), key=evidence.key, digest_size=16).hexdigest()
    return f"{nonce} {verdict} {mac}"


def test_evidence_fails_a_passing_test_cell_without_its_nonce_and_keeps_the_others():
    nb = _notebook(
        ("import torch", {"grade_id": "imports", "locked": True}),
        ("x = 1", {"grade_id": "answer", "solution": True}),
        ("assert x == 1", {"grade_id": "t_ok", "grade": True, "points": 1}),
        ("assert x == 1", {"grade_id": "t_silent", "grade": True, "points": 1}),
        ("assert x == 2", {"grade_id": "t_failed", "grade": True, "points": 1}),
        ("assert x == 1", {"grade_id": "t_changed", "grade": True, "points": 1}),
    )
    evidence = Evidence(nb)
    assert evidence.capture_at == 1 and evidence.names == ["x"]
    assert "builtins" in evidence.code_before(0)[0] and evidence.code_before(1)[0].endswith("(['x'])")
    assert evidence.key.hex() in evidence.code_before(0)[0]  # the key reaches the kernel only in the silent prologue
    evidence.instrument(nb)
    nonce = {nb.cells[i].metadata.nbgrader["grade_id"]: n for i, n in evidence.tests.items()}
    assert all(nonce[g] in nb.cells[i].source for i, g in [(2, "t_ok"), (3, "t_silent")])
    # What a kernel sends back: the nonce in two pieces, nothing, an error, and a change.
    line = _signed(evidence, nonce["t_ok"], "ok")
    nb.cells[2].outputs = [_stream("mine\n\n" + line[:10]), _stream(line[10:] + "\n")]
    nb.cells[4].outputs = [nbformat.from_dict({"output_type": "error", "ename": "AssertionError", "evalue": "", "traceback": []})]
    nb.cells[5].outputs = [_stream("\n" + _signed(evidence, nonce["t_changed"], "changed names: check_tensor") + "\n")]
    problems = evidence.judge(nb)
    assert [p.split()[2] for p in problems] == ["t_silent", "t_changed"]
    assert "check_tensor" in problems[1]
    assert nb.cells[2].outputs[0].text == "mine\n" and nb.cells[2].source == "assert x == 1"
    assert [o.ename for o in nb.cells[3].outputs] == ["GradingEvidenceError"]
    assert [o.ename for o in nb.cells[4].outputs] == ["AssertionError"]
    assert [o.ename for o in nb.cells[5].outputs] == ["GradingEvidenceError"]


def test_feedback_withholds_what_ran_after_a_hidden_test_but_keeps_the_tests():
    hidden = "### BEGIN HIDDEN TESTS\nassert secret_function(3) == 27\n### END HIDDEN TESTS"
    nb = _notebook(
        ("print('before')", {}),
        ('"""visible"""\n' + hidden, {"grade_id": "t1", "grade": True, "points": 1}),
        ("print('\\n'.join(In)[::-1])", {"grade_id": "answer2", "solution": True}),
        ("assert False, 'visible test message'", {"grade_id": "t2", "grade": True, "points": 1}),
    )
    nb.cells[0].outputs = [_stream("before\n")]
    nb.cells[2].outputs = [_stream(hidden[::-1])]
    nb.cells[3].outputs = [nbformat.from_dict({"output_type": "error", "ename": "AssertionError", "evalue": "visible test message", "traceback": []})]
    out, _ = HideHiddenTests().preprocess(nb, {})
    assert out.cells[0].outputs[0].text == "before\n"
    assert "not shown in feedback" in out.cells[2].outputs[0].text and hidden[::-1] not in json.dumps(out)
    assert out.cells[3].outputs[0].evalue == "visible test message"


def test_intake_survives_junk_metadata_and_removes_links(tmp_path):
    release = {"nb": _notebook(("x = 1", {"grade_id": "a", "solution": True}), ("assert x", {"grade_id": "t", "grade": True, "points": 1}))}
    junk = json.loads(nbformat.writes(release["nb"]))
    junk["cells"][0]["metadata"]["nbgrader"] = "junk"
    (tmp_path / "nb.ipynb").write_text(json.dumps(junk))
    (tmp_path / "gradebook.db").symlink_to("/etc/hostname")
    os.mkfifo(tmp_path / "pipe")
    assert sorted(p.name for p in not_regular_files(tmp_path)) == ["gradebook.db", "pipe"]
    result = check_submission(tmp_path, "s", release)
    assert any("removed gradebook.db (a link to /etc/hostname)" in a for a in result.actions)
    assert not_regular_files(tmp_path) == []


def test_grading_log_skips_lines_that_are_not_events(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text("")
    course = Course.load(tmp_path)
    course.log("intake", "a1", "alice", status="ok")
    with open(course.log_path, "a") as f:
        f.write('not json\n[1, 2]\n{"kind": "autograde"}\n{"time": 1, "kind": "x", "assignment": "a1", "student": "bob"}\n')
    assert [e["student"] for e in course.events()] == ["alice"]


def test_evidence_refuses_a_verdict_without_the_graders_signature():
    """Printing the nonce and "ok" (an input transformer can read the nonce in the cell) is not evidence."""
    nb = _notebook(("x = 1", {"grade_id": "answer", "solution": True}), *[("assert x", {"grade_id": f"t{k}", "grade": True, "points": 1}) for k in range(3)])
    evidence = Evidence(nb)
    evidence.instrument(nb)
    nonces = list(evidence.tests.values())
    other = Evidence(nb)  # a signature made with another key
    nb.cells[1].outputs = [_stream(f"\n{nonces[0]} ok\n")]
    nb.cells[2].outputs = [_stream("\n" + _signed(other, nonces[1], "ok") + "\n")]
    nb.cells[3].outputs = [_stream("\n" + _signed(evidence, nonces[2], "ok") + "\n")]
    problems = evidence.judge(nb)
    assert [p.split()[2] for p in problems] == ["t0", "t1"] and all("signature" in p for p in problems)
    assert [o.ename for o in nb.cells[1].outputs] == ["GradingEvidenceError"] and nb.cells[3].outputs == []


def test_evidence_only_flags_a_reassigned_course_variable():
    nb = _notebook(("x = 1", {"grade_id": "answer", "solution": True}), ("assert x", {"grade_id": "t", "grade": True, "points": 1}))
    evidence = Evidence(nb)
    evidence.instrument(nb)
    nb.cells[1].outputs = [_stream("\n" + _signed(evidence, evidence.tests[1], "changed course variables: classifier") + "\n")]
    assert evidence.judge(nb) == ["test cell t ran after the student's code changed course variables: classifier (scored as nbgrader found it; look at the notebook)"]
    assert nb.cells[1].outputs == []


def _sandboxed(*sources: str, path: Path) -> nbformat.NotebookNode:
    """Run a notebook of `sources` through the grader's sandboxed Execute in folder `path`."""
    from grading.sandbox import SandboxedExecute, sandbox_problem

    if os.geteuid() != 0 or sandbox_problem() is not None:
        pytest.skip(f"the uid branch of the sandbox needs root and bubblewrap ({sandbox_problem()})")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return SandboxedExecute(timeout=120).preprocess(nb, {"metadata": {"path": str(path)}})[0]


@pytest.mark.grading
def test_a_kernel_that_dies_on_its_own_leaves_no_sandbox_folder_behind(tmp_path, monkeypatch):
    """nbclient does not shut down a dead kernel, it only cleans up: the sandbox's folder must go then too."""
    tmp = Path(tempfile.mkdtemp(prefix="gs", dir="/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    try:
        with pytest.raises(DeadKernelError):
            _sandboxed("print('hello')", "import os\nos._exit(1)", path=tmp_path)
        left = [p.name for p in tmp.iterdir()]
    finally:
        shutil.rmtree(tmp)
    assert left == []


@pytest.mark.grading
def test_a_long_tmpdir_still_grades(tmp_path, monkeypatch):
    """The kernel's socket path must fit in 108 bytes; a long TMPDIR once failed with "File name too long"."""
    long = tmp_path / ("a-rather-long-folder-name-" * 3) / "tmp"
    long.mkdir(parents=True)
    (tmp_path / "student").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(long))
    nb = _sandboxed("print(6 * 7)", path=tmp_path / "student")
    assert nb.cells[0].outputs[0]["text"] == "42\n"


def test_every_test_cell_of_the_course_is_judged_outside_the_kernel_as_the_instructors_page_says():
    from grading.outside import outside_cells, shared_classes

    cells = 0
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        trusted, outside = outside_cells(nb)
        tests = {i: c.metadata.nbgrader for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}
        assert set(outside) == set(tests), [tests[i]["grade_id"] for i in set(tests) - set(outside)]
        assert not set(trusted) & set(tests)
        cells += len(tests)
        if path.stem == "ps6_capstone":  # its data cell runs in the checker too: tests compare with the course's pool
            assert any("pool = load_in_memory" in nb.cells[i].source for i in trusted)
        if path.stem == "ps3_unet":  # the trained model is the student's, not the test's earlier `model`
            assert "model" in next(outside[i] for i in outside if tests[i]["grade_id"] == "ps3_train_miou_low")
    page = " ".join((ROOT / "book" / "instructors.md").read_text().split())
    assert f"All {cells} test cells of the six assignments run this way" in page
    # A class in hidden tests handed to the student's code would have to go to the kernel: such a cell stays there.
    hidden = "### BEGIN HIDDEN TESTS\nclass Probe:\n    pass\nf(Probe())\n### END HIDDEN TESTS\n"
    visible = "class Probe:\n    pass\nf(Probe())\n"
    assert shared_classes(hidden) is None and shared_classes(visible) == ["class Probe:\n    pass"]
    assert shared_classes("class Local:\n    pass\ndef g(x):\n    return x\ng(Local())\n") == []


def test_the_checker_rebuilds_only_torch_nn_modules():
    from grading.checker import RemoteError, _rebuild

    marker = "ref:test"
    conv = torch.nn.Conv2d(2, 3, 3, padding=1)
    spec = {marker: "torch.nn.modules.conv:Conv2d", "attrs": {k: v for k, v in vars(conv).items() if k not in vars(torch.nn.Module())},
            "training": False, "parameters": {k: v.detach() for k, v in conv._parameters.items()}, "buffers": {}, "children": {}}
    rebuilt = _rebuild(spec, marker)
    x = torch.randn(1, 2, 5, 5)
    assert type(rebuilt) is torch.nn.Conv2d and not rebuilt.training
    check_tensor(rebuilt(x), conv(x).detach())
    for name in ("seglib.models:UNet", "os:system", "torch.nn.modules.conv:Conv2d.__init__", "builtins:eval"):
        with pytest.raises(RemoteError, match="cannot rebuild"):
            _rebuild({**spec, marker: name}, marker)


_COURSE = """import torch
import torch.nn.functional as F
from torch import nn

import seglib.models
import seglib.ops
from seglib.testing import call_student, check_own_module, check_tensor, unavailable
"""
_ANSWERS = '''class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3)

    def forward(self, x):
        return torch.relu(self.norm(self.conv(x)))


class Borrowed(seglib.models.DoubleConv):
    pass


class Agreeable(torch.Tensor):
    def __eq__(self, other):
        return True


def agreeable(x):
    return x.as_subclass(Agreeable)


def draw():
    return torch.rand(3)


def seen():
    return "\\n".join(get_ipython().user_ns["In"])


def upsample(x):
    return F.interpolate(x, scale_factor=2)


def nearest(x):
    return seglib.ops.nearest_upsample(x, 2)
'''
_CHECKS = {
    # The checker's weights and BatchNorm statistics are the ones the forward uses; gradients reach them.
    "mirror": """net = call_student(Net)
with torch.no_grad():
    net.norm.running_mean.uniform_(-1, 1), net.norm.running_var.uniform_(0.5, 2), net.conv.weight.mul_(3)
net.eval()
x = torch.randn(2, 2, 5, 4)
expected = torch.relu(F.batch_norm(F.conv2d(x, net.conv.weight, net.conv.bias, padding=1), net.norm.running_mean, net.norm.running_var, net.norm.weight, net.norm.bias))
check_tensor(net(x), expected.detach())
net.train()
x.requires_grad_(True)
net(x).square().sum().backward()
assert net.conv.weight.grad is not None and x.grad is not None and float(net.conv.weight.grad.abs().sum()) > 0
assert type(net).__name__ == "Net" and isinstance(net, nn.Module) and type(net.conv) is nn.Conv2d
""",
    "borrowed": """try:
    check_own_module(call_student(Borrowed, 2, 3))
except AssertionError as error:
    assert "seglib.models.DoubleConv" in str(error)
else:
    raise AssertionError("a subclass of seglib's DoubleConv passed check_own_module")
""",
    "lookalike": """try:
    check_tensor(call_student(agreeable, torch.zeros(2)), torch.ones(2))
except AssertionError as error:
    assert "expected a torch.Tensor" in str(error), error
else:
    raise AssertionError("a tensor subclass whose == is always true passed")
""",
    "random": """torch.manual_seed(7)
got = call_student(draw)
torch.manual_seed(7)
check_tensor(got, torch.rand(3))
""",
    "switched_off": """for _ in range(2):  # the second time through, the kernel still holds them off from the first
    with unavailable((F, "interpolate"), seglib.ops.nearest_upsample):
        for net in (upsample, nearest):
            try:
                call_student(net, torch.zeros(1, 2, 2, 2))
            except AssertionError as error:
                assert "switched off" in str(error), error
            else:
                raise AssertionError(f"{net} ran with what it needs switched off in the kernel")
""",
    "hidden": """### BEGIN HIDDEN TESTS
SECRET_LINE = "a hidden line that must stay out of the kernel"
assert SECRET_LINE not in call_student(seen)
### END HIDDEN TESTS
""",
}


@pytest.mark.grading
def test_the_checker_judges_modules_gradients_and_the_tests_setup_outside_the_kernel(tmp_path):
    from grading.sandbox import SandboxedExecute, sandbox_problem

    if os.geteuid() != 0 or sandbox_problem() is not None:
        pytest.skip(f"the uid branch of the sandbox needs root and bubblewrap ({sandbox_problem()})")
    cells = [nbformat.v4.new_code_cell(_COURSE, metadata={"nbgrader": {"grade_id": "imports", "locked": True, "grade": False, "solution": False}}),
             nbformat.v4.new_code_cell(_ANSWERS, metadata={"nbgrader": {"grade_id": "answers", "solution": True, "grade": False, "locked": False}})]
    for name, source in _CHECKS.items():
        cells.append(nbformat.v4.new_code_cell(source, metadata={"nbgrader": {"grade_id": name, "grade": True, "solution": False, "locked": True, "points": 1}}))
        if name == "switched_off":  # what it switched off is on again for the next answer cell, which runs in the kernel
            cells.append(nbformat.v4.new_code_cell("later = upsample(torch.ones(1, 1, 2, 2)).sum().item(), nearest(torch.ones(1, 1, 2, 2)).shape",
                                                   metadata={"nbgrader": {"grade_id": "later", "solution": True, "grade": False, "locked": False}}))
    cells.append(nbformat.v4.new_code_cell("assert later == (16.0, (1, 1, 4, 4)), later",
                                           metadata={"nbgrader": {"grade_id": "later_check", "grade": True, "solution": False, "locked": True, "points": 1}}))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    executor = SandboxedExecute(timeout=120)
    nb = executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})[0]
    assert set(executor._outside) == {i for i, c in enumerate(cells) if c.metadata.nbgrader["grade"]}
    failed = {c.metadata.nbgrader["grade_id"]: [o.get("evalue") for o in c.outputs if o.get("output_type") == "error"] for c in nb.cells[2:]}
    assert not any(failed.values()), failed


_FACTS = """import os
import seglib
assert not hasattr(seglib, "_graded_here"), "this checker holds what an earlier notebook's tests left"
seglib._graded_here = True
assert x == 1
print(os.getpid(), os.readlink("/proc/self/ns/net"), os.getcwd(), sorted(os.listdir(".")))
"""


@pytest.mark.grading
def test_each_notebook_gets_a_fresh_checker_from_the_fork_server_with_no_network(tmp_path):
    from grading.sandbox import SandboxedExecute, sandbox_problem

    if os.geteuid() != 0 or sandbox_problem() is not None:
        pytest.skip(f"the uid branch of the sandbox needs root and bubblewrap ({sandbox_problem()})")
    cells = [nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {"grade_id": "answers", "solution": True, "grade": False, "locked": False}}),
             nbformat.v4.new_code_cell(_FACTS, metadata={"nbgrader": {"grade_id": "facts", "grade": True, "solution": False, "locked": True, "points": 1}})]
    seen = []
    for _ in range(2):  # two notebooks graded by one process, as nbgrader grades several notebooks of a student
        nb = nbformat.v4.new_notebook(cells=[nbformat.from_dict(c) for c in cells])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        executor = SandboxedExecute(timeout=120)
        nb = executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})[0]
        assert set(executor._outside) == {1}
        outputs = nb.cells[1].outputs
        assert not [o for o in outputs if o.get("output_type") == "error"], outputs
        pid, net, folder, listing = "".join(o.get("text", "") for o in outputs).split(" ", 3)
        seen.append((int(pid), net, folder))
        assert net != os.readlink("/proc/self/ns/net"), "the checker shares the grader's network"
        assert listing.strip() == "[]" and Path(folder).name.startswith("grading-checker-")
        assert not Path(folder).exists(), "the checker's folder outlived its notebook"
        for _ in range(100):  # SIGKILLed when the notebook ends; the fork server reaps it
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"the checker {pid} outlived its notebook")
    assert seen[0][0] != seen[1][0] and seen[0][2] != seen[1][2]


def test_a_checker_that_cannot_leave_the_network_says_so_for_every_cell():
    start = "import sys; sys.path.insert(0, sys.argv[1]); import grading.checker as c; c.leave_network = lambda: False; c.main()"
    lines = [{"connection_file": "/nonexistent.json", "name": "_grading_x", "marker": "ref:x", "pid": 1, "no_network": True},
             {"source": "assert True", "timeout": 10, "fetch": []}, {"source": "x = 1", "timeout": 10, "fetch": []}]
    run = subprocess.run([sys.executable, "-I", "-c", start, str(ROOT)], input="".join(json.dumps(x) + "\n" for x in lines),
                         capture_output=True, text=True, timeout=120)
    replies = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.returncode == 0, run.stderr[-2000:]
    assert [r["status"] for r in replies] == ["crashed", "crashed"]
    assert all("could not leave the network" in r["why"] for r in replies)


def test_a_process_that_ends_with_another_dies_when_it_does_though_its_parent_lives_on():
    # An nbgrader run is a child of a multiprocessing forkserver, which lives as long as its
    # children do: only `end_with` the grader ends it when the grader is killed.
    grader = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    start = ("import sys, time; sys.path.insert(0, sys.argv[1]); from grading.forks import end_with; "
             "end_with(int(sys.argv[2])); print('watching', flush=True); time.sleep(600)")
    run = subprocess.Popen([sys.executable, "-I", "-c", start, str(ROOT), str(grader.pid)], stdout=subprocess.PIPE, text=True)
    try:
        assert run.stdout.readline() == "watching\n"
        assert run.poll() is None  # it lives while the grader does
        grader.kill()
        grader.wait()
        assert run.wait(timeout=60) == -9
        # A process told to end with one that has ended already ends at once.
        late = subprocess.run([sys.executable, "-I", "-c", start, str(ROOT), str(grader.pid)], capture_output=True, text=True, timeout=60)
        assert late.returncode == 1 and late.stdout == ""
    finally:
        for p in (grader, run):
            p.kill()


def test_a_failed_run_is_reported_with_the_exception_that_ended_it():
    from grading.autograde import _failure_reason

    log = """[AutogradeApp | ERROR] There was an error processing assignment: /c/submitted/s1/ps2
[AutogradeApp | ERROR] Traceback (most recent call last):
      File "nbconvert/writers/files.py", line 152, in write
        with open(dest_path, "w", encoding="utf-8") as f:
    FileNotFoundError: [Errno 2] No such file or directory: '/c/autograded/s1/ps2/ps2.ipynb'
[AutogradeApp | ERROR] There was an error processing assignment 'ps2' for student 's1'
[AutogradeApp | ERROR] Please see the the above traceback for details on the specific errors on the above failures.
"""
    assert _failure_reason(log) == "FileNotFoundError: [Errno 2] No such file or directory: '/c/autograded/s1/ps2/ps2.ipynb'"
    assert _failure_reason("[AutogradeApp | ERROR] no traceback here\n") == "[AutogradeApp | ERROR] no traceback here"
    assert _failure_reason("") == "nbgrader failed without saying why; see its log"
