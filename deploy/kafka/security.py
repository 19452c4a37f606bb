"""Users and ACLs for the secure local broker: each service and each receiving body gets only what it needs.

A receiving body reads its own referrals topic with its own consumer group and writes only its own responses topic:
the relay (services/dispatch/entrypoints/relay.py) republishes those as that body, so no body can write the internal
referral-responses topic (no answer in another body's name, no forged deadline check). Patrol writes findings and,
for Open311 updates, actions on referral-responses; the relay reads the bodies' responses topics and writes
referral-responses; dispatch and info_share work under the deployment's topic prefix. Nothing else is allowed
(``allow.everyone.if.no.acl.found=false``).
"""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourceType,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from services.common.topics import (
    DEAD_LETTERS,
    FINDINGS,
    REFERRAL_RESPONSES,
    RESPONSES_FAMILY,
    referrals_topic,
    responses_topic,
)


def add_user(admin: KafkaAdminClient, name: str, password: str) -> None:
    errors = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(name, ScramMechanism.SCRAM_SHA_256, password)])
    if errors.get(name):
        raise RuntimeError(f"could not set SCRAM credentials for {name}: {errors[name]}")


def _allow(user: str, resource: ResourceType, name: str, *operations: ACLOperation,
           pattern: ACLResourcePatternType = ACLResourcePatternType.LITERAL) -> list[ACL]:
    return [ACL(f"User:{user}", "*", op, ACLPermissionType.ALLOW, ResourcePattern(resource, name, pattern))
            for op in operations]


def body_acls(user: str, body_id: str, prefix: str, group_id: str) -> list[ACL]:
    """A receiving body: read its own referrals with its own group; write its own responses topic, nothing else."""
    return [
        *_allow(user, ResourceType.TOPIC, referrals_topic(body_id, prefix), ACLOperation.READ, ACLOperation.DESCRIBE),
        *_allow(user, ResourceType.GROUP, group_id, ACLOperation.READ),
        *_allow(user, ResourceType.TOPIC, responses_topic(body_id, prefix), ACLOperation.WRITE, ACLOperation.DESCRIBE),
    ]


def patrol_acls(user: str, prefix: str) -> list[ACL]:
    """The patrol service: write findings, and the actions of Open311 servicerequestupdates (whose API key names
    the acting body, checked by patrol before it publishes)."""
    return _allow(user, ResourceType.TOPIC, FINDINGS.name(prefix), ACLOperation.WRITE, ACLOperation.DESCRIBE) + \
        _allow(user, ResourceType.TOPIC, REFERRAL_RESPONSES.name(prefix), ACLOperation.WRITE, ACLOperation.DESCRIBE)


def relay_acls(user: str, prefix: str, group_prefix: str) -> list[ACL]:
    """The relay: read every body's responses topic with its group, write referral-responses and dead letters.

    DESCRIBE on the whole family lets its pattern subscription see the topics; it creates none of them itself on a
    secured cluster (dispatch, or the deployment's admin, does).
    """
    return [
        *_allow(user, ResourceType.TOPIC, f"{RESPONSES_FAMILY.name(prefix)}.", ACLOperation.READ,
                ACLOperation.DESCRIBE, pattern=ACLResourcePatternType.PREFIXED),
        *_allow(user, ResourceType.GROUP, f"{group_prefix}-relay", ACLOperation.READ),
        *_allow(user, ResourceType.TOPIC, REFERRAL_RESPONSES.name(prefix), ACLOperation.WRITE, ACLOperation.DESCRIBE),
        *_allow(user, ResourceType.TOPIC, DEAD_LETTERS.name(prefix), ACLOperation.WRITE, ACLOperation.DESCRIBE),
    ]


def service_acls(user: str, prefix: str, group_prefix: str) -> list[ACL]:
    """dispatch / info_share: every topic and group under the deployment's prefixes (they create referral topics)."""
    return [
        *_allow(user, ResourceType.TOPIC, f"{prefix}.", ACLOperation.ALL, pattern=ACLResourcePatternType.PREFIXED),
        *_allow(user, ResourceType.TOPIC, f"{group_prefix}-", ACLOperation.ALL,
                pattern=ACLResourcePatternType.PREFIXED),  # dispatch table changelogs
        *_allow(user, ResourceType.GROUP, f"{group_prefix}-", ACLOperation.ALL,
                pattern=ACLResourcePatternType.PREFIXED),
    ]


def grant(admin: KafkaAdminClient, acls: list[ACL]) -> None:
    result = admin.create_acls(acls)
    failed = result.get("failed", []) if isinstance(result, dict) else []
    if failed:
        raise RuntimeError(f"could not create ACLs: {failed}")
