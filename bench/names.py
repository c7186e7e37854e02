"""Realistic patients and orders for hub benchmarks, deterministic for a seed.

Names: surnames drawn by frequency (China's 2020 household-register shares, adjusted for
Guangxi, where the hospital is: 黄, 韦, 覃, 莫, 蒙, 陆, 农 … are far more common than
nationally), a few compound surnames (欧阳, 司马, 诸葛 …), and a given name of one
(about 15 %) or two characters from sex-typical character sets. Pinyin and initials
come from the hub's own ``hub.services.names.pinyin_key``, so searches match as they do
for registered patients. Patient IDs are distinct 10-digit hospital numbers.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from hub.services.names import pinyin_key
from shared.accession import ACCESSION_PREFIXES

# Share in per cent: national figures with a Guangxi (Nanning) adjustment.
SURNAMES: dict[str, float] = {
    "黄": 6.5, "李": 5.5, "王": 4.5, "陈": 4.5, "张": 4.0, "刘": 4.0, "韦": 4.0, "梁": 3.5,
    "覃": 2.5, "莫": 2.0, "蒙": 1.6, "陆": 1.6, "杨": 2.5, "林": 1.5, "周": 1.6, "赵": 1.4,
    "吴": 1.6, "罗": 1.5, "廖": 1.2, "潘": 1.2, "唐": 1.2, "卢": 1.0, "谢": 1.0, "何": 1.2,
    "邓": 1.0, "徐": 1.0, "农": 0.9, "马": 0.9, "朱": 0.9, "胡": 0.9, "郭": 0.9, "钟": 0.8,
    "苏": 0.7, "蓝": 0.6, "高": 0.8, "郑": 0.7, "宋": 0.5, "许": 0.5, "韩": 0.5, "冯": 0.6,
    "曹": 0.5, "彭": 0.5, "曾": 0.6, "肖": 0.5, "田": 0.4, "董": 0.4, "袁": 0.4, "蔡": 0.4,
    "蒋": 0.5, "余": 0.4, "于": 0.3, "杜": 0.3, "叶": 0.4, "程": 0.3, "魏": 0.3, "吕": 0.3,
    "丁": 0.3, "任": 0.3, "姚": 0.3, "沈": 0.3, "姜": 0.2, "崔": 0.2, "谭": 0.4, "范": 0.3,
    "汪": 0.2, "石": 0.4, "金": 0.2, "贾": 0.2, "夏": 0.2, "付": 0.2, "方": 0.2, "邹": 0.2,
    "熊": 0.2, "白": 0.2, "孟": 0.2, "秦": 0.3, "邱": 0.2, "侯": 0.2, "江": 0.2, "尹": 0.2,
    "薛": 0.1, "闫": 0.1, "段": 0.1, "雷": 0.2, "龙": 0.3, "黎": 0.4, "史": 0.1, "陶": 0.2,
    "贺": 0.1, "毛": 0.1, "郝": 0.1, "顾": 0.1, "龚": 0.1, "邵": 0.1, "万": 0.1, "甘": 0.3,
    "宁": 0.3, "凌": 0.2, "岑": 0.2, "滕": 0.1, "单": 0.05, "区": 0.05, "查": 0.03,
    "欧阳": 0.08, "司马": 0.02, "诸葛": 0.02, "上官": 0.02, "东方": 0.01, "皇甫": 0.01,
    "慕容": 0.01, "令狐": 0.01, "长孙": 0.01, "尉迟": 0.01,
}  # fmt: skip

MALE_CHARS = (
    "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林阳晨建国文志"
    "海东峰成博斌龙光荣兵彬昊宏泽瑞睿锋毅轩然晓家振德新福坤永春金发海生全江"
)
FEMALE_CHARS = (
    "芳娜敏静丽艳娟霞秀英玲桂兰红梅琳燕萍雪婷倩晶颖慧欣悦琪佳怡雅洁丹蓉凤莉"
    "妍璐露薇琴云月春华玉珍妹菊丽娇媛萱涵梓诗思雨晓美淑惠翠兰彩巧"
)
ONE_CHAR_SHARE = 0.15
PHONE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "166", "170", "171", "173", "175", "176",
    "177", "178", "180", "181", "182", "183", "184", "185", "186", "187", "188", "189",
    "191", "193", "195", "198", "199",
)  # fmt: skip
CAMPUS_SHARES = {"dongge": 0.6, "xianhu": 0.4}
CATEGORY_SHARES = {"outpatient": 55, "inpatient": 25, "emergency": 10, "physical_exam": 10}


@dataclass(frozen=True)
class GeneratedPatient:
    patient_id: str
    name: str
    pinyin: str
    initials: str
    sex: str
    birth_date: dt.date
    phone: str
    id_card_last4: str
    has_id_card: bool


@cache
def search_keys(name: str) -> tuple[str, str]:
    """``pinyin_key(name)`` (cached: common names repeat thousands of times)."""
    pinyin, initials = pinyin_key(name)
    return pinyin[:128], initials[:32]


def make_name(rng: random.Random, sex: str) -> str:
    surname = rng.choices(_SURNAME_LIST, weights=_SURNAME_WEIGHTS)[0]
    chars = MALE_CHARS if sex == "M" else FEMALE_CHARS
    size = 1 if rng.random() < ONE_CHAR_SHARE else 2
    return surname + "".join(rng.choice(chars) for _ in range(size))


_SURNAME_LIST = list(SURNAMES)
_SURNAME_WEIGHTS = list(SURNAMES.values())


def _birth(rng: random.Random, today: dt.date) -> dt.date:
    # hospital patients: older people are over-represented (mode around 60 years)
    age_years = rng.triangular(0, 95, 62)
    return today - dt.timedelta(days=int(age_years * 365.25) + rng.randrange(365))


def _phone(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return ""
    return rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def make_patients(count: int, seed: int = 20261125) -> list[GeneratedPatient]:
    """``count`` patients with distinct 10-digit hospital numbers."""
    rng = random.Random(seed)
    today = dt.date(2026, 11, 25)
    ids = rng.sample(range(10**9, 10**10), count)
    out = []
    for pid in ids:
        sex = rng.choice("MF")
        name = make_name(rng, sex)
        pinyin, initials = search_keys(name)
        has_card = rng.random() < 0.8
        out.append(
            GeneratedPatient(
                patient_id=f"{pid:010d}",
                name=name,
                pinyin=pinyin,
                initials=initials,
                sex=sex,
                birth_date=_birth(rng, today),
                phone=_phone(rng),
                id_card_last4=(f"{rng.randrange(1000):03d}" + rng.choice("0123456789X"))
                if has_card
                else "",
                has_id_card=has_card,
            )
        )
    return out


@dataclass(frozen=True)
class Procedure:
    code: str
    name: str
    modality: str
    body_part: str


@dataclass(frozen=True)
class GeneratedOrder:
    accession: str
    campus: str
    patient_index: int
    procedure: Procedure
    category: str
    status: str
    created_at: dt.datetime
    scheduled_at: dt.datetime | None


def make_orders(
    patients: int,
    per_patient: int,
    procedures: list[Procedure],
    *,
    seed: int = 20261126,
    days: int = 3 * 365,
) -> Iterator[GeneratedOrder]:
    """``per_patient`` orders for each of ``patients`` patients (by index), created over
    the ``days`` before 2026-11-25 on both campuses, in creation order, with accession
    numbers that are unique per campus and day; orders of the last two days are still
    open (registered or scheduled), older ones completed (5 % cancelled)."""
    rng = random.Random(seed)
    end = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
    campuses, campus_w = list(CAMPUS_SHARES), list(CAMPUS_SHARES.values())
    categories, category_w = list(CATEGORY_SHARES), list(CATEGORY_SHARES.values())
    stamps = sorted(
        (end - dt.timedelta(seconds=rng.randrange(days * 86400)), index)
        for index in range(patients)
        for _ in range(per_patient)
    )
    counters: dict[tuple[str, dt.date], int] = {}
    for created, patient_index in stamps:
        campus = rng.choices(campuses, weights=campus_w)[0]
        local_day = (created + dt.timedelta(hours=8)).date()
        seq = counters[campus, local_day] = counters.get((campus, local_day), 0) + 1
        prefix = ACCESSION_PREFIXES[campus]
        open_ = end - created < dt.timedelta(days=2)
        status = (
            rng.choice(("registered", "scheduled"))
            if open_
            else ("cancelled" if rng.random() < 0.05 else "completed")
        )
        yield GeneratedOrder(
            accession=f"{prefix}{local_day:%y%m%d}{seq:04d}",
            campus=campus,
            patient_index=patient_index,
            procedure=rng.choice(procedures),
            category=rng.choices(categories, weights=category_w)[0],
            status=status,
            created_at=created,
            scheduled_at=created + dt.timedelta(hours=rng.randrange(1, 72))
            if status != "registered"
            else None,
        )
