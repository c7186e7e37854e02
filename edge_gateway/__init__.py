"""Campus edge gateway: the DICOM node of one campus (东葛 dongge or 仙葫 xianhu).

Hosts Verification, Storage, Query/Retrieve, Modality Worklist and MPPS for the
campus's modalities, keeps the local archive (files + SQLite index) and an outbox
of events for the hub.
"""
