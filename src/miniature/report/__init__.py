"""Reports: tables (md/csv/json), figures (matplotlib) and the study report (`study.build_report`)."""
