"""DICOM helpers shared by the parts: status codes, character sets, UIDs."""
