"""Runs on RQ when BILLING_SYNC_REDIS_URL is set: a queue client, the jobs, the worker.

The web app, the API and the scheduler begin a run (its row and lease) and enqueue it under an id
that makes a repeat harmless; `billing-sync worker` processes carry the jobs out. Nothing here
imports Flask: a worker builds its own database engine from Settings.
"""
