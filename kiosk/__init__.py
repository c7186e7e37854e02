"""The self-service kiosk: patients check in for today's exams and pick up their reports.

``kiosk/flows/`` will hold the check-in and pickup flows as plain state machines,
``kiosk/ui/`` the Kivy screens, and the kiosk will print tickets (ESC/POS) and reports (A4).
It talks to its campus's edge gateway over MQTT only. Not part of this release:
``pacs-kiosk`` says so and exits 2.
"""
