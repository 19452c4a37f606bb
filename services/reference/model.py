"""Reference-data types: divisions, power catalogue with duty-access grants, categories, enforcement bodies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class TownshipKind(StrEnum):
    TOWNSHIP = "township"  # 鄉鎮
    AGRICULTURAL_SUBDISTRICT = "agricultural_subdistrict"  # 涉農街道
    SUBDISTRICT = "subdistrict"  # 非涉農街道


class PowerKind(StrEnum):
    PENALTY = "penalty"  # 行政處罰
    INSPECTION = "inspection"  # 行政檢查
    COERCIVE_MEASURE = "coercive_measure"  # 行政強制
    LICENSING = "licensing"  # 行政許可
    CONFIRMATION = "confirmation"  # 行政確認
    OTHER = "other"  # 其他行政權力


class BodyKind(StrEnum):
    TOWNSHIP_OFFICE = "township_office"  # 鄉鎮綜合行政執法辦公室
    COUNTY_TEAM = "county_team"  # 縣(市)區直部門執法隊伍
    DISPATCHED_AGENCY = "dispatched_agency"  # 派駐機構
    COUNTY_COORDINATION = "county_coordination"  # 縣司法局 — jurisdiction undetermined or disputed


class SubjectKind(StrEnum):
    USCC = "uscc"  # 統一社會信用代碼
    PLATE = "plate"  # 車牌
    RESIDENT_ID = "resident_id"  # 居民身份證號


@dataclass(frozen=True)
class County:
    code: str  # 6-digit division code
    name: str


@dataclass(frozen=True)
class Township:
    code: str  # 9-digit division code
    name: str
    county_code: str
    kind: TownshipKind
    special_offices: frozenset[str] = frozenset()  # e.g. {"fishery", "border"}; only where they exist


@dataclass(frozen=True)
class Department:
    """A county-level department whose enforcement team receives referrals (or whose agency sits in townships)."""

    code: str  # e.g. "natural_resources"
    name: str  # e.g. "自然資源局"


@dataclass(frozen=True)
class PowerItem:
    """One statutory administrative power item of the city's guidance catalogue."""

    code: str  # e.g. "DD-XZCF-017"
    name: str
    kind: PowerKind
    legal_basis: str
    department: str  # Department.code competent when the power is not the township's
    # Item can be delegated to townships by the provincial empowerment list (賦權清單);
    # it only takes effect for a township through an approved DutyGrant.
    delegable: bool = False
    dispatched_agency: str | None = None  # "police_station" | "market_supervision_office" | "judicial_office"
    special_office: str | None = None  # item exists only in townships with this office ("fishery", "border")
    major: bool = False  # major work-safety / food / drug / environment matter: 24-hour transfer limit
    co_departments: tuple[str, ...] = ()  # departments that co-handle with the lead


@dataclass(frozen=True)
class DutyGrant:
    """职责准入: an approved delegation of an item to townships, effective from a date.

    ``township_codes`` empty means every township of ``county_code`` (or every township when that is empty too).
    """

    item_code: str
    approval_ref: str  # e.g. "丹聯席〔2025〕3號"
    approved_at: datetime
    effective_from: datetime
    county_code: str = ""
    township_codes: frozenset[str] = frozenset()
    revoked_from: datetime | None = None


@dataclass(frozen=True)
class Category:
    """A finding category a patrol can report, mapped to the catalogue items it concerns."""

    code: str
    name: str
    item_codes: tuple[str, ...]
    dedup_group: str
    dedup_radius_m: float = 50.0
    subject_kinds: tuple[SubjectKind, ...] = ()


@dataclass(frozen=True)
class EnforcementBody:
    body_id: str  # "township:<code>", "team:<county>:<department>", "agency:<township>:<kind>", "coordination:<county>"
    name: str
    kind: BodyKind
    county_code: str
    township_code: str | None = None
    department: str | None = None

    @property
    def referral_topic_suffix(self) -> str:
        """The part of the per-body referrals topic name (Kafka-safe)."""
        return self.body_id.replace(":", ".")


@dataclass(frozen=True)
class CatalogueVersion:
    version: str
    published_at: datetime
    items: dict[str, PowerItem] = field(default_factory=dict)
    grants: tuple[DutyGrant, ...] = ()
    title: str = ""
    approval_ref: str = ""  # the joint-meeting decision that published this version


@dataclass(frozen=True)
class NationalTownship:
    """One township-level unit of China, for national-scale simulation (not used for routing)."""

    code: str  # 9-digit
    name: str
    county_code: str  # direct parent: a prefecture-level city's code where it has no counties (e.g. 东莞市)
    county_name: str
    prefecture_code: str  # "" under municipalities directly under the central government
    prefecture_name: str
    province_code: str
    province_name: str
