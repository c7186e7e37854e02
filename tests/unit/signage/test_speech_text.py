"""Display line and espeak-ng pinyin of a call, including surnames read unusually."""

from __future__ import annotations

import pytest

from signage.board.speech_text import call_text, name_pinyin, text_pinyin


def test_call_text_display_and_pinyin() -> None:
    words = call_text(ticket="C012", masked_name="张*三", room_label="CT1", number_only=False)
    assert words.display == "请 C012 号 张*三 到 CT1 室检查"
    assert (
        words.pinyin
        == "qing3 C ling2 yao1 er4 hao4, zhang1 mou3 san1, dao4 C T yao1 shi4 jian3 cha2."
    )


def test_number_only_omits_the_name_everywhere() -> None:
    words = call_text(ticket="C012", masked_name="单*", room_label="CT1", number_only=True)
    assert words.display == "请 C012 号 到 CT1 室检查"
    assert words.pinyin == "qing3 C ling2 yao1 er4 hao4, dao4 C T yao1 shi4 jian3 cha2."


def test_room_label_ending_in_shi_is_not_doubled() -> None:
    words = call_text(ticket="U007", masked_name="李*", room_label="超声2室", number_only=False)
    assert words.display == "请 U007 号 李* 到 超声2室检查"
    assert words.pinyin.endswith("dao4 chao1 sheng1 er4 shi4 jian3 cha2.")


def test_disambiguation_suffix_is_shown_but_not_spoken_twice() -> None:
    words = call_text(ticket="C015", masked_name="张*(C015)", room_label="CT1", number_only=False)
    assert words.display == "请 C015 号 张* 到 CT1 室检查"
    assert words.pinyin.count("wu3") == 1


@pytest.mark.parametrize(
    ("masked", "expected"),
    [
        ("单*", "shan4 mou3"),
        ("解*明", "xie4 mou3 ming2"),
        ("仇*", "qiu2 mou3"),
        ("区*", "ou1 mou3"),
        ("查*", "zha1 mou3"),
        ("曾*", "zeng1 mou3"),
        ("朴*", "piao2 mou3"),
        ("尉迟*恭", "yu4 chi2 mou3 gong1"),
        ("万俟*", "mo4 qi2 mou3"),
        ("单于*", "chan2 yu2 mou3"),
        ("欧阳*娜", "ou1 yang2 mou3 na4"),
        ("张**五", "zhang1 mou3 wu3"),
        ("吕*", "lv3 mou3"),
        ("麦麦提·***", "mai4 mai4 ti2 mou3"),
    ],
)
def test_surnames_are_read_with_their_surname_reading(masked: str, expected: str) -> None:
    assert name_pinyin(masked) == expected


@pytest.mark.parametrize("masked", ["", "*", "ZHANG S*", "Z*"])
def test_names_the_voice_cannot_read_are_not_spoken(masked: str) -> None:
    assert name_pinyin(masked) is None
    words = call_text(ticket="A001", masked_name=masked, room_label="DR", number_only=False)
    assert words.pinyin == "qing3 A ling2 ling2 yao1 hao4, dao4 D R shi4 jian3 cha2."


def test_text_pinyin_reads_digits_one_by_one_and_letters_alone() -> None:
    assert text_pinyin("C-0123456789") == "C ling2 yao1 er4 san1 si4 wu3 liu4 qi1 ba1 jiu3"
    assert text_pinyin("ct 1") == "C T yao1"
