"""The Pingcheng demo: regions with demo geometry, organisations, demo accounts (see `loader.load_demo`)."""
