"""The Flask web app: thin pages over billing_sync."""
