"""The rating server's API and the study folder, on a synthetic study (no torch, no browser)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from adaptive_st.judge.server import JudgeServer
from adaptive_st.judge.study import ANSWER_COLUMNS, Study, StudyError, check_rater, read_answers


@contextmanager
def running(study: Study) -> Iterator[str]:
    server = JudgeServer(study, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def post(url: str, data: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url + "api/answer", json.dumps(data).encode(),
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def rows(study: Study, rater: str) -> list[dict[str, str]]:
    with (study.root / "answers" / f"{rater}.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_pages_hide_the_models_and_images_follow_the_raters_sides(synthetic_study: Callable[..., Study]):
    study = synthetic_study()
    with running(study) as url:
        status, page = get(url)
        assert status == 200 and b"can't tell" in page and b"/*CONFIG*/" not in page
        status, body = get(url + "api/next?rater=ann")
        task = json.loads(body)
        assert status == 200 and not task["done"] and (task["answered"], task["total"]) == (0, 12)
        assert not any(token in body.decode() for token in ("m0", "m1", "m2", "alpha", "beta", "gamma", "outputs"))
        comparison = study.comparison_by_id[task["comparison"]]
        left, right = study.sides("ann", comparison)
        pair = study.pair_by_id[comparison.pair]
        for slot, model in (("left", left), ("right", right)):
            status, png = get(url + task["images"][slot].lstrip("/"))
            assert status == 200 and png == (study.root / pair.outputs[model.id]).read_bytes()
        assert get(url + task["images"]["content"].lstrip("/"))[1] == (study.root / pair.content_image).read_bytes()
        assert get(url + f"image/ann/{comparison.id}/..%2F..%2Fstudy.json")[0] == 400
        assert get(url + "image/ann/q9999/left")[0] == 400


def test_answers_are_appended_once_and_a_restart_resumes(synthetic_study: Callable[..., Study]):
    study = synthetic_study()
    asked = []
    with running(study) as url:
        task = json.loads(get(url + "api/next?rater=ann")[1])
        for n in range(7):
            asked.append(task["comparison"])
            status, task = post(url, {"rater": "ann", "comparison": asked[-1], "choice": ("left", "right", "tie")[n % 3],
                                      "latency_ms": 812.4})
            assert status == 200 and task["recorded"] and task["answered"] == n + 1
        assert post(url, {"rater": "ann", "comparison": asked[0], "choice": "left"})[1]["recorded"] is False
        for bad, message in (({"rater": "ann", "comparison": asked[0], "choice": "maybe"}, "choice"),
                             ({"rater": "../x", "comparison": asked[0], "choice": "left"}, "rater id"),
                             ({"rater": "ann", "comparison": "q9999", "choice": "left"}, "unknown comparison"),
                             ({"rater": "ann", "comparison": asked[0], "choice": "left", "latency_ms": -1}, "latency")):
            status, reply = post(url, bad)
            assert status == 400 and message in reply["error"]
    written = rows(study, "ann")
    assert [r["comparison"] for r in written] == asked and tuple(written[0]) == ANSWER_COLUMNS
    assert [r["choice"] for r in written[:3]] == ["left", "right", "tie"] and written[0]["latency_ms"] == "812"
    first = study.comparison_by_id[asked[0]]
    assert (written[0]["left"], written[0]["right"]) == tuple(m.label for m in study.sides("ann", first))

    with running(Study.load(study.root)) as url:  # a restarted server
        task = json.loads(get(url + "api/next?rater=ann")[1])
        assert task["answered"] == 7 and task["comparison"] not in asked
        assert task["comparison"] == [c.id for c in study.order("ann")][7]
        while not task["done"]:
            status, task = post(url, {"rater": "ann", "comparison": task["comparison"], "choice": "tie"})
        bob = json.loads(get(url + "api/next?rater=bob")[1])
        assert bob["answered"] == 0
    answers, problems = read_answers(Study.load(study.root))
    assert len(answers) == 12 and len({a.comparison for a in answers}) == 12 and problems == []


def test_raters_get_their_own_order_and_coin_flips(synthetic_study: Callable[..., Study]):
    study = synthetic_study(pairs=8)
    ann, bob = study.order("ann"), study.order("bob")
    assert sorted(c.id for c in ann) == sorted(c.id for c in bob) and ann != bob
    assert ann == Study.load(study.root).order("ann")
    flips = {study.sides("ann", c)[0].id == c.a for c in study.comparisons}
    assert flips == {True, False}


def test_read_answers_reports_what_it_leaves_out(synthetic_study: Callable[..., Study]):
    study = synthetic_study()
    q = study.comparisons[0]
    a, b = study.model_by_id[q.a].label, study.model_by_id[q.b].label
    folder = study.root / "answers"
    folder.mkdir()
    header = ",".join(ANSWER_COLUMNS)
    (folder / "ann.csv").write_text(f"{header}\nann,{q.id},{q.pair},{a},{b},left,,\nann,{q.id},{q.pair},{b},{a},right,,\n"
                                    f"ann,{q.id},{q.pair},{a},{b},sideways,,\nann,q9999,{q.pair},{a},{b},left,,\n")
    (folder / "notes.csv").write_text("hello,world\n1,2\n")
    answers, problems = read_answers(study)
    assert len(answers) == 1 and answers[0].winner == a
    assert len(problems) == 4 and any("notes.csv" in p for p in problems)
    assert any("answered q" in p for p in problems) and any("sideways" in p for p in problems)


def test_rater_ids_are_file_safe():
    assert check_rater("ann_2.b-c") == "ann_2.b-c"
    for bad in ("", "../ann", "a b", "-x", "x" * 41):
        with pytest.raises(StudyError, match="rater id"):
            check_rater(bad)


def test_serving_a_prepared_study_does_not_import_torch(synthetic_study: Callable[..., Study]):
    study = synthetic_study()
    code = ("import sys; from adaptive_st.cli.main import main; "
            f"rc = main(['judge', '--out', {str(study.root)!r}, '--no-serve']); "
            "assert 'torch' not in sys.modules, 'torch imported'; raise SystemExit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr and "12 comparisons (3 checkpoints, 4 pairs)" in done.stderr


def test_cli_errors_are_one_line(tmp_path: Path, synthetic_study: Callable[..., Study], capsys):
    from adaptive_st.cli.main import main

    study = synthetic_study()
    cases = [(["judge", "--out", str(tmp_path / "new")], "give two or more checkpoints"),
             (["judge"], "give --out DIR"),
             (["judge", "--report", str(tmp_path / "nothing")], "no study here"),
             (["judge", "--report", str(study.root)], "no answers yet"),
             (["judge", "a.ckpt", "b.ckpt", "--out", str(study.root)], "holds a study of other checkpoints"),
             (["judge", "--out", str(study.root), "--rater", "a b"], "rater id")]
    for argv, message in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
