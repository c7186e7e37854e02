"""The central hub (FastAPI): registration and appointments, reports (图文报告), the
archive of both campuses, clinical browsing (web and DICOMweb), statistics, CD/DVD export,
users, roles and audit, devices and releases, maintenance.

It is the system of record for patients, orders, reports, users and devices; the edge
gateways meet it over HTTPS. Not part of this release: ``pacs-hub`` says so and exits 2.
"""
