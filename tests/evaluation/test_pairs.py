from pathlib import Path

import pytest

from adaptive_st.evaluation import make_pairs

CONTENTS = [Path(f"c{i}.jpg") for i in range(4)]
STYLES = [Path(f"s{i}.jpg") for i in range(5)]


def test_all_pairs_content_major():
    pairs = make_pairs(CONTENTS, STYLES)
    assert len(pairs) == 20 and len(set(pairs)) == 20
    assert (pairs[0].content, pairs[0].style, pairs[5].content) == (CONTENTS[0], STYLES[0], CONTENTS[1])


def test_sampled_pairs_are_seeded_and_distinct():
    a, b = make_pairs(CONTENTS, STYLES, 7, seed=3), make_pairs(CONTENTS, STYLES, 7, seed=3)
    assert a == b and len(set(a)) == 7
    assert make_pairs(CONTENTS, STYLES, 7, seed=4) != a
    assert make_pairs(CONTENTS, STYLES, 100) == make_pairs(CONTENTS, STYLES)


def test_invalid_requests():
    with pytest.raises(ValueError, match="at least one content"):
        make_pairs([], STYLES)
    with pytest.raises(ValueError, match="must be >= 1"):
        make_pairs(CONTENTS, STYLES, 0)
