"""The detector's recall and precision over the labelled corpus of tests/privacy_corpus.py (identifiers as real text
spells them, and false friends), and that masking leaves nothing planted."""

from __future__ import annotations

import pytest
from stdnum.cn import ric

from services.common.privacy import PiiKind, canonical, mask_text
from tests.privacy_corpus import corpus, measure


def test_the_corpus_is_large_reproducible_and_labelled() -> None:
    samples = corpus()
    assert len(samples) >= 500
    assert samples == corpus()
    assert sum(s.kind is None for s in samples) >= 300
    for sample in samples:
        if sample.kind is PiiKind.RESIDENT_ID:
            assert ric.is_valid(canonical(sample.value)), sample


def test_recall_and_precision_over_the_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    samples = corpus()
    planted, found, true_positives, false_positives, wrong = measure(samples)
    by_kind: dict[str, tuple[int, int]] = {}
    for key, n in planted.items():
        kind = key.split("/")[0]
        hit, total = by_kind.get(kind, (0, 0))
        by_kind[kind] = (hit + found[key], total + n)
    recall = true_positives / sum(planted.values())
    precision = true_positives / (true_positives + false_positives)
    with capsys.disabled():
        print(f"\nprivacy corpus: {len(samples)} strings, {sum(planted.values())} planted values, "
              f"{sum(s.kind is None for s in samples)} false friends")
        for kind, (hit, total) in sorted(by_kind.items()):
            print(f"  recall {kind:14} {hit:4}/{total:<4} = {hit / total:.2%}")
        print(f"  recall overall {recall:.2%}, precision {precision:.2%} ({false_positives} false positives)")
        for line in wrong[:20]:
            print("  " + line)
    # Every spelling of a checksum-valid resident id and of a mainland mobile is found.
    for key, n in planted.items():
        if key.startswith(PiiKind.RESIDENT_ID) or (key.startswith(PiiKind.PHONE) and "/" in key):
            assert found[key] == n, key
    assert recall == 1.0, wrong
    assert precision == 1.0, wrong


def test_nothing_planted_survives_masking() -> None:
    for sample in corpus():
        if sample.kind is not None:
            masked = canonical(mask_text(sample.text, names=False))
            if sample.kind is PiiKind.PLATE:
                assert canonical(sample.value) not in masked, (sample, masked)
            else:
                digits = "".join(c for c in canonical(sample.value) if c.isdigit())
                assert digits not in "".join(c for c in masked if c.isdigit()), (sample, masked)
