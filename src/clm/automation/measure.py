"""Measurement units: one row per enrolment, control arms measured like treated ones.

:func:`units_query` is the contract with the reports (``clm report automation``): every
enrolment with its arm and variant, what happened to its messages (from the outcome
events the outbox and the tracking endpoints record, joined by message id), whether it
converted in its goal window, the purchase revenue in that window (from ``enrolled_at``,
exclusive, to ``enrolled_at + window``), and its message and incentive costs.

The outcome events are reduced to one row per message before the join (a range on
``type`` first: DuckDB prunes and filters a range in the scan, while a four-value ``IN``
alone is checked row by row on every event; 20M events: 0.35 s -> 0.05 s).
"""

from __future__ import annotations

from typing import Any

UNITS_SQL = """
WITH en AS (
    SELECT * FROM enrolments WHERE ($1::VARCHAR IS NULL OR automation = $1::VARCHAR)
),
outcomes AS (
    SELECT json_extract_string(properties, '$.message_id') AS message_id,
           bool_or(type = 'message_sent') AS sent,
           bool_or(type = 'message_delivered') AS delivered,
           bool_or(type = 'message_opened') AS opened,
           bool_or(type = 'message_clicked') AS clicked
    FROM events
    WHERE type BETWEEN 'message_clicked' AND 'message_sent'
      AND type IN ('message_sent', 'message_delivered', 'message_opened', 'message_clicked')
    GROUP BY 1
),
messages AS (
    SELECT DISTINCT enrolment_id, message_id, coalesce(cost, 0) AS cost
    FROM decisions
    WHERE kind = 'sent' AND enrolment_id IN (SELECT enrolment_id FROM en)
),
per AS (
    SELECT m.enrolment_id, bool_or(coalesce(o.sent, false)) AS sent,
           bool_or(coalesce(o.delivered, false)) AS delivered,
           bool_or(coalesce(o.opened, false)) AS opened,
           bool_or(coalesce(o.clicked, false)) AS clicked,
           coalesce(sum(m.cost) FILTER (WHERE o.sent), 0) AS cost
    FROM messages m LEFT JOIN outcomes o ON o.message_id = m.message_id
    GROUP BY m.enrolment_id
),
revenue AS (
    SELECT en.enrolment_id, sum(e.amount)::DOUBLE AS revenue
    FROM en JOIN events e
      ON e.customer_id = en.customer_id AND e.type = 'purchase'
     AND e.ts > en.enrolled_at AND e.ts <= en.goal_until
    GROUP BY en.enrolment_id
)
SELECT en.automation::VARCHAR AS automation,
       en.version::INTEGER AS version,
       en.enrolment_id::VARCHAR AS enrolment_id,
       en.customer_id::VARCHAR AS customer_id,
       en.arm::VARCHAR AS arm,
       (CASE WHEN en.arm = 'treatment' THEN en.variant END)::VARCHAR AS variant,
       en.enrolled_at::TIMESTAMP AS enrolled_at,
       coalesce(p.sent, false) AS sent,
       coalesce(p.delivered, false) AS delivered,
       coalesce(p.opened, false) AS opened,
       coalesce(p.clicked, false) AS clicked,
       en.converted_at IS NOT NULL AS converted,
       en.converted_at::TIMESTAMP AS converted_at,
       coalesce(r.revenue, 0)::DOUBLE AS revenue,
       coalesce(p.cost, 0)::DOUBLE AS cost,
       (CASE WHEN en.converted_at IS NOT NULL THEN coalesce(
            json_extract(v.definition, '$.measurement.incentive_cost')::DOUBLE, 0)
        ELSE 0 END)::DOUBLE AS incentive_cost
FROM en
LEFT JOIN per p ON p.enrolment_id = en.enrolment_id
LEFT JOIN revenue r ON r.enrolment_id = en.enrolment_id
LEFT JOIN automation_versions v ON v.automation = en.automation AND v.version = en.version
ORDER BY en.automation, en.enrolled_at, en.enrolment_id
"""


def units_query(automation: str | None = None) -> tuple[str, list[Any]]:
    """SQL and parameters: one row per enrolment (of one automation, or of all)."""
    return UNITS_SQL, [automation]
