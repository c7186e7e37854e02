"""The waiting-room call-out board: who is being served and who is next (masked names
only), with spoken call-outs in Mandarin.

``signage/board/`` holds the board's state and announcement queue (plain Python),
``signage/bus/`` its MQTT connection, ``signage/speech/`` the pyttsx3 voice and
``signage/ui/`` the Kivy window. It follows its campus's queue over MQTT only.
"""
