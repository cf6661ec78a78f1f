"""Where a course keeps things, as its nbgrader_config.py says, and the grading log.

Every grading command (`intake`, `autograde`, `report`) works on a `Course`: the course root and
the folders nbgrader uses, read from the course's own `nbgrader_config.py` so that the commands
agree with `nbgrader` itself. What the commands find out (a renamed notebook, a kernel that
died) is appended to a log, one JSON object per line, that `report` reads. The log lives in
the autograded folder, which is instructor-local and git-ignored like the gradebook.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from traitlets.config.loader import PyFileConfigLoader

__all__ = ["Course", "LOG_NAME"]

LOG_NAME = "grading-log.jsonl"


def _driver(db_url: str) -> str:
    """A PostgreSQL URL with the driver the grading extra installs (psycopg 3): SQLAlchemy 2.0
    would otherwise look for psycopg2 (2.1 takes psycopg already)."""
    for scheme in ("postgresql://", "postgres://"):
        if db_url.startswith(scheme):
            return "postgresql+psycopg://" + db_url[len(scheme):]
    return db_url


@dataclass(frozen=True)
class Course:
    """The course root and nbgrader's folders in it (absolute paths)."""

    root: Path
    source: Path
    release: Path
    submitted: Path
    autograded: Path
    feedback: Path
    db_url: str
    course_id: str = ""

    @classmethod
    def load(cls, root: Path | str = ".", db_url: str | None = None) -> Course:
        """Read the folder names from `root/nbgrader_config.py` (nbgrader's defaults where unset).

        `db_url`, when given, replaces the configuration's gradebook (any SQLAlchemy URL, e.g.
        `postgresql://user@host/gradebook`): every nbgrader run then gets it too (`nbgrader_args`)."""
        root = Path(root).resolve()
        config_file = root / "nbgrader_config.py"
        if not config_file.is_file():
            raise FileNotFoundError(f"{config_file} not found: run grading commands from the course root")
        config = PyFileConfigLoader(config_file.name, path=str(root)).load_config()
        course_dir = config.get("CourseDirectory", {})

        def folder(key: str, default: str) -> Path:
            return root / course_dir.get(key, default)

        return cls(
            root=root,
            source=folder("source_directory", "source"),
            release=folder("release_directory", "release"),
            submitted=folder("submitted_directory", "submitted"),
            autograded=folder("autograded_directory", "autograded"),
            feedback=folder("feedback_directory", "feedback"),
            db_url=_driver(db_url or course_dir.get("db_url", f"sqlite:///{root / 'gradebook.db'}")),
            course_id=course_dir.get("course_id", ""),
        )

    def nbgrader_args(self) -> list[str]:
        """Options that make an nbgrader command use this course's gradebook."""
        return [f"--CourseDirectory.db_url={self.db_url}"]

    def gradebook(self) -> Gradebook:
        """The course gradebook (created when missing); use it as a context manager."""
        return Gradebook(self.db_url, self.course_id)

    def has_gradebook(self) -> bool:
        """Whether the gradebook exists (`nbgrader generate_assignment` creates it)."""
        prefix = "sqlite:///"
        return not self.db_url.startswith(prefix) or Path(self.db_url[len(prefix):]).is_file()

    def submission_dir(self, student: str, assignment: str) -> Path:
        return self.submitted / student / assignment

    def submitted_students(self, assignment: str) -> list[str]:
        """Students with a folder `submitted/<student>/<assignment>/`, sorted."""
        if not self.submitted.is_dir():
            return []
        return sorted(p.parent.name for p in self.submitted.glob(f"*/{assignment}") if p.is_dir())

    def release_notebooks(self, assignment: str) -> dict[str, Path]:
        """The notebooks students received for an assignment: name (no suffix) -> release path."""
        return {p.stem: p for p in sorted((self.release / assignment).glob("*.ipynb"))}

    def expected_notebooks(self, assignment: str) -> list[str]:
        """The notebook names nbgrader grades for an assignment: from the gradebook, else the release."""
        if self.has_gradebook():
            with self.gradebook() as gradebook:
                try:
                    return sorted(nb.name for nb in gradebook.find_assignment(assignment).notebooks)
                except MissingEntry:  # not generated into this gradebook yet
                    pass
        return sorted(self.release_notebooks(assignment))

    # --- the grading log -------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.autograded / LOG_NAME

    def log(self, kind: str, assignment: str, student: str, **fields: Any) -> None:
        """Append one event ("intake", "autograde", "feedback") about one student's submission."""
        self.autograded.mkdir(parents=True, exist_ok=True)
        event = {"time": datetime.now(timezone.utc).isoformat(), "kind": kind, "assignment": assignment, "student": student, **fields}
        line = json.dumps(event, sort_keys=True) + "\n"
        # One write of one line in append mode: concurrent writers do not interleave lines.
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(line)
            log.flush()
            os.fsync(log.fileno())

    def events(self) -> Iterator[dict[str, Any]]:
        """Every logged event, oldest first (an unreadable or incomplete line is skipped)."""
        if not self.log_path.is_file():
            return
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and all(isinstance(event.get(k), str) for k in ("time", "kind", "assignment", "student")):
                yield event

    def latest(self, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
        """The newest event of a kind for each (assignment, student)."""
        return {(e["assignment"], e["student"]): e for e in self.events() if e.get("kind") == kind}
