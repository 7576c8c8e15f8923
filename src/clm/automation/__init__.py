"""Automations: definitions, triggers and the runner decide; the outbox and the channels send."""
