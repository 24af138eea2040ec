"""The dashboard at /ui: server-rendered pages over the ledger (see ui.pages for the read-only admin pages)."""
