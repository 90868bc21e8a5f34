"""Reports: report.json, report.md."""
