"""Name masking: every rule of shared.masking with its examples, and disambiguation."""

from __future__ import annotations

import pytest

from shared.masking import COMPOUND_SURNAMES, disambiguate, is_masked, mask_name


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("张三丰", "张*丰"),
        ("张三四五", "张**五"),
        ("王月如", "王*如"),
        ("张", "张*"),
        (" 张三丰 ", "张*丰"),
        ("张 三丰", "张*丰"),
    ],
)
def test_single_surname(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("欧阳娜娜", "欧阳*娜"),
        ("欧阳娜", "欧阳*"),
        ("欧阳震华", "欧阳*华"),
        ("司马相如", "司马*如"),
        ("诸葛亮", "诸葛*"),
        ("上官婉儿", "上官*儿"),
        ("欧阳", "欧*"),
        ("司马", "司*"),
    ],
)
def test_compound_surname(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_compound_surname_table_holds_the_listed_surnames() -> None:
    listed = {
        "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容",
        "令狐", "长孙", "宇文", "司徒", "司空", "夏侯", "轩辕", "端木", "独孤",
        "南宫", "西门", "澹台", "呼延", "申屠", "太史", "闻人", "万俟", "单于",
        "赫连", "钟离", "百里", "东郭", "公冶", "濮阳", "淳于", "拓跋", "第五",
    }  # fmt: skip
    assert listed <= COMPOUND_SURNAMES
    assert all(len(surname) == 2 for surname in COMPOUND_SURNAMES)


@pytest.mark.parametrize("surname", sorted(COMPOUND_SURNAMES))
def test_every_compound_surname_is_kept(surname: str) -> None:
    assert mask_name(surname + "明月") == surname + "*月"
    assert mask_name(surname) == surname[0] + "*"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("麦麦提·赛帕克", "麦麦提·***"),
        ("麦麦提・赛帕克", "麦麦提・***"),
        ("麦麦提.赛帕克", "麦麦提.***"),
        ("阿卜杜·热合曼·买买提", "阿卜杜·***·***"),
        ("麦麦提·", "麦*提"),
    ],
)
def test_dotted_names_keep_the_first_segment(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("pn", "masked"),
    [
        ("张^三丰", "张*丰"),
        ("ZHANG^SANFENG=张^三丰", "张*丰"),
        ("ZHANG^SANFENG=张^三丰=zhang^sanfeng", "张*丰"),
        ("欧阳^娜娜", "欧阳*娜"),
        ("张三丰^", "张*丰"),
        ("张三丰", "张*丰"),
        ("张三^丰", "张*丰"),
        ("ZHANG^SAN FENG", "ZHANG S*"),
        ("ZHANG^SANFENG", "ZHANG S*"),
        ("ZHANG^SANFENG=", "ZHANG S*"),
        ("^SANFENG", "S*"),
        ("ZHANGSANFENG^", "Z*"),
        ("=张^三丰", "张*丰"),
    ],
)
def test_dicom_person_names(pn: str, masked: str) -> None:
    assert mask_name(pn) == masked


@pytest.mark.parametrize(
    ("name", "masked"),
    [("Zhang Sanfeng", "Zhang S*"), ("ZHANG SAN FENG", "ZHANG S*"), ("ZHANGSANFENG", "Z*")],
)
def test_latin_names(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize("blank", ["", " ", "\t\n", "^", "^^=^", "=="])
def test_blank_names_become_a_single_star(blank: str) -> None:
    assert mask_name(blank) == "*"


@pytest.mark.parametrize(
    "name",
    ["张三", "张三丰", "欧阳娜娜", "麦麦提·赛帕克", "ZHANG^SAN", "Zhang San", "李", "", "欧阳"],
)
def test_every_mask_hides_something_and_is_accepted(name: str) -> None:
    masked = mask_name(name)
    assert "*" in masked
    assert is_masked(masked)
    assert masked != name.strip()


@pytest.mark.parametrize("label", ["张*", "张*(C012)", "ZHANG S*", "*", "", "-"])
def test_is_masked_accepts_masks(label: str) -> None:
    assert is_masked(label)


@pytest.mark.parametrize(
    "label", ["张三", "张三丰", "欧阳娜娜", "张", "ZHANG SAN", "Zhang", "C012"]
)
def test_is_masked_refuses_full_names(label: str) -> None:
    assert not is_masked(label)


def test_disambiguate_appends_tickets_only_to_colliding_masks() -> None:
    labels = disambiguate([("C012", "张三"), ("C015", "张四"), ("C016", "李四五")])
    assert labels == {"C012": "张*(C012)", "C015": "张*(C015)", "C016": "李*五"}


def test_disambiguate_same_full_name_and_pn_forms_collide() -> None:
    labels = disambiguate([("A001", "王^芳"), ("A002", "王芳"), ("A003", "WANG^FANG=王^五")])
    assert labels == {"A001": "王*(A001)", "A002": "王*(A002)", "A003": "王*(A003)"}


def test_disambiguate_three_way_and_unique() -> None:
    entries = [("C001", "张三"), ("C002", "欧阳娜娜"), ("C003", "张伟"), ("C004", "张丽")]
    assert disambiguate(entries) == {
        "C001": "张*(C001)",
        "C002": "欧阳*娜",
        "C003": "张*(C003)",
        "C004": "张*(C004)",
    }


def test_disambiguate_without_collisions_and_empty() -> None:
    assert disambiguate([("C001", "张三"), ("C002", "李四")]) == {"C001": "张*", "C002": "李*"}
    assert disambiguate([]) == {}


def test_disambiguate_refuses_a_repeated_ticket() -> None:
    with pytest.raises(ValueError, match="C001"):
        disambiguate([("C001", "张三"), ("C001", "李四")])
