"""The waiting-room call-out board: who is being served and who is next (masked names
only), with spoken call-outs in Mandarin.

``signage/board/`` will hold the board state (plain Python), ``signage/ui/`` the Kivy
screen, and a voice queue will speak through pyttsx3. It follows its campus's queue over
MQTT only. Not part of this release: ``pacs-signage`` says so and exits 2.
"""
