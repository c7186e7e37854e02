"""The one error the queue engine raises for an action that is not possible."""

from __future__ import annotations


class QueueError(Exception):
    """An action refused by the queue rules.

    ``str(error)`` is one sentence, Chinese first, then English, saying why and what to do
    (e.g. ``"CT1室已暂停，不能叫号 / room CT1 is paused: resume it first"``); it is meant to be
    shown to the technician, registrar or patient as is.
    """

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en


class NothingScheduled(QueueError):
    """Check-in refused because the patient has no exam on today's worklist here."""
