"""The board's voice: one long-lived speech worker (pyttsx3 on espeak-ng), no Kivy.

:class:`signage.speech.worker.SpeechWorker` performs the announcement queue's timed
effects (:class:`~signage.board.announcements.PlayChime`,
:class:`~signage.board.announcements.Speak`) one at a time on its own thread and reports
each completion, so the board's logic thread can call ``finished()``.
"""
