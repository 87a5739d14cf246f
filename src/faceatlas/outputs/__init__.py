"""What faceatlas gives back: person folders, search, audits, reports, the web page."""
