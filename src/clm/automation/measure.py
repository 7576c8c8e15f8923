"""Measurement units: one row per enrolment, control arms measured like treated ones.

:func:`units_query` is the contract with the reports (``clm report automation``): every
enrolment with its arm and variant, what happened to its messages (from the outcome
events the outbox and the tracking endpoints record, joined by message id), whether it
converted in its goal window, the purchase revenue in that window (from ``enrolled_at``,
exclusive, to ``enrolled_at + window``), and its message and incentive costs.
"""

from __future__ import annotations

from typing import Any

UNITS_SQL = """
WITH en AS (
    SELECT * FROM enrolments WHERE ($1::VARCHAR IS NULL OR automation = $1::VARCHAR)
),
outcomes AS (
    SELECT json_extract_string(properties, '$.message_id') AS message_id, type
    FROM events
    WHERE type IN ('message_sent', 'message_delivered', 'message_opened', 'message_clicked')
),
messages AS (
    SELECT d.enrolment_id, d.message_id, coalesce(d.cost, 0) AS cost,
           coalesce(bool_or(o.type = 'message_sent'), false) AS sent,
           coalesce(bool_or(o.type = 'message_delivered'), false) AS delivered,
           coalesce(bool_or(o.type = 'message_opened'), false) AS opened,
           coalesce(bool_or(o.type = 'message_clicked'), false) AS clicked
    FROM decisions d LEFT JOIN outcomes o ON o.message_id = d.message_id
    WHERE d.kind = 'sent' AND d.enrolment_id IN (SELECT enrolment_id FROM en)
    GROUP BY d.enrolment_id, d.message_id, d.cost
),
per AS (
    SELECT enrolment_id, bool_or(sent) AS sent, bool_or(delivered) AS delivered,
           bool_or(opened) AS opened, bool_or(clicked) AS clicked,
           coalesce(sum(cost) FILTER (WHERE sent), 0) AS cost
    FROM messages GROUP BY enrolment_id
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
