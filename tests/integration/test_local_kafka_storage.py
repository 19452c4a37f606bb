"""The local broker's storage is formatted whatever random cluster id it draws (issue: 1 start in 64 failed)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from deploy.kafka.local_kafka import LocalKafka, free_port, new_cluster_id

pytestmark = pytest.mark.integration


def test_new_cluster_ids_never_begin_with_a_dash_and_are_kafka_uuids() -> None:
    # The old draw began with "-" once in 64: 20,000 draws would have hit it about 300 times.
    ids = [new_cluster_id() for _ in range(20_000)]
    assert not [i for i in ids if i.startswith("-")]
    assert {len(i) for i in ids} == {22}
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids[:100])
    assert any(i.startswith("_") for i in ids)  # "_" is as likely as "-" was, and harmless


# Ids a urlsafe base64 draw can really give: a leading "-" (the failing case) and a leading "_" (as an option name
# it would be just as wrong if the tool ever split it off), and one with both inside.
@pytest.mark.parametrize("cluster_id", ["-Xyz0AAAAAAAAAAAAAAAAA", "_Xyz0AAAAAAAAAAAAAAAAA", "-_-_AAAAAAAAAAAAAAAAAA"])
@pytest.mark.parametrize("secure", [False, True], ids=["plaintext", "scram"])
def test_storage_is_formatted_with_ids_beginning_with_dash_or_underscore(tmp_path: Path, cluster_id: str,
                                                                         secure: bool) -> None:
    broker = LocalKafka(tmp_path / "kafka", port=free_port(), controller_port=free_port(),
                        admin_password="-starts-with-a-dash" if secure else None)
    broker.data_dir.mkdir(parents=True)
    broker.write_config()
    result = broker.format_storage(cluster_id)
    assert result.returncode == 0, result.stderr or result.stdout
    meta = (broker.data_dir / "logs" / "meta.properties").read_text()
    assert f"cluster.id={cluster_id}\n" in meta
