"""Microsoft Presidio's analyzer over the privacy corpus of tests/privacy_corpus.py, for comparison.

Presidio is not a dependency of the project (see docs/info_share.md, "Why not Presidio"), so this runs in two steps:

    .venv/bin/python scripts/presidio_comparison.py dump build/privacy-corpus.json
    python3.11 -m venv /tmp/presidio && /tmp/presidio/bin/pip install presidio-analyzer==2.2.366
    /tmp/presidio/bin/python scripts/presidio_comparison.py evaluate build/privacy-corpus.json

Chinese has no spaCy model on PyPI (``zh_core_web_sm`` is served from GitHub only), so Presidio runs with a blank
Chinese pipeline: its pattern recognizers, plus its phone recognizer for region CN. A planted value counts as found
when any result covers it, whatever entity Presidio names it (lenient); any result on a false friend is a false
positive.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def dump(path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.privacy_corpus import corpus

    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"text": s.text, "kind": s.kind.value if s.kind else None, "value": s.value} for s in corpus()]
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {len(rows)} samples to {path}")


def evaluate(path: Path) -> None:
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    class BlankChinese(SpacyNlpEngine):
        def __init__(self) -> None:
            super().__init__(models=[{"lang_code": "zh", "model_name": "blank"}])

        def load(self) -> None:
            self.nlp = {"zh": spacy.blank("zh")}

    engine = BlankChinese()
    engine.load()
    registry = RecognizerRegistry(supported_languages=["zh"])
    registry.load_predefined_recognizers(languages=["zh"], nlp_engine=engine)
    registry.add_recognizer(PhoneRecognizer(supported_regions=("CN",), supported_language="zh"))
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["zh"])
    samples = json.loads(path.read_text(encoding="utf-8"))
    planted: Counter[str] = Counter()
    found: Counter[str] = Counter()
    false_positives = 0
    for sample in samples:
        results = analyzer.analyze(text=sample["text"], language="zh")
        if sample["kind"] is None:
            false_positives += len(results)
            continue
        planted[sample["kind"]] += 1
        start = sample["text"].index(sample["value"])
        end = start + len(sample["value"])
        found[sample["kind"]] += any(r.start <= start and r.end >= end for r in results)
    for kind in sorted(planted):
        print(f"recall {kind:16s} {found[kind]:4d}/{planted[kind]:4d} = {100 * found[kind] / planted[kind]:.1f}%")
    friends = sum(1 for s in samples if s["kind"] is None)
    print(f"false positives: {false_positives} results on {friends} false friends")


if __name__ == "__main__":
    {"dump": dump, "evaluate": evaluate}[sys.argv[1]](Path(sys.argv[2]))
