"""Results for people and programs: tables, JSON, pictures, explain, notebook, export, the page."""
