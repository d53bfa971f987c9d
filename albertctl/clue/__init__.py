"""CLUE (Chinese) classification: the leaderboard's submission files.

The seven tasks (TNEWS, IFLYTEK, AFQMC, OCNLI, CMNLI, CSL, CLUEWSC2020) live in the GLUE task
registry (:mod:`albertctl.glue.tasks`, ``benchmark="CLUE"``) and train, evaluate and predict on the
same classification machinery; this package adds what is CLUE's own. Public API::

    SUBMISSION_FILES, format_submission, predict_clue, submit_clue    (submit.py)
"""

from __future__ import annotations

from albertctl.clue.submit import SUBMISSION_FILES, format_submission, predict_clue, submit_clue

__all__ = ["SUBMISSION_FILES", "format_submission", "predict_clue", "submit_clue"]
