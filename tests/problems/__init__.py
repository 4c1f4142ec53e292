"""Reference test problems written from published sources (MGH 1981, MINPACK-1)."""
