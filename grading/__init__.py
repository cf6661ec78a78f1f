"""Instructor-side grading tools that wrap nbgrader (run from the course root: `python -m grading`).

    intake     check received notebooks; rename and repair what is safe      (grading/intake.py)
    autograde  one nbgrader run per student, feedback without hidden tests  (autograde.py, feedback.py)
               or each student a task of a Dask cluster, into PostgreSQL     (distributed.py)
    similarity who copied: winnowing fingerprints of the answer cells, HTML  (similarity.py)
    report     every student's points and every failure, with a CSV          (report.py)
    bundle     the public student repository                                 (bundle.py)

`course.py` reads the course's folders from nbgrader_config.py and keeps the grading log.
"""
