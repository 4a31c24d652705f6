"""The staff dashboard's domain: measures cells turned into tables (generically, so a new
measure appears without code changes), CSV/Parquet export and comment themes.

Plain Python: no HTTP, no SQL. The web adapter is consumers/dashboard.py; see docs/dashboard.md.
"""
