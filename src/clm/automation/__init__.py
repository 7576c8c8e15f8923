"""Automations: definitions as files, triggers, enrolments, guards, the outbox (SPEC §7)."""
