"""The PDQ index benchmark times what it says it times."""

from __future__ import annotations

from abusewatch.offline.bench import media_index
from abusewatch.scoring.media.index import TAIL_MAX, PdqIndex


def test_the_live_additions_include_one_merge_of_a_full_tail(monkeypatch, capsys):
    merged: list[int] = []  # tail length at each merge with something to merge
    merge = PdqIndex._merge

    def counting_merge(self: PdqIndex) -> None:
        if self._size > self._indexed:
            merged.append(self._size - self._indexed)
        merge(self)

    monkeypatch.setattr(PdqIndex, "_merge", counting_merge)
    assert media_index.main(["--size", "1000", "--queries", "20", "--faiss-queries", "0", "--flips", "8"]) == 0
    assert merged == [1000, TAIL_MAX + 1]  # the build, then the live additions' one merge
    assert "which merges the tail" in capsys.readouterr().out
