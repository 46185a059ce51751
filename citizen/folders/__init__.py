"""Folders: directories the household protects, scanned, versioned and restorable by path."""
