"""Statistics and reports: rollups of the raw rows (facts, maintainer, rebuild), report ranges,
the report kinds (``catalog.build_report``) and the calls behind a figure (``drill``)."""
