"""Reports: tables as Markdown/CSV/JSON (figures and HTML come with the later characteristics)."""
