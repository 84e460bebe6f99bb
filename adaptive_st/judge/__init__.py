"""Human judgement: a pairwise preference study that ranks checkpoints (and the policies they were trained with).

``prepare`` stylizes the same seeded (content, style) pairs with every checkpoint into a study folder;
``server`` shows raters two anonymised outputs at a time on a local page and appends each answer to
``answers/<rater>.csv``; ``ranking`` fits Bradley–Terry scores and agreement statistics to the merged
answers, and ``report`` writes them as ``report.md`` / ``report.html``. Only ``prepare`` needs torch,
so serving a shared study folder starts at once.
"""

from adaptive_st.judge.study import ANSWER_COLUMNS, CHOICES, Answer, Study, StudyError, read_answers

__all__ = ["ANSWER_COLUMNS", "CHOICES", "Answer", "Study", "StudyError", "read_answers"]
