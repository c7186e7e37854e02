"""The gateway's DICOM services (pynetdicom): wiring, handlers and transport tuning."""
