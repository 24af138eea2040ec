"""One module per audit stage; `audit.registry.STAGES` lists them."""
