import pytest

from recft.eval.report import Report, ReportError


def _report(values):
    return Report("tiny", "test", {"ndcg@10": values}, config={"encoder": "x"}, timings={"total_s": 1.0})


def test_roundtrip_keeps_per_query_vectors_and_n(tmp_path):
    report = _report({"q1": 0.5, "q2": 1.0})
    loaded = Report.load(report.save(tmp_path / "report.json"))
    assert loaded.per_query == report.per_query
    assert loaded.means == {"ndcg@10": 0.75} and loaded.n == {"ndcg@10": 2}


def test_compare_to_is_candidate_minus_baseline():
    base, cand = _report({"q1": 0.5, "q2": 0.5, "q3": 0.2}), _report({"q1": 0.7, "q2": 0.6, "q3": 0.2})
    cmp = cand.compare_to(base, "ndcg@10")
    assert cmp.n == 3 and cmp.delta == pytest.approx(0.1)
    with pytest.raises(ReportError, match="no metric 'mrr@10'"):
        cand.compare_to(base, "mrr@10")


def test_bad_report_files(tmp_path):
    with pytest.raises(ReportError, match="report not found"):
        Report.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{ not json")
    with pytest.raises(ReportError, match=r"bad\.json: not valid JSON"):
        Report.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(ReportError, match="not a recft report"):
        Report.load(tmp_path / "other.json")
